// l1/clock_ring.h — the CLOCK (second chance) eviction policy of one shard.
//
// Entries form a circular doubly-linked ring with a hand. New entries go just
// behind the hand, so they are the last to be examined. To pick a victim the
// hand sweeps: an expired entry is taken at once; a referenced entry loses its
// bit and is passed over; the first unreferenced entry is taken. Readers only
// set the bit (a relaxed atomic store), so hits never need the exclusive lock.
// W-TinyLFU (shard_policy.h) keeps one ring per segment and walks it with
// front()/advance() instead of victim().
// Not thread-safe: the owning shard's exclusive lock guards every call.
#pragma once

#include <cstddef>
#include <cstdint>

#include "l1/entry.h"

namespace multicache::l1 {

class ClockRing {
 public:
  // Adds e as the newest entry: just behind the hand, the last one examined.
  void insert(Entry* e) {
    ++size_;
    if (hand_ == nullptr) {
      e->prev = e->next = e;
      hand_ = e;
      return;
    }
    Entry* tail = hand_->prev;
    e->prev = tail;
    e->next = hand_;
    tail->next = e;
    hand_->prev = e;
  }

  void remove(Entry* e) {
    --size_;
    if (e->next == e) {
      hand_ = nullptr;
    } else {
      e->prev->next = e->next;
      e->next->prev = e->prev;
      if (hand_ == e) hand_ = e->next;
    }
    e->prev = e->next = nullptr;
  }

  // The next entry to evict, or nullptr when empty. Does not unlink it.
  Entry* victim(std::int64_t now_ns) {
    if (hand_ == nullptr) return nullptr;
    // Two full turns clear every bit, so this ends; the bound is defensive.
    for (int steps = 0; steps < 1 << 20; ++steps) {
      Entry* e = hand_;
      if (e->expires_at_ns <= now_ns) return e;
      if (!e->referenced.load(std::memory_order_relaxed)) return e;
      e->referenced.store(false, std::memory_order_relaxed);
      hand_ = e->next;
    }
    return hand_;
  }

  bool empty() const { return hand_ == nullptr; }
  std::size_t size() const { return size_; }
  // The entry under the hand (the oldest not yet passed over), or nullptr.
  Entry* front() const { return hand_; }
  // Moves the hand one entry on; the passed entry becomes the newest.
  void advance() {
    if (hand_ != nullptr) hand_ = hand_->next;
  }

 private:
  Entry* hand_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace multicache::l1
