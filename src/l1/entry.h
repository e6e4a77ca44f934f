// l1/entry.h — one L1 entry: the decoded value, its type, its deadlines, and
// its key stored inline right behind the struct (one allocation per entry).
//
// Entries are created and destroyed by their shard (Entry::create/destroy),
// indexed by its FlatIndex and linked into its policy ring. All fields but the
// three atomics are written only under the shard's exclusive lock; readers
// under the shared lock read them and may set the atomics (the CLOCK
// reference bit, the refresh claim and the sketch epoch).
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
  // Bytes between the start of the allocation and the entry (see create()).
  std::uint8_t align_offset = 0;
  // W-TinyLFU: the sketch's epoch() in which a hit found this key's counters
  // saturated (0: none yet); until the sketch ages, hits skip counting it.
  // Set by readers.
  std::atomic<std::uint32_t> sketch_epoch{0};
  // Set only by set_value(), which keeps bytes in step; its pointer is still
  // in the first line.
  detail::erased_value value;
  // Bytes counted against the byte bound; the shard refuses an entry of more
  // than 4 GiB (Redis holds no value of over 512 MB either).
  std::uint32_t charge = 0;
  // How long the value itself (its ttl, or the PTTL it was read with)
  // outlives expires_at_ns, which Options::l1_ttl may cut short: in whole
  // milliseconds rounded down, at most ~49 days. Stale-if-error's grace counts
  // from value_expires_at_ns(). Set before the entry is indexed, then
  // read-only; not read by hits.
  std::uint32_t value_outlives_ms = 0;
  // Policy ring links (shard's exclusive lock).
  Entry* prev = nullptr;
  Entry* next = nullptr;

  // Entries start on a cache line: a hit reads the first line and the key,
  // two lines for keys of up to 32 bytes.
  static constexpr std::size_t k_align = 64;

  std::int64_t value_expires_at_ns() const {
    return expires_at_ns + static_cast<std::int64_t>(value_outlives_ms) * 1'000'000;
  }
  std::string_view key() const {
    return {reinterpret_cast<const char*>(this) + sizeof(Entry), key_size};
  }

  // A new entry holding a copy of key (throws std::bad_alloc). Keys longer
  // than 4 GiB are refused earlier, by the byte bound.
  //
  // The line is found inside a plain allocation k_align - 16 bytes larger
  // (malloc aligns to 16), not taken from an aligned operator new: glibc
  // serves aligned allocations from its arenas, under their lock, never from
  // the thread's cache, so with entries built on one thread and freed on
  // another, replacing values kept two threads waiting on each other's arena
  // lock (docs/performance.md: L1 writes).
  static Entry* create(std::string_view key) {
    constexpr std::size_t slack = k_align - alignof(std::max_align_t);
    char* raw = static_cast<char*>(::operator new(sizeof(Entry) + key.size() + slack));
    const std::size_t offset =
        (k_align - reinterpret_cast<std::uintptr_t>(raw) % k_align) % k_align;
    Entry* e = new (raw + offset) Entry();
    e->align_offset = static_cast<std::uint8_t>(offset);
    e->key_size = static_cast<std::uint32_t>(key.size());
    if (!key.empty()) {
      __builtin_memcpy(reinterpret_cast<char*>(e) + sizeof(Entry), key.data(), key.size());
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
    char* raw = reinterpret_cast<char*>(e) - e->align_offset;
    e->~Entry();
    ::operator delete(raw);
  }
};

static_assert(sizeof(void*) != 8 || sizeof(Entry) == 96,
              "the layout comments above (first line, key from byte 96) assume 96 bytes");

// Memory an entry of this key takes from the heap, charged against the byte
// bound together with its value's bytes: the allocation of the entry and its
// key (counted as whole cache lines, plus one line for the 48 bytes create()
// adds to find a line start and malloc's header), the entry's share
// of its shard's index (a 64-byte bucket per 7 slots, 40-80% full) and the
// value's shared_ptr control block.
inline constexpr std::size_t entry_charge(std::size_t key_size) {
  constexpr std::size_t line = 64, slack = 64, index_share = 24, control_block = 32;
  return (sizeof(Entry) + key_size + line - 1) / line * line + slack + index_share + control_block;
}
// The least any entry is charged (an empty key, an empty value).
inline constexpr std::size_t k_entry_overhead = entry_charge(0);

}  // namespace multicache::l1
