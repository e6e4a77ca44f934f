// Negative caching for get_or_load_many<std::optional<U>> in an L1-only cache
// on a ManualClock (with Redis: tests/integration/batch_negative_test.cc).
#include <gtest/gtest.h>

#include <multicache/multicache.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace multicache {
namespace {

using namespace std::chrono_literals;
using Keys = std::vector<std::string>;
using Maybe = std::optional<std::string>;
using Result = std::unordered_map<std::string, Maybe>;

// Finds every key but "gone"; records the keys of each call.
struct Database {
  std::vector<Keys> calls;
  std::unordered_map<std::string, std::string> operator()(const Keys& keys) {
    calls.push_back(keys);
    std::unordered_map<std::string, std::string> found;
    for (const auto& k : keys) {
      if (k != "gone") found[k] = "v:" + k;
    }
    return found;
  }
};

TEST(BatchWithoutRedis, ALeftOutKeyIsNotFoundForNegativeTtl) {
  auto clock = std::make_shared<ManualClock>();
  Cache cache({.negative_ttl = 10s, .clock = clock});
  Database db;
  auto load = [&db](const Keys& k) { return db(k); };
  const Result expected{{"here", "v:here"}, {"gone", std::nullopt}};
  EXPECT_EQ(cache.get_or_load_many<Maybe>({"here", "gone"}, 60s, load), expected);
  clock->advance(9s);
  EXPECT_EQ(cache.get_or_load_many<Maybe>({"here", "gone"}, 60s, load), expected);
  EXPECT_EQ(cache.get_or_load<Maybe>("gone", 60s, [] { return Maybe("loaded"); }), std::nullopt);
  EXPECT_EQ(db.calls.size(), 1u);
  clock->advance(2s);  // past negative_ttl, within the ttl
  EXPECT_EQ(cache.get_or_load_many<Maybe>({"here", "gone"}, 60s, load), expected);
  EXPECT_EQ(db.calls, (std::vector<Keys>{{"here", "gone"}, {"gone"}}));
}

TEST(BatchWithoutRedis, WithNegativeTtlZeroNotFoundIsAskedForEachTime) {
  Cache cache({.negative_ttl = 0ms});
  Database db;
  auto load = [&db](const Keys& k) { return db(k); };
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(cache.get_or_load_many<Maybe>({"gone"}, 60s, load), (Result{{"gone", std::nullopt}}));
  }
  EXPECT_EQ(db.calls.size(), 3u);
}

}  // namespace
}  // namespace multicache
