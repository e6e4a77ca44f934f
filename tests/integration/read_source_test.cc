// read_source: where get_or_load, get_or_load_shared and visit_or_load say
// their value came from, on every path, against a real redis-server.
#include <gtest/gtest.h>

#include <latch>
#include <stdexcept>
#include <string>
#include <thread>

#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

class ReadSourceTest : public RedisTest {
 protected:
  // Waits until Redis holds the key (a load's write does not hold up its caller).
  void await_in_redis(const std::string& key) {
    RedisCli cli(server_);
    ASSERT_TRUE(eventually([&] { return cli.cmd({"EXISTS", prefix_ + key}).integer == 1; }));
  }
};

std::string never_called() { throw std::logic_error("this loader must not run"); }

TEST_F(ReadSourceTest, EachCallReportsTheLevelThatServedIt) {
  Cache cache(options());
  read_source from = read_source::joined;
  EXPECT_EQ(cache.get_or_load<std::string>(
                "a", 60s, [] { return std::string("va"); }, &from),
            "va");
  EXPECT_EQ(from, read_source::loader);
  EXPECT_EQ(cache.get_or_load<std::string>("a", 60s, never_called, &from), "va");
  EXPECT_EQ(from, read_source::l1);

  from = read_source::joined;
  EXPECT_EQ(*cache.get_or_load_shared<std::string>(
                "b", 60s, [] { return std::string("vb"); }, &from),
            "vb");
  EXPECT_EQ(from, read_source::loader);
  EXPECT_EQ(*cache.get_or_load_shared<std::string>("b", 60s, never_called, &from), "vb");
  EXPECT_EQ(from, read_source::l1);

  const auto size = [](const std::string& v) { return v.size(); };
  from = read_source::joined;
  EXPECT_EQ(cache.visit_or_load<std::string>(
                "c", 60s, [] { return std::string("vcc"); }, size, &from),
            3u);
  EXPECT_EQ(from, read_source::loader);
  EXPECT_EQ(cache.visit_or_load<std::string>("c", 60s, never_called, size, &from), 3u);
  EXPECT_EQ(from, read_source::l1);

  // Another instance on the same Redis: its L1 is empty, Redis has them.
  for (const char* k : {"a", "b", "c"}) await_in_redis(k);
  Cache other(options());
  from = read_source::joined;
  EXPECT_EQ(other.get_or_load<std::string>("a", 60s, never_called, &from), "va");
  EXPECT_EQ(from, read_source::redis);
  from = read_source::joined;
  EXPECT_EQ(*other.get_or_load_shared<std::string>("b", 60s, never_called, &from), "vb");
  EXPECT_EQ(from, read_source::redis);
  from = read_source::joined;
  EXPECT_EQ(other.visit_or_load<std::string>("c", 60s, never_called, size, &from), 3u);
  EXPECT_EQ(from, read_source::redis);
  EXPECT_EQ(other.get_or_load<std::string>("a", 60s, never_called, &from), "va");
  EXPECT_EQ(from, read_source::l1);
}

TEST_F(ReadSourceTest, AStaleL1HitIsStillAnL1Hit) {
  Options o = options();
  o.early_refresh_ratio = 0.1;  // stale after 200 ms of a 2 s ttl
  Cache cache(o);
  read_source from = read_source::joined;
  cache.get_or_load<std::string>(
      "k", 2s, [] { return std::string("v"); }, &from);
  ASSERT_EQ(from, read_source::loader);
  std::this_thread::sleep_for(400ms);  // stale, not expired
  EXPECT_EQ(cache.get_or_load<std::string>(
                "k", 2s, [] { return std::string("v2"); }, &from),
            "v");
  EXPECT_EQ(from, read_source::l1);
  EXPECT_TRUE(eventually([&] { return cache.stats().refreshes_started == 1; }));
}

TEST_F(ReadSourceTest, ACallerThatWaitedForAnotherCallersLoadReportsJoined) {
  Cache cache(options());
  std::latch started(1);
  std::latch release(1);
  read_source leader_from = read_source::joined;
  std::thread leader([&] {
    cache.get_or_load<std::string>(
        "k", 60s,
        [&] {
          started.count_down();
          release.wait();
          return std::string("v");
        },
        &leader_from);
  });
  // The follower joins while the leader's loader runs (it is counted then).
  started.wait();
  read_source from = read_source::loader;
  std::thread follower(
      [&] { EXPECT_EQ(cache.get_or_load<std::string>("k", 60s, never_called, &from), "v"); });
  ASSERT_TRUE(eventually([&] { return cache.stats().shared_loads == 1; }));
  release.count_down();
  leader.join();
  follower.join();
  EXPECT_EQ(leader_from, read_source::loader);
  EXPECT_EQ(from, read_source::joined);
}

TEST_F(ReadSourceTest, AnExpiredValueServedBecauseTheLoadFailedReportsStaleOnError) {
  Options o = options();
  o.stale_if_error = 60s;
  Cache cache(o);
  cache.set<std::string>("k", "old", 100ms);
  // Gone from Redis and expired in L1, but kept there: what stale_if_error serves.
  RedisCli cli(server_);
  cli.cmd({"DEL", prefix_ + "k"});
  ASSERT_TRUE(eventually([&] { return !cache.get<std::string>("k"); }));
  read_source from = read_source::l1;
  EXPECT_EQ(cache.get_or_load<std::string>(
                "k", 60s, []() -> std::string { throw std::runtime_error("db down"); }, &from),
            "old");
  EXPECT_EQ(from, read_source::stale_on_error);
  EXPECT_EQ(cache.stats().stale_served_on_error, 1u);
}

// With distributed single-flight, an instance that waited for another
// instance's load (polling Redis while that one held the lock) reports joined.
TEST_F(ReadSourceTest, AnInstanceThatWaitedForAnotherInstancesLoadReportsJoined) {
  Options o = options();
  o.distributed_single_flight = true;
  Cache holder(o);
  Cache waiter(o);
  std::latch started(1);
  std::latch release(1);
  std::thread load([&] {
    holder.get_or_load<std::string>("k", 60s, [&] {
      started.count_down();
      release.wait();
      return std::string("v");
    });
  });
  RedisCli cli(server_);
  started.wait();  // the holder has the lock, and read Redis for the last time
  // The waiter's reads of the key (its miss, then its polls) show in Redis's
  // GET count; release the holder once it has polled at least once.
  const auto gets = [&] { return command_calls(cli, "get"); };
  const long long before = gets();
  read_source from = read_source::loader;
  std::thread wait(
      [&] { EXPECT_EQ(waiter.get_or_load<std::string>("k", 60s, never_called, &from), "v"); });
  ASSERT_TRUE(eventually([&] { return gets() >= before + 2; }));
  release.count_down();
  load.join();
  wait.join();
  EXPECT_EQ(from, read_source::joined);
  EXPECT_EQ(waiter.stats().shared_loads, 1u);
  EXPECT_EQ(waiter.stats().loads, 0u);
}

// A follower of a failed background refresh that is served stale_if_error's
// copy reports stale_on_error: RefreshWithoutRedisTest.
// CallersWaitingOnAFailedRefreshGetTheStaleIfErrorValue (refresh_test.cc).

TEST_F(ReadSourceTest, WithoutRedisValuesComeFromTheLoaderThenL1) {
  Options o;
  o.l1_max_items = 100;
  Cache cache(o);
  read_source from = read_source::redis;
  cache.get_or_load<std::string>(
      "k", 60s, [] { return std::string("v"); }, &from);
  EXPECT_EQ(from, read_source::loader);
  cache.get_or_load<std::string>("k", 60s, never_called, &from);
  EXPECT_EQ(from, read_source::l1);
}

}  // namespace
}  // namespace multicache::test
