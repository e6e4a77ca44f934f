// Distributed single-flight for get_or_load_many: one loader call per key
// across processes, with the locks of a batch taken and polled together.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <random>
#include <thread>

#include "integration/batch_recorder.h"
#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

class BatchDlockTest : public RedisTest {
 protected:
  Options locking() const {
    Options o = options();
    o.distributed_single_flight = true;
    return o;
  }
  std::string lock_of(const std::string& key) const { return prefix_ + "\x01lock\x01" + key; }
  RedisCli cli_{server_};
};

// Four processes batch-load the same 12 cold keys, each in its own order, at
// once: each key is loaded once in all, though the processes lock different
// parts of the batch and wait for each other's.
TEST_F(BatchDlockTest, FourProcessesLoadEachKeyOfOverlappingBatchesOnce) {
  constexpr int k_processes = 4;
  Keys keys;
  for (int i = 0; i < 12; ++i) keys.push_back("cold:" + std::to_string(i));
  Options o = locking();
  o.lock_wait = slack(10s);  // a slow round must not end a wait
  in_processes(k_processes, [&](int p, const std::function<void()>& go) {
    Cache cache(o);
    RedisCli counter(server_);  // used by this process's one loader call at a time
    Keys mine = keys;
    std::shuffle(mine.begin(), mine.end(), std::mt19937(static_cast<unsigned>(p)));
    go();
    const Values got = cache.get_or_load_many<std::string>(mine, 60s, [&](const Keys& ks) {
      for (const auto& k : ks) counter.cmd({"INCR", prefix_ + "calls:" + k});
      std::this_thread::sleep_for(200ms);
      Values out;
      for (const auto& k : ks) out[k] = "v:" + k;
      return out;
    });
    bool right = got.size() == keys.size();
    for (const auto& k : keys) right = right && got.count(k) == 1 && got.at(k) == "v:" + k;
    return right;
  });
  for (const auto& k : keys) {
    EXPECT_EQ(cli_.cmd({"GET", prefix_ + "calls:" + k}).str, "1") << k;
    EXPECT_EQ(cli_.cmd({"EXISTS", lock_of(k)}).integer, 0) << k;  // released
  }
}

// A key another instance holds the lock of is not loaded here: the batch
// loads its other keys at once, then takes the holder's value from Redis.
TEST_F(BatchDlockTest, AHeldKeyIsTakenFromItsHolderAndTheOthersLoadAtOnce) {
  cli_.cmd({"SET", lock_of("held"), "other-instance", "PX", "10000"});
  Cache cache(locking());
  Cache holder(options());
  BatchRecorder rec([](const std::string& k, std::size_t) { return "v:" + k; });
  std::thread holder_thread([&] {
    // The holder writes its value and lets go once the batch loaded the rest.
    ASSERT_TRUE(eventually([&] { return rec.calls().size() == 1; }));
    holder.set<std::string>("held", "holder's value", 60s);
    cli_.cmd({"DEL", lock_of("held")});
  });
  const Values got = cache.get_or_load_many<std::string>(
      {"held", "free"}, 60s, [&](const Keys& k) { return rec.load(k); });
  holder_thread.join();
  EXPECT_EQ(got, (Values{{"held", "holder's value"}, {"free", "v:free"}}));
  EXPECT_EQ(rec.calls(), (std::vector<Keys>{{"free"}}));
  EXPECT_EQ(cache.stats().shared_loads, 1u);
  EXPECT_EQ(cli_.cmd({"EXISTS", lock_of("free")}).integer, 0);  // released after its load
}

// A holder that died keeps its key's lock until the lock's TTL: the batch
// loads that key once the lock is gone (taking it over), the rest at once.
TEST_F(BatchDlockTest, ACrashedHoldersKeyLoadsWhenItsLockExpires) {
  Options o = locking();
  o.lock_wait = 60s;  // so that only the lock's expiry can end the wait
  Cache cache(o);
  BatchRecorder rec([](const std::string& k, std::size_t) { return "v:" + k; });
  const auto t0 = std::chrono::steady_clock::now();
  cli_.cmd({"SET", lock_of("orphan"), "dead-holder", "PX", "300"});
  const Values got = cache.get_or_load_many<std::string>(
      {"orphan", "a", "b"}, 60s, [&](const Keys& k) { return rec.load(k); });
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(got, (Values{{"orphan", "v:orphan"}, {"a", "v:a"}, {"b", "v:b"}}));
  EXPECT_EQ(rec.calls(), (std::vector<Keys>{{"a", "b"}, {"orphan"}}));
  EXPECT_GE(waited, 290ms);      // it respected the lock...
  EXPECT_LT(waited, slack(2s));  // ...and took it over when it expired
  for (const char* k : {"orphan", "a", "b"}) {
    EXPECT_EQ(cli_.cmd({"EXISTS", lock_of(k)}).integer, 0) << k;
    std::string raw;
    EXPECT_TRUE(cli_.get(prefix_ + k, &raw)) << k;  // written back
  }
}

// This batch's own loader call outlasting lock_wait does not make it load
// the keys held elsewhere: it polls once more first, and finds their values.
TEST_F(BatchDlockTest, ASlowOwnLoadStillPollsBeforeGivingUpOnHeldKeys) {
  Options o = locking();
  o.lock_wait = 100ms;
  cli_.cmd({"SET", lock_of("held"), "other-instance", "PX", "10000"});
  Cache cache(o);
  Cache holder(options());
  BatchRecorder rec([](const std::string& k, std::size_t) { return "v:" + k; });
  const Values got = cache.get_or_load_many<std::string>({"held", "free"}, 60s, [&](const Keys& k) {
    // The holder writes and lets go while this load runs past lock_wait.
    holder.set<std::string>("held", "holder's value", 60s);
    cli_.cmd({"DEL", lock_of("held")});
    std::this_thread::sleep_for(300ms);
    return rec.load(k);
  });
  EXPECT_EQ(got, (Values{{"held", "holder's value"}, {"free", "v:free"}}));
  EXPECT_EQ(rec.calls(), (std::vector<Keys>{{"free"}}));
}

// After lock_wait a batch loads the keys still held elsewhere by itself.
TEST_F(BatchDlockTest, HeldKeysLoadHereAfterLockWait) {
  Options o = locking();
  o.lock_wait = 200ms;
  cli_.cmd({"SET", lock_of("slow"), "slow-holder", "PX", "10000"});
  Cache cache(o);
  BatchRecorder rec([](const std::string& k, std::size_t) { return "v:" + k; });
  const auto t0 = std::chrono::steady_clock::now();
  const Values got = cache.get_or_load_many<std::string>(
      {"slow", "fast"}, 60s, [&](const Keys& k) { return rec.load(k); });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, slack(1s));
  EXPECT_EQ(got, (Values{{"slow", "v:slow"}, {"fast", "v:fast"}}));
  EXPECT_EQ(rec.calls(), (std::vector<Keys>{{"fast"}, {"slow"}}));
  EXPECT_EQ(cli_.cmd({"GET", lock_of("slow")}).str, "slow-holder");  // not ours to release
}

// Redis stalls while the batch polls for a held key: the poll fails after
// one command_timeout, and the key loads here without being written back
// (that write would wait a second command_timeout for the stalled Redis).
TEST_F(BatchDlockTest, AKeyWhosePollFailsLoadsWithoutWritingBack) {
  Options o = locking();
  o.command_timeout = 300ms;
  o.lock_wait = 30s;
  cli_.cmd({"SET", lock_of("held"), "slow-holder", "PX", "30000"});
  const long long sets_before = command_calls(cli_, "set");
  Cache cache(o);
  BatchRecorder rec([](const std::string& k, std::size_t) { return "v:" + k; });
  Values got;
  std::thread caller([&] {
    got = cache.get_or_load_many<std::string>({"held"}, 60s,
                                              [&](const Keys& k) { return rec.load(k); });
  });
  // Two lock attempts seen: the batch is polling.
  EXPECT_TRUE(eventually([&] { return command_calls(cli_, "set") >= sets_before + 2; }, 10s));
  server_.pause();
  caller.join();
  server_.resume();
  EXPECT_EQ(got, (Values{{"held", "v:held"}}));
  EXPECT_EQ(rec.calls(), (std::vector<Keys>{{"held"}}));
  EXPECT_EQ(cache.stats().redis_errors, 1u);  // the failed poll; no write after it
}

}  // namespace
}  // namespace multicache::test
