// l1/l1_cache.cc — see l1_cache.h for the design.
//
// Invariants (each shard, under its exclusive lock):
//   - every Entry in the index is in exactly one of its policy's rings, once, and
//     nothing else is;
//   - items_ and bytes_ equal the sums over all shards of entries and charges
//     (updated inside the same critical section that changes a shard);
//   - generations only grow.
#include "l1/l1_cache.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <stdexcept>

namespace multicache::l1 {

namespace {

std::size_t shard_count_for(std::size_t max_items) {
  // About 16 entries per shard at least, at most 64 shards: small caches keep
  // one precise CLOCK, large ones spread contention.
  std::size_t n = std::bit_floor(std::max<std::size_t>(1, max_items / 16));
  return std::min<std::size_t>(n, 64);
}

// The shard whose shared lock this thread holds while a find_visit reader
// runs, else null. Locking that shard again from the reader (through any
// call into the cache) would deadlock: the lock is not recursive and lets a
// waiting writer in first. So every lock site checks it and throws instead.
thread_local const void* t_visiting = nullptr;

[[noreturn, gnu::cold, gnu::noinline]] void throw_visiting() {
  throw std::logic_error(
      "multicache: a visit_or_load reader called into its own cache for a key of the L1 "
      "shard it is reading (that would deadlock)");
}

void check_not_visiting(const void* shard) {
  if (t_visiting == shard) [[unlikely]] {
    throw_visiting();
  }
}

// Marks the shard a reader runs under, for as long as it runs.
class VisitingShard {
 public:
  explicit VisitingShard(const void* shard) : saved_(t_visiting) { t_visiting = shard; }
  ~VisitingShard() { t_visiting = saved_; }
  VisitingShard(const VisitingShard&) = delete;
  VisitingShard& operator=(const VisitingShard&) = delete;

 private:
  const void* saved_;
};

// Entries unlinked under a shard's exclusive lock, destroyed once it is
// released (declare one before the lock): freeing them, and running their
// values' destructors, does not hold up that shard's readers and writers.
// Chains them through Entry::next: once unlinked, nothing else reads it.
class Retired {
 public:
  Retired() = default;
  Retired(const Retired&) = delete;
  Retired& operator=(const Retired&) = delete;
  ~Retired() {
    while (head_ != nullptr) {
      Entry* next = head_->next;
      Entry::destroy(head_);
      head_ = next;
    }
  }
  void add(Entry* e) {
    e->next = head_;
    head_ = e;
  }

 private:
  Entry* head_ = nullptr;
};

struct DestroyEntry {
  void operator()(Entry* e) const noexcept { Entry::destroy(e); }
};

}  // namespace

inline L1Cache::Shard& L1Cache::shard_to_lock(std::uint64_t hash) const {
  Shard& s = shard_for(hash);
  check_not_visiting(&s);
  return s;
}

L1Cache::L1Cache(std::size_t max_items, std::size_t max_bytes, L1Counters* counters, policy p)
    : max_items_(max_items), max_bytes_(max_bytes), counters_(counters) {
  if (p == policy::tinylfu) {
    // Sized by the entries that can actually fit: a huge l1_max_items with a
    // byte bound must not allocate a sketch for entries that never exist.
    const std::size_t fit = std::max<std::size_t>(1, max_bytes / k_entry_overhead);
    sketch_ = std::make_unique<FrequencySketch>(std::min(max_items, fit));
  }
  const std::size_t n = shard_count_for(max_items);
  shards_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>(sketch_.get()));
  mask_ = n - 1;
  generations_ = std::make_unique<std::atomic<std::uint64_t>[]>(k_generation_slots);
}

L1Cache::~L1Cache() {
  for (auto& sp : shards_) {
    Shard& s = *sp;
    util::WriterLock lock(s.mu);
    while (Entry* e = s.policy.any()) remove_locked(s, e);
  }
}

template <class CopyFn>
lookup_result L1Cache::find_impl(std::string_view key, std::uint64_t hash,
                                 const detail::TypeOps* ops, const ReadTime& now, bool claim,
                                 FlatIndex::reads next, CopyFn copy) {
  // The sketch's line and the key's bucket start loading before the shard
  // lock is taken (its locked instruction would otherwise wait for them).
  // A key that is found is counted under the lock (count_found), others
  // after it is released.
  if (sketch_) sketch_->prefetch(hash);
  shard_for(hash).prefetch(hash);
  // An aging pass the count made due runs after the lock is released: it
  // takes milliseconds on a large sketch.
  HitCount counted;
  const lookup_result r = locked_find(key, hash, ops, now, claim, next, copy, &counted);
  if (sketch_ && !counted.counted) sketch_->increment(hash);
  if (counted.aging_due) sketch_->age_if_due();
  return r;
}

inline bool L1Cache::count_found(Entry& e) const {
  // A key whose counters were saturated since the sketch last aged is not
  // counted again (it would change nothing): about 100 instructions fewer
  // for most hits of popular keys. The check is inline; the count is not.
  const std::uint32_t epoch = sketch_->epoch();
  if (e.sketch_epoch.load(std::memory_order_relaxed) == epoch) return false;
  return count_unsaturated(e, epoch);
}

bool L1Cache::count_unsaturated(Entry& e, std::uint32_t epoch) const {
  const FrequencySketch::Counted c = sketch_->record(e.hash);
  if (c.saturated) e.sketch_epoch.store(epoch, std::memory_order_relaxed);
  return c.aging_due;
}

template <class CopyFn>
lookup_result L1Cache::locked_find(std::string_view key, std::uint64_t hash,
                                   const detail::TypeOps* ops, const ReadTime& now, bool claim,
                                   FlatIndex::reads next, CopyFn copy, HitCount* counted) {
  Shard& s = shard_to_lock(hash);
  util::ReaderLock lock(s.mu);
  Entry* found = s.index.find(key, hash, next);
  if (found == nullptr) return lookup_result::miss;
  Entry& e = *found;
  if (sketch_) {
    counted->aging_due = count_found(e);
    counted->counted = true;
  }
  if (e.ops != ops || now.reached(e.expires_at_ns)) return lookup_result::miss;
  if (!e.referenced.load(std::memory_order_relaxed)) {
    e.referenced.store(true, std::memory_order_relaxed);
  }
  copy(e);
  if (claim && now.reached(e.stale_at_ns) && !e.refresh_claimed.load(std::memory_order_relaxed) &&
      !e.refresh_claimed.exchange(true, std::memory_order_acq_rel)) {
    return lookup_result::stale;
  }
  return lookup_result::hit;
}

lookup_result L1Cache::find(std::string_view key, std::uint64_t hash, const detail::TypeOps* ops,
                            const ReadTime& now, void* out, bool claim) {
  const auto next = ops->bytes_of != nullptr ? FlatIndex::reads::bytes : FlatIndex::reads::object;
  return find_impl(key, hash, ops, now, claim, next, [&](const Entry& e) {
    if (e.bytes != nullptr) {
      ops->copy_bytes_out({e.bytes, e.bytes_size}, out);
    } else {
      ops->copy_out(e.value.get(), out);
    }
  });
}

lookup_result L1Cache::find_shared(std::string_view key, std::uint64_t hash,
                                   const detail::TypeOps* ops, const ReadTime& now,
                                   detail::erased_value* out) {
  return find_impl(key, hash, ops, now, true, FlatIndex::reads::object,
                   [&](const Entry& e) { *out = e.value; });
}

lookup_result L1Cache::find_visit(std::string_view key, std::uint64_t hash,
                                  const detail::TypeOps* ops, const ReadTime& now,
                                  const detail::VisitorRef& visit) {
  const Shard* shard = &shard_for(hash);
  return find_impl(key, hash, ops, now, true, FlatIndex::reads::object, [&](const Entry& e) {
    const VisitingShard mark(shard);
    visit(e.value.get());
  });
}

bool L1Cache::find_expired_within(std::string_view key, std::uint64_t hash,
                                  const detail::TypeOps* ops, std::int64_t now_ns,
                                  std::int64_t grace_ns, detail::erased_value* out) {
  Shard& s = shard_to_lock(hash);
  util::ReaderLock lock(s.mu);
  const Entry* e = s.index.find(key, hash);
  if (e == nullptr || e->ops != ops) return false;
  if (e->value_expires_at_ns() + grace_ns <= now_ns) return false;
  *out = e->value;
  return true;
}

FillToken L1Cache::fill_token(std::uint64_t hash) const {
  return FillToken{generation_for(hash).load(std::memory_order_acquire)};
}

insert_result L1Cache::insert(const InsertRequest& req, std::uint64_t hash, const FillToken& token,
                              std::int64_t now_ns, bool bump_generation) {
  return insert_impl(req, hash, &token, now_ns, bump_generation);
}

insert_result L1Cache::insert_unconditionally(const InsertRequest& req, std::uint64_t hash,
                                              std::int64_t now_ns, bool bump_generation) {
  return insert_impl(req, hash, nullptr, now_ns, bump_generation);
}

insert_result L1Cache::insert_impl(const InsertRequest& req, std::uint64_t hash,
                                   const FillToken* token, std::int64_t now_ns,
                                   bool bump_generation) {
  const std::size_t charge = entry_charge(req.key.size()) + req.value_bytes;
  if (charge > max_bytes_ || charge > UINT32_MAX || req.key.size() > UINT32_MAX) {
    counters_->rejected_too_large.fetch_add(1, std::memory_order_relaxed);
    // An older, smaller value must not survive the newer one; and a write
    // (bump_generation) still outdates every fill that started before it.
    erase_impl(req.key, hash, bump_generation);
    return insert_result::too_large;
  }
  if (req.expires_at_ns <= now_ns) {
    // A write whose value expired on its way here (a ttl shorter than its
    // Redis write took) still replaces the older value and outdates older fills.
    if (bump_generation) erase(req.key, hash);
    return insert_result::expired;
  }
  Shard& s = shard_to_lock(hash);
  // Built before the lock: the allocation and the key's copy do not hold up
  // the shard. If that throws, a caller's own write still outdates older
  // fills: the key is dropped and its generation bumped, as the lock would.
  std::unique_ptr<Entry, DestroyEntry> fresh;
  try {
    fresh.reset(Entry::create(req.key));
  } catch (...) {
    if (bump_generation) erase(req.key, hash);
    throw;
  }
  fresh->hash = hash;
  fresh->ops = req.ops;
  fresh->set_value(req.value);
  fresh->expires_at_ns = req.expires_at_ns;
  if (req.value_expires_at_ns > req.expires_at_ns) {
    fresh->value_outlives_ms = static_cast<std::uint32_t>(std::min<std::int64_t>(
        (req.value_expires_at_ns - req.expires_at_ns) / 1'000'000, UINT32_MAX));
  }
  fresh->stale_at_ns = req.stale_at_ns;
  fresh->charge = static_cast<std::uint32_t>(charge);
  fresh->refresh_claimed.store(req.refresh_claimed, std::memory_order_relaxed);
  {
    Retired retired;  // the replaced entry and the victims, after the lock
    util::WriterLock lock(s.mu);
    std::atomic<std::uint64_t>& generation = generation_for(hash);
    if (token != nullptr && generation.load(std::memory_order_acquire) != token->generation) {
      return insert_result::outdated;
    }
    // Before anything below can throw: a failed write still outdates older fills.
    if (bump_generation) generation.fetch_add(1, std::memory_order_acq_rel);
    segment seg = segment::window;  // a new key starts in the window
    if (Entry* old = s.index.find(req.key, hash)) {
      seg = ShardPolicy::segment_of(old);  // a replaced value keeps its place
      unlink_locked(s, old);
      retired.add(old);
    }
    s.index.reserve_one();  // may throw: before the entry is linked anywhere
    Entry* e = fresh.release();
    s.index.insert(e);
    s.policy.insert_into(e, seg);
    items_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(charge, std::memory_order_relaxed);
    while (over_limits()) {
      Entry* victim = evict_one_locked(s, e, now_ns);
      if (victim == nullptr) break;
      retired.add(victim);
    }
    s.policy.rebalance(now_ns);
  }
  if (over_limits()) enforce_limits(shard_index(hash) + 1, now_ns);
  return insert_result::inserted;
}

void L1Cache::unlink_locked(Shard& s, Entry* e) {
  s.policy.remove(e);
  items_.fetch_sub(1, std::memory_order_relaxed);
  bytes_.fetch_sub(e->charge, std::memory_order_relaxed);
  s.index.erase(e);
}

void L1Cache::remove_locked(Shard& s, Entry* e) {
  unlink_locked(s, e);
  Entry::destroy(e);
}

Entry* L1Cache::evict_one_locked(Shard& s, const Entry* keep, std::int64_t now_ns) {
  // The bounds read once: other shards' evictions may have brought them back
  // since the caller looked (then nothing more goes), and the reason counted
  // is a bound that was over now (reading items_ again after another thread
  // lowered it counted item-bound evictions as byte-bound ones).
  const bool over_items = items_.load(std::memory_order_relaxed) > max_items_;
  if (!over_items && bytes_.load(std::memory_order_relaxed) <= max_bytes_) return nullptr;
  const Eviction ev = s.policy.victim(now_ns, keep);
  Entry* v = ev.entry;
  if (v == nullptr) return nullptr;
  // One reason per entry, so that the reasons add up to the entries that left.
  if (v->expires_at_ns <= now_ns) {
    counters_->evictions_expired.fetch_add(1, std::memory_order_relaxed);
  } else if (ev.not_admitted) {
    counters_->rejected_admission.fetch_add(1, std::memory_order_relaxed);
  } else if (over_items) {
    counters_->evictions_size.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_->evictions_bytes.fetch_add(1, std::memory_order_relaxed);
  }
  unlink_locked(s, v);
  return v;
}

bool L1Cache::over_limits() const {
  return items_.load(std::memory_order_relaxed) > max_items_ ||
         bytes_.load(std::memory_order_relaxed) > max_bytes_;
}

void L1Cache::enforce_limits(std::size_t start_shard, std::int64_t now_ns) {
  // One victim per shard visit, round robin, so no shard is emptied for others.
  const std::size_t n = shards_.size();
  std::size_t empty_in_a_row = 0;
  for (std::size_t i = start_shard; over_limits() && empty_in_a_row < n; ++i) {
    Shard& s = *shards_[i % n];
    if (t_visiting == &s) {  // a reader's own shard: evict elsewhere
      ++empty_in_a_row;
      continue;
    }
    Retired retired;
    util::WriterLock lock(s.mu);
    if (Entry* victim = evict_one_locked(s, nullptr, now_ns)) {
      retired.add(victim);
      empty_in_a_row = 0;
    } else {
      ++empty_in_a_row;
    }
  }
}

void L1Cache::erase(std::string_view key, std::uint64_t hash) { erase_impl(key, hash, true); }

void L1Cache::drop(std::string_view key, std::uint64_t hash) { erase_impl(key, hash, false); }

void L1Cache::drop_if_current(std::string_view key, std::uint64_t hash, const FillToken& token) {
  erase_impl(key, hash, false, &token);
}

void L1Cache::erase_impl(std::string_view key, std::uint64_t hash, bool bump,
                         const FillToken* token) {
  Shard& s = shard_to_lock(hash);
  Retired retired;
  util::WriterLock lock(s.mu);
  if (token != nullptr &&
      generation_for(hash).load(std::memory_order_acquire) != token->generation) {
    return;
  }
  if (bump) generation_for(hash).fetch_add(1, std::memory_order_acq_rel);
  Entry* e = s.index.find(key, hash);
  if (e == nullptr) return;
  counters_->evictions_invalidated.fetch_add(1, std::memory_order_relaxed);
  unlink_locked(s, e);
  retired.add(e);
}

void L1Cache::release_refresh_claim(std::string_view key, std::uint64_t hash) {
  Shard& s = shard_to_lock(hash);
  util::ReaderLock lock(s.mu);
  Entry* e = s.index.find(key, hash);
  if (e != nullptr) e->refresh_claimed.store(false, std::memory_order_release);
}

void L1Cache::clear() {
  // Every slot first: a fill that inserts before its shard is swept below is
  // swept with it; one that inserts after finds its generation moved.
  for (std::size_t i = 0; i < k_generation_slots; ++i) {
    generations_[i].fetch_add(1, std::memory_order_acq_rel);
  }
  for (auto& sp : shards_) {
    Shard& s = *sp;
    check_not_visiting(&s);
    util::WriterLock lock(s.mu);
    while (Entry* e = s.policy.any()) {
      counters_->evictions_invalidated.fetch_add(1, std::memory_order_relaxed);
      remove_locked(s, e);
    }
    s.index.clear();  // gives the table's memory back
  }
}

}  // namespace multicache::l1
