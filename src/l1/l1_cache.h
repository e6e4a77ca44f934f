// l1/l1_cache.h — the in-process cache: sharded, bounded by items and bytes.
//
// Keys hash to one of a power-of-two number of shards. Each shard has a
// shared mutex guarding its index (flat_index.h), its entries and its eviction policy
// (shard_policy.h: one CLOCK ring, or W-TinyLFU's window/probation/protected rings): hits take the
// shared lock, copy the value out and set the entry's reference bit (plus, with
// W-TinyLFU, count the key in a lock-free frequency sketch); inserts and
// erases take the exclusive lock, and segment moves happen there (an entry is
// built before it is taken, and entries removed under it are destroyed after
// it is released, so allocation and values' destructors stay outside). Item and byte totals are
// global atomics; an insert evicts from its own shard, then from the others, until both bounds hold
// again, so once concurrent inserts finish, both bounds hold exactly.
//
// Fill race protection: a table of k_generation_slots generations, one per
// slice of the hash space, bumped by erase() (the key's slot) and clear()
// (every slot). A filler takes fill_token() before it starts reading L2 or the
// loader and passes it to insert(), which refuses the value if the key's
// generation moved meanwhile (an invalidation may have arrived for this key).
// Refusals are exact for the key and rare for others: an invalidation of an
// unrelated key outdates a fill only when both land in the same of the 4096
// slots, so invalidation traffic does not keep loaded values out of the cache.
//
// Thread-safe. Values are immutable once inserted.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "l1/entry.h"
#include "l1/flat_index.h"
#include "l1/frequency_sketch.h"
#include "l1/read_time.h"
#include "l1/shard_policy.h"
#include "util/hash.h"
#include "util/mutex.h"

namespace multicache::l1 {

// Counters the L1 bumps; owned by the caller, updated with relaxed atomics.
struct L1Counters {
  std::atomic<std::uint64_t> evictions_size{0};
  std::atomic<std::uint64_t> evictions_bytes{0};
  std::atomic<std::uint64_t> evictions_expired{0};
  std::atomic<std::uint64_t> evictions_invalidated{0};
  std::atomic<std::uint64_t> rejected_too_large{0};
  // tinylfu: window candidates evicted because they were less popular than
  // probation's victim (not counted in evictions_size or _bytes: every
  // entry that leaves counts under exactly one reason).
  std::atomic<std::uint64_t> rejected_admission{0};
};

enum class lookup_result { miss, hit, stale };  // stale: first stale reader; must refresh

// rejected: not returned today (W-TinyLFU admits every fill to its window and
// applies admission when the window overflows); kept for callers' switches.
enum class insert_result { inserted, outdated, too_large, expired, rejected };

// clock: CLOCK eviction. tinylfu: W-TinyLFU (see shard_policy.h), every
// lookup counted in a FrequencySketch (with its doorkeeper).
enum class policy { clock, tinylfu };

struct FillToken {
  std::uint64_t generation = 0;
};

struct InsertRequest {
  std::string_view key;
  detail::erased_value value;
  const detail::TypeOps* ops = nullptr;
  std::int64_t expires_at_ns = 0;
  std::int64_t stale_at_ns = 0;
  // When the value itself expires (its ttl, or the PTTL it was read with),
  // later than expires_at_ns if l1_ttl cut its L1 life short; a value below
  // expires_at_ns counts as expires_at_ns. Stale-if-error's grace counts from it.
  std::int64_t value_expires_at_ns = 0;
  std::size_t value_bytes = 0;   // memory the value occupies
  bool refresh_claimed = false;  // a refresh of this value is already scheduled
};

class L1Cache {
 public:
  // policy::tinylfu: W-TinyLFU per shard (see shard_policy.h); the frequency
  // sketch is shared by all shards.
  L1Cache(std::size_t max_items, std::size_t max_bytes, L1Counters* counters,
          policy p = policy::clock);
  ~L1Cache();
  L1Cache(const L1Cache&) = delete;
  L1Cache& operator=(const L1Cache&) = delete;

  // The hash every member function takes: computed once per call by the caller.
  static std::uint64_t hash(std::string_view key) { return util::StringHash{}(key); }

  // On hit or stale, copies the value into *out with ops->copy_out.
  // An entry of another type, or expired at now, is a miss.
  // claim = false: a stale entry reads as a plain hit and stays unclaimed.
  lookup_result find(std::string_view key, std::uint64_t hash, const detail::TypeOps* ops,
                     const ReadTime& now, void* out, bool claim = true);
  // Like find, but hands out the shared value itself.
  lookup_result find_shared(std::string_view key, std::uint64_t hash, const detail::TypeOps* ops,
                            const ReadTime& now, detail::erased_value* out);
  // Like find, but calls visit(value) on the cached object itself, under the
  // shard's shared lock; on a miss visit is not called. An exception from
  // visit propagates, the lock released. While visit runs, any call on this
  // thread that would lock that shard throws std::logic_error (it would
  // deadlock); eviction passes over that shard.
  lookup_result find_visit(std::string_view key, std::uint64_t hash, const detail::TypeOps* ops,
                           const ReadTime& now, const detail::VisitorRef& visit);

  // An entry of this type whose value expired less than grace_ns ago, or has
  // not expired (though l1_ttl ended its L1 life): for stale-if-error. Does
  // not touch reference bits or claims.
  bool find_expired_within(std::string_view key, std::uint64_t hash, const detail::TypeOps* ops,
                           std::int64_t now_ns, std::int64_t grace_ns, detail::erased_value* out);

  // Generation slots: a power of two, so 32 KB of counters whatever the size.
  static constexpr std::size_t k_generation_slots = 4096;
  // The slot of a key's generation (see generation_for()).
  static std::size_t generation_slot(std::uint64_t hash) { return hash & (k_generation_slots - 1); }
  FillToken fill_token(std::uint64_t hash) const;
  // Whether an insert with this token would still be accepted now (nothing
  // outdated it yet; it may be outdated right after).
  bool is_current(const FillToken& token, std::uint64_t hash) const {
    return fill_token(hash).generation == token.generation;
  }

  // Inserts or replaces. Stores nothing when the token is outdated (an
  // invalidation hit the key's generation slot since the token was taken),
  // when the entry alone exceeds the byte bound (an older copy is dropped
  // then), or when it is already expired.
  // bump_generation: afterwards, outdate every other token of the key (the
  // caller's own write: no fill that started before it may land after it).
  insert_result insert(const InsertRequest& req, std::uint64_t hash, const FillToken& token,
                       std::int64_t now_ns, bool bump_generation = false);
  // Insert that ignores generations (the caller's own write); with
  // bump_generation, it still outdates other tokens of the key, as insert().
  insert_result insert_unconditionally(const InsertRequest& req, std::uint64_t hash,
                                       std::int64_t now_ns, bool bump_generation = false);

  // Removes the key if present and bumps its generation either way.
  void erase(std::string_view key, std::uint64_t hash);
  // Removes the key if present, leaving the generation alone (for dropping a
  // value this instance itself knows is outdated).
  void drop(std::string_view key, std::uint64_t hash);
  // drop(), unless the key was written or invalidated since token was taken
  // (checked as insert() checks it).
  void drop_if_current(std::string_view key, std::uint64_t hash, const FillToken& token);
  // Lets the next stale reader claim a refresh again (after a failed one).
  void release_refresh_claim(std::string_view key, std::uint64_t hash);
  // Drops everything and bumps every generation.
  void clear();

  std::size_t items() const { return items_.load(std::memory_order_relaxed); }
  std::size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  std::size_t shard_count() const { return shards_.size(); }
  // The frequency sketch (tinylfu), else nullptr; for tests.
  const FrequencySketch* sketch() const { return sketch_.get(); }

 private:
  struct Shard {
    explicit Shard(const FrequencySketch* sketch) : policy(sketch) {}
    mutable util::SharedMutex mu;
    FlatIndex index MC_GUARDED_BY(mu);
    // Starts loading the key's bucket; needs no lock (FlatIndex::prefetch
    // reads only atomics and never dereferences).
    void prefetch(std::uint64_t hash) const MC_NO_THREAD_SAFETY_ANALYSIS { index.prefetch(hash); }
    ShardPolicy policy MC_GUARDED_BY(mu);
  };

  // The key's generation: only grows. Its slot is the raw hash's low bits
  // (shard_index() uses the mixed hash's high bits), so a shard's keys spread
  // over all slots. Bumped for a key under its shard's exclusive lock and
  // checked under it by insert(), so a key's bump and its fills' checks are
  // ordered by that lock; clear() bumps every slot before it takes the locks.
  std::atomic<std::uint64_t>& generation_for(std::uint64_t hash) const {
    return generations_[generation_slot(hash)];
  }

  std::size_t shard_index(std::uint64_t hash) const { return (util::mix_hash(hash) >> 48) & mask_; }
  Shard& shard_for(std::uint64_t hash) const { return *shards_[shard_index(hash)]; }
  // shard_for(hash), to be locked next: throws std::logic_error when this
  // thread is inside a find_visit reader of that shard (it would deadlock).
  // Every lock of a key's shard goes through it (inline, in l1_cache.cc).
  inline Shard& shard_to_lock(std::uint64_t hash) const;
  // copy(entry) runs under the shard's shared lock on a hit; next: what it reads.
  template <class CopyFn>
  lookup_result find_impl(std::string_view key, std::uint64_t hash, const detail::TypeOps* ops,
                          const ReadTime& now, bool claim, FlatIndex::reads next, CopyFn copy);
  // What locked_find did with the sketch: counted the key (it was found), and
  // whether that made an aging pass due (for after the lock).
  struct HitCount {
    bool counted = false;
    bool aging_due = false;
  };
  template <class CopyFn>
  lookup_result locked_find(std::string_view key, std::uint64_t hash, const detail::TypeOps* ops,
                            const ReadTime& now, bool claim, FlatIndex::reads next, CopyFn copy,
                            HitCount* counted);
  // Counts a found entry's key in the sketch (tinylfu), under its shard's
  // lock, without aging; whether aging is due.
  inline bool count_found(Entry& e) const;  // defined in l1_cache.cc, its only user
  // count_found's out-of-line part: records the key, epoch being the
  // sketch's epoch() read before.
  [[gnu::noinline]] bool count_unsaturated(Entry& e, std::uint32_t epoch) const;
  insert_result insert_impl(const InsertRequest& req, std::uint64_t hash, const FillToken* token,
                            std::int64_t now_ns, bool bump_generation = false);
  void erase_impl(std::string_view key, std::uint64_t hash, bool bump,
                  const FillToken* token = nullptr);
  // Unlinks e from s's index and policy; adjusts totals. The caller destroys
  // it (after releasing the lock, when it can: l1_cache.cc's Retired).
  void unlink_locked(Shard& s, Entry* e) MC_REQUIRES(s.mu);
  // Unlinks and destroys e.
  void remove_locked(Shard& s, Entry* e) MC_REQUIRES(s.mu);
  // Unlinks one victim from s and returns it for the caller to destroy;
  // nullptr if s is empty or only `keep` remains, or if both bounds hold.
  Entry* evict_one_locked(Shard& s, const Entry* keep, std::int64_t now_ns) MC_REQUIRES(s.mu);
  bool over_limits() const;
  void enforce_limits(std::size_t start_shard, std::int64_t now_ns);

  const std::size_t max_items_;
  const std::size_t max_bytes_;
  L1Counters* const counters_;
  std::unique_ptr<FrequencySketch> sketch_;  // tinylfu only; thread-safe itself
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> generations_;  // see generation_for()
  std::uint64_t mask_ = 0;                                     // see shard_index()
  std::atomic<std::size_t> items_{0};
  std::atomic<std::size_t> bytes_{0};
};

}  // namespace multicache::l1
