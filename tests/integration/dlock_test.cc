// Distributed single-flight: one loader call across processes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <mutex>
#include <thread>

#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

class DlockTest : public ::testing::Test {
 protected:
  RedisServer server_;
  RedisCli cli_{server_};
  std::string prefix_ = unique_prefix();
  Options options() const {
    Options o = options_for(server_, prefix_);
    o.distributed_single_flight = true;
    return o;
  }
};

TEST_F(DlockTest, FourProcessesTimesSixteenThreadsOnOneColdKeyLoadOnce) {
  constexpr int k_processes = 4;
  constexpr int k_threads = 16;
  in_processes(k_processes, [&](int, const std::function<void()>& go) {
    Cache cache(options());
    RedisCli counter(server_);
    std::mutex counter_mu;
    go();
    std::barrier start(k_threads);
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        const std::string v = cache.get_or_load<std::string>("cold", 60s, [&] {
          {
            std::lock_guard lock(counter_mu);
            counter.cmd({"INCR", prefix_ + "loader-calls"});
          }
          std::this_thread::sleep_for(200ms);
          return std::string("the value");
        });
        if (v != "the value") ++bad;
      });
    }
    for (auto& t : threads) t.join();
    return bad.load() == 0;
  });
  EXPECT_EQ(cli_.cmd({"GET", prefix_ + "loader-calls"}).str, "1");
  EXPECT_EQ(cli_.cmd({"EXISTS", prefix_ + "\x01lock\x01" + "cold"}).integer, 0);  // released
}

TEST_F(DlockTest, ACrashedHolderBlocksOthersOnlyUntilItsLockExpires) {
  Options o = options();
  // A holder that died: its lock stays until its TTL.
  cli_.cmd({"SET", prefix_ + "\x01lock\x01" + "k", "dead-holder", "PX", "300"});
  Cache cache(o);
  const auto t0 = std::chrono::steady_clock::now();
  int calls = 0;
  EXPECT_EQ(cache.get_or_load<std::string>("k", 60s,
                                           [&] {
                                             ++calls;
                                             return std::string("v");
                                           }),
            "v");
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(calls, 1);
  EXPECT_GE(waited, 250ms);               // it respected the lock...
  EXPECT_LT(waited, slack(o.lock_wait));  // ...and took over when it expired
}

TEST_F(DlockTest, AHolderNeverReleasesALockItNoLongerOwns) {
  Options o = options();
  o.lock_ttl = 100ms;
  Cache cache(o);
  const std::string lock = prefix_ + "\x01lock\x01" + "k";
  cache.get_or_load<std::string>("k", 60s, [&] {
    std::this_thread::sleep_for(200ms);                    // our lock expires meanwhile...
    cli_.cmd({"SET", lock, "next-holder", "PX", "5000"});  // ...and another instance takes it
    return std::string("v");
  });
  EXPECT_EQ(cli_.cmd({"GET", lock}).str, "next-holder");
}

TEST_F(DlockTest, WaitersGiveUpAfterLockWaitAndLoadThemselves) {
  Options o = options();
  o.lock_wait = 200ms;
  cli_.cmd({"SET", prefix_ + "\x01lock\x01" + "k", "slow-holder", "PX", "10000"});
  Cache cache(o);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(cache.get_or_load<std::string>("k", 60s, [] { return std::string("v"); }), "v");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, slack(1s));
}

// Redis stalls while a waiter polls for another holder's value: its poll
// fails after one command_timeout, and it loads by itself without writing
// the value back (that write would wait a second command_timeout for the
// Redis that just failed it).
TEST_F(DlockTest, AWaiterWhosePollFailsLoadsWithoutWritingBack) {
  Options o = options();
  o.command_timeout = 300ms;
  o.lock_wait = 30s;
  cli_.cmd({"SET", prefix_ + "\x01lock\x01" + "k", "slow-holder", "PX", "30000"});
  const long long sets_before = command_calls(cli_, "set");
  Cache cache(o);
  std::string got;
  int calls = 0;
  std::thread waiter([&] {
    got = cache.get_or_load<std::string>("k", 60s, [&] {
      ++calls;
      return std::string("v");
    });
  });
  // Two lock attempts seen: the waiter is polling.
  ASSERT_TRUE(eventually([&] { return command_calls(cli_, "set") >= sets_before + 2; }, 10s));
  server_.pause();
  waiter.join();
  server_.resume();
  EXPECT_EQ(got, "v");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(cache.stats().redis_errors, 1u);  // the failed poll; no write after it
}

}  // namespace
}  // namespace multicache::test
