// W-TinyLFU through L1Cache and the Cache API; the frequency sketch and its
// doorkeeper. (Segment moves inside one shard: shard_policy_test.cc.)
#include <gtest/gtest.h>

#include <multicache/multicache.hpp>
#include <random>
#include <thread>

#include "l1/frequency_sketch.h"
#include "l1/l1_cache.h"
#include "support/redis_server.h"

namespace multicache::l1 {
namespace {

const detail::TypeOps* ops() { return &detail::type_ops_for<std::string>; }

InsertRequest request(const std::string& key, std::size_t value_bytes = 0) {
  InsertRequest r;
  r.key = key;
  r.value = std::make_shared<const std::string>(key);
  r.ops = ops();
  r.expires_at_ns = 1'000'000;
  r.stale_at_ns = 1'000'000;
  r.value_bytes = value_bytes;
  return r;
}

insert_result fill(L1Cache& c, const std::string& key, std::size_t value_bytes = 0) {
  const auto h = L1Cache::hash(key);
  return c.insert(request(key, value_bytes), h, c.fill_token(h), 0);
}

bool touch(L1Cache& c, const std::string& key) {
  std::optional<std::string> out;
  return c.find(key, L1Cache::hash(key), ops(), 0, &out) != lookup_result::miss;
}

TEST(FrequencySketch, DoorkeeperTakesTheFirstRequest) {
  FrequencySketch s(100);
  EXPECT_EQ(s.estimate(42), 0);
  s.increment(42);
  EXPECT_EQ(s.estimate(42), 1);  // the doorkeeper's bit, no counter yet
  s.increment(42);
  EXPECT_EQ(s.estimate(42), 2);
}

TEST(FrequencySketch, CountsSaturatesAndAges) {
  FrequencySketch s(100);
  for (int i = 0; i < 30; ++i) s.increment(42);
  EXPECT_EQ(s.estimate(42), 16);  // counters saturate at 15, plus the doorkeeper
  EXPECT_LE(s.estimate(7), 1);    // rarely collides
  // Saturated increments are no additions: aging needs fresh keys.
  for (std::size_t i = 0; i < s.sample_size(); ++i) s.increment(1000 + i);
  EXPECT_LE(s.estimate(42), 8);  // halved, and the doorkeeper cleared
  EXPECT_GE(s.estimate(42), 7);
}

// Count-min never under-counts: two 4-bit counters share a byte, and neither
// may carry into or wipe the other.
TEST(FrequencySketch, NeverUnderCountsBeforeAging) {
  FrequencySketch s(1000);  // ages after 15,000 additions; this adds fewer
  std::vector<int> counts(400);
  for (std::size_t k = 0; k < counts.size(); ++k) {
    counts[k] = static_cast<int>(k % 20) + 1;
    for (int i = 0; i < counts[k]; ++i) s.increment(std::hash<std::size_t>{}(k));
  }
  for (std::size_t k = 0; k < counts.size(); ++k) {
    ASSERT_GE(s.estimate(std::hash<std::size_t>{}(k)), std::min(counts[k], 16)) << k;
  }
}

// Aging halves each 4-bit counter on its own: a saturated neighbour in the
// same byte must not shift a bit into it.
TEST(FrequencySketch, AgingHalvesEachCounterOnItsOwn) {
  FrequencySketch s(4);  // 4 blocks: 200 keys saturate nearly every counter
  for (std::size_t k = 0; k < 200; ++k) {
    for (int i = 0; i < 20; ++i) s.increment(k);
  }
  s.age_now();
  for (std::size_t k = 0; k < 200; ++k) {
    // At most 15 before, so at most 7 after; the doorkeeper was cleared.
    ASSERT_LE(s.estimate(k), 7) << k;
  }
}

// increment() reports saturation (the request changed nothing) exactly when
// the key's estimate is at its top, and aging moves the epoch on.
TEST(FrequencySketch, ReportsSaturationAndAgingEndsIt) {
  FrequencySketch s(100);
  int until_saturated = 0;
  while (!s.increment(42)) {
    ASSERT_LT(++until_saturated, 100);
    EXPECT_LE(s.estimate(42), 16);
  }
  EXPECT_EQ(s.estimate(42), 16);  // 15, plus the doorkeeper
  EXPECT_GE(until_saturated, 15);
  const std::uint32_t before = s.epoch();
  s.age_now();
  EXPECT_NE(s.epoch(), before);
  EXPECT_NE(s.epoch(), 0u);
  EXPECT_FALSE(s.increment(42));  // halved: counting again
}

// What lets a hit skip a key found saturated: the key stays saturated until
// the sketch ages, even while other threads count it (and its neighbours in
// the same counter bytes). Two threads count each key 24 times in lockstep;
// every key increment() reported saturated must still be at the top. (With a
// plain load and store per counter, a thread could write back a byte older
// than the one another thread had just seen saturated: thousands of keys
// ended below the top, every run.)
TEST(FrequencySketch, AKeyReportedSaturatedStaysSoUnderConcurrentCounts) {
  const std::size_t keys = static_cast<std::size_t>(100000 / test::slowdown());
  FrequencySketch s(std::size_t{1} << 20);  // ages after 15.7M additions: not here
  std::vector<std::atomic<bool>> reported(keys);
  std::atomic<std::size_t> arrived{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (std::size_t i = 0; i < keys; ++i) {
        arrived.fetch_add(1);
        while (arrived.load() < 2 * (i + 1)) std::this_thread::yield();
        for (int j = 0; j < 24 && !reported[i].load(); ++j) {  // as hits skip it then
          if (s.increment(0x9E3779B97F4A7C15ull * (i + 1))) reported[i].store(true);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::size_t below_top = 0, saturated = 0;
  for (std::size_t i = 0; i < keys; ++i) {
    if (!reported[i].load()) continue;
    ++saturated;
    if (s.estimate(0x9E3779B97F4A7C15ull * (i + 1)) < 16) ++below_top;
  }
  EXPECT_GT(saturated, keys / 2);
  EXPECT_EQ(below_top, 0u) << "of " << saturated;
}

// A hit skips counting a key found saturated, until the sketch ages: after
// aging, hits count the key again (as if every hit had been counted).
TEST(TinyLfu, HitsCountASaturatedKeyAgainOnceTheSketchAges) {
  L1Counters counters;
  L1Cache c(1000, 1 << 20, &counters, policy::tinylfu);
  ASSERT_EQ(fill(c, "hot"), insert_result::inserted);
  const FrequencySketch& sketch = *c.sketch();
  const std::uint64_t h = L1Cache::hash("hot");
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(touch(c, "hot"));
  EXPECT_EQ(sketch.estimate(h), 16);
  const_cast<FrequencySketch&>(sketch).age_now();  // no other thread uses it
  EXPECT_EQ(sketch.estimate(h), 7);                // halved, and the doorkeeper cleared
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(touch(c, "hot"));
  EXPECT_EQ(sketch.estimate(h), 10);  // the doorkeeper again, and 2 more per counter
}

TEST(TinyLfu, AOneHitNewcomerIsCachedThenLosesAdmission) {
  L1Counters counters;
  L1Cache c(4, std::size_t{1} << 30, &counters, policy::tinylfu);  // one shard
  for (std::string k : {"a", "b", "c"}) {
    for (int i = 0; i < 5; ++i) touch(c, k);  // popular
    EXPECT_EQ(fill(c, k), insert_result::inserted);
  }
  // Every fill is cached: it enters the window.
  touch(c, "once");
  EXPECT_EQ(fill(c, "once"), insert_result::inserted);
  EXPECT_TRUE(touch(c, "once"));
  EXPECT_EQ(c.items(), 4u);
  EXPECT_EQ(counters.rejected_admission.load(), 0u);
  // The next newcomer pushes it out of the window; it is less popular than
  // probation's victim, so it leaves and the popular entries stay.
  touch(c, "next");
  EXPECT_EQ(fill(c, "next"), insert_result::inserted);
  EXPECT_TRUE(touch(c, "next"));
  EXPECT_FALSE(touch(c, "once"));
  EXPECT_EQ(counters.rejected_admission.load(), 1u);
  EXPECT_EQ(counters.evictions_size.load(), 0u);  // one reason per entry
  for (std::string k : {"a", "b", "c"}) EXPECT_TRUE(touch(c, k)) << k;
  EXPECT_EQ(c.items(), 4u);
}

TEST(TinyLfu, ResistsALoopLargerThanTheCache) {
  // A loop over 1.2 × the cache: CLOCK (like LRU) evicts each key just before
  // it comes back; W-TinyLFU keeps most of the main region. One shard (fewer
  // than 32 items): with several, the per-process hash seed decides how the
  // keys split between shards, and a shard dealt fewer keys than its share
  // keeps them all, so CLOCK's hits would depend on the seed.
  auto ratio = [](policy p) {
    L1Counters counters;
    L1Cache c(30, std::size_t{1} << 30, &counters, p);
    int hits = 0;
    for (int i = 0; i < 12000; ++i) {
      const std::string key = "k" + std::to_string(i % 36);
      if (touch(c, key)) {
        ++hits;
      } else {
        fill(c, key);
      }
    }
    return hits;
  };
  EXPECT_LT(ratio(policy::clock), 12000 / 10);
  EXPECT_GT(ratio(policy::tinylfu), 12000 / 2);
}

TEST(TinyLfu, KeepsPopularKeysThroughAScan) {
  L1Counters counters;
  L1Cache c(200, std::size_t{1} << 30, &counters, policy::tinylfu);
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 100; ++i) {
      const std::string key = "hot" + std::to_string(i);
      if (!touch(c, key)) fill(c, key);
    }
  }
  for (int i = 0; i < 5000; ++i) {  // one-off keys
    const std::string key = "scan" + std::to_string(i);
    if (!touch(c, key)) fill(c, key);
  }
  int kept = 0;
  for (int i = 0; i < 100; ++i) kept += touch(c, "hot" + std::to_string(i)) ? 1 : 0;
  EXPECT_GE(kept, 90);
  EXPECT_GT(counters.rejected_admission.load(), 4000u);
}

// Item and byte bounds under concurrent churn, for each policy.
class PolicyBounds : public ::testing::TestWithParam<policy> {};

TEST_P(PolicyBounds, HoldUnderConcurrentChurn) {
  L1Counters counters;
  constexpr std::size_t k_items = 1000;
  constexpr std::size_t k_bytes = 256 * 1024;
  L1Cache c(k_items, k_bytes, &counters, GetParam());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 20000; ++i) {
        const std::string key = "k" + std::to_string(rng() % 5000);
        const auto h = L1Cache::hash(key);
        switch (rng() % 5) {
          case 0:
            c.erase(key, h);
            break;
          case 1:
            c.insert_unconditionally(request(key, rng() % 2000), h, 0);
            break;
          default:
            if (!touch(c, key)) c.insert(request(key, rng() % 2000), h, c.fill_token(h), 0);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(c.items(), k_items);
  EXPECT_LE(c.bytes(), k_bytes);
  EXPECT_GT(c.items(), 0u);
  EXPECT_GT(counters.evictions_bytes.load() + counters.evictions_size.load(), 0u);
  c.clear();
  EXPECT_EQ(c.items(), 0u);
  EXPECT_EQ(c.bytes(), 0u);
}

TEST_P(PolicyBounds, HoldAfterEveryInsert) {
  L1Counters counters;
  L1Cache c(300, 48 * 1024, &counters, GetParam());
  std::mt19937 rng(5);
  for (int i = 0; i < 30000; ++i) {
    const std::string key = "k" + std::to_string(rng() % 2000);
    if (!touch(c, key)) fill(c, key, rng() % 600);
    ASSERT_LE(c.items(), 300u);
    ASSERT_LE(c.bytes(), 48u * 1024);
  }
  EXPECT_GT(counters.evictions_size.load() + counters.evictions_bytes.load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(EachPolicy, PolicyBounds,
                         ::testing::Values(policy::clock, policy::tinylfu), [](const auto& info) {
                           return info.param == policy::clock ? "clock" : "tinylfu";
                         });

TEST(TinyLfu, IsTheDefault) { EXPECT_EQ(Options{}.l1_policy, eviction_policy::tinylfu); }

TEST(TinyLfu, ThroughTheCacheApiWithEachPolicy) {
  for (eviction_policy p :
       {eviction_policy::tinylfu, eviction_policy::clock, eviction_policy::lru}) {
    Cache cache({.l1_max_items = 100, .l1_policy = p});
    int loads = 0;
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 50; ++i) {
        cache.get_or_load<int>("k" + std::to_string(i), std::chrono::minutes(1), [&, i] {
          ++loads;
          return i;
        });
      }
    }
    EXPECT_EQ(loads, 50);  // fits: everything cached, then served from L1
    cache.set<int>("explicit", 1, std::chrono::minutes(1));
    EXPECT_EQ(cache.get<int>("explicit"), 1);
    for (int i = 0; i < 1000; ++i)
      cache.set<int>("churn" + std::to_string(i), i, std::chrono::minutes(1));
    EXPECT_LE(cache.stats().l1_items, 100u);
  }
}

}  // namespace
}  // namespace multicache::l1
