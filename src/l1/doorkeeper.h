// l1/doorkeeper.h — the bloom filter in front of the frequency sketch.
//
// Most keys of a skewed trace are asked for once. The doorkeeper remembers
// that a key was seen at all (one bit pair), so only a key's second and later
// requests reach the count-min sketch, which can then be smaller and less
// polluted by one-hit wonders. Blocked layout: a key's two bits lie in one
// 64-bit word, so a lookup touches one cache line. clear() forgets everything
// (the sketch calls it when it ages). Words are relaxed atomics: concurrent
// callers may both see a key as new (harmless for an estimate) but never race.
//
// Thread-safe; wait-free.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace multicache::l1 {

class Doorkeeper {
 public:
  // bits: about how many bits to use (rounded up to a power of two, >= 512).
  explicit Doorkeeper(std::size_t bits)
      : words_(std::bit_ceil(std::max<std::size_t>(512, bits)) / 64),
        table_(std::make_unique<std::atomic<std::uint64_t>[]>(words_)) {}

  bool contains(std::uint64_t hash) const {
    const std::uint64_t m = mask(hash);
    return (word(hash).load(std::memory_order_relaxed) & m) == m;
  }

  // Adds the key; returns whether it was (probably) there already.
  bool test_and_set(std::uint64_t hash) {
    const std::uint64_t m = mask(hash);
    std::atomic<std::uint64_t>& w = word(hash);
    if ((w.load(std::memory_order_relaxed) & m) == m) return true;
    w.fetch_or(m, std::memory_order_relaxed);
    return false;
  }

  void clear() {
    for (std::size_t i = 0; i < words_; ++i) table_[i].store(0, std::memory_order_relaxed);
  }

 private:
  // The word from the low bits, the two bit positions from the high ones.
  std::atomic<std::uint64_t>& word(std::uint64_t hash) const { return table_[hash & (words_ - 1)]; }
  static std::uint64_t mask(std::uint64_t hash) {
    return (std::uint64_t{1} << (hash >> 58)) | (std::uint64_t{1} << ((hash >> 52) & 63));
  }

  const std::size_t words_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> table_;
};

}  // namespace multicache::l1
