// TinyLFU admission in front of CLOCK, and the frequency sketch.
#include <gtest/gtest.h>

#include <multicache/multicache.hpp>
#include <random>

#include "l1/frequency_sketch.h"
#include "l1/l1_cache.h"

namespace multicache::l1 {
namespace {

const detail::TypeOps* ops() { return &detail::type_ops_for<std::string>; }

insert_result fill(L1Cache& c, const std::string& key) {
  InsertRequest r;
  r.key = key;
  r.value = std::make_shared<const std::string>(key);
  r.ops = ops();
  r.expires_at_ns = 1'000'000;
  r.stale_at_ns = 1'000'000;
  const auto h = L1Cache::hash(key);
  return c.insert(r, h, c.fill_token(h), 0);
}

bool touch(L1Cache& c, const std::string& key) {
  std::optional<std::string> out;
  return c.find(key, L1Cache::hash(key), ops(), 0, &out) != lookup_result::miss;
}

TEST(FrequencySketch, CountsSaturatesAndAges) {
  FrequencySketch s(100);  // ages after 1000 increments
  for (int i = 0; i < 20; ++i) s.increment(42);
  EXPECT_EQ(s.estimate(42), 15);  // saturates at 15
  EXPECT_LE(s.estimate(7), 1);    // rarely collides
  for (int i = 0; i < 1000; ++i) s.increment(1000 + i);
  EXPECT_LT(s.estimate(42), 15);  // halved
}

TEST(TinyLfu, AOneHitNewcomerDoesNotEvictPopularEntries) {
  L1Counters counters;
  L1Cache c(4, std::size_t{1} << 30, &counters, policy::tinylfu);  // one shard
  for (std::string k : {"a", "b", "c", "d"}) {
    for (int i = 0; i < 5; ++i) touch(c, k);  // popular
    EXPECT_EQ(fill(c, k), insert_result::inserted);
  }
  touch(c, "once");  // a miss counts once
  EXPECT_EQ(fill(c, "once"), insert_result::rejected);
  EXPECT_EQ(counters.rejected_admission.load(), 1u);
  for (std::string k : {"a", "b", "c", "d"}) EXPECT_TRUE(touch(c, k)) << k;
  // A newcomer asked for often enough is admitted.
  for (int i = 0; i < 12; ++i) touch(c, "hot");
  EXPECT_EQ(fill(c, "hot"), insert_result::inserted);
  EXPECT_TRUE(touch(c, "hot"));
  EXPECT_EQ(c.items(), 4u);
}

TEST(TinyLfu, BoundsHoldUnderChurn) {
  L1Counters counters;
  L1Cache c(500, 64 * 1024, &counters, policy::tinylfu);
  std::mt19937 rng(3);
  for (int i = 0; i < 50000; ++i) {
    const std::string key = "k" + std::to_string(rng() % 3000);
    if (!touch(c, key)) fill(c, key);
    ASSERT_LE(c.items(), 500u);
    ASSERT_LE(c.bytes(), 64u * 1024);
  }
  EXPECT_GT(counters.rejected_admission.load(), 0u);
}

TEST(TinyLfu, ThroughTheCacheApi) {
  Cache cache({.l1_max_items = 100, .l1_policy = eviction_policy::tinylfu});
  int loads = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i) {
      cache.get_or_load<int>("k" + std::to_string(i), std::chrono::minutes(1), [&, i] {
        ++loads;
        return i;
      });
    }
  }
  EXPECT_EQ(loads, 50);  // fits: everything admitted, then served from L1
  cache.set<int>("explicit", 1, std::chrono::minutes(1));  // set() bypasses admission
  EXPECT_EQ(cache.get<int>("explicit"), 1);
}

}  // namespace
}  // namespace multicache::l1
