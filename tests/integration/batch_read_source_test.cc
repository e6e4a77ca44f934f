// read_source for get() and for each key of a get_or_load_many, on every
// path, against a real redis-server (the single calls: read_source_test.cc).
#include <gtest/gtest.h>

#include <latch>
#include <stdexcept>
#include <string>
#include <thread>

#include "integration/batch_recorder.h"
#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;
using Sources = std::vector<read_source>;

class BatchReadSourceTest : public RedisTest {
 protected:
  RedisCli cli_{server_};
};

Values never_called(const Keys&) { throw std::logic_error("this loader must not run"); }

TEST_F(BatchReadSourceTest, GetReportsL1OrRedisAndLeavesItAloneWhenAbsent) {
  Cache cache(options());
  cache.set<std::string>("k", "v", 60s);
  read_source from = read_source::joined;
  EXPECT_EQ(cache.get<std::string>("k", &from), "v");
  EXPECT_EQ(from, read_source::l1);
  Cache other(options());
  from = read_source::joined;
  EXPECT_EQ(other.get<std::string>("k", &from), "v");
  EXPECT_EQ(from, read_source::redis);
  EXPECT_EQ(other.get<std::string>("k", &from), "v");
  EXPECT_EQ(from, read_source::l1);
  from = read_source::joined;
  EXPECT_EQ(other.get<std::string>("absent", &from), std::nullopt);
  EXPECT_EQ(from, read_source::joined);
}

TEST_F(BatchReadSourceTest, ABatchReportsWhereEachKeyCameFrom) {
  Cache cache(options());
  Cache writer(options());
  cache.set<std::string>("in-l1", "a", 60s);
  writer.set<std::string>("in-redis", "b", 60s);
  ASSERT_TRUE(eventually([&] { return cache.stats().invalidations_received >= 1; }));
  BatchRecorder rec;
  const Keys keys{"in-l1", "in-redis", "in-db", "gone", "in-l1"};
  Sources from;
  const Values got = cache.get_or_load_many<std::string>(
      keys, 60s, [&](const Keys& k) { return rec.load(k, {"gone"}); }, &from);
  EXPECT_EQ(got, (Values{{"in-l1", "a"}, {"in-redis", "b"}, {"in-db", "v1"}}));
  EXPECT_EQ(from, (Sources{read_source::l1, read_source::redis, read_source::loader,
                           read_source::loader, read_source::l1}));
  // The same batch again: all but the left-out key from L1.
  cache.get_or_load_many<std::string>(
      keys, 60s, [&](const Keys& k) { return rec.load(k, {"gone"}); }, &from);
  EXPECT_EQ(from, (Sources{read_source::l1, read_source::l1, read_source::l1, read_source::loader,
                           read_source::l1}));
}

TEST_F(BatchReadSourceTest, AKeyAnotherCallIsLoadingReportsJoined) {
  Cache cache(options());
  std::latch started(1);
  std::latch release(1);
  std::thread single([&] {
    cache.get_or_load<std::string>("k", 60s, [&] {
      started.count_down();
      release.wait();
      return std::string("single's");
    });
  });
  started.wait();
  Sources from;
  Values got;
  std::thread batch([&] {
    got = cache.get_or_load_many<std::string>(
        {"k", "x"}, 60s,
        [](const Keys&) {
          return Values{{"x", "batch's"}};
        },
        &from);
  });
  ASSERT_TRUE(eventually([&] { return cache.stats().shared_loads == 1; }));
  release.count_down();
  single.join();
  batch.join();
  EXPECT_EQ(got, (Values{{"k", "single's"}, {"x", "batch's"}}));
  EXPECT_EQ(from, (Sources{read_source::joined, read_source::loader}));
}

// Gone from Redis and expired in L1, but kept there: what stale_if_error serves.
TEST_F(BatchReadSourceTest, ExpiredCopiesServedForAFailedLoadReportStaleOnError) {
  Options o = options();
  o.stale_if_error = 60s;
  Cache cache(o);
  for (const char* k : {"a", "b"}) {
    cache.set<std::string>(k, std::string("old ") + k, 100ms);
    cli_.cmd({"DEL", prefix_ + k});
  }
  ASSERT_TRUE(
      eventually([&] { return !cache.get<std::string>("a") && !cache.get<std::string>("b"); }));
  auto fails = [](const Keys&) -> Values { throw std::runtime_error("db down"); };
  // The batch's own loader failed.
  Sources from;
  EXPECT_EQ(cache.get_or_load_many<std::string>({"a"}, 60s, fails, &from),
            (Values{{"a", "old a"}}));
  EXPECT_EQ(from, Sources{read_source::stale_on_error});

  // The batch waited for another batch whose loader failed, and whose own
  // call threw (one of its keys had no copy).
  std::latch started(1);
  std::latch release(1);
  std::thread leader([&] {
    EXPECT_THROW(cache.get_or_load_many<std::string>({"b", "no-copy"}, 60s,
                                                     [&](const Keys& k) -> Values {
                                                       started.count_down();
                                                       release.wait();
                                                       return fails(k);
                                                     }),
                 std::runtime_error);
  });
  started.wait();
  Values got;
  std::thread waiter(
      [&] { got = cache.get_or_load_many<std::string>({"b"}, 60s, never_called, &from); });
  ASSERT_TRUE(eventually([&] { return cache.stats().shared_loads == 1; }));
  release.count_down();
  leader.join();
  waiter.join();
  EXPECT_EQ(got, (Values{{"b", "old b"}}));
  EXPECT_EQ(from, Sources{read_source::stale_on_error});
}

// With distributed single-flight, a key whose lock another instance held is
// taken from what that instance wrote: joined.
TEST_F(BatchReadSourceTest, AKeyAnotherInstanceLoadedUnderItsLockReportsJoined) {
  Options o = options();
  o.distributed_single_flight = true;
  const std::string lock = prefix_ + "\x01lock\x01" + "held";
  cli_.cmd({"SET", lock, "other-instance", "PX", "10000"});
  Cache cache(o);
  Cache holder(options());
  BatchRecorder rec([](const std::string& k, std::size_t) { return "v:" + k; });
  std::thread holder_thread([&] {
    ASSERT_TRUE(eventually([&] { return rec.calls().size() == 1; }));
    holder.set<std::string>("held", "holder's value", 60s);
    cli_.cmd({"DEL", lock});
  });
  Sources from;
  const Values got = cache.get_or_load_many<std::string>(
      {"held", "free"}, 60s, [&](const Keys& k) { return rec.load(k); }, &from);
  holder_thread.join();
  EXPECT_EQ(got, (Values{{"held", "holder's value"}, {"free", "v:free"}}));
  EXPECT_EQ(from, (Sources{read_source::joined, read_source::loader}));
  EXPECT_EQ(rec.calls(), std::vector<Keys>{{"free"}});
}

}  // namespace
}  // namespace multicache::test
