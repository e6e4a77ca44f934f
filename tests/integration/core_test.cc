// Core read/write paths against a real redis-server.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <functional>
#include <latch>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

class CoreTest : public RedisTest {};

TEST_F(CoreTest, EachLevelHitAndMissPath) {
  Cache cache(options());
  ASSERT_TRUE(cache.redis_connected());
  int loads = 0;
  auto loader = [&loads] {
    ++loads;
    return User{1, "ada"};
  };
  EXPECT_EQ(cache.get_or_load<User>("u1", 10s, loader),
            (User{1, "ada"}));  // L1 miss, L2 miss, load
  EXPECT_EQ(cache.get_or_load<User>("u1", 10s, loader), (User{1, "ada"}));  // L1 hit
  Stats s = cache.stats();
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(s.l1_misses, 1u);
  EXPECT_EQ(s.l1_hits, 1u);
  EXPECT_EQ(s.l2_misses, 1u);
  EXPECT_EQ(s.l2_hits, 0u);
  EXPECT_EQ(s.loads, 1u);
  EXPECT_EQ(s.redis_errors, 0u);

  // A second instance misses L1, hits L2, never calls its loader. (The load
  // wrote Redis without making its caller wait: let the write land first.)
  RedisCli cli(server_);
  ASSERT_TRUE(eventually([&] { return cli.cmd({"EXISTS", prefix_ + "u1"}).integer == 1; }));
  Cache other(options());
  EXPECT_EQ(other.get_or_load<User>("u1", 10s, []() -> User { throw std::logic_error("no"); }),
            (User{1, "ada"}));
  s = other.stats();
  EXPECT_EQ(s.l1_misses, 1u);
  EXPECT_EQ(s.l2_hits, 1u);
  EXPECT_EQ(s.loads, 0u);
  // ... and now has it in L1.
  EXPECT_EQ(other.get<User>("u1"), (User{1, "ada"}));
  EXPECT_EQ(other.stats().l1_hits, 1u);
}

TEST_F(CoreTest, GetSetRemove) {
  Cache cache(options());
  EXPECT_EQ(cache.get<std::string>("k"), std::nullopt);
  cache.set<std::string>("k", "v1", 10s);
  EXPECT_EQ(cache.get<std::string>("k"), "v1");
  RedisCli cli(server_);
  std::string raw;
  ASSERT_TRUE(cli.get(prefix_ + "k", &raw));
  EXPECT_EQ(raw.substr(9), "v1");
  const auto pttl = cli.cmd({"PTTL", prefix_ + "k"}).integer;
  EXPECT_GT(pttl, 8000);
  EXPECT_LE(pttl, 10000);

  cache.remove("k");
  EXPECT_FALSE(cli.get(prefix_ + "k", &raw));
  EXPECT_EQ(cache.get<std::string>("k"), std::nullopt);
}

TEST_F(CoreTest, SixtyFourThreadsOnOneColdKeyShareOneLoad) {
  Cache cache(options());
  std::atomic<int> calls{0};
  constexpr int k_threads = 64;
  std::barrier start(k_threads);
  std::vector<std::thread> threads;
  std::vector<User> results(k_threads);
  for (int i = 0; i < k_threads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = cache.get_or_load<User>("cold", 10s, [&calls] {
        calls.fetch_add(1);
        std::this_thread::sleep_for(100ms);  // keep the load open while others arrive
        return User{7, "grace"};
      });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  for (const auto& u : results) EXPECT_EQ(u, (User{7, "grace"}));
  const Stats s = cache.stats();
  EXPECT_EQ(s.loads, 1u);
  EXPECT_LE(s.l2_misses, 1u);  // one L2 read for everyone
}

TEST_F(CoreTest, LoaderExceptionReachesEveryWaiterAndCachesNothing) {
  Cache cache(options());
  constexpr int k_threads = 16;
  std::barrier start(k_threads);
  std::atomic<int> calls{0};
  std::atomic<int> caught{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < k_threads; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      try {
        cache.get_or_load<User>("bad", 10s, [&calls]() -> User {
          calls.fetch_add(1);
          std::this_thread::sleep_for(100ms);
          throw std::out_of_range("db says no");
        });
      } catch (const std::out_of_range& e) {
        if (std::string(e.what()) == "db says no") caught.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(caught.load(), k_threads);
  EXPECT_EQ(cache.get<User>("bad"), std::nullopt);
  RedisCli cli(server_);
  EXPECT_EQ(cli.cmd({"EXISTS", prefix_ + "bad"}).integer, 0);
  // The next call loads again, and succeeds.
  EXPECT_EQ(cache.get_or_load<User>("bad", 10s, [] { return User{2, "ok"}; }), (User{2, "ok"}));
}

TEST_F(CoreTest, L1NeverOutlivesTheRedisTtl) {
  Cache writer(options());
  writer.set<std::string>("short", "v", 300ms);
  Cache reader(options());
  EXPECT_EQ(reader.get<std::string>("short"), "v");  // filled from L2 with ~300 ms left
  // Set a long ttl on the reader's call: the L1 copy must still die with the Redis key.
  std::this_thread::sleep_for(400ms);
  int loads = 0;
  EXPECT_EQ(reader.get_or_load<std::string>("short", 1h,
                                            [&] {
                                              ++loads;
                                              return std::string("fresh");
                                            }),
            "fresh");
  EXPECT_EQ(loads, 1);
}

TEST_F(CoreTest, AwkwardKeysAndEmptyValues) {
  Cache cache(options());
  Cache other(options());
  const std::vector<std::string> keys = {
      "with space", "new\nline", std::string("nul\0byte", 8), "\xff\xfe binary", "", "tab\t\"q\""};
  for (const auto& key : keys) {
    cache.set<std::string>(key, "", 10s);  // empty value
    EXPECT_EQ(other.get<std::string>(key), std::optional<std::string>("")) << key;
    cache.set<std::string>(key, "value of " + key, 10s);
  }
  for (const auto& key : keys) {
    // other's L1 was invalidated by the second set; it reads the new value.
    EXPECT_TRUE(eventually([&] { return other.get<std::string>(key) == "value of " + key; }))
        << key;
  }
  for (const auto& key : keys) {
    cache.remove(key);
    EXPECT_TRUE(eventually([&] { return !other.get<std::string>(key).has_value(); })) << key;
  }
}

TEST_F(CoreTest, TypeMismatchReadsThroughInsteadOfReinterpreting) {
  Cache cache(options());
  cache.set<User>("u", User{3, "x"}, 10s);
  // The same key asked as a string: the JSON text, never the User object's bytes.
  EXPECT_EQ(cache.get<std::string>("u"), R"({"id":3,"name":"x"})");
  EXPECT_EQ(cache.get<User>("u"), (User{3, "x"}));
}

TEST_F(CoreTest, SharedAccessorReturnsTheCachedObject) {
  Cache cache(options());
  auto a = cache.get_or_load_shared<User>("s", 10s, [] { return User{4, "shared"}; });
  auto b = cache.get_or_load_shared<User>("s", 10s, [] { return User{0, "never"}; });
  EXPECT_EQ(a.get(), b.get());  // no copy on a hit
  EXPECT_EQ(*b, (User{4, "shared"}));
}

TEST_F(CoreTest, InvalidTtlIsRejected) {
  Cache cache(options());
  EXPECT_THROW(cache.get_or_load<std::string>("k", 0ms, [] { return std::string(); }),
               std::invalid_argument);
  EXPECT_THROW(cache.set<std::string>("k", "v", -1ms), std::invalid_argument);
}

// A loader that asks for the key it loads (directly, or through another
// key's loader) would wait for itself forever; the inner call throws
// std::logic_error instead, which reaches the outer caller through the
// loader, and nothing is cached. With Redis: the same path.
TEST_F(CoreTest, ALoaderAskingForItsOwnKeyThrowsInsteadOfHanging) {
  Cache cache(options());
  auto self_loader = [&]() -> std::string {
    return cache.get_or_load<std::string>("k", 60s, [] { return std::string("inner"); });
  };
  EXPECT_THROW(cache.get_or_load<std::string>("k", 60s, self_loader), std::logic_error);
  // a -> b -> a
  std::function<std::string()> load_a;
  auto load_b = [&]() { return cache.get_or_load<std::string>("a", 60s, load_a); };
  load_a = [&]() { return cache.get_or_load<std::string>("b", 60s, load_b); };
  EXPECT_THROW(cache.get_or_load<std::string>("a", 60s, load_a), std::logic_error);
  EXPECT_EQ(cache.get<std::string>("k"), std::nullopt);
  EXPECT_EQ(cache.get<std::string>("a"), std::nullopt);
  EXPECT_EQ(cache.get<std::string>("b"), std::nullopt);
  // The keys load normally afterwards.
  EXPECT_EQ(cache.get_or_load<std::string>("k", 60s, [] { return std::string("v"); }), "v");
  // A batch loader asking for one of its keys.
  EXPECT_THROW(cache.get_or_load_many<std::string>(
                   {"x", "y"}, 60s,
                   [&](const std::vector<std::string>&) {
                     cache.get_or_load<std::string>("y", 60s, [] { return std::string(); });
                     return std::unordered_map<std::string, std::string>{};
                   }),
               std::logic_error);
}

// Two threads load "a" and "b", each loader asking for the other key once
// both are loading: a cycle. Returns how many of the two callers got
// std::logic_error.
int logic_errors_of_a_two_key_cycle(Cache& cache) {
  std::latch both_loading(2);
  std::atomic<int> logic_errors{0};
  auto caller = [&](const char* key, const char* other) {
    try {
      (void)cache.get_or_load<std::string>(key, 60s, [&cache, &both_loading, other] {
        both_loading.arrive_and_wait();
        return cache.get_or_load<std::string>(other, 60s, [] { return std::string("inner"); });
      });
    } catch (const std::logic_error&) {
      ++logic_errors;
    }
  };
  std::thread a(caller, "a", "b"), b(caller, "b", "a");
  a.join();
  b.join();
  return logic_errors;
}

// Loaders on two threads, each asking for the key the other loads: the wait
// that would close the cycle throws std::logic_error, its loader fails, and
// that failure reaches the other caller too. Nothing is cached; no hang.
TEST_F(CoreTest, LoadersOnTwoThreadsAskingForEachOthersKeysThrowInsteadOfHanging) {
  Cache cache(options());
  std::atomic<int> logic_errors{logic_errors_of_a_two_key_cycle(cache)};
  EXPECT_EQ(logic_errors, 2);
  EXPECT_EQ(cache.get<std::string>("a"), std::nullopt);
  EXPECT_EQ(cache.get<std::string>("b"), std::nullopt);

  // A batch whose loader asks for a key whose loader asks for one of the
  // batch's keys.
  std::latch both(2);
  std::thread batch([&] {
    try {
      (void)cache.get_or_load_many<std::string>(
          {"x", "y"}, 60s, [&](const std::vector<std::string>& keys) {
            both.arrive_and_wait();
            std::unordered_map<std::string, std::string> out;
            for (const auto& k : keys)
              out[k] = cache.get_or_load<std::string>("z", 60s, [] { return std::string("z"); });
            return out;
          });
    } catch (const std::logic_error&) {
      ++logic_errors;
    }
  });
  std::thread single([&] {
    try {
      (void)cache.get_or_load<std::string>("z", 60s, [&] {
        both.arrive_and_wait();
        return cache.get_or_load<std::string>("y", 60s, [] { return std::string("y"); });
      });
    } catch (const std::logic_error&) {
      ++logic_errors;
    }
  });
  batch.join();
  single.join();
  EXPECT_EQ(logic_errors, 4);
  // The keys load normally afterwards.
  EXPECT_EQ(cache.get_or_load<std::string>("a", 60s, [] { return std::string("v"); }), "v");
  EXPECT_EQ(cache.get_or_load<std::string>("y", 60s, [] { return std::string("v"); }), "v");
}

// stale_if_error hides outages, not bugs: with expired copies of both keys
// at hand, a cycle of loaders still throws std::logic_error to both callers
// (the leader whose loader failed with it does not serve its stale copy).
TEST_F(CoreTest, ALoaderCycleIsNotHiddenByStaleIfError) {
  Options o = options();
  o.stale_if_error = 60s;
  Cache cache(o);
  cache.set<std::string>("a", "old-a", 100ms);
  cache.set<std::string>("b", "old-b", 100ms);
  // Gone from Redis (no invalidation sent), then expired in L1 but kept
  // there: what stale_if_error would serve.
  RedisCli cli(server_);
  cli.cmd({"DEL", prefix_ + "a", prefix_ + "b"});
  ASSERT_TRUE(
      eventually([&] { return !cache.get<std::string>("a") && !cache.get<std::string>("b"); }, 5s));
  EXPECT_EQ(logic_errors_of_a_two_key_cycle(cache), 2);
  EXPECT_EQ(cache.stats().stale_served_on_error, 0u);
}

// An instance that read a value from Redis keeps its PTTL as the value's
// expiry: with l1_ttl shorter, stale_if_error's grace counts from the PTTL.
TEST_F(CoreTest, StaleIfErrorCountsFromTheRedisTtlNotFromL1Ttl) {
  Options o = options();
  o.l1_ttl = 200ms;
  o.stale_if_error = 500ms;
  Cache writer(options());
  Cache reader(o);
  writer.set<std::string>("k", "v", 2s);
  // Its invalidation must not drop the copy read below.
  ASSERT_TRUE(eventually([&] { return reader.stats().invalidations_received >= 1; }));
  const auto read_at = std::chrono::steady_clock::now();
  ASSERT_EQ(reader.get<std::string>("k"), "v");
  RedisCli cli(server_);
  cli.cmd({"DEL", prefix_ + "k"});  // gone from Redis, no invalidation
  auto fails = []() -> std::string { throw std::runtime_error("db down"); };
  std::this_thread::sleep_until(read_at + 1s);  // past l1_ttl + grace, within the ttl
  EXPECT_EQ(reader.get_or_load<std::string>("k", 2s, fails), "v");
  std::this_thread::sleep_until(read_at + 2600ms);  // past the ttl + grace
  EXPECT_THROW(reader.get_or_load<std::string>("k", 2s, fails), std::runtime_error);
  EXPECT_EQ(reader.stats().stale_served_on_error, 1u);
}

// A read that lands in a value's last millisecond in Redis gets PTTL 0. That
// value is served but kept out of L1 (taken for "no expiry", it stayed in L1
// for good: get() kept returning it long after Redis dropped it).
TEST_F(CoreTest, AValueReadInItsLastMillisecondIsNotKeptInL1) {
  Cache writer(options());
  Cache reader(options());
  for (int i = 0; i < 10; ++i) {
    const std::string k = "last-ms-" + std::to_string(i);
    writer.set<std::string>(k, "v", 20ms);
    // Read without pause: each L1 copy expires when Redis said the key would
    // (whole milliseconds), so reads reach Redis during the key's last one.
    const auto give_up = std::chrono::steady_clock::now() + slack(2s);
    while (reader.get<std::string>(k) && std::chrono::steady_clock::now() < give_up) {
    }
    EXPECT_EQ(reader.get<std::string>(k), std::nullopt) << k;
  }
}

}  // namespace
}  // namespace multicache::test
