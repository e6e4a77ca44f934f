// Regression tests for defects found in review: each failed before its fix.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>

#include "integration/test_types.h"
#include "l1/l1_cache.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

class ReviewTest : public ::testing::Test {
 protected:
  ~ReviewTest() override { g_size_of_hook = nullptr; }
  RedisServer server_;
  RedisCli cli_{server_};
  std::string prefix_ = unique_prefix();
  Options options() const { return options_for(server_, prefix_); }
};

TEST_F(ReviewTest, ARemoveIsNeverUndoneByTheLoadsOwnAsyncWrite) {
  // The load's SET NX and the remove's DEL go on the same connection, in order.
  Cache cache(options());
  const std::string value(2048, 'x');
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "k" + std::to_string(i);
    cache.get_or_load<std::string>(key, 60s, [&] { return value; });
    cache.remove(key);
  }
  std::this_thread::sleep_for(100ms);
  int alive = 0;
  for (int i = 0; i < 1000; ++i) {
    alive += static_cast<int>(cli_.cmd({"EXISTS", prefix_ + "k" + std::to_string(i)}).integer);
  }
  EXPECT_EQ(alive, 0);
}

// Found by CI (BatchTest failed 1 in 15 under ASan): the fill-race guard was
// one generation per L1 shard, so another instance's writes of unrelated keys,
// landing while a load ran, kept the loaded value out of L1 and out of Redis.
TEST_F(ReviewTest, InvalidationsOfOtherKeysDoNotKeepALoadOutOfTheCache) {
  Cache a(options());
  Cache b(options());
  const auto slot = l1::L1Cache::generation_slot(l1::L1Cache::hash("k"));
  std::vector<std::string> others;  // unrelated keys: none shares k's slot
  for (int i = 0; others.size() < 50; ++i) {
    std::string o = "other" + std::to_string(i);
    if (l1::L1Cache::generation_slot(l1::L1Cache::hash(o)) != slot) others.push_back(std::move(o));
  }
  std::latch loading(1);
  std::thread writer([&] {
    loading.wait();
    for (const auto& o : others) b.set<std::string>(o, "x", 60s);
  });
  const std::string v = a.get_or_load<std::string>("k", 60s, [&] {
    loading.count_down();
    // Return only once all 50 invalidations have reached this instance.
    EXPECT_TRUE(eventually([&] { return a.stats().invalidations_received >= others.size(); }));
    return std::string("v");
  });
  writer.join();
  EXPECT_EQ(v, "v");
  EXPECT_TRUE(eventually([&] { return cli_.cmd({"EXISTS", prefix_ + "k"}).integer == 1; }));
  const Stats before = a.stats();
  EXPECT_EQ(a.get<std::string>("k"), "v");
  EXPECT_EQ(a.stats().l1_hits, before.l1_hits + 1);  // kept in L1 too
}

TEST_F(ReviewTest, ARemoveDuringSetKeepsTheValueOutOfL1) {
  Cache cache(options());
  std::atomic<bool> once{true};
  g_size_of_hook = [&](const Hooked&) {
    if (once.exchange(false)) cache.remove("k");  // lands between set's Redis write and L1
  };
  cache.set<Hooked>("k", Hooked{"v1"}, 60s);
  g_size_of_hook = nullptr;
  EXPECT_EQ(cli_.cmd({"EXISTS", prefix_ + "k"}).integer, 0);
  EXPECT_EQ(cache.get<Hooked>("k"), std::nullopt);  // L1 agrees with Redis
}

TEST_F(ReviewTest, ARefreshNeverOverwritesASetThatLandedMeanwhile) {
  Options o = options();
  o.early_refresh_ratio = 0.5;
  Cache a(o);
  Cache b(o);
  std::latch in_refresh(1);
  std::latch release(1);
  std::atomic<int> calls{0};
  auto loader = [&] {
    if (calls.fetch_add(1) == 0) return std::string("v1");
    in_refresh.count_down();
    release.wait();
    return std::string("refreshed");
  };
  EXPECT_EQ(a.get_or_load<std::string>("k", 2s, loader), "v1");
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(a.get_or_load<std::string>("k", 2s, loader), "v1");  // starts the refresh
  in_refresh.wait();
  b.set<std::string>("k", "from set", 60s);  // newer than what the refresh read
  release.count_down();
  ASSERT_TRUE(eventually([&] { return a.stats().refreshes_ok == 1; }));
  std::string raw;
  ASSERT_TRUE(cli_.get(prefix_ + "k", &raw));
  EXPECT_EQ(raw.substr(9), "from set");
  EXPECT_TRUE(eventually([&] { return a.get<std::string>("k") == "from set"; }));
}

TEST_F(ReviewTest, RedisDeadlinesUseTheRealClockNotTheInjectedOne) {
  Options o = options();
  auto clock = std::make_shared<ManualClock>();
  o.clock = clock;
  Cache cache(o);
  clock->advance(std::chrono::hours(24 * 365));  // L1's clock is far from wall time
  cache.set<std::string>("k", "v", 60s);
  const auto pttl = cli_.cmd({"PTTL", prefix_ + "k"}).integer;
  EXPECT_GT(pttl, 50000);
  EXPECT_LE(pttl, 60000);
}

TEST_F(ReviewTest, HugeTtlsAreCachedAndOutOfRangeOnesRejected) {
  Cache cache(options());
  int calls = 0;
  auto loader = [&] {
    ++calls;
    return std::string("v");
  };
  const auto century = std::chrono::milliseconds(100LL * 365 * 24 * 3600 * 1000);
  cache.get_or_load<std::string>("k", century, loader);
  cache.get_or_load<std::string>("k", century, loader);
  EXPECT_EQ(calls, 1);
  EXPECT_THROW(cache.get_or_load<std::string>("k", std::chrono::milliseconds::max(), loader),
               std::invalid_argument);
  EXPECT_THROW(Cache({.l1_ttl = std::chrono::milliseconds::max()}), std::invalid_argument);
  // A stale-after header far beyond any clock is read, not overflowed.
  cli_.cmd(
      {"SET", prefix_ + "far", std::string(8, '\xff') + std::string(1, '\0') + "x", "PX", "60000"});
  EXPECT_EQ(cache.get<std::string>("far"), "x");
}

TEST(ReviewMetrics, TheEndpointCanBeClosedRightAfterOpening) {
  for (int i = 0; i < 30; ++i) {
    Cache cache({.metrics = true, .metrics_listen = "127.0.0.1:0"});
    EXPECT_GT(cache.metrics_port(), 0);
  }
}

}  // namespace
}  // namespace multicache::test
