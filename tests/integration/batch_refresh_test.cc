// get_or_load_many refreshes the stale keys it finds, in one background
// batch: against a real Redis, and in an L1-only cache on a ManualClock.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "integration/batch_recorder.h"
#include "integration/test_types.h"
#include "wire/envelope.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

class BatchRefreshTest : public RedisTest {
 protected:
  Options refreshing() const {
    Options o = options();
    o.early_refresh_ratio = 0.5;  // stale after half the ttl
    return o;
  }
  std::string in_redis(const std::string& key) {
    std::string raw;
    return cli_.get(prefix_ + key, &raw) ? raw.substr(9) : "(none)";
  }
  RedisCli cli_{server_};
};

TEST_F(BatchRefreshTest, StaleKeysAreAnsweredAtOnceAndRefreshedByOneLoaderCall) {
  Options o = refreshing();
  o.refresh_threads = 1;  // refreshes run in the order queued
  Cache cache(o);
  BatchRecorder rec;
  const Keys keys{"a", "b", "c"};
  ASSERT_EQ(
      cache.get_or_load_many<std::string>(keys, 2s, [&](const Keys& k) { return rec.load(k); })
          .size(),
      3u);
  cache.get_or_load<std::string>("marker", 2s, [] { return std::string("m1"); });
  std::this_thread::sleep_for(1200ms);  // stale, not expired

  // The refresh's loader waits until the batch calls below have returned: a
  // call that waited for its refresh would leave it waiting out its 5 s.
  std::promise<void> returned;
  std::shared_future<void> batch_returned = returned.get_future().share();
  std::atomic<bool> refresh_waited_out{false};
  auto loader = [&, batch_returned](const Keys& k) {
    if (k.size() == 3 && batch_returned.wait_for(5s) != std::future_status::ready) {
      refresh_waited_out = true;
    }
    return rec.load(k);
  };
  const Values got = cache.get_or_load_many<std::string>({"a", "b", "c", "d"}, 2s, loader);
  EXPECT_EQ(got, (Values{{"a", "v1"}, {"b", "v1"}, {"c", "v1"}, {"d", "v2"}}));
  // The refresh holds the keys' claims: another stale read of them queues
  // nothing more. The marker's refresh goes in the queue after anything it did.
  EXPECT_EQ(cache.get_or_load_many<std::string>(keys, 2s, loader).at("a"), "v1");
  cache.get_or_load<std::string>("marker", 2s, [] { return std::string("m2"); });
  returned.set_value();

  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 4; }));
  EXPECT_EQ(cache.get<std::string>("marker"), "m2");
  EXPECT_FALSE(refresh_waited_out.load());
  // One call for the new key, then one for the three stale ones.
  EXPECT_EQ(rec.calls(), (std::vector<Keys>{{"a", "b", "c"}, {"d"}, {"a", "b", "c"}}));
  EXPECT_EQ(cache.stats().refreshes_started, 4u);
  for (const char* k : {"a", "b", "c"}) {
    EXPECT_EQ(cache.get<std::string>(k), "v3") << k;
    EXPECT_EQ(in_redis(k), "v3") << k;
    // A new ttl: the old value had under 800 ms left.
    EXPECT_GT(cli_.cmd({"PTTL", prefix_ + k}).integer, 1000) << k;
  }
}

TEST_F(BatchRefreshTest, AKeyTheRefreshNoLongerFindsIsDroppedFromBothLevelsAndOtherInstances) {
  Options o = refreshing();
  o.early_refresh_ratio = 0.1;  // stale after 1 s of 10: expiry cannot pass for a drop
  Cache cache(o);
  Cache other(o);
  BatchRecorder rec;
  const Keys keys{"kept", "gone"};
  cache.get_or_load_many<std::string>(keys, 10s, [&](const Keys& k) { return rec.load(k); });
  ASSERT_EQ(other.get<std::string>("gone"), "v1");  // a copy in the other L1
  std::this_thread::sleep_for(1200ms);

  const Values got = cache.get_or_load_many<std::string>(
      keys, 10s, [&](const Keys& k) { return rec.load(k, {"gone"}); });
  EXPECT_EQ(got, (Values{{"kept", "v1"}, {"gone", "v1"}}));  // stale, at once
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 2; }, 1s));
  EXPECT_EQ(in_redis("kept"), "v2");
  // Long before the 10 s ttl could take it.
  EXPECT_TRUE(eventually([&] { return in_redis("gone") == "(none)"; }, 500ms));
  EXPECT_EQ(cache.get<std::string>("gone"), std::nullopt);
  EXPECT_TRUE(eventually([&] { return other.stats().invalidations_received == 2; }, 500ms));
  EXPECT_EQ(other.get<std::string>("gone"), std::nullopt);
  EXPECT_EQ(cache.get<std::string>("kept"), "v2");
}

// The refresh replaces only the bytes it read: a value another writer stored
// while the loader ran stays in Redis, and the reload is not kept in L1.
TEST_F(BatchRefreshTest, ARefreshDoesNotReplaceAValueWrittenMeanwhile) {
  Cache cache(refreshing());
  BatchRecorder rec;
  cache.get_or_load_many<std::string>({"x", "y"}, 2s, [&](const Keys& k) { return rec.load(k); });
  std::this_thread::sleep_for(1200ms);
  RedisCli writer(server_);  // used on the refresh thread only (RedisCli is not thread-safe)
  auto loader = [&](const Keys& k) {
    if (k.size() == 2) {
      // Another service's write, fresh for a minute (and no invalidation, so
      // only the compare-and-set can keep the reload out of L1).
      const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
      writer.cmd({"SET", prefix_ + "x",
                  wire::encode_envelope(static_cast<std::uint64_t>(now_s) + 60, "other", {}), "PX",
                  "60000"});
    }
    return rec.load(k);
  };
  cache.get_or_load_many<std::string>({"x", "y"}, 2s, loader);
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 2; }));
  EXPECT_EQ(in_redis("x"), "other");
  EXPECT_EQ(in_redis("y"), "v2");
  EXPECT_EQ(cache.stats().invalidations_sent, 1u);  // y's; x's script wrote nothing
  // x's reload left L1: the next read goes to Redis and finds the other value.
  EXPECT_EQ(cache.get<std::string>("x"), "other");
  EXPECT_EQ(cache.get<std::string>("y"), "v2");
}

// Each write of the refresh's pipeline stands on its own reply: one that
// Redis refuses (here an ACL that makes x read-only) fails only its key.
TEST_F(BatchRefreshTest, AWriteRedisRefusesFailsOnlyItsOwnKey) {
  ASSERT_EQ(
      cli_.cmd({"ACL", "SETUSER", "part", "on", ">pw", "%R~*", "~" + prefix_ + "w*", "&*", "+@all"})
          .str,
      "OK");
  Options o = refreshing();
  o.early_refresh_ratio = 0.1;  // stale 1 s after the write, expired at 10 s
  Cache writer(o);
  writer.set<std::string>("w", "old", 10s);
  writer.set<std::string>("x", "old", 10s);
  o.redis_url = "redis://part:pw@127.0.0.1:" + std::to_string(server_.port());
  Cache cache(o);
  BatchRecorder rec;
  auto loader = [&](const Keys& k) { return rec.load(k); };
  std::this_thread::sleep_for(2100ms);  // past the stale-after second
  EXPECT_EQ(cache.get_or_load_many<std::string>({"w", "x"}, 10s, loader),
            (Values{{"w", "old"}, {"x", "old"}}));
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 2; }));
  EXPECT_EQ(in_redis("w"), "v1");
  EXPECT_EQ(in_redis("x"), "old");
  EXPECT_EQ(cache.stats().invalidations_sent, 1u);  // w's went out; x's script was refused
  EXPECT_TRUE(eventually([&] { return writer.stats().invalidations_received == 1; }));
}

TEST_F(BatchRefreshTest, AFailedRefreshKeepsTheStaleValuesAndTheNextBatchTriesAgain) {
  Cache cache(refreshing());
  BatchRecorder rec;
  const Keys keys{"p", "q"};
  cache.get_or_load_many<std::string>(keys, 3s, [&](const Keys& k) { return rec.load(k); });
  std::this_thread::sleep_for(1600ms);  // stale (1.5 s), not expired (3 s)
  auto failing = [](const Keys&) -> Values { throw std::runtime_error("database down"); };
  EXPECT_EQ(cache.get_or_load_many<std::string>(keys, 3s, failing).at("p"), "v1");
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_failed == 2; }));
  EXPECT_EQ(cache.stats().load_errors, 1u);  // one loader call

  // The claims were released: the next stale batch queues a refresh again.
  const Values got =
      cache.get_or_load_many<std::string>(keys, 3s, [&](const Keys& k) { return rec.load(k); });
  EXPECT_EQ(got, (Values{{"p", "v1"}, {"q", "v1"}}));
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 2; }));
  EXPECT_EQ(cache.get<std::string>("p"), "v2");
  EXPECT_EQ(in_redis("q"), "v2");
}

// A batch that finds a key only in Redis, already stale there (another
// instance wrote it), returns it and refreshes it.
TEST_F(BatchRefreshTest, AStaleValueReadFromRedisIsRefreshed) {
  Options o = refreshing();
  o.early_refresh_ratio = 0.25;  // stale 1 s after the write (whole seconds in Redis)
  Cache writer(o);
  writer.set<std::string>("r", "old", 4s);
  std::this_thread::sleep_for(2100ms);  // past the stale-after second
  Cache reader(o);
  BatchRecorder rec;
  const Values got =
      reader.get_or_load_many<std::string>({"r"}, 4s, [&](const Keys& k) { return rec.load(k); });
  EXPECT_EQ(got.at("r"), "old");
  ASSERT_TRUE(eventually([&] { return reader.stats().refreshes_ok == 1; }));
  EXPECT_EQ(rec.calls(), (std::vector<Keys>{{"r"}}));
  EXPECT_EQ(in_redis("r"), "v1");
  EXPECT_EQ(reader.get<std::string>("r"), "v1");
}

// L1-only on a ManualClock, stale after half the ttl; one refresh thread, so
// refreshes run in the order they were queued.
Options manual_options(const std::shared_ptr<ManualClock>& clock) {
  Options o;
  o.early_refresh_ratio = 0.5;
  o.clock = clock;
  o.refresh_threads = 1;
  return o;
}

TEST(BatchRefreshWithoutRedis, StaleL1KeysAreRefreshedOnTheManualClock) {
  auto clock = std::make_shared<ManualClock>();
  Cache cache(manual_options(clock));
  BatchRecorder rec;
  const Keys keys{"m", "n"};
  cache.get_or_load_many<std::string>(keys, 10s, [&](const Keys& k) { return rec.load(k); });
  clock->advance(6s);  // stale, not expired
  auto loader = [&](const Keys& k) { return rec.load(k, {"n"}); };
  EXPECT_EQ(cache.get_or_load_many<std::string>(keys, 10s, loader),
            (Values{{"m", "v1"}, {"n", "v1"}}));
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 2; }));
  EXPECT_EQ(cache.get<std::string>("m"), "v2");
  EXPECT_EQ(cache.get<std::string>("n"), std::nullopt);  // the loader no longer finds it
  cache.get_or_load<std::string>("marker", 4s, [] { return std::string("1"); });
  clock->advance(3s);  // 9 s: m still fresh (stale at 11 s), marker stale (at 8 s)
  cache.get_or_load_many<std::string>({"m"}, 10s, loader);
  cache.get_or_load<std::string>("marker", 4s, [] { return std::string("2"); });
  // Once the marker's refresh, queued last, has run, a refresh of m would have too.
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 3; }));
  EXPECT_EQ(rec.calls().size(), 2u);
  EXPECT_EQ(cache.get<std::string>("marker"), "2");
}

// A key written after the batch found it stale and before its refresh ran is
// not reloaded: the write is newer than a reload would be.
TEST(BatchRefreshWithoutRedis, AKeyWrittenBeforeItsRefreshRunsIsSkipped) {
  auto clock = std::make_shared<ManualClock>();
  Cache cache(manual_options(clock));
  BatchRecorder rec;
  auto loader = [&](const Keys& k) { return rec.load(k); };
  cache.get_or_load_many<std::string>({"s", "t"}, 10s, loader);
  cache.get_or_load<std::string>("busy", 10s, [] { return std::string("b1"); });
  clock->advance(6s);
  // The one refresh thread runs busy's refresh until released.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> busy_running{false};
  cache.get_or_load<std::string>("busy", 10s, [&, released] {
    busy_running = true;
    released.wait();
    return std::string("b2");
  });
  ASSERT_TRUE(eventually([&] { return busy_running.load(); }));
  cache.get_or_load_many<std::string>({"s", "t"}, 10s, loader);  // queued behind it
  cache.set<std::string>("s", "written", 10s);
  release.set_value();
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 2; }));  // busy and t
  EXPECT_EQ(cache.stats().refreshes_skipped, 1u);
  EXPECT_EQ(rec.calls(), (std::vector<Keys>{{"s", "t"}, {"t"}}));
  EXPECT_EQ(cache.get<std::string>("s"), "written");
  EXPECT_EQ(cache.get<std::string>("t"), "v2");
}

}  // namespace
}  // namespace multicache::test
