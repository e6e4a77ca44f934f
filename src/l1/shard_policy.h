// l1/shard_policy.h — which entry of one shard to evict: CLOCK or W-TinyLFU.
//
// CLOCK (no sketch): one ClockRing; the victim is its first unreferenced (or
// expired) entry.
//
// W-TinyLFU (with a sketch): three CLOCK rings per shard —
//   window     new entries; about 1% of the shard's entries;
//   probation  entries admitted from the window, or demoted from protected;
//   protected  entries hit while in probation; at most 80% of the main
//              region (probation + protected).
// Readers only set an entry's reference bit, as under CLOCK; the segment moves
// happen here, under the shard's exclusive lock, when a victim is needed:
//   - the window's hand gives referenced entries a second chance within the
//     window; its first unreferenced entry is the window's candidate;
//   - probation's hand moves referenced entries to protected (their bit
//     cleared); its first unreferenced entry is the main region's victim;
//   - protected's hand, when protected is over its share, gives referenced
//     entries a second chance and demotes the first unreferenced one to
//     probation (as probation's newest entry).
// victim(): if the window holds more than its share, its candidate competes
// with probation's victim: the candidate is admitted to probation (and the
// victim evicted) only if the sketch says it is strictly more popular;
// otherwise the candidate itself is evicted. A loop where every key is as
// popular as the next thus keeps the main region instead of thrashing it.
// Without an over-full window the main region's victim is evicted.
// rebalance() moves window overflow to probation without evicting (while the
// cache fills up).
//
// Shares are fractions of the shard's current entry count, so they follow
// whichever bound (items or bytes) is the binding one.
//
// Not thread-safe: the owning shard's exclusive lock guards every call.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "l1/clock_ring.h"
#include "l1/entry.h"
#include "l1/frequency_sketch.h"

namespace multicache::l1 {

enum class segment : std::uint8_t { window = 0, probation = 1, protected_ = 2 };

struct Eviction {
  Entry* entry = nullptr;     // nullptr: nothing to evict
  bool not_admitted = false;  // a window candidate that lost the admission test
};

class ShardPolicy {
 public:
  // sketch: nullptr for plain CLOCK; else W-TinyLFU admission by its estimates.
  explicit ShardPolicy(const FrequencySketch* sketch) : sketch_(sketch) {}

  // Adds a new entry: the newest of the window (CLOCK: of the ring).
  void insert(Entry* e) { insert_into(e, segment::window); }
  // Adds e to segment `seg` (a replaced value keeps its key's segment).
  void insert_into(Entry* e, segment seg) {
    if (sketch_ == nullptr) seg = segment::window;
    e->segment = static_cast<std::uint8_t>(seg);
    ring(seg).insert(e);
  }
  void remove(Entry* e) { ring(segment_of(e)).remove(e); }

  std::size_t size() const { return window_.size() + probation_.size() + protected_.size(); }
  bool empty() const { return size() == 0; }
  std::size_t window_size() const { return window_.size(); }
  std::size_t probation_size() const { return probation_.size(); }
  std::size_t protected_size() const { return protected_.size(); }
  // Some entry, or nullptr (for draining the shard).
  Entry* any() const {
    if (!window_.empty()) return window_.front();
    if (!probation_.empty()) return probation_.front();
    return protected_.front();
  }
  static segment segment_of(const Entry* e) { return static_cast<segment>(e->segment); }

  // The entry to evict now (still linked), never `keep` (may be nullptr).
  // May move other entries between segments.
  Eviction victim(std::int64_t now_ns, const Entry* keep) {
    if (sketch_ == nullptr) return {clock_victim(now_ns, keep), false};
    Entry* candidate = window_over_share() ? window_candidate(now_ns, keep) : nullptr;
    Entry* main = main_victim(now_ns, keep);
    if (candidate == nullptr) return {main != nullptr ? main : window_candidate(now_ns, keep)};
    if (main == nullptr || candidate->expires_at_ns <= now_ns) return {candidate};
    if (main->expires_at_ns <= now_ns ||
        sketch_->estimate(candidate->hash) > sketch_->estimate(main->hash)) {
      move(candidate, segment::probation);
      return {main};
    }
    return {candidate, true};
  }

  // Moves window overflow to probation (W-TinyLFU; nothing under CLOCK).
  void rebalance(std::int64_t now_ns) {
    if (sketch_ == nullptr) return;
    while (window_over_share()) {
      Entry* e = window_candidate(now_ns, nullptr);
      if (e == nullptr) return;
      move(e, segment::probation);
    }
  }

 private:
  // Window: 1% of the shard, at least one entry; protected: 80% of the rest.
  std::size_t window_share() const { return std::max<std::size_t>(1, size() / 100); }
  bool window_over_share() const { return window_.size() > window_share(); }
  bool protected_over_share() const {
    return protected_.size() > (probation_.size() + protected_.size()) * 4 / 5;
  }

  ClockRing& ring(segment seg) {
    switch (seg) {
      case segment::probation:
        return probation_;
      case segment::protected_:
        return protected_;
      case segment::window:
        break;
    }
    return window_;
  }
  void move(Entry* e, segment to) {
    remove(e);
    insert_into(e, to);
  }
  // A step bound for the hand sweeps: two full turns clear every bit.
  std::size_t sweep_bound() const { return 2 * size() + 4; }

  Entry* clock_victim(std::int64_t now_ns, const Entry* keep) {
    Entry* v = window_.victim(now_ns);
    if (v == keep && v != nullptr) v = v->next == v ? nullptr : v->next;
    return v;
  }

  // The window's first expired or unreferenced entry other than keep.
  Entry* window_candidate(std::int64_t now_ns, const Entry* keep) {
    for (std::size_t steps = 0; steps < sweep_bound(); ++steps) {
      Entry* e = window_.front();
      if (e == nullptr || (e == keep && window_.size() == 1)) return nullptr;
      if (e != keep) {
        if (e->expires_at_ns <= now_ns || !e->referenced.load(std::memory_order_relaxed)) return e;
        e->referenced.store(false, std::memory_order_relaxed);
      }
      window_.advance();
    }
    Entry* e = window_.front();
    return e == keep ? e->next : e;
  }

  // Probation's first expired or unreferenced entry other than keep (a
  // replaced value keeps its segment); referenced ones move to protected on
  // the way. Takes from protected when probation runs dry.
  Entry* main_victim(std::int64_t now_ns, const Entry* keep) {
    for (std::size_t steps = 0; steps < sweep_bound(); ++steps) {
      Entry* e = probation_.front();
      if (e == nullptr || (e == keep && probation_.size() == 1)) {
        if (protected_.empty() || (protected_.size() == 1 && protected_.front() == keep)) {
          return e == keep ? nullptr : e;
        }
        demote_one(now_ns);
        continue;
      }
      if (e == keep) {
        probation_.advance();
        continue;
      }
      if (e->expires_at_ns <= now_ns || !e->referenced.load(std::memory_order_relaxed)) return e;
      e->referenced.store(false, std::memory_order_relaxed);
      move(e, segment::protected_);
      if (protected_over_share()) demote_one(now_ns);
    }
    Entry* e = probation_.empty() ? protected_.front() : probation_.front();
    return e == keep ? nullptr : e;
  }

  // Moves protected's first expired or unreferenced entry to probation.
  void demote_one(std::int64_t now_ns) {
    for (std::size_t steps = 0; steps < sweep_bound(); ++steps) {
      Entry* e = protected_.front();
      if (e->expires_at_ns <= now_ns || !e->referenced.load(std::memory_order_relaxed)) break;
      e->referenced.store(false, std::memory_order_relaxed);
      protected_.advance();
    }
    move(protected_.front(), segment::probation);
  }

  const FrequencySketch* const sketch_;
  ClockRing window_;     // CLOCK's only ring
  ClockRing probation_;  // W-TinyLFU only
  ClockRing protected_;  // W-TinyLFU only
};

}  // namespace multicache::l1
