// The L1 hit path's time: SystemClock's coarse reading, and the cache's use
// of a coarse reading (L1-only mode, a ManualClock whose coarse reading lags).
#include <gtest/gtest.h>

#include <atomic>
#include <ctime>
#include <multicache/multicache.hpp>
#include <thread>

namespace multicache {
namespace {

using namespace std::chrono_literals;

std::int64_t ns(std::chrono::steady_clock::time_point t) { return t.time_since_epoch().count(); }

TEST(SystemClock, TheCoarseReadingIsNeverAheadAndLagsByLessThanItsBound) {
  const SystemClock clock;
  timespec res{};
  ASSERT_EQ(clock_getres(CLOCK_MONOTONIC_COARSE, &res), 0);
  EXPECT_EQ(clock.max_lag(),
            4 * (std::chrono::seconds(res.tv_sec) + std::chrono::nanoseconds(res.tv_nsec)));
  EXPECT_GT(clock.max_lag(), 0ns);
  // Read across many ticks. Each coarse reading must lie between the exact
  // time before it minus max_lag and the exact time after it.
  const std::int64_t lag = clock.max_lag().count();
  const auto end = std::chrono::steady_clock::now() + 200ms;
  std::int64_t previous = 0;
  std::int64_t worst_lag = 0;
  int ticks = 0;
  while (std::chrono::steady_clock::now() < end) {
    const std::int64_t before = ns(clock.now());
    const std::int64_t coarse = ns(clock.coarse_now());
    const std::int64_t after = ns(clock.now());
    ASSERT_LE(coarse, after);
    ASSERT_GE(coarse, before - lag);
    ASSERT_GE(coarse, previous);  // monotonic
    ticks += coarse != previous;
    previous = coarse;
    worst_lag = std::max(worst_lag, before - coarse);
  }
  EXPECT_GT(ticks, 10);  // it does move
  RecordProperty("worst_lag_us", static_cast<int>(worst_lag / 1000));
}

TEST(ManualClock, ItsCoarseReadingLagsByTheLagSet) {
  ManualClock clock(1s);
  EXPECT_EQ(clock.max_lag(), 1s);
  EXPECT_EQ(clock.coarse_now(), clock.now());
  clock.set_lag(300ms);
  EXPECT_EQ(clock.now() - clock.coarse_now(), 300ms);
  EXPECT_THROW(clock.set_lag(2s), std::invalid_argument);
  EXPECT_THROW(clock.set_lag(-1ns), std::invalid_argument);
  EXPECT_THROW(ManualClock(-1s), std::invalid_argument);
  EXPECT_EQ(ManualClock().max_lag(), 0ns);
}

// Counts the exact reads the cache makes.
class CountingClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    ++exact_reads;
    return inner.now();
  }
  std::chrono::steady_clock::time_point coarse_now() const override { return inner.coarse_now(); }
  std::chrono::nanoseconds max_lag() const override { return inner.max_lag(); }

  ManualClock inner{1s};
  mutable std::atomic<int> exact_reads{0};
};

TEST(CoarseHitTime, AnEntryIsNeverServedPastItsDeadline) {
  auto clock = std::make_shared<CountingClock>();
  Cache cache({.clock = clock});
  cache.set<std::string>("k", "v", 10s);
  clock->inner.advance(10s);
  clock->inner.set_lag(1s);  // the coarse reading says 9 s
  EXPECT_EQ(cache.get<std::string>("k"), std::nullopt);
  EXPECT_EQ(cache.stats().l1_misses, 1u);
}

TEST(CoarseHitTime, NorExpiredEarly) {
  auto clock = std::make_shared<CountingClock>();
  Cache cache({.clock = clock});
  clock->inner.set_lag(1s);  // deadlines come from the exact time all the same
  cache.set<std::string>("k", "v", 10s);
  clock->inner.advance(10s - 1ms);
  clock->inner.set_lag(0ns);  // the coarse reading says 9.999 s: inside the lag of the deadline
  EXPECT_EQ(cache.get<std::string>("k"), "v");
  clock->inner.set_lag(1s);
  EXPECT_EQ(cache.get<std::string>("k"), "v");
}

TEST(CoarseHitTime, OnlyHitsNearADeadlineReadTheExactClock) {
  auto clock = std::make_shared<CountingClock>();
  Cache cache({.early_refresh_ratio = 0.5, .clock = clock});
  auto loader = [] { return std::string("loaded"); };
  cache.set<std::string>("k", "v", 10s);  // stale at 5 s, expires at 10 s
  // The coarse reading is exact here, so the true time may be up to 1 s on.
  const int before = clock->exact_reads.load();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(cache.get_or_load<std::string>("k", 10s, loader), "v");
  EXPECT_EQ(clock->exact_reads.load(), before);  // more than 1 s from both deadlines
  // Within 1 s of the stale-at deadline: the hit asks the exact clock, which
  // says it is not stale yet.
  clock->inner.advance(4500ms);
  EXPECT_EQ(cache.get_or_load<std::string>("k", 10s, loader), "v");
  EXPECT_GT(clock->exact_reads.load(), before);
  EXPECT_EQ(cache.stats().l1_hits, 1001u);
}

TEST(CoarseHitTime, StalenessIsDecidedByTheExactTime) {
  auto clock = std::make_shared<ManualClock>(1s);
  Cache cache({.early_refresh_ratio = 0.5, .clock = clock});
  std::atomic<int> loads{0};  // the refresh runs on the executor's thread
  auto loader = [&loads] { return std::string("v") + std::to_string(++loads); };
  EXPECT_EQ(cache.get_or_load<std::string>("k", 10s, loader), "v1");
  clock->set_lag(1s);
  clock->advance(5s - 1ms);  // not stale yet (the coarse reading, 3.999 s, settles it)
  EXPECT_EQ(cache.get_or_load<std::string>("k", 10s, loader), "v1");
  std::this_thread::sleep_for(50ms);  // a refresh wrongly queued would start meanwhile
  EXPECT_EQ(cache.stats().refreshes_started, 0u);
  clock->advance(1ms);  // stale now, though the coarse reading says 4 s: the exact clock decides
  EXPECT_EQ(cache.get_or_load<std::string>("k", 10s, loader), "v1");  // the old value, once more
  for (int i = 0; i < 5000 && cache.stats().refreshes_ok == 0; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(cache.stats().refreshes_ok, 1u);
  EXPECT_EQ(loads, 2);
}

}  // namespace
}  // namespace multicache
