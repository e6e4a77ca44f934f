// Stale-if-error and TTL jitter, in L1-only mode with a manual clock.
#include <gtest/gtest.h>

#include <multicache/multicache.hpp>
#include <stdexcept>
#include <thread>

namespace multicache {
namespace {

using namespace std::chrono_literals;

std::string failing() { throw std::runtime_error("database down"); }

TEST(StaleIfError, AnExpiredValueIsServedWithinTheGraceWhenTheLoaderFails) {
  auto clock = std::make_shared<ManualClock>();
  Cache cache({.stale_if_error = 10s, .clock = clock});
  EXPECT_EQ(cache.get_or_load<std::string>("k", 1s, [] { return std::string("v1"); }), "v1");
  clock->advance(2s);  // expired
  EXPECT_EQ(cache.get_or_load<std::string>("k", 1s, failing), "v1");
  EXPECT_EQ(cache.stats().stale_served_on_error, 1u);
  EXPECT_EQ(cache.stats().load_errors, 1u);
  // A working loader replaces it as usual.
  EXPECT_EQ(cache.get_or_load<std::string>("k", 1s, [] { return std::string("v2"); }), "v2");
  clock->advance(1s + 10s);  // past expiry + grace
  EXPECT_THROW(cache.get_or_load<std::string>("k", 1s, failing), std::runtime_error);
}

// l1_ttl ends an entry's L1 life before its ttl; the grace counts from the
// ttl, so a value that has not expired yet is served when its reload fails.
TEST(StaleIfError, TheGraceCountsFromTheValuesTtlNotFromL1Ttl) {
  auto clock = std::make_shared<ManualClock>();
  Cache cache({.l1_ttl = 1s, .stale_if_error = 10s, .clock = clock});
  EXPECT_EQ(cache.get_or_load<std::string>("k", 60s, [] { return std::string("v1"); }), "v1");
  clock->advance(20s);  // out of L1 (1 s), 40 s left of the ttl
  EXPECT_EQ(cache.get_or_load<std::string>("k", 60s, failing), "v1");
  clock->advance(45s);  // 5 s past the ttl
  EXPECT_EQ(cache.get_or_load<std::string>("k", 60s, failing), "v1");
  clock->advance(6s);  // 11 s past the ttl
  EXPECT_THROW(cache.get_or_load<std::string>("k", 60s, failing), std::runtime_error);
  EXPECT_EQ(cache.stats().stale_served_on_error, 2u);
}

TEST(StaleIfError, OffByDefault) {
  auto clock = std::make_shared<ManualClock>();
  Cache cache({.clock = clock});
  cache.get_or_load<std::string>("k", 1s, [] { return std::string("v1"); });
  clock->advance(2s);
  EXPECT_THROW(cache.get_or_load<std::string>("k", 1s, failing), std::runtime_error);
  EXPECT_EQ(cache.stats().stale_served_on_error, 0u);
}

TEST(TtlJitter, KeysLoadedTogetherExpireAtDifferentTimes) {
  auto clock = std::make_shared<ManualClock>();
  Cache cache({.ttl_jitter = 0.5, .clock = clock});
  constexpr int k_keys = 200;
  for (int i = 0; i < k_keys; ++i) {
    cache.get_or_load<int>("k" + std::to_string(i), 10s, [i] { return i; });
  }
  auto present = [&] {
    int n = 0;
    for (int i = 0; i < k_keys; ++i) n += cache.get<int>("k" + std::to_string(i)).has_value();
    return n;
  };
  clock->advance(4900ms);  // ttl is cut by less than half (ms rounding: stay below 5 s)
  EXPECT_EQ(present(), k_keys);
  clock->advance(2600ms);  // 7.5 s: some expired, some not
  const int at_7500 = present();
  EXPECT_GT(at_7500, 0);
  EXPECT_LT(at_7500, k_keys);
  clock->advance(2501ms);  // past the full ttl: none
  EXPECT_EQ(present(), 0);
}

TEST(TtlJitter, RejectsOutOfRange) {
  EXPECT_THROW(Cache({.ttl_jitter = 0.6}), std::invalid_argument);
  EXPECT_THROW(Cache({.stale_if_error = -1ms}), std::invalid_argument);
}

}  // namespace
}  // namespace multicache

namespace multicache {
namespace {

TEST(Refresh, AGetWithoutLoaderDoesNotUseUpTheRefresh) {
  auto clock = std::make_shared<ManualClock>();
  Cache cache({.early_refresh_ratio = 0.5, .clock = clock});
  cache.set<std::string>("k", "v1", 10s);
  clock->advance(6s);                            // stale
  EXPECT_EQ(cache.get<std::string>("k"), "v1");  // no loader: nothing to refresh with
  EXPECT_EQ(cache.get_or_load<std::string>("k", 10s, [] { return std::string("v2"); }), "v1");
  for (int i = 0; i < 5000 && cache.stats().refreshes_ok == 0; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(cache.stats().refreshes_ok, 1u);
  EXPECT_EQ(cache.get<std::string>("k"), "v2");
}

}  // namespace
}  // namespace multicache
