// visit_or_load: the reader runs on the cached object itself, against a real
// redis-server.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>

#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

class VisitTest : public RedisTest {};

TEST_F(VisitTest, TheReaderSeesEveryLevelAndTheHitIsTheCachedObject) {
  Cache cache(options());
  int loads = 0;
  auto loader = [&loads] {
    ++loads;
    return User{5, "visited"};
  };
  const User* seen = nullptr;
  auto name_of = [&seen](const User& u) {
    seen = &u;
    return u.name;
  };
  EXPECT_EQ(cache.visit_or_load<User>("u", 10s, loader, name_of), "visited");  // loaded
  EXPECT_EQ(cache.visit_or_load<User>("u", 10s, loader, name_of), "visited");  // L1 hit
  EXPECT_EQ(loads, 1);
  // The hit handed the reader the very object L1 holds: no copy was made.
  const auto shared = cache.get_or_load_shared<User>("u", 10s, loader);
  EXPECT_EQ(seen, shared.get());
  Stats s = cache.stats();
  EXPECT_EQ(s.l1_hits, 2u);
  EXPECT_EQ(s.l1_misses, 1u);

  // Another instance reads it from Redis: the reader runs on the decoded value.
  RedisCli cli(server_);
  ASSERT_TRUE(eventually([&] { return cli.cmd({"EXISTS", prefix_ + "u"}).integer == 1; }));
  Cache other(options());
  auto never = []() -> User { throw std::logic_error("not from the loader"); };
  EXPECT_EQ(other.visit_or_load<User>("u", 10s, never, [](const User& u) { return u.id; }), 5);
  EXPECT_EQ(other.stats().l2_hits, 1u);
  EXPECT_EQ(other.stats().loads, 0u);
}

TEST_F(VisitTest, VoidAndMoveOnlyResults) {
  Cache cache(options());
  cache.set<std::string>("k", "abc", 10s);
  std::size_t length = 0;
  cache.visit_or_load<std::string>(
      "k", 10s, [] { return std::string(); },
      [&length](const std::string& v) { length = v.size(); });
  EXPECT_EQ(length, 3u);
  const std::unique_ptr<char> first = cache.visit_or_load<std::string>(
      "k", 10s, [] { return std::string(); },
      [](const std::string& v) { return std::make_unique<char>(v.front()); });
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(*first, 'a');
}

TEST_F(VisitTest, AReaderExceptionReachesTheCallerAndReleasesTheShard) {
  Cache cache(options());
  cache.set<std::string>("k", "v1", 10s);
  auto boom = [](const std::string&) -> int { throw std::runtime_error("reader failed"); };
  const std::uint64_t hits_before = cache.stats().l1_hits;
  EXPECT_THROW(cache.visit_or_load<std::string>(
                   "k", 10s, [] { return std::string(); }, boom),
               std::runtime_error);
  EXPECT_EQ(cache.stats().l1_hits, hits_before);  // as documented: that hit goes uncounted
  // The shard's lock was released: a write to the same key (its exclusive
  // lock) goes through, and the next read sees it.
  cache.set<std::string>("k", "v2", 10s);
  EXPECT_EQ(cache.visit_or_load<std::string>(
                "k", 10s, [] { return std::string(); }, [](const std::string& v) { return v; }),
            "v2");
  // On a miss the loaded value is still cached when the reader throws.
  int loads = 0;
  auto loader = [&loads] {
    ++loads;
    return std::string("loaded");
  };
  EXPECT_THROW(cache.visit_or_load<std::string>("fresh", 10s, loader, boom), std::runtime_error);
  EXPECT_EQ(cache.get_or_load<std::string>("fresh", 10s, loader), "loaded");
  EXPECT_EQ(loads, 1);
}

// A reader that calls back into the cache for the key it is reading needs
// the shard it holds: a clear error, not a deadlock, and nothing is lost.
TEST_F(VisitTest, AReaderCallingIntoItsOwnShardGetsALogicErrorNotADeadlock) {
  Cache cache(options());
  cache.set<std::string>("k", "v1", 10s);
  auto none = [] { return std::string(); };
  EXPECT_THROW(
      cache.visit_or_load<std::string>(
          "k", 10s, none, [&](const std::string&) { cache.set<std::string>("k", "v2", 10s); }),
      std::logic_error);
  EXPECT_THROW(cache.visit_or_load<std::string>(
                   "k", 10s, none, [&](const std::string&) { return cache.get<std::string>("k"); }),
               std::logic_error);
  EXPECT_THROW(cache.visit_or_load<std::string>("k", 10s, none,
                                                [&](const std::string&) {
                                                  return cache.visit_or_load<std::string>(
                                                      "k", 10s, none, [](const std::string& v) {
                                                        return v.size();
                                                      });
                                                }),
               std::logic_error);
  EXPECT_THROW(cache.visit_or_load<std::string>("k", 10s, none,
                                                [&](const std::string&) { cache.remove("k"); }),
               std::logic_error);
  // set() and remove() stopped at their first step (dropping the L1 copy):
  // Redis was not touched.
  RedisCli cli(server_);
  std::string raw;
  ASSERT_TRUE(cli.get(prefix_ + "k", &raw));
  EXPECT_EQ(raw.substr(9), "v1");
  // The shard was released each time, and the cache still works on this thread.
  EXPECT_EQ(cache.get<std::string>("k"), "v1");
  cache.set<std::string>("k", "v3", 10s);
  EXPECT_EQ(
      cache.visit_or_load<std::string>("k", 10s, none, [](const std::string& v) { return v; }),
      "v3");
  // Outside a reader the same calls work as always (the mark is cleared).
  EXPECT_EQ(cache.get<std::string>("k"), "v3");
}

TEST_F(VisitTest, AStaleHitReturnsTheOldValueAndQueuesOneRefresh) {
  Options o = options();
  auto clock = std::make_shared<ManualClock>();
  o.clock = clock;
  o.early_refresh_ratio = 0.5;
  Cache cache(o);
  std::atomic<int> loads{0};
  auto loader = [&loads] {
    const int n = loads.fetch_add(1) + 1;
    if (n > 1) std::this_thread::sleep_for(500ms);  // the refresh is slow
    return "v" + std::to_string(n);
  };
  auto copy = [](const std::string& v) { return v; };
  EXPECT_EQ(cache.visit_or_load<std::string>("k", 10s, loader, copy), "v1");
  clock->advance(6s);  // past 10 s * 0.5 on L1's clock: stale, not expired
  // The refresh looks in Redis first, where the copy is fresh by the wall
  // clock: drop it so that the refresh calls the loader.
  RedisCli cli(server_);
  ASSERT_TRUE(eventually([&] { return cli.cmd({"EXISTS", prefix_ + "k"}).integer == 1; }));
  cli.cmd({"DEL", prefix_ + "k"});
  // Both stale reads return at once with the old value (the second one,
  // well within the loader's 500 ms, while the refresh is still running).
  EXPECT_EQ(cache.visit_or_load<std::string>("k", 10s, loader, copy), "v1");
  EXPECT_EQ(cache.visit_or_load<std::string>("k", 10s, loader, copy), "v1");
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == 1; }));
  EXPECT_EQ(loads.load(), 2);  // one reload for both stale reads
  EXPECT_TRUE(
      eventually([&] { return cache.visit_or_load<std::string>("k", 10s, loader, copy) == "v2"; }));
}

// Readers on one key while another thread replaces its value: each reader
// sees one whole value (all of its bytes from the same write). The sanitizer
// builds check that the shared lock keeps the replaced value alive.
TEST_F(VisitTest, ReadersRacingWritersSeeWholeValues) {
  Cache cache(options());
  cache.set<std::string>("k", std::string(64, 'a'), 10s);
  std::atomic<bool> stop{false};
  std::atomic<long> torn{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        const bool whole = cache.visit_or_load<std::string>(
            "k", 10s, [] { return std::string(64, 'z'); },
            [](const std::string& v) {
              return v.find_first_not_of(v.front()) == std::string::npos;
            });
        if (!whole) torn.fetch_add(1);
        reads.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    cache.set<std::string>("k", std::string(64, static_cast<char>('a' + i % 26)), 10s);
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
}

}  // namespace
}  // namespace multicache::test
