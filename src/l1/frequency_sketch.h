// l1/frequency_sketch.h — approximate access counts for TinyLFU admission.
//
// A doorkeeper (see doorkeeper.h) in front of a count-min sketch. A key's
// first request only sets its doorkeeper bits; later ones add one to its
// counter in each of 4 rows. Counters saturate at 15, one byte each. The 4
// counters of a key lie in one 64-byte block (16 counters per row and block),
// so an increment touches one cache line of the sketch. estimate() is the
// smallest of the 4 counters, plus one if the doorkeeper knows the key.
//
// Aging: after sample_size() recorded additions (doorkeeper bits set or
// counters raised; requests for keys already saturated are not additions),
// every counter is halved and the doorkeeper cleared, so old popularity
// fades. Counters are relaxed atomics: concurrent increments may lose an
// update (the sketch is approximate anyway) but never race.
//
// Thread-safe; wait-free except the occasional aging pass.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "l1/doorkeeper.h"
#include "util/hash.h"

namespace multicache::l1 {

class FrequencySketch {
 public:
  // capacity: the number of entries the cache holds. Memory: about 16 bytes
  // of counters and 4 bytes of doorkeeper per entry of capacity (powers of
  // two), outside the cache's byte bound. These sizes and the aging period
  // (15 × capacity additions) were picked with multicache-bench --simulate.
  explicit FrequencySketch(std::size_t capacity)
      : blocks_(std::bit_ceil(std::max<std::size_t>(4, capacity / 4))),
        table_(std::make_unique<Block[]>(blocks_)),
        sample_size_(std::max<std::size_t>(960, capacity * 15)),
        doorkeeper_(sample_size_ * 2) {}

  void increment(std::uint64_t hash) {
    const std::uint64_t h = util::mix_hash(hash);
    if (!doorkeeper_.test_and_set(h)) {
      added();
      return;
    }
    Block& b = block(h);
    // Unrolled, and | rather than ||: every row is bumped (a hit's hot path).
    if (bump(b.counters[slot(h, 0)]) | bump(b.counters[slot(h, 1)]) | bump(b.counters[slot(h, 2)]) |
        bump(b.counters[slot(h, 3)])) {
      added();
    }
  }

  int estimate(std::uint64_t hash) const {
    const std::uint64_t h = util::mix_hash(hash);
    const Block& b = block(h);
    int best = 15;
    for (int row = 0; row < 4; ++row) {
      best = std::min<int>(best, b.counters[slot(h, row)].load(std::memory_order_relaxed));
    }
    return best + (doorkeeper_.contains(h) ? 1 : 0);
  }

  std::size_t sample_size() const { return sample_size_; }

 private:
  struct alignas(64) Block {
    std::atomic<std::uint8_t> counters[64];
  };

  Block& block(std::uint64_t h) const { return table_[(h >> 8) & (blocks_ - 1)]; }
  // Row r's counter: one of the 16 bytes [16r, 16r + 16), picked by 4 hash bits.
  static std::size_t slot(std::uint64_t h, int row) {
    return static_cast<std::size_t>(row) * 16 + ((h >> (32 + 4 * row)) & 15);
  }
  // Adds one unless saturated; whether it did.
  static bool bump(std::atomic<std::uint8_t>& c) {
    const std::uint8_t v = c.load(std::memory_order_relaxed);
    if (v >= 15) return false;
    c.store(static_cast<std::uint8_t>(v + 1), std::memory_order_relaxed);
    return true;
  }
  void added() {
    if (additions_.fetch_add(1, std::memory_order_relaxed) + 1 == sample_size_) age();
  }
  void age() {
    for (std::size_t i = 0; i < blocks_; ++i) {
      for (auto& c : table_[i].counters) {
        c.store(c.load(std::memory_order_relaxed) >> 1, std::memory_order_relaxed);
      }
    }
    doorkeeper_.clear();
    additions_.store(0, std::memory_order_relaxed);
  }

  const std::size_t blocks_;
  std::unique_ptr<Block[]> table_;
  const std::size_t sample_size_;
  Doorkeeper doorkeeper_;
  std::atomic<std::size_t> additions_{0};
};

}  // namespace multicache::l1
