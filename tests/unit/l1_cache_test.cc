// L1: bounds, expiry, CLOCK eviction, fill tokens; and the Cache in L1-only mode.
#include "l1/l1_cache.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <condition_variable>
#include <multicache/multicache.hpp>
#include <mutex>
#include <random>
#include <thread>

namespace multicache {
namespace {

using namespace std::chrono_literals;

const detail::TypeOps* string_ops() { return &detail::type_ops_for<std::string>; }

l1::InsertRequest request(std::string_view key, std::string value, std::int64_t expires,
                          std::size_t bytes = 0) {
  l1::InsertRequest r;
  r.key = key;
  r.value = std::make_shared<const std::string>(std::move(value));
  r.ops = string_ops();
  r.expires_at_ns = expires;
  r.stale_at_ns = expires;
  r.value_bytes = bytes;
  return r;
}

std::optional<std::string> find(l1::L1Cache& c, std::string_view key, std::int64_t now) {
  std::optional<std::string> out;
  c.find(key, l1::L1Cache::hash(key), string_ops(), now, &out);
  return out;
}

TEST(L1Cache, HitMissAndExpiry) {
  l1::L1Counters counters;
  l1::L1Cache c(100, 1 << 20, &counters);
  EXPECT_EQ(c.insert_unconditionally(request("a", "1", 100), l1::L1Cache::hash("a"), 0),
            l1::insert_result::inserted);
  EXPECT_EQ(find(c, "a", 99), "1");
  EXPECT_EQ(find(c, "a", 100), std::nullopt);  // expired at its deadline
  EXPECT_EQ(find(c, "b", 0), std::nullopt);
}

// A copying hit of a std::string reads the bytes through the view the entry
// keeps: every size (empty, in-object, multi-line) and a replaced value.
TEST(L1Cache, StringHitsCopyTheCurrentBytes) {
  l1::L1Counters counters;
  l1::L1Cache c(100, 1 << 20, &counters);
  for (std::size_t size : {0, 1, 15, 16, 100, 255, 257, 5000}) {
    const std::string key = "k" + std::to_string(size);
    std::string value(size, 'x');
    for (std::size_t i = 0; i < size; ++i) value[i] = static_cast<char>('a' + i % 26);
    c.insert_unconditionally(request(key, value, 100), l1::L1Cache::hash(key), 0);
    EXPECT_EQ(find(c, key, 0), value) << size;
    c.insert_unconditionally(request(key, value + "!", 100), l1::L1Cache::hash(key), 0);
    EXPECT_EQ(find(c, key, 0), value + "!") << size;
  }
  // Another type under the same key is a miss, not a reinterpretation.
  std::optional<std::optional<std::string>> other;
  EXPECT_EQ(c.find("k100", l1::L1Cache::hash("k100"),
                   &detail::type_ops_for<std::optional<std::string>>, 0, &other),
            l1::lookup_result::miss);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// The sanitizers replace glibc's allocator; theirs reports the bytes handed out.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
constexpr bool k_glibc_heap = false;
std::size_t heap_in_use() { return __sanitizer_get_current_allocated_bytes(); }
#else
constexpr bool k_glibc_heap = true;
std::size_t heap_in_use() { return mallinfo2().uordblks; }
#endif

// The byte bound must count what entries really take from the heap, or a
// cache bounded to N bytes uses more. With glibc the heap figure includes
// chunk headers and alignment gaps and must also not be far below the charge;
// a sanitizer's allocator reports only the bytes handed out, a lower bound.
TEST(L1Cache, ChargesAtLeastTheHeapItsEntriesUse) {
  constexpr int k_entries = 50000;
  std::vector<std::string> keys;
  for (int i = 0; i < k_entries; ++i) keys.push_back("user:profile:" + std::to_string(1000000 + i));
  l1::L1Counters counters;
  const std::size_t before = heap_in_use();
  {
    l1::L1Cache c(2 * k_entries, std::size_t{1} << 32, &counters);
    for (const auto& k : keys) {
      auto r = request(k, "8 chars!", 1000);
      r.value_bytes = string_ops()->size_of(r.value.get(), 8);
      c.insert_unconditionally(r, l1::L1Cache::hash(k), 0);
    }
    const std::size_t used = heap_in_use() - before;
    EXPECT_GE(c.bytes(), used) << "charged " << c.bytes() / k_entries << " bytes per entry, heap "
                               << used / k_entries;
    if (k_glibc_heap) {
      EXPECT_LE(c.bytes(), used * 3 / 2) << c.bytes() / k_entries << " vs " << used / k_entries;
    }
  }
}

// Only the item bound binds here (tiny values, a large byte bound): every
// eviction under concurrent inserts is counted for size, none for bytes, and
// the bound holds once they stop. (The reason was read after another
// thread's eviction had brought the count back: up to thousands of
// evictions per run were counted as byte-bound.)
TEST(L1Cache, ConcurrentEvictionsCountTheBoundThatBinds) {
  l1::L1Counters counters;
  l1::L1Cache c(100, 1 << 30, &counters);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 20000; ++i) {
        const std::string key = std::to_string(t) + ":" + std::to_string(i);
        c.insert_unconditionally(request(key, "v", 1'000'000), l1::L1Cache::hash(key), 0);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counters.evictions_bytes.load(), 0u);
  EXPECT_GT(counters.evictions_size.load(), 0u);
  EXPECT_LE(c.items(), 100u);
  // Each key once: every entry that left counts under one reason.
  EXPECT_EQ(counters.evictions_size.load() + counters.rejected_admission.load() + c.items(),
            80000u);
}

TEST(L1Cache, OtherTypeIsAMiss) {
  l1::L1Counters counters;
  l1::L1Cache c(100, 1 << 20, &counters);
  c.insert_unconditionally(request("a", "1", 100), l1::L1Cache::hash("a"), 0);
  std::optional<int> out;
  EXPECT_EQ(c.find("a", l1::L1Cache::hash("a"), &detail::type_ops_for<int>, 0, &out),
            l1::lookup_result::miss);
}

TEST(L1Cache, StaleIsClaimedOnce) {
  l1::L1Counters counters;
  l1::L1Cache c(100, 1 << 20, &counters);
  auto r = request("a", "1", 100);
  r.stale_at_ns = 50;
  c.insert_unconditionally(r, l1::L1Cache::hash("a"), 0);
  std::optional<std::string> out;
  const auto h = l1::L1Cache::hash("a");
  EXPECT_EQ(c.find("a", h, string_ops(), 49, &out), l1::lookup_result::hit);
  EXPECT_EQ(c.find("a", h, string_ops(), 50, &out), l1::lookup_result::stale);
  EXPECT_EQ(c.find("a", h, string_ops(), 51, &out), l1::lookup_result::hit);
  c.release_refresh_claim("a", h);
  EXPECT_EQ(c.find("a", h, string_ops(), 52, &out), l1::lookup_result::stale);
}

TEST(L1Cache, FillTokenIsRefusedAfterAnInvalidation) {
  l1::L1Counters counters;
  l1::L1Cache c(100, 1 << 20, &counters);
  const auto h = l1::L1Cache::hash("k");
  const l1::FillToken token = c.fill_token(h);
  c.erase("k", h);  // an invalidation lands while the fill is in flight
  EXPECT_EQ(c.insert(request("k", "old", 100), h, token, 0), l1::insert_result::outdated);
  EXPECT_EQ(find(c, "k", 0), std::nullopt);
  EXPECT_EQ(c.insert(request("k", "new", 100), h, c.fill_token(h), 0), l1::insert_result::inserted);
  c.clear();  // clear() outdates every token too
  EXPECT_EQ(c.insert(request("k", "x", 100), h, token, 0), l1::insert_result::outdated);
}

TEST(L1Cache, AnInvalidationOfAnotherKeyDoesNotOutdateAFill) {
  l1::L1Counters counters;
  l1::L1Cache c(16, 1 << 20, &counters);  // one shard: every key shares it
  ASSERT_EQ(c.shard_count(), 1u);
  const auto h = l1::L1Cache::hash("k");
  // Any other key will do unless it shares k's generation slot (1 in 4096).
  int found = 0;
  for (int i = 0; found < 20 && i < 1000; ++i) {
    const std::string other = "other" + std::to_string(i);
    const auto oh = l1::L1Cache::hash(other);
    if (l1::L1Cache::generation_slot(oh) == l1::L1Cache::generation_slot(h)) continue;
    ++found;
    const l1::FillToken token = c.fill_token(h);
    c.erase(other, oh);  // someone else's key is invalidated during the fill
    EXPECT_EQ(c.insert(request("k", "v", 100), h, token, 0), l1::insert_result::inserted) << other;
    c.drop("k", h);
  }
  EXPECT_EQ(found, 20);
}

TEST(L1Cache, ClockKeepsReferencedEntries) {
  l1::L1Counters counters;
  l1::L1Cache c(4, 1 << 20, &counters);  // one shard: exact CLOCK
  for (std::string k : {"a", "b", "c", "d"}) {
    c.insert_unconditionally(request(k, k, 1000), l1::L1Cache::hash(k), 0);
  }
  EXPECT_EQ(find(c, "a", 0), "a");  // a is referenced, b is not
  c.insert_unconditionally(request("e", "e", 1000), l1::L1Cache::hash("e"), 0);
  EXPECT_EQ(find(c, "a", 0), "a");
  EXPECT_EQ(find(c, "b", 0), std::nullopt);
  EXPECT_EQ(c.items(), 4u);
  EXPECT_EQ(counters.evictions_size.load(), 1u);
}

TEST(L1Cache, TheHandTakesAnExpiredEntryEvenIfReferenced) {
  l1::L1Counters counters;
  l1::L1Cache c(3, 1 << 20, &counters);
  c.insert_unconditionally(request("a", "a", 1000), l1::L1Cache::hash("a"), 0);
  c.insert_unconditionally(request("b", "b", 10), l1::L1Cache::hash("b"), 0);
  c.insert_unconditionally(request("c", "c", 1000), l1::L1Cache::hash("c"), 0);
  EXPECT_EQ(find(c, "a", 0), "a");  // both referenced
  EXPECT_EQ(find(c, "b", 0), "b");
  c.insert_unconditionally(request("d", "d", 1000), l1::L1Cache::hash("d"), 20);
  EXPECT_EQ(find(c, "a", 20), "a");
  EXPECT_EQ(find(c, "c", 20), "c");
  EXPECT_EQ(counters.evictions_expired.load(), 1u);
  EXPECT_EQ(counters.evictions_size.load(), 0u);
}

TEST(L1Cache, TooLargeIsRejectedAndDropsTheOlderCopy) {
  l1::L1Counters counters;
  l1::L1Cache c(100, 4096, &counters);
  const auto h = l1::L1Cache::hash("k");
  c.insert_unconditionally(request("k", "small", 100), h, 0);
  EXPECT_EQ(c.insert_unconditionally(request("k", "big", 100, 8192), h, 0),
            l1::insert_result::too_large);
  EXPECT_EQ(find(c, "k", 0), std::nullopt);
  EXPECT_EQ(counters.rejected_too_large.load(), 1u);
}

// An entry's charge is kept in 32 bits: one of over 4 GiB is refused
// whatever the byte bound (here 1 TiB; the charge is only counted).
TEST(L1Cache, AnEntryOfOver4GiBIsTooLargeWhateverTheBound) {
  l1::L1Counters counters;
  l1::L1Cache c(100, std::size_t{1} << 40, &counters);
  const auto h = l1::L1Cache::hash("k");
  EXPECT_EQ(c.insert_unconditionally(request("k", "v", 100, std::size_t{5} << 30), h, 0),
            l1::insert_result::too_large);
  EXPECT_EQ(c.insert_unconditionally(request("k", "v", 100, std::size_t{3} << 30), h, 0),
            l1::insert_result::inserted);
  EXPECT_EQ(find(c, "k", 0), "v");
}

// Stale-if-error's grace counts from the value's own expiry, kept in whole
// milliseconds beyond the L1 deadline and capped at UINT32_MAX of them.
TEST(L1Cache, AnExpiredCopyIsFoundWithinTheGraceOfItsValuesExpiry) {
  constexpr std::int64_t ms = 1'000'000;
  constexpr std::int64_t day = 24 * 3600 * 1000 * ms;
  l1::L1Counters counters;
  l1::L1Cache c(100, 1 << 20, &counters);
  auto found = [&](std::string_view key, std::int64_t now, std::int64_t grace) {
    detail::erased_value v;
    return c.find_expired_within(key, l1::L1Cache::hash(key), string_ops(), now, grace, &v);
  };
  l1::InsertRequest r = request("k", "v", 100 * ms);
  r.value_expires_at_ns = 60'000 * ms;
  c.insert_unconditionally(r, l1::L1Cache::hash("k"), 0);
  EXPECT_TRUE(found("k", 30'000 * ms, 1 * ms));  // out of L1, the value not expired
  EXPECT_TRUE(found("k", 60'999 * ms, 1'000 * ms));
  EXPECT_FALSE(found("k", 61'000 * ms, 1'000 * ms));
  // Without a later value expiry, the grace counts from the L1 deadline.
  c.insert_unconditionally(request("plain", "v", 100 * ms), l1::L1Cache::hash("plain"), 0);
  EXPECT_TRUE(found("plain", 1'099 * ms, 1'000 * ms));
  EXPECT_FALSE(found("plain", 1'100 * ms, 1'000 * ms));
  // 100 days beyond the L1 deadline is kept as UINT32_MAX ms (about 49.7 days).
  l1::InsertRequest far = request("far", "v", 100 * ms);
  far.value_expires_at_ns = 100 * ms + 100 * day;
  c.insert_unconditionally(far, l1::L1Cache::hash("far"), 0);
  EXPECT_TRUE(found("far", 49 * day, 1 * ms));
  EXPECT_FALSE(found("far", 50 * day, 1 * ms));
}

TEST(L1OnlyCache, ExpiryFollowsTheInjectedClock) {
  auto clock = std::make_shared<ManualClock>();
  Cache cache({.clock = clock});
  int loads = 0;
  auto loader = [&loads] { return std::to_string(++loads); };
  EXPECT_EQ(cache.get_or_load<std::string>("k", 10s, loader), "1");
  clock->advance(9s);
  EXPECT_EQ(cache.get<std::string>("k"), "1");
  clock->advance(2s);
  EXPECT_EQ(cache.get<std::string>("k"), std::nullopt);
  EXPECT_EQ(cache.get_or_load<std::string>("k", 10s, loader), "2");
}

TEST(L1OnlyCache, L1TtlCapsLifetime) {
  auto clock = std::make_shared<ManualClock>();
  Cache cache({.l1_ttl = 1s, .clock = clock});
  cache.set<std::string>("k", "v", 1h);
  clock->advance(999ms);
  EXPECT_EQ(cache.get<std::string>("k"), "v");
  clock->advance(2ms);
  EXPECT_EQ(cache.get<std::string>("k"), std::nullopt);
}

TEST(L1OnlyCache, ItemAndByteLimitsHoldThroughTheApi) {
  Cache cache({.l1_max_items = 50, .l1_max_memory_mb = 1});
  std::mt19937 rng(1);
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "k" + std::to_string(rng() % 500);
    cache.set<std::string>(key, std::string(rng() % 60000, 'x'), 1h);
    const Stats s = cache.stats();
    ASSERT_LE(s.l1_items, 50u);
    ASSERT_LE(s.l1_bytes, 1u << 20);
  }
  EXPECT_GT(cache.stats().l1_evictions_bytes, 0u);
}

TEST(L1Cache, EntriesStartOnACacheLineAndHoldTheirKey) {
  for (std::size_t n = 0; n < 300; ++n) {
    const std::string key(n, static_cast<char>('a' + n % 26));
    l1::Entry* e = l1::Entry::create(key);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(e) % 64, 0u) << "key of " << n << " bytes";
    EXPECT_EQ(e->key(), key);
    l1::Entry::destroy(e);  // ASan: frees what create() allocated
  }
}

// Without Redis a set() replaces the value in one step: readers of the key
// never find it missing meanwhile, so they never call their loaders, even
// while two threads set it at once (of which the last to reach L1 stays).
TEST(L1OnlyCache, SetReplacesAValueWithoutAMissForConcurrentReaders) {
  Cache cache({});
  cache.set<std::string>("k", "w0", 1h);
  constexpr int k_writes = 20000;
  std::atomic<int> writers_done{0};
  auto writer = [&](char who) {
    for (int i = 0; i < k_writes; ++i) cache.set<std::string>("k", std::string(1, who), 1h);
    writers_done.fetch_add(1);
  };
  std::thread a(writer, 'a');
  std::thread b(writer, 'b');
  std::atomic<int> loads{0};
  long reads = 0;
  while (writers_done.load() < 2) {
    const std::string v = cache.get_or_load<std::string>("k", 1h, [&] {
      loads.fetch_add(1);
      return std::string("loaded");
    });
    ASSERT_NE(v, "loaded");
    ++reads;
  }
  a.join();
  b.join();
  EXPECT_EQ(loads.load(), 0) << "over " << reads << " reads";
  const auto last = cache.get<std::string>("k");
  ASSERT_TRUE(last.has_value());
  EXPECT_TRUE(*last == "a" || *last == "b") << *last;
}

TEST(L1OnlyCache, RemoveAndWorksWithoutRedis) {
  Cache cache({});
  cache.set<std::string>("k", "v", 1h);
  cache.remove("k");  // no Redis: nothing to fail
  EXPECT_EQ(cache.get<std::string>("k"), std::nullopt);
  EXPECT_FALSE(cache.redis_connected());
}

}  // namespace
}  // namespace multicache

namespace multicache {
namespace {

TEST(L1OnlyCache, TheRefreshExecutorStaysWithinItsBounds) {
  auto clock = std::make_shared<ManualClock>();
  Cache cache(
      {.early_refresh_ratio = 0.5, .refresh_threads = 2, .refresh_queue_size = 16, .clock = clock});
  constexpr int k_keys = 10000;
  for (int i = 0; i < k_keys; ++i) cache.set<int>("k" + std::to_string(i), i, 10s);
  clock->advance(6s);  // every key is stale now

  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> calls{0};
  for (int i = 0; i < k_keys; ++i) {
    const int v = cache.get_or_load<int>("k" + std::to_string(i), 10s, [&, i] {
      calls.fetch_add(1);
      const int now = running.fetch_add(1) + 1;
      int prev = max_running.load();
      while (now > prev && !max_running.compare_exchange_weak(prev, now)) {
      }
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return release; });
      running.fetch_sub(1);
      return i;
    });
    EXPECT_EQ(v, i);  // stale reads return at once
  }
  const Stats s = cache.stats();
  EXPECT_LE(s.refreshes_started, 2u);
  EXPECT_GE(s.refreshes_skipped, static_cast<std::uint64_t>(k_keys - 2 - 16));
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  cache.close();
  EXPECT_LE(max_running.load(), 2);
  EXPECT_LE(calls.load(), 2 + 16);
}

}  // namespace
}  // namespace multicache
