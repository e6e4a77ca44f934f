// The cache behind Redis Sentinel: a forced failover under load.
#include <gtest/gtest.h>

#include "cluster/load.h"
#include "support/redis_cluster.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

Options sentinel_options(const std::string& url, const std::string& prefix) {
  return quiet_options(url, prefix, 1s);
}

// While no sentinel answers, the resolver asks again every 250 ms; it says
// so once, not at every ask (it logged 31 warnings in 8 s). Meanwhile the
// connections do not try to reach a primary no one named (they tried an
// empty host: "connect failed: Name or service not known").
TEST(Sentinel, AnOutageOfTheSentinelsIsLoggedOnce) {
  int port = 0;
  {
    RedisServer gone;  // a loopback port with nothing listening once it stops
    port = gone.port();
  }
  Options o = sentinel_options("redis-sentinel://127.0.0.1:" + std::to_string(port) + "/mymaster",
                               unique_prefix());
  std::atomic<int> unanswered{0};
  std::atomic<int> connects{0};  // attempts to reach a primary no one named (an empty host)
  o.log = [&](log_level, std::string_view line) {
    if (line.find("no sentinel named the primary") != std::string_view::npos) ++unanswered;
    if (line.find("connect failed") != std::string_view::npos) ++connects;
  };
  {
    Cache cache(o);
    std::this_thread::sleep_for(1500ms);  // six asks or more
    EXPECT_EQ(cache.get_or_load<std::string>("k", 60s, [] { return std::string("v"); }), "v");
  }
  EXPECT_EQ(unanswered.load(), 1);
  EXPECT_EQ(connects.load(), 0);
}

// The resolver asks a sentinel every 250 ms on one connection that stays
// open, not on a new connection each time (a fleet of instances made each
// sentinel accept several connections a second per instance).
TEST(Sentinel, TheResolverKeepsItsSentinelConnection) {
  RedisSentinelSet set;
  auto accepted = [&](std::size_t i) {
    RedisCli cli(set.sentinel(i));
    const std::string info = cli.cmd({"INFO", "stats"}).str;
    const auto at = info.find("total_connections_received:");
    return at == std::string::npos ? -1L : std::stol(info.substr(at + 27));
  };
  Cache cache(sentinel_options(set.url(), unique_prefix()));
  ASSERT_TRUE(cache.redis_connected());
  std::this_thread::sleep_for(1s);  // the sentinels' own links settle
  long before[3];
  for (std::size_t i = 0; i < 3; ++i) before[i] = accepted(i);
  std::this_thread::sleep_for(2s);  // eight asks or more
  long opened = 0;
  for (std::size_t i = 0; i < 3; ++i)
    opened += accepted(i) - before[i] - 1;  // -1: accepted()'s own
  EXPECT_LE(opened, 1);
}

TEST(Sentinel, FailoverUnderLoad) {
  RedisSentinelSet set;
  ASSERT_EQ(set.primary_index(), 0);
  const std::string prefix = unique_prefix();
  Options o = sentinel_options(set.url(), prefix);
  Cache cache(o);
  ASSERT_TRUE(cache.redis_connected());
  cache.set<std::string>("before", "x", 60s);
  {
    RedisCli primary(set.server(0));
    std::string v;
    ASSERT_TRUE(primary.get(prefix + "before", &v));
  }
  std::vector<std::string> keys;
  for (int i = 0; i < 500; ++i) keys.push_back("key:" + std::to_string(i));
  {
    Load load(cache, keys);
    std::this_thread::sleep_for(300ms);
    ASSERT_TRUE(set.failover(30s));
    std::this_thread::sleep_for(1s);
    load.stop();
    EXPECT_EQ(load.read_exceptions(), 0u);
    EXPECT_EQ(load.wrong_values(), 0u);
  }
  ASSERT_EQ(set.primary_index(), 1);
  // Writes resume on the new primary.
  RedisCli new_primary(set.server(1));
  ASSERT_TRUE(eventually(
      [&] {
        try {
          cache.set<std::string>("after", "y", 60s);
        } catch (const RedisError&) {
          return false;
        }
        std::string v;
        return new_primary.get(prefix + "after", &v) && v.ends_with("y");  // enveloped
      },
      20s));
  // And loads are stored there too.
  cache.get_or_load<std::string>("loaded-after", 60s, [] { return std::string("z"); });
  EXPECT_TRUE(eventually([&] {
    std::string v;
    return new_primary.get(prefix + "loaded-after", &v);
  }));
  EXPECT_TRUE(eventually([&] { return cache.redis_connected(); }, 10s));
}

// ROLE is an @admin command: a least-privilege user cannot run it, and the
// primary check lets such a connection through instead of failing it forever.
TEST(Sentinel, AUserWithoutAdminRightsConnects) {
  RedisSentinelSet set;
  for (std::size_t i = 0; i < 2; ++i) {
    RedisCli cli(set.server(i));
    ASSERT_FALSE(
        cli.cmd({"ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-@admin"}).is_error());
  }
  const std::string prefix = unique_prefix();
  const Options o = sentinel_options(
      "redis-sentinel://app:pw@" + set.url().substr(std::string("redis-sentinel://").size()),
      prefix);
  Cache cache(o);
  ASSERT_TRUE(cache.redis_connected());
  cache.set<std::string>("k", "v", 60s);
  Cache other(o);
  EXPECT_EQ(other.get<std::string>("k"), "v");
  EXPECT_EQ(other.stats().l2_hits, 1u);
  EXPECT_EQ(cache.stats().redis_errors + other.stats().redis_errors, 0u);
}

TEST(Sentinel, InvalidationFollowsThePrimary) {
  RedisSentinelSet set;
  const std::string prefix = unique_prefix();
  Options o = sentinel_options(set.url(), prefix);
  Cache a(o);
  Cache b(o);
  ASSERT_TRUE(set.failover(30s));
  ASSERT_TRUE(eventually([&] { return a.redis_connected() && b.redis_connected(); }, 20s));
  for (int i = 0; i < 20; ++i) {
    const std::string k = "k" + std::to_string(i);
    a.get_or_load<std::string>(k, 60s, [] { return std::string("old"); });
    ASSERT_TRUE(eventually([&] {
      try {
        b.set<std::string>(k, "new", 60s);
        return true;
      } catch (const RedisError&) {
        return false;
      }
    }));
    EXPECT_TRUE(eventually([&] { return a.get<std::string>(k) == "new"; })) << k;
  }
}

}  // namespace
}  // namespace multicache::test
