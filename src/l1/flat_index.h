// l1/flat_index.h — one shard's key → Entry index: open addressing over
// cache-line buckets.
//
// A bucket is one 64-byte line: 7 one-byte tags, an overflow count and 7
// entry pointers. A key's home bucket comes from the low bits of its mixed
// hash, its tag from the top 7 bits (high bit set, so 0 means an empty slot).
// A lookup reads the home bucket, compares its 7 tags in one word, and only
// then touches the entries whose tag matches (each holds its hash and, inline,
// its key: entry.h). It goes on to the next bucket only while the bucket's
// overflow count says that a key whose probe passed it lives further on. A hit
// thus costs one bucket line plus the entry, where std::unordered_map costs a
// bucket, the node before, the node and the key's heap bytes.
//
// The table doubles past 80% full and never shrinks (the shard's bound caps
// it); it does not own the entries.
//
// Not thread-safe: readers under the owning shard's shared lock, writers
// under its exclusive lock.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "l1/entry.h"
#include "util/hash.h"

namespace multicache::l1 {

class FlatIndex {
 public:
  FlatIndex() : buckets_(std::make_unique<Bucket[]>(k_min_buckets)), mask_(k_min_buckets - 1) {
    publish();
  }

  std::size_t size() const { return size_; }

  // What the caller reads from the entry it finds, so find() can prefetch it
  // as soon as the entry's hash matches: the value object (a shared copy, a
  // copy of another type; insert and erase), or a string's bytes (a copy).
  enum class reads { object, bytes };

  // The entry with this key, or nullptr. hash: L1Cache::hash(key).
  Entry* find(std::string_view key, std::uint64_t hash, reads next = reads::object) const {
    const std::uint64_t h = util::mix_hash(hash);
    const std::uint8_t want = tag_of(h);
    std::size_t i = h & mask_;
    for (std::size_t probes = 0; probes <= mask_; ++probes, i = (i + 1) & mask_) {
      const Bucket& b = buckets_[i];
      for (std::uint64_t m = matches(b, want); m != 0; m &= m - 1) {
        Entry* e = b.slots[static_cast<unsigned>(std::countr_zero(m)) / 8];
        // The key's line loads together with the header's, not after it.
        __builtin_prefetch(reinterpret_cast<const char*>(e) + sizeof(Entry));
        if (e->hash != hash) continue;
        prefetch_value(*e, next);
        if (e->key() == key) return e;
      }
      if (b.overflow == 0) return nullptr;
    }
    return nullptr;
  }

  // Starts loading the key's home bucket. Safe without the shard's lock: it
  // reads the table's address and size from atomics and only prefetches, which
  // never faults, even on a table a concurrent rehash just replaced.
  void prefetch(std::uint64_t hash) const {
    const std::uintptr_t base = published_buckets_.load(std::memory_order_relaxed);
    const std::size_t mask = published_mask_.load(std::memory_order_relaxed);
    __builtin_prefetch(
        reinterpret_cast<const void*>(base + (util::mix_hash(hash) & mask) * sizeof(Bucket)));
  }

  // Makes room for one more entry, so that the next insert cannot throw.
  // Throws std::bad_alloc (the index is unchanged then).
  void reserve_one() {
    if ((size_ + 1) * 5 > (mask_ + 1) * k_slots * 4) rehash((mask_ + 1) * 2);
  }

  // Adds e, whose key must not be indexed yet; call reserve_one() first.
  void insert(Entry* e) noexcept {
    place(buckets_.get(), mask_, e);
    ++size_;
  }

  // Removes e, which must be indexed.
  void erase(const Entry* e) noexcept {
    const std::uint64_t h = util::mix_hash(e->hash);
    const std::size_t home = h & mask_;
    std::size_t i = home;
    for (std::size_t probes = 0; probes <= mask_; ++probes, i = (i + 1) & mask_) {
      Bucket& b = buckets_[i];
      for (std::size_t s = 0; s < k_slots; ++s) {
        if (b.tags[s] != 0 && b.slots[s] == e) {
          b.tags[s] = 0;
          b.slots[s] = nullptr;
          --size_;
          // The probes that passed earlier buckets on their way here are gone.
          for (std::size_t j = home; j != i; j = (j + 1) & mask_) {
            if (buckets_[j].overflow != k_overflow_stuck) --buckets_[j].overflow;
          }
          return;
        }
      }
    }
  }

  // Forgets every entry (without destroying them) and shrinks the table.
  void clear() {
    buckets_ = std::make_unique<Bucket[]>(k_min_buckets);
    mask_ = k_min_buckets - 1;
    size_ = 0;
    publish();
  }

 private:
  static constexpr std::size_t k_slots = 7;
  static constexpr std::size_t k_min_buckets = 2;
  // An overflow count that reached this stays there: lookups then always
  // look on past the bucket, which is slower but still correct.
  static constexpr std::uint8_t k_overflow_stuck = 255;

  struct alignas(64) Bucket {
    std::uint8_t tags[k_slots] = {};  // 0: empty slot
    std::uint8_t overflow = 0;        // keys stored past this bucket whose probe passed it
    Entry* slots[k_slots] = {};
  };
  static_assert(sizeof(Bucket) == 64);
  static_assert(std::endian::native == std::endian::little, "matches() reads tags as one word");

  // The value object, or a string's bytes (up to 4 lines) when the caller
  // copies them and the entry has them.
  static void prefetch_value(const Entry& e, reads next) {
    if (next == reads::object || e.bytes == nullptr) {
      __builtin_prefetch(e.value.get());
      return;
    }
    const std::size_t n = std::min<std::size_t>(e.bytes_size, 256);
    for (std::size_t off = 0; off < n; off += 64) __builtin_prefetch(e.bytes + off);
    if (n != 0) __builtin_prefetch(e.bytes + n - 1);
  }
  static std::uint8_t tag_of(std::uint64_t mixed) {
    return static_cast<std::uint8_t>(0x80 | (mixed >> 57));
  }

  // One bit (the high bit of its byte) per slot whose tag may equal want:
  // the usual "which bytes are zero" word trick on tags XOR want. It can flag
  // a byte just above a real match too; callers compare the entries anyway.
  static std::uint64_t matches(const Bucket& b, std::uint8_t want) {
    std::uint64_t word = 0;
    std::memcpy(&word, b.tags, sizeof word);  // the 7 tags and the overflow byte
    const std::uint64_t x = word ^ (0x0101010101010101ULL * want);
    return (x - 0x0101010101010101ULL) & ~x & 0x0080808080808080ULL;  // not the overflow byte
  }

  static void place(Bucket* buckets, std::size_t mask, Entry* e) noexcept {
    const std::uint64_t h = util::mix_hash(e->hash);
    const std::uint8_t tag = tag_of(h);
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      Bucket& b = buckets[i];
      for (std::size_t s = 0; s < k_slots; ++s) {
        if (b.tags[s] == 0) {
          b.tags[s] = tag;
          b.slots[s] = e;
          return;
        }
      }
      if (b.overflow != k_overflow_stuck) ++b.overflow;
    }
  }

  void rehash(std::size_t bucket_count) {
    auto fresh = std::make_unique<Bucket[]>(bucket_count);
    const std::size_t mask = bucket_count - 1;
    for (std::size_t i = 0; i <= mask_; ++i) {
      for (std::size_t s = 0; s < k_slots; ++s) {
        if (buckets_[i].tags[s] != 0) place(fresh.get(), mask, buckets_[i].slots[s]);
      }
    }
    buckets_ = std::move(fresh);
    mask_ = mask;
    publish();
  }

  void publish() {
    published_buckets_.store(reinterpret_cast<std::uintptr_t>(buckets_.get()),
                             std::memory_order_relaxed);
    published_mask_.store(mask_, std::memory_order_relaxed);
  }

  std::unique_ptr<Bucket[]> buckets_;
  std::size_t mask_;  // bucket count - 1 (a power of two)
  std::size_t size_ = 0;
  // Copies of the table's address and mask for prefetch(), which runs
  // without the lock; they may be momentarily out of step with each other.
  std::atomic<std::uintptr_t> published_buckets_{0};
  std::atomic<std::size_t> published_mask_{0};
};

}  // namespace multicache::l1
