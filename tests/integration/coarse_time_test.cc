// The L1 hit path's coarse time against a real redis-server: an entry filled
// from Redis still dies with the key's PTTL when the coarse reading lags.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <thread>

#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

class CoarseTimeTest : public RedisTest {};

TEST_F(CoarseTimeTest, AnEntryFromRedisDiesWithItsPttlWhileTheCoarseReadingLags) {
  {
    Cache writer(options());
    writer.set<std::string>("k", "old", 10s);
    writer.set<std::string>("k2", "new", 60s);
  }
  auto clock = std::make_shared<ManualClock>(1s);
  Options o = options();
  o.clock = clock;
  Cache reader(o);
  EXPECT_EQ(reader.get<std::string>("k"), "old");  // from Redis, into L1 until its PTTL
  EXPECT_EQ(reader.stats().l2_hits, 1u);

  // New bytes behind the cache's back (no invalidation): only an L1 hit still
  // says "old".
  RedisCli cli(server_);
  std::string bytes;
  ASSERT_TRUE(cli.get(prefix_ + "k2", &bytes));
  cli.cmd({"SET", prefix_ + "k", bytes, "PX", "60000"});
  EXPECT_EQ(reader.get<std::string>("k"), "old");
  EXPECT_EQ(reader.stats().l1_hits, 1u);

  // 10 s on, past the PTTL (at most 10 s) the fill saw; the coarse reading
  // says 9 s, so only the exact clock knows the entry is dead.
  clock->advance(10s);
  clock->set_lag(1s);
  EXPECT_EQ(reader.get<std::string>("k"), "new");
  EXPECT_EQ(reader.stats().l2_hits, 2u);
}

// The key's PTTL counts from when Redis answered, so an L1 copy is timed
// from when the read was sent: a read that waits (here 30 s of the
// reader's clock, Redis paused) does not stretch the copy's life by the wait.
TEST_F(CoarseTimeTest, AnEntryFromRedisIsTimedFromWhenItsReadWasSent) {
  {
    Cache writer(options());
    writer.set<std::string>("k", "v", 60s);
  }
  auto clock = std::make_shared<ManualClock>();
  Options o = options();
  o.clock = clock;
  o.command_timeout = 30s;
  Cache reader(o);
  server_.pause();
  std::optional<std::string> got;
  std::thread read([&] { got = reader.get<std::string>("k"); });
  std::this_thread::sleep_for(slack(200ms));  // the read is sent and waits
  clock->advance(30s);
  server_.resume();
  read.join();
  EXPECT_EQ(got, "v");
  EXPECT_EQ(reader.stats().l2_hits, 1u);
  // 61 s after the read was sent: past the PTTL (at most 60 s) Redis gave.
  clock->advance(31s);
  EXPECT_EQ(reader.get<std::string>("k"), "v");
  EXPECT_EQ(reader.stats().l2_hits, 2u) << "L1 kept it past the key's PTTL";
}

}  // namespace
}  // namespace multicache::test
