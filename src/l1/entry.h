// l1/entry.h — one L1 entry: the decoded value, its type, its deadlines.
//
// Entries live inside their shard's map nodes and are linked into the shard's policy
// ring. All fields but the two atomics are written only under the shard's
// exclusive lock; readers under the shared lock read them and may flip the
// atomics (the CLOCK reference bit and the refresh claim).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "multicache/detail/type_ops.hpp"

namespace multicache::l1 {

struct Entry {
  const std::string* key = nullptr;  // the map node's key (stable while the entry lives)
  std::size_t hash = 0;              // L1Cache::hash(*key)
  detail::erased_value value;
  const detail::TypeOps* ops = nullptr;
  std::int64_t expires_at_ns = 0;  // monotonic; the entry is absent from then on
  std::int64_t stale_at_ns = 0;    // monotonic; reads from then on trigger one refresh
  std::size_t charge = 0;          // bytes counted against the byte bound

  std::atomic<bool> referenced{false};       // CLOCK bit, set by readers
  std::atomic<bool> refresh_claimed{false};  // first stale reader sets it

  // The W-TinyLFU segment the entry is in (a shard_policy.h segment value;
  // 0 under CLOCK), next to the atomics where it costs no padding.
  // Shard's exclusive lock.
  std::uint8_t segment = 0;

  // Policy ring links (shard's exclusive lock).
  Entry* prev = nullptr;
  Entry* next = nullptr;
};

// Bytes charged per entry on top of key and value: the entry itself, its hash
// node and the shared_ptr control block of the value.
inline constexpr std::size_t k_entry_overhead = sizeof(Entry) + 96;

}  // namespace multicache::l1
