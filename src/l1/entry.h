// l1/entry.h — one L1 entry: the decoded value, its type, its deadlines, and
// its key stored inline right behind the struct (one allocation per entry).
//
// Entries are created and destroyed by their shard (Entry::create/destroy),
// indexed by its FlatIndex and linked into its policy ring. All fields but the
// two atomics are written only under the shard's exclusive lock; readers under
// the shared lock read them and may flip the atomics (the CLOCK reference bit
// and the refresh claim).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string_view>

#include "multicache/detail/type_ops.hpp"

namespace multicache::l1 {

struct Entry {
  // The fields a hit reads come first, so they share the entry's first cache
  // line.
  std::uint64_t hash = 0;  // L1Cache::hash(key())
  const detail::TypeOps* ops = nullptr;
  std::int64_t expires_at_ns = 0;  // monotonic; the entry is absent from then on
  std::int64_t stale_at_ns = 0;    // monotonic; reads from then on trigger one refresh
  detail::erased_value value;
  std::uint32_t key_size = 0;  // bytes of key stored behind the struct

  std::atomic<bool> referenced{false};       // CLOCK bit, set by readers
  std::atomic<bool> refresh_claimed{false};  // first stale reader sets it

  // The W-TinyLFU segment the entry is in (a shard_policy.h segment value;
  // 0 under CLOCK). Shard's exclusive lock.
  std::uint8_t segment = 0;

  std::size_t charge = 0;  // bytes counted against the byte bound

  // Policy ring links (shard's exclusive lock).
  Entry* prev = nullptr;
  Entry* next = nullptr;

  // Entries start on a cache line: a hit reads the first line and the key,
  // two lines, never three.
  static constexpr std::align_val_t k_align{64};

  std::string_view key() const {
    return {reinterpret_cast<const char*>(this) + sizeof(Entry), key_size};
  }

  // A new entry holding a copy of key (throws std::bad_alloc). Keys longer
  // than 4 GiB are refused earlier, by the byte bound.
  static Entry* create(std::string_view key) {
    void* raw = ::operator new(sizeof(Entry) + key.size(), k_align);
    Entry* e = new (raw) Entry();
    e->key_size = static_cast<std::uint32_t>(key.size());
    if (!key.empty()) {
      __builtin_memcpy(reinterpret_cast<char*>(raw) + sizeof(Entry), key.data(), key.size());
    }
    return e;
  }
  static void destroy(Entry* e) noexcept {
    e->~Entry();
    ::operator delete(static_cast<void*>(e), k_align);
  }
};

// Bytes charged per entry on top of key and value: the entry itself, its share
// of the index and the shared_ptr control block of the value.
inline constexpr std::size_t k_entry_overhead = sizeof(Entry) + 64;

}  // namespace multicache::l1
