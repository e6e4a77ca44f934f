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
#include <utility>

#include "multicache/detail/type_ops.hpp"

namespace multicache::l1 {

struct Entry {
  // The fields a hit reads come first, so they share the entry's first cache
  // line.
  std::uint64_t hash = 0;  // L1Cache::hash(key())
  const detail::TypeOps* ops = nullptr;
  std::int64_t expires_at_ns = 0;  // monotonic; the entry is absent from then on
  std::int64_t stale_at_ns = 0;    // monotonic; reads from then on trigger one refresh
  // ops->bytes_of(value) for std::string values (else null), so a copying hit
  // goes from this line straight to the bytes.
  const char* bytes = nullptr;
  std::uint32_t bytes_size = 0;
  std::uint32_t key_size = 0;                // bytes of key stored behind the struct
  std::atomic<bool> referenced{false};       // CLOCK bit, set by readers
  std::atomic<bool> refresh_claimed{false};  // first stale reader sets it
  // The W-TinyLFU segment the entry is in (a shard_policy.h segment value;
  // 0 under CLOCK). Shard's exclusive lock.
  std::uint8_t segment = 0;
  // Set only by set_value(), which keeps bytes in step; its pointer is still
  // in the first line.
  detail::erased_value value;
  std::size_t charge = 0;  // bytes counted against the byte bound
  // Policy ring links (shard's exclusive lock).
  Entry* prev = nullptr;
  Entry* next = nullptr;

  // Entries start on a cache line: a hit reads the first line and the key,
  // two lines for keys of up to 32 bytes.
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
  void set_value(detail::erased_value v) {
    value = std::move(v);
    bytes = nullptr;
    bytes_size = 0;
    if (ops != nullptr && ops->bytes_of != nullptr && value != nullptr) {
      const std::string_view b = ops->bytes_of(value.get());
      if (b.size() <= UINT32_MAX) {
        bytes = b.data();
        bytes_size = static_cast<std::uint32_t>(b.size());
      }
    }
  }
  static void destroy(Entry* e) noexcept {
    e->~Entry();
    ::operator delete(static_cast<void*>(e), k_align);
  }
};

static_assert(sizeof(void*) != 8 || sizeof(Entry) == 96,
              "the layout comments above (first line, key from byte 96) assume 96 bytes");

// Memory an entry of this key takes from the heap, charged against the byte
// bound together with its value's bytes: the aligned allocation of the entry
// and its key (whole cache lines), the allocator's alignment slack (glibc
// leaves about 48 bytes of gaps per 64-byte-aligned block), the entry's share
// of its shard's index (a 64-byte bucket per 7 slots, 40-80% full) and the
// value's shared_ptr control block.
inline constexpr std::size_t entry_charge(std::size_t key_size) {
  constexpr std::size_t line = 64, slack = 64, index_share = 24, control_block = 32;
  return (sizeof(Entry) + key_size + line - 1) / line * line + slack + index_share + control_block;
}
// The least any entry is charged (an empty key, an empty value).
inline constexpr std::size_t k_entry_overhead = entry_charge(0);

}  // namespace multicache::l1
