// Cross-instance invalidation over Pub/Sub, reconnects, and the fill race.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <unordered_map>

#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

class SyncTest : public RedisTest {};

TEST_F(SyncTest, RemoveInOneInstanceDropsTheOthersL1) {
  Cache a(options());
  Cache b(options());
  int loads = 0;
  auto loader = [&loads] { return "v" + std::to_string(++loads); };
  EXPECT_EQ(a.get_or_load<std::string>("k", 60s, loader), "v1");
  // a's write is in Redis once get_or_load returned; b reads it from there.
  ASSERT_TRUE(eventually([&] { return b.get<std::string>("k") == "v1"; }));
  a.remove("k");
  ASSERT_TRUE(eventually([&] { return b.stats().invalidations_received == 1; }));
  EXPECT_EQ(b.get<std::string>("k"), std::nullopt);
  // a skipped its own message (which may reach a after it reached b).
  EXPECT_TRUE(eventually([&] { return a.stats().invalidations_ignored == 1u; }));
}

// The longest key, of bytes that are neither UTF-8 nor printable (its
// message is the largest: escaped text plus hex), is still invalidated on
// the other instance; one byte more is refused by every call. (A 1 MiB key
// used to be accepted, and its messages were dropped by every receiver as
// oversized, so other instances kept serving it.)
TEST_F(SyncTest, TheLongestKeyIsInvalidatedEverywhere) {
  std::string key(Cache::max_key_bytes, '\x01');
  for (std::size_t i = 0; i < key.size(); i += 2) key[i] = '\xff';
  Cache a(options());
  Cache b(options());
  a.set<std::string>(key, "old", 60s);
  ASSERT_TRUE(eventually([&] { return b.get<std::string>(key) == "old"; }));  // in b's L1 now
  a.remove(key);
  ASSERT_TRUE(eventually([&] { return b.stats().invalidations_received == 2; }));
  EXPECT_EQ(b.stats().invalidations_malformed, 0u);
  EXPECT_EQ(b.get<std::string>(key), std::nullopt);

  const std::string longer(Cache::max_key_bytes + 1, 'k');
  auto load = [] { return std::string("v"); };
  EXPECT_THROW(a.get<std::string>(longer), std::invalid_argument);
  EXPECT_THROW(a.get_or_load<std::string>(longer, 60s, load), std::invalid_argument);
  EXPECT_THROW(a.get_or_load_shared<std::string>(longer, 60s, load), std::invalid_argument);
  EXPECT_THROW(a.visit_or_load<std::string>(longer, 60s, load, [](const std::string&) {}),
               std::invalid_argument);
  EXPECT_THROW(a.set<std::string>(longer, "v", 60s), std::invalid_argument);
  EXPECT_THROW(a.remove(longer), std::invalid_argument);
  EXPECT_THROW(
      a.get_or_load_many<std::string>({"fine", longer}, 60s,
                                      [](const std::vector<std::string>&) {
                                        return std::unordered_map<std::string, std::string>{};
                                      }),
      std::invalid_argument);
  EXPECT_EQ(a.stats().loads, 0u);
}

TEST_F(SyncTest, SetInOneInstanceReplacesTheOthersCopy) {
  Cache a(options());
  Cache b(options());
  a.set<std::string>("k", "old", 60s);
  ASSERT_TRUE(eventually([&] { return b.stats().invalidations_received == 1; }));
  EXPECT_EQ(b.get<std::string>("k"), "old");
  a.set<std::string>("k", "new", 60s);
  ASSERT_TRUE(eventually([&] { return b.stats().invalidations_received == 2; }));
  EXPECT_EQ(b.get<std::string>("k"), "new");
}

TEST_F(SyncTest, APlainPublishFromAGoInstanceEvicts) {
  Cache a(options());
  a.set<std::string>("k", "v", 60s);
  RedisCli cli(server_);
  cli.cmd({"DEL", prefix_ + "k"});
  EXPECT_EQ(a.get<std::string>("k"), "v");  // still in L1
  cli.cmd({"PUBLISH", prefix_ + "sync", R"({"key":"k"})"});
  ASSERT_TRUE(eventually([&] { return a.stats().invalidations_received == 1; }));
  EXPECT_EQ(a.get<std::string>("k"), std::nullopt);
}

TEST_F(SyncTest, MalformedMessagesAreCountedAndHarmless) {
  Cache a(options());
  a.set<std::string>("k", "v", 60s);
  RedisCli cli(server_);
  const std::vector<std::string> messages = {
      "", "not json", "[1,2]", R"({"key":5})", R"({"nokey":"k"})", std::string(2 << 20, '{')};
  for (const std::string& msg : messages) {
    cli.cmd({"PUBLISH", prefix_ + "sync", msg});
  }
  ASSERT_TRUE(eventually([&] { return a.stats().invalidations_malformed == 6; }));
  EXPECT_EQ(a.get<std::string>("k"), "v");
  cli.cmd({"DEL", prefix_ + "k"});
  cli.cmd({"PUBLISH", prefix_ + "sync", R"({"key":"k","origin":"someone-else"})"});
  ASSERT_TRUE(eventually([&] { return a.stats().invalidations_received == 1; }));
  EXPECT_EQ(a.get<std::string>("k"), std::nullopt);
}

TEST_F(SyncTest, SubscriberComesBackAfterClientKillAndClearsL1) {
  Cache a(options());
  a.set<std::string>("k", "v", 60s);
  EXPECT_EQ(a.stats().l1_items, 1u);
  RedisCli cli(server_);
  EXPECT_GE(cli.cmd({"CLIENT", "KILL", "TYPE", "pubsub"}).integer, 1);
  ASSERT_TRUE(eventually([&] { return a.stats().subscriber_reconnects == 1; }));
  EXPECT_EQ(a.stats().l1_items, 0u);  // messages may have been missed: L1 was dropped
  // And invalidations flow again.
  EXPECT_EQ(a.get<std::string>("k"), "v");  // from Redis
  cli.cmd({"PUBLISH", prefix_ + "sync", R"({"key":"k"})"});
  ASSERT_TRUE(eventually([&] { return a.stats().invalidations_received == 1; }));
}

TEST_F(SyncTest, EverythingComesBackAfterARedisRestart) {
  Cache a(options());
  a.set<std::string>("k", "v", 60s);
  server_.restart();  // same port, empty
  ASSERT_TRUE(
      eventually([&] { return a.redis_connected() && a.stats().subscriber_reconnects >= 1; }, 10s));
  EXPECT_EQ(a.stats().l1_items, 0u);
  int loads = 0;
  EXPECT_EQ(a.get_or_load<std::string>("k", 60s,
                                       [&] {
                                         ++loads;
                                         return std::string("reloaded");
                                       }),
            "reloaded");
  EXPECT_EQ(loads, 1);
  RedisCli cli(server_);
  std::string raw;  // L2 used again
  EXPECT_TRUE(eventually([&] { return cli.get(prefix_ + "k", &raw); }));
}

TEST_F(SyncTest, AnInvalidationDuringAnL2ReadKeepsTheOldValueOutOfL1) {
  // a reads "old" from Redis; before a puts it into L1, b writes "new" and a
  // receives the invalidation. a must not cache "old".
  Cache b(options());
  b.set<std::string>("k", "old", 60s);
  std::atomic<bool> armed{true};
  Cache* b_ptr = &b;
  Options oa = options();
  std::atomic<Cache*> a_ptr{nullptr};
  oa.test_before_l1_fill = [&](std::string_view key) {
    if (key != "k" || !armed.exchange(false)) return;
    b_ptr->set<std::string>("k", "new", 60s);
    Cache* a = a_ptr.load();
    ASSERT_TRUE(eventually([&] { return a->stats().invalidations_received == 1; }));
  };
  Cache a(oa);
  a_ptr = &a;
  EXPECT_EQ(a.get<std::string>("k"), "old");  // the read that raced
  EXPECT_FALSE(armed.load());
  EXPECT_EQ(a.get<std::string>("k"), "new");  // not the stale copy
}

TEST_F(SyncTest, AnInvalidationDuringALoadKeepsTheLoadedValueOutOfBothLevels) {
  Cache b(options());
  Cache a(options());
  std::string result = a.get_or_load<std::string>("k", 60s, [&] {
    // The loader read the database; meanwhile another service updated it.
    b.set<std::string>("k", "new", 60s);
    EXPECT_TRUE(eventually([&] { return a.stats().invalidations_received == 1; }));
    return std::string("old");
  });
  EXPECT_EQ(result, "old");                   // the caller gets what its loader returned...
  EXPECT_EQ(a.get<std::string>("k"), "new");  // ...but neither level keeps it
  RedisCli cli(server_);
  std::string raw;
  ASSERT_TRUE(cli.get(prefix_ + "k", &raw));
  EXPECT_EQ(raw.substr(9), "new");
}

TEST_F(SyncTest, TwoProcessesShareInvalidations) {
  // A child process caches a key, then waits for the parent's remove.
  int to_child[2];
  int to_parent[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(to_parent), 0);
  {
    Cache seed(options());
    seed.set<std::string>("k", "v", 60s);
  }
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int code = 1;
    {
      Cache child(options());
      char c = 0;
      if (child.get<std::string>("k") == "v") {
        c = 'r';
        (void)!write(to_parent[1], &c, 1);  // ready: cached in L1
        (void)!read(to_child[0], &c, 1);    // parent removed it
        if (eventually([&] { return !child.get<std::string>("k").has_value(); })) code = 0;
      }
    }
    _exit(code);
  }
  char c = 0;
  ASSERT_EQ(read(to_parent[0], &c, 1), 1);
  Cache parent(options());
  parent.remove("k");
  ASSERT_EQ(write(to_child[1], &c, 1), 1);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace multicache::test
