// get_or_load_many and negative caching, against a real Redis.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <map>
#include <random>
#include <thread>

#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

class BatchTest : public ::testing::Test {
 protected:
  RedisServer server_;
  RedisCli cli_{server_};
  std::string prefix_ = unique_prefix();
  Options options() const { return options_for(server_, prefix_); }
};

std::string value_for(const std::string& key) { return "value of " + key; }

TEST_F(BatchTest, MatchesPerKeyResultsForRandomMixes) {
  Cache warm(options());
  Cache cache(options());
  std::mt19937 rng(7);
  std::uint64_t warm_sets = 0;
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> keys;
    std::map<std::string, std::string> expected;
    for (int i = 0; i < 30; ++i) {
      const std::string key = "r" + std::to_string(round) + ":" + std::to_string(rng() % 40);
      keys.push_back(key);  // duplicates happen
      switch (rng() % 4) {
        case 0:  // already in Redis (written by another instance)
          warm.set<std::string>(key, value_for(key), 60s);
          ++warm_sets;
          expected[key] = value_for(key);
          break;
        case 1:  // in this instance's L1 and Redis
          cache.set<std::string>(key, value_for(key), 60s);
          expected[key] = value_for(key);
          break;
        case 2:  // the database has it
          if (!expected.count(key)) expected[key] = value_for(key);
          break;
        default:  // nobody has it (unless an earlier case put it somewhere)
          break;
      }
    }
    // Let warm's invalidations arrive first: one landing during the load
    // rightly keeps a loaded value of the same key out of both levels, and
    // may (1 in 4096) hit another key's generation slot. Not this test's subject.
    ASSERT_TRUE(eventually([&] { return cache.stats().invalidations_received >= warm_sets; }));
    int calls = 0;
    auto result = cache.get_or_load_many<std::string>(
        keys, 60s, [&](const std::vector<std::string>& missing) {
          ++calls;
          std::unordered_map<std::string, std::string> found;
          for (const auto& k : missing) {
            if (expected.count(k)) found[k] = value_for(k);
          }
          return found;
        });
    EXPECT_LE(calls, 1);
    std::map<std::string, std::string> got(result.begin(), result.end());
    EXPECT_EQ(got, expected) << "round " << round;
    // The same answers key by key, from a fresh instance (Redis only).
    Cache fresh(options());
    for (const auto& [k, v] : expected) {
      EXPECT_TRUE(eventually([&] { return fresh.get<std::string>(k) == v; })) << k;
    }
  }
}

TEST_F(BatchTest, OneLoaderCallAndOneRedisRoundTripForAllMisses) {
  Cache cache(options());
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) keys.push_back("k" + std::to_string(i));
  const auto before = cli_.cmd({"INFO", "stats"}).str;
  int calls = 0;
  std::size_t asked = 0;
  auto result =
      cache.get_or_load_many<std::string>(keys, 60s, [&](const std::vector<std::string>& missing) {
        ++calls;
        asked = missing.size();
        std::unordered_map<std::string, std::string> found;
        for (const auto& k : missing) found[k] = value_for(k);
        return found;
      });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(asked, 100u);
  EXPECT_EQ(result.size(), 100u);
  const Stats s = cache.stats();
  EXPECT_EQ(s.l2_misses, 100u);
  EXPECT_EQ(s.loads, 1u);  // one loader call
  // Every key lands in Redis (one write pipeline).
  EXPECT_TRUE(eventually([&] { return cli_.cmd({"EXISTS", prefix_ + "k99"}).integer == 1; }));
  // Second time: all from L1, no loader.
  auto again = cache.get_or_load_many<std::string>(
      keys, 60s,
      [&](const std::vector<std::string>&) -> std::unordered_map<std::string, std::string> {
        ADD_FAILURE() << "loader called on a warm batch";
        return {};
      });
  EXPECT_EQ(again.size(), 100u);
}

TEST_F(BatchTest, SingleFlightHoldsAcrossBatchAndSingleCalls) {
  Cache cache(options());
  std::latch loading(1);
  std::latch release(1);
  std::thread single([&] {
    EXPECT_EQ(cache.get_or_load<std::string>("shared", 60s,
                                             [&] {
                                               loading.count_down();
                                               release.wait();
                                               return std::string("from single");
                                             }),
              "from single");
  });
  loading.wait();  // the single call leads "shared" now
  std::vector<std::string> asked;
  std::thread batch([&] {
    auto r = cache.get_or_load_many<std::string>(
        {"shared", "other"}, 60s, [&](const std::vector<std::string>& missing) {
          asked = missing;
          std::unordered_map<std::string, std::string> found;
          for (const auto& k : missing) found[k] = "from batch";
          return found;
        });
    EXPECT_EQ(r.at("shared"), "from single");
    EXPECT_EQ(r.at("other"), "from batch");
  });
  std::this_thread::sleep_for(100ms);
  release.count_down();
  single.join();
  batch.join();
  EXPECT_EQ(asked, std::vector<std::string>{"other"});
}

TEST_F(BatchTest, ALoaderExceptionReachesTheCallerAndCachesNothing) {
  Cache cache(options());
  EXPECT_THROW(
      cache.get_or_load_many<std::string>(
          {"a", "b"}, 60s,
          [](const std::vector<std::string>&) -> std::unordered_map<std::string, std::string> {
            throw std::runtime_error("db down");
          }),
      std::runtime_error);
  EXPECT_EQ(cache.get<std::string>("a"), std::nullopt);
  EXPECT_EQ(cli_.cmd({"EXISTS", prefix_ + "a"}).integer, 0);
  // A single call on the same key is not stuck behind a dead flight.
  EXPECT_EQ(cache.get_or_load<std::string>("a", 60s, [] { return std::string("ok"); }), "ok");
}

// stale_if_error answers a failed batch loader only when every key it was
// called for has an expired copy: a partial answer would read as "not found"
// for the others.
TEST_F(BatchTest, AFailedLoaderIsAnsweredFromExpiredCopiesOnlyIfEveryKeyHasOne) {
  Options o = options();
  o.stale_if_error = 60s;
  Cache cache(o);
  using Values = std::unordered_map<std::string, std::string>;
  cache.set<std::string>("a", "old-a", 200ms);
  cache.set<std::string>("b", "old-b", 200ms);
  // Expired in L1 and gone from Redis: a load is due, and the expired copies
  // are what stale_if_error may serve.
  ASSERT_TRUE(eventually([&] {
    return cli_.cmd({"EXISTS", prefix_ + "a", prefix_ + "b"}).integer == 0;
  }));
  std::atomic<int> calls{0};
  auto failing = [&calls](const std::vector<std::string>&) -> Values {
    ++calls;
    throw std::runtime_error("db down");
  };
  EXPECT_EQ(cache.get_or_load_many<std::string>({"a", "b", "a"}, 60s, failing),
            (Values{{"a", "old-a"}, {"b", "old-b"}}));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(cache.stats().stale_served_on_error, 2u);
  EXPECT_EQ(cache.stats().load_errors, 1u);
  EXPECT_EQ(cli_.cmd({"EXISTS", prefix_ + "a"}).integer, 0);  // nothing written back

  // "c" has no copy: the exception reaches the caller, and nothing is served.
  EXPECT_THROW(cache.get_or_load_many<std::string>({"a", "c"}, 60s, failing), std::runtime_error);
  EXPECT_EQ(cache.stats().stale_served_on_error, 2u);
  EXPECT_EQ(cache.stats().load_errors, 2u);

  // The database back: the keys load (the expired copies were no hits).
  const Values fresh = cache.get_or_load_many<std::string>(
      {"a", "b"}, 60s, [](const std::vector<std::string>& keys) {
        Values out;
        for (const auto& k : keys) out[k] = "new-" + k;
        return out;
      });
  EXPECT_EQ(fresh, (Values{{"a", "new-a"}, {"b", "new-b"}}));
}

TEST_F(BatchTest, ASingleCallerWaitingOnABatchThatFoundNothingLoadsItself) {
  Cache cache(options());
  std::latch in_batch_loader(1);
  std::latch release(1);
  std::thread batch([&] {
    auto r =
        cache.get_or_load_many<std::string>({"ghost"}, 60s, [&](const std::vector<std::string>&) {
          in_batch_loader.count_down();
          release.wait();
          return std::unordered_map<std::string, std::string>{};  // not found
        });
    EXPECT_TRUE(r.empty());
  });
  in_batch_loader.wait();
  std::thread single([&] {
    EXPECT_EQ(cache.get_or_load<std::string>("ghost", 60s, [] { return std::string("here"); }),
              "here");
  });
  std::this_thread::sleep_for(50ms);
  release.count_down();
  batch.join();
  single.join();
}

TEST_F(BatchTest, NegativeCachingStopsRepeatedLoadsOfAMissingId) {
  Options o = options();
  o.negative_ttl = 400ms;
  Cache a(o);
  Cache b(o);
  int calls = 0;
  auto loader = [&]() -> std::optional<User> {
    ++calls;
    return std::nullopt;
  };
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(a.get_or_load<std::optional<User>>("user:404", 60s, loader), std::nullopt);
  }
  EXPECT_EQ(calls, 1);  // once per negative TTL
  // Another instance finds the marker in Redis and does not load either.
  ASSERT_TRUE(eventually([&] {
    return cli_.cmd({"EXISTS", prefix_ + "\x01neg\x01user:404"}).integer == 1;
  }));
  EXPECT_EQ(b.get_or_load<std::optional<User>>("user:404", 60s, loader), std::nullopt);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(b.stats().negative_hits, 1u);
  // What a Go instance reads under the key: nothing, so it loads by itself.
  EXPECT_EQ(cli_.cmd({"EXISTS", prefix_ + "user:404"}).integer, 0);
  // After the negative TTL, the loader is asked again.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(a.get_or_load<std::optional<User>>("user:404", 60s, loader), std::nullopt);
  EXPECT_EQ(calls, 2);
}

TEST_F(BatchTest, SetAndRemoveClearTheNotFoundMarker) {
  Cache a(options());
  Cache b(options());
  auto none = []() -> std::optional<User> { return std::nullopt; };
  EXPECT_EQ(a.get_or_load<std::optional<User>>("u", 60s, none), std::nullopt);
  // a's marker write is not awaited by its caller: let it land first.
  ASSERT_TRUE(eventually([&] {
    return cli_.cmd({"EXISTS", prefix_ + "\x01neg\x01u"}).integer == 1;
  }));
  // The record gets created: set() replaces "not found" everywhere.
  b.set<std::optional<User>>("u", User{1, "new"}, 60s);
  ASSERT_TRUE(eventually([&] { return a.stats().invalidations_received >= 1; }));
  EXPECT_EQ(a.get_or_load<std::optional<User>>("u", 60s, none), (User{1, "new"}));
  EXPECT_EQ(cli_.cmd({"EXISTS", prefix_ + "\x01neg\x01u"}).integer, 0);
  // A present optional is stored as the plain value: Go and get<User> read it.
  EXPECT_EQ(b.get<User>("u"), (User{1, "new"}));
  // remove() clears a marker too.
  a.remove("u");
  EXPECT_EQ(a.get_or_load<std::optional<User>>("u", 60s, none), std::nullopt);
  ASSERT_TRUE(eventually([&] {
    return cli_.cmd({"EXISTS", prefix_ + "\x01neg\x01u"}).integer == 1;
  }));
  a.remove("u");
  EXPECT_EQ(cli_.cmd({"EXISTS", prefix_ + "\x01neg\x01u"}).integer, 0);
}

TEST_F(BatchTest, NegativeTtlZeroCachesNoAbsence) {
  Options o = options();
  o.negative_ttl = 0ms;
  Cache a(o);
  int calls = 0;
  auto loader = [&]() -> std::optional<User> {
    ++calls;
    return std::nullopt;
  };
  a.get_or_load<std::optional<User>>("x", 60s, loader);
  a.get_or_load<std::optional<User>>("x", 60s, loader);
  EXPECT_EQ(calls, 2);
}

// A batch that leads a key just after a single call's load of it ended must
// take that load's value from L1, as a single call does: with Redis down (or
// L1-only) L1 holds the only copy, and loading again is a second loader call
// for the key in this process.
TEST_F(BatchTest, ABatchLeadingAKeyJustLoadedTakesItFromL1WhileRedisIsDown) {
  server_.kill();
  Cache cache(options());
  int doubles = 0;
  const int rounds = static_cast<int>(20000 / slowdown());  // sanitizers: fewer, slower rounds
  for (int i = 0; i < rounds; ++i) {
    const std::string key = "k" + std::to_string(i);
    std::atomic<int> calls{0};
    std::atomic<int> ready{0};
    std::thread single([&] {
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      cache.get_or_load<std::string>(key, 60s, [&] {
        calls.fetch_add(1);
        return value_for(key);
      });
    });
    ready.fetch_add(1);
    while (ready.load() < 2) {
    }
    auto r =
        cache.get_or_load_many<std::string>({key}, 60s, [&](const std::vector<std::string>& m) {
          calls.fetch_add(1);
          std::unordered_map<std::string, std::string> found;
          for (const auto& k : m) found[k] = value_for(k);
          return found;
        });
    single.join();
    EXPECT_EQ(r.at(key), value_for(key));
    if (calls.load() > 1) ++doubles;
  }
  EXPECT_EQ(doubles, 0) << "keys loaded twice, of " << rounds;
}

}  // namespace
}  // namespace multicache::test
