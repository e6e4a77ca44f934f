// The L1 hit path's coarse time against a real redis-server: an entry filled
// from Redis still dies with the key's PTTL when the coarse reading lags.
#include <gtest/gtest.h>

#include <memory>

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

}  // namespace
}  // namespace multicache::test
