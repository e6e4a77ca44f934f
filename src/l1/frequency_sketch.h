// l1/frequency_sketch.h — approximate access counts for TinyLFU admission.
//
// A count-min sketch: 4 rows of saturating counters (0..15), one byte each,
// width a power of two of about twice the cache's capacity. increment() adds
// one to the key's counter in every row; estimate() is the smallest of them.
// After 10 × capacity increments every counter is halved ("aging"), so old
// popularity fades. Counters are relaxed atomics: concurrent increments may
// lose an update (the sketch is approximate anyway) but never race.
//
// Thread-safe; wait-free except the occasional halving pass.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "util/hash.h"

namespace multicache::l1 {

class FrequencySketch {
 public:
  explicit FrequencySketch(std::size_t capacity)
      : width_(std::bit_ceil(std::max<std::size_t>(64, capacity * 2))),
        table_(std::make_unique<std::atomic<std::uint8_t>[]>(4 * width_)),
        sample_size_(std::max<std::size_t>(640, capacity * 10)) {}

  void increment(std::uint64_t hash) {
    for (int row = 0; row < 4; ++row) {
      std::atomic<std::uint8_t>& c = counter(hash, row);
      const std::uint8_t v = c.load(std::memory_order_relaxed);
      if (v < 15) c.store(static_cast<std::uint8_t>(v + 1), std::memory_order_relaxed);
    }
    if (additions_.fetch_add(1, std::memory_order_relaxed) + 1 == sample_size_) age();
  }

  int estimate(std::uint64_t hash) const {
    int best = 15;
    for (int row = 0; row < 4; ++row) {
      best = std::min<int>(best, counter(hash, row).load(std::memory_order_relaxed));
    }
    return best;
  }

 private:
  std::atomic<std::uint8_t>& counter(std::uint64_t hash, int row) const {
    const std::uint64_t h = util::mix_hash(hash + 0x9e3779b97f4a7c15ULL * (row + 1));
    return table_[static_cast<std::size_t>(row) * width_ + (h & (width_ - 1))];
  }
  void age() {
    for (std::size_t i = 0; i < 4 * width_; ++i) {
      table_[i].store(table_[i].load(std::memory_order_relaxed) >> 1, std::memory_order_relaxed);
    }
    additions_.store(0, std::memory_order_relaxed);
  }

  const std::size_t width_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> table_;
  const std::size_t sample_size_;
  std::atomic<std::size_t> additions_{0};
};

}  // namespace multicache::l1
