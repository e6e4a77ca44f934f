// URLs, AUTH/SELECT, unix sockets, and what a missing or frozen Redis does.
#include <gtest/gtest.h>

#include <ctime>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

TEST(Connection, AuthAndSelectComeFromTheUrl) {
  RedisServer server({.password = "s3cret"});
  const std::string prefix = unique_prefix();
  Options o = options_for(server, prefix);
  o.redis_url = server.url(3);
  Cache cache(o);
  ASSERT_TRUE(cache.redis_connected());
  cache.set<std::string>("k", "v", 60s);
  RedisCli db3(server, 3);
  std::string raw;
  ASSERT_TRUE(db3.get(prefix + "k", &raw));
  EXPECT_EQ(raw.substr(9), "v");
  RedisCli db0(server, 0);
  EXPECT_FALSE(db0.get(prefix + "k", &raw));
}

TEST(Connection, WrongPasswordDegradesToTheLoader) {
  RedisServer server({.password = "right"});
  Options o = options_for(server, unique_prefix());
  o.redis_url = "redis://:wrong@127.0.0.1:" + std::to_string(server.port());
  Cache cache(o);
  EXPECT_FALSE(cache.redis_connected());
  EXPECT_EQ(cache.get_or_load<std::string>("k", 60s, [] { return std::string("db"); }), "db");
  EXPECT_THROW(cache.remove("k"), RedisError);
}

// A user whose ACL forbids PUBLISH: set() and remove() reach Redis, but the
// other instances cannot be told, so both throw RedisError (as documented),
// and the writer keeps no copy of its own.
TEST(Connection, AWriteWhosePublishIsRefusedThrowsButReachedRedis) {
  RedisServer server;
  RedisCli admin(server);
  ASSERT_EQ(
      admin.cmd({"ACL", "SETUSER", "nopub", "on", ">pw", "~*", "&*", "+@all", "-publish"}).str,
      "OK");
  const std::string prefix = unique_prefix();
  Options o = options_for(server, prefix);
  o.redis_url = "redis://nopub:pw@127.0.0.1:" + std::to_string(server.port());
  Cache cache(o);
  ASSERT_TRUE(cache.redis_connected());
  EXPECT_THROW(cache.set<std::string>("k", "v", 60s), RedisError);
  std::string raw;
  ASSERT_TRUE(admin.get(prefix + "k", &raw));
  EXPECT_EQ(raw.substr(9), "v");
  EXPECT_EQ(cache.get<std::string>("k"), "v");  // read back from Redis:
  EXPECT_EQ(cache.stats().l2_hits, 1u);         // the set() left no L1 copy
  EXPECT_THROW(cache.remove("k"), RedisError);
  EXPECT_FALSE(admin.get(prefix + "k", &raw));
}

// The handshake's PING fails an attempt only when the server refuses the
// client (NOAUTH, maxclients): a default user whose ACL denies PING still
// connects.
TEST(Connection, AUserNotAllowedToPingStillConnects) {
  RedisServer server;
  RedisCli admin(server);
  ASSERT_EQ(admin.cmd({"ACL", "SETUSER", "default", "-ping"}).str, "OK");
  const std::string prefix = unique_prefix();
  Cache cache(options_for(server, prefix));
  EXPECT_TRUE(cache.redis_connected());
  cache.set<std::string>("k", "v", 60s);
  std::string raw;
  ASSERT_TRUE(admin.get(prefix + "k", &raw));
  EXPECT_EQ(raw.substr(9), "v");
}

TEST(Connection, UnixSocket) {
  RedisServer server({.unix_socket = true});
  const std::string prefix = unique_prefix();
  Options o = options_for(server, prefix);
  o.redis_url = "unix://" + server.socket_path();
  Cache a(o);
  ASSERT_TRUE(a.redis_connected());
  a.set<std::string>("k", "v", 60s);
  Cache b(o);
  EXPECT_EQ(b.get<std::string>("k"), "v");
  EXPECT_EQ(b.stats().l2_hits, 1u);
}

TEST(Connection, NoRedisListeningIsNotAnError) {
  RedisServer server;
  Options o = options_for(server, unique_prefix());
  server.kill();
  const auto start = steady::now();
  Cache cache(o);  // must not throw, must not hang
  EXPECT_LT(steady::now() - start, slack(o.connect_timeout * 2 + 500ms));
  EXPECT_FALSE(cache.redis_connected());
  EXPECT_EQ(cache.get_or_load<std::string>("k", 60s, [] { return std::string("db"); }), "db");
  EXPECT_EQ(cache.get<std::string>("k"), "db");  // L1 still works
  EXPECT_THROW(cache.remove("k"), RedisError);
  EXPECT_EQ(cache.get<std::string>("k"), std::nullopt);  // dropped locally all the same

  // Redis comes up: the cache finds it and uses it.
  server.restart();
  ASSERT_TRUE(eventually([&] { return cache.redis_connected(); }, 10s));
  cache.set<std::string>("k2", "v", 60s);
  RedisCli cli(server);
  std::string raw;
  EXPECT_TRUE(cli.get(o.key_prefix + "k2", &raw));
}

// An outage is logged when it begins and when it ends, not at every
// reconnect attempt (each connection logged each attempt: six lines in the
// first 3 s, then one every 2 s).
TEST(Connection, AnOutageIsLoggedWhenItBeginsAndEnds) {
  RedisServer server;
  Options o = options_for(server, unique_prefix());
  std::mutex mu;
  std::map<std::string, int> failures;   // per connection ("redis <name> <address>")
  std::map<std::string, int> recovered;  // the same, "connected again"
  o.log = [&](log_level, std::string_view line) {
    const auto colon = line.find(": ");
    if (!line.starts_with("redis ") || colon == std::string_view::npos) return;
    const std::string who(line.substr(0, colon));
    std::lock_guard lock(mu);
    ++(line.find("connected again") != std::string_view::npos ? recovered : failures)[who];
  };
  Cache cache(o);
  ASSERT_TRUE(cache.redis_connected());
  server.kill();
  std::this_thread::sleep_for(3s);  // about six attempts per connection
  {
    std::lock_guard lock(mu);
    EXPECT_GE(failures.size(), 2u);  // the command connections and the subscriber
    for (const auto& [who, n] : failures) EXPECT_EQ(n, 1) << who;
  }
  server.restart();
  ASSERT_TRUE(eventually([&] { return cache.redis_connected(); }, 10s));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return recovered.size() == failures.size();
  }));
  std::lock_guard lock(mu);
  for (const auto& [who, n] : recovered) EXPECT_EQ(n, 1) << who;
}

// A server that accepts connections and refuses them at once (maxclients
// reached) is retried with a growing backoff, and logged once per
// connection, not every 50 ms: "ready" means it answered PING.
TEST(Connection, AServerRefusingAcceptedConnectionsIsRetriedWithBackoff) {
  RedisServer server({.extra_args = {"--maxclients", "1"}});
  Options o = options_for(server, unique_prefix());
  std::mutex mu;
  std::map<std::string, int> lines;  // per connection ("redis <name> <address>")
  o.log = [&](log_level, std::string_view line) {
    const auto colon = line.find(": ");
    if (!line.starts_with("redis ") || colon == std::string_view::npos) return;
    std::lock_guard lock(mu);
    ++lines[std::string(line.substr(0, colon))];
  };
  RedisCli holder(server);  // the only client allowed
  Cache cache(o);
  std::this_thread::sleep_for(3s);  // at 50, 100, ... 1600 ms: about 7 attempts per connection
  EXPECT_FALSE(cache.redis_connected());
  const std::string info = holder.cmd({"INFO", "stats"}).str;
  const auto at = info.find("rejected_connections:");
  ASSERT_NE(at, std::string::npos);
  const long rejected = std::stol(info.substr(at + 21));
  EXPECT_GT(rejected, 0);
  EXPECT_LT(rejected, 60);  // ~180 when every attempt counted as connected (50 ms apart)
  {
    std::lock_guard lock(mu);
    EXPECT_GE(lines.size(), 2u);  // the command connections and the subscriber
    for (const auto& [who, n] : lines) EXPECT_EQ(n, 1) << who;
  }
  holder.cmd({"CONFIG", "SET", "maxclients", "100"});  // room for everyone
  EXPECT_TRUE(eventually([&] { return cache.redis_connected(); }, 10s));
}

TEST(Connection, AFrozenRedisCostsAtMostOneCommandTimeout) {
  RedisServer server;
  Options o = options_for(server, unique_prefix());
  o.command_timeout = 100ms;
  Cache cache(o);
  ASSERT_TRUE(cache.redis_connected());
  server.pause();  // SIGSTOP: connections stay open, nothing answers
  auto worst = steady::duration::zero();
  for (int i = 0; i < 20; ++i) {
    const auto start = steady::now();
    const std::string key = "k" + std::to_string(i);
    EXPECT_EQ(cache.get_or_load<std::string>(key, 60s, [&] { return key; }), key);
    worst = std::max(worst, steady::now() - start);
  }
  server.resume();
  // One timeout per call (after a failed read the load skips the Redis write).
  // Generous margin: this checks for hangs, not speed.
  EXPECT_LT(worst, slack(o.command_timeout + 300ms));
  EXPECT_GT(cache.stats().redis_errors, 0u);
  // After SIGCONT the connections recover and L2 is used again.
  ASSERT_TRUE(eventually(
      [&] {
        cache.set<std::string>("after", "v", 60s);
        return true;
      },
      5s));
}

// Four threads read 5 keys each from a cache on a frozen Redis (several at
// once, so that reads queue on the loop: a lone caller would take a direct
// connection). Every read must fall back to the loader within one command
// timeout. Returns the CPU time the threads used, which tells a caller that
// spun from one that slept.
std::chrono::microseconds cpu_of_reads_on_a_frozen_redis(RedisServer& server, const Options& o) {
  Cache cache(o);
  EXPECT_TRUE(cache.redis_connected());
  server.pause();
  constexpr int k_threads = 4;
  std::vector<steady::duration> worst(k_threads, steady::duration::zero());
  std::vector<std::chrono::microseconds> cpu(k_threads);
  std::vector<int> wrong(k_threads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      auto thread_cpu = [] {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
      };
      const auto cpu_start = thread_cpu();
      for (int i = 0; i < 5; ++i) {
        const auto start = steady::now();
        const std::string key = "k" + std::to_string(t) + "-" + std::to_string(i);
        if (cache.get_or_load<std::string>(key, 60s, [&] { return key; }) != key) ++wrong[t];
        worst[t] = std::max(worst[t], steady::now() - start);
      }
      cpu[t] = std::chrono::duration_cast<std::chrono::microseconds>(thread_cpu() - cpu_start);
    });
  }
  for (auto& th : threads) th.join();
  server.resume();
  std::chrono::microseconds total{0};
  for (int t = 0; t < k_threads; ++t) {
    EXPECT_EQ(wrong[t], 0) << "thread " << t;
    // Checks for a spin that outlives the deadline, not speed.
    EXPECT_LT(worst[t], slack(o.command_timeout + 300ms)) << "thread " << t;
    total += cpu[t];
  }
  EXPECT_GT(cache.stats().redis_errors, 0u);
  // Redis back: the callers read and write through it again.
  EXPECT_TRUE(eventually(
      [&] {
        try {
          cache.set<std::string>("after", "v", 60s);
          return true;
        } catch (const RedisError&) {
          return false;  // the connections are still coming back
        }
      },
      5s));
  Cache reader(o);  // an empty L1: the value comes from Redis
  EXPECT_TRUE(reader.redis_connected());
  EXPECT_EQ(reader.get<std::string>("after"), "v");
  return total;
}

// Callers that spin for the whole command timeout (redis_spin_wait): the spin
// ends at the caller's deadline, so a read on a frozen Redis still costs one
// timeout. And the option reaches the wait: spinning threads burn CPU while
// they wait, sleeping ones next to none (5 runs here: 0.2-1.0 s against
// 0.5-2.2 ms, so the bounds below leave a wide margin for a loaded machine,
// where spinners yield to other threads).
TEST(Connection, SpinningCallersOnAFrozenRedisCostAtMostOneCommandTimeout) {
  RedisServer server;
  Options o = options_for(server, unique_prefix());
  o.command_timeout = 100ms;
  o.redis_spin_wait = 100ms;
  const auto spinning = cpu_of_reads_on_a_frozen_redis(server, o);
  o.redis_spin_wait = 0us;
  const auto sleeping = cpu_of_reads_on_a_frozen_redis(server, o);
  EXPECT_GE(spinning, 40ms);
  EXPECT_GT(spinning, sleeping * 4) << "sleeping: " << sleeping.count() << " us";
}

// Reads on direct (blocking) connections: a reconnect that must AUTH to a
// frozen server still costs at most one command timeout per call.
TEST(Connection, AFrozenRedisWithAuthCostsAtMostOneCommandTimeout) {
  RedisServer server({.password = "pw"});
  Options o = options_for(server, unique_prefix());
  o.command_timeout = 200ms;
  o.pool_size = 2;
  Cache cache(o);
  ASSERT_TRUE(cache.redis_connected());
  (void)cache.get<std::string>("warm");  // opens a direct connection
  server.pause();
  auto worst = steady::duration::zero();
  for (int i = 0; i < 6; ++i) {
    const auto start = steady::now();
    const std::string key = "k" + std::to_string(i);
    EXPECT_EQ(cache.get_or_load<std::string>(key, 60s, [&] { return key; }), key);
    worst = std::max(worst, steady::now() - start);
  }
  server.resume();
  // Checks for stacked timeouts (connect + AUTH + the loop: 3x), not speed.
  EXPECT_LT(worst, slack(o.command_timeout + 150ms));
}

// A direct connection the server closed while idle (CLIENT KILL, its idle
// timeout) is not an error: the read goes through the loop instead.
TEST(Connection, AnIdleDirectConnectionClosedByTheServerIsNotAnError) {
  RedisServer server;
  Options o = options_for(server, unique_prefix());
  o.pool_size = 1;
  o.l1_max_items = 1;  // reads of the other key go to Redis
  Cache cache(o);
  cache.set<std::string>("k", "v", 60s);
  cache.set<std::string>("j", "w", 60s);
  ASSERT_EQ(cache.get<std::string>("k"), "v");  // opens the direct connection
  RedisCli cli(server);
  cli.cmd({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
  // The loop's connection notices, reconnects and takes writes again.
  ASSERT_TRUE(eventually([&] {
    try {
      cache.remove("unrelated");
      return true;
    } catch (const RedisError&) {
      return false;
    }
  }));
  const Stats before = cache.stats();
  EXPECT_EQ(cache.get<std::string>("j"), "w");
  const Stats after = cache.stats();
  EXPECT_EQ(after.l2_hits, before.l2_hits + 1);  // it did go to Redis
  EXPECT_EQ(after.redis_errors, before.redis_errors);
}

TEST(Connection, NoLateReplyIsTakenForAnotherCommandsAnswer) {
  RedisServer server;
  Options o = options_for(server, unique_prefix());
  o.command_timeout = 100ms;
  o.pool_size = 1;
  Cache cache(o);
  RedisCli cli(server);
  cli.cmd({"SET", o.key_prefix + "a", std::string(9, '\0') + "AAA", "PX", "60000"});
  cli.cmd({"SET", o.key_prefix + "b", std::string(9, '\0') + "BBB", "PX", "60000"});
  // DEBUG SLEEP from another client stalls the server past our timeout.
  std::thread sleeper([&] {
    RedisCli c2(server);
    c2.cmd({"DEBUG", "SLEEP", "0.5"});
  });
  std::this_thread::sleep_for(50ms);
  // The key is stale-after 0: a refresh would be scheduled; give a loader that says so.
  auto a = cache.get_or_load<std::string>("a", 60s, [] { return std::string("loader-a"); });
  sleeper.join();
  EXPECT_TRUE(a == "AAA" || a == "loader-a") << a;
  // After the stall: every answer belongs to its own question.
  for (int i = 0; i < 50; ++i) {
    EXPECT_NE(cache.get<std::string>("b"), std::optional<std::string>("AAA"));
  }
  EXPECT_EQ(cache.get<std::string>("b"), "BBB");
}

TEST(Connection, BreakerOpensOnFailuresAndClosesAfterRecovery) {
  RedisServer server;
  Options o = options_for(server, unique_prefix());
  o.circuit_breaker = true;
  o.circuit_breaker_max_failures = 2;
  o.circuit_breaker_open_timeout = 300ms;
  o.command_timeout = 100ms;
  Cache cache(o);
  server.kill();
  for (int i = 0; i < 5; ++i) {
    const std::string key = "k" + std::to_string(i);
    EXPECT_EQ(cache.get_or_load<std::string>(key, 60s, [&] { return key; }), key);
  }
  Stats s = cache.stats();
  EXPECT_TRUE(s.breaker_open);
  EXPECT_GT(s.breaker_rejections, 0u);
  EXPECT_THROW(cache.remove("k0"), RedisError);
  EXPECT_EQ(cache.get<std::string>("k0"), std::nullopt);  // dropped locally anyway

  server.restart();
  ASSERT_TRUE(eventually(
      [&] {
        (void)cache.get<std::string>("probe");  // reads let the half-open probe through
        return !cache.stats().breaker_open;
      },
      10s));
  cache.set<std::string>("back", "v", 60s);
  RedisCli cli(server);
  std::string raw;
  EXPECT_TRUE(cli.get(o.key_prefix + "back", &raw));
}

}  // namespace
}  // namespace multicache::test
