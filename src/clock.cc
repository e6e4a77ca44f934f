// clock.cc — SystemClock's coarse reading (CLOCK_MONOTONIC_COARSE) and its lag.
#include "multicache/clock.hpp"

#include <time.h>

namespace multicache {

namespace {

std::chrono::nanoseconds to_duration(const timespec& ts) {
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// Ticks of the coarse clock it may lag behind CLOCK_MONOTONIC (see clock.hpp).
constexpr int k_lag_ticks = 4;

std::chrono::nanoseconds coarse_lag() {
  timespec res{};
  // Without the clock (not Linux), coarse_now() reads the exact clock: no lag.
  if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) != 0) return std::chrono::nanoseconds::zero();
  return k_lag_ticks * to_duration(res);
}

}  // namespace

std::chrono::steady_clock::time_point SystemClock::coarse_now() const {
  timespec ts{};
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0) return now();
  return std::chrono::steady_clock::time_point(to_duration(ts));
}

std::chrono::nanoseconds SystemClock::max_lag() const {
  static const std::chrono::nanoseconds lag = coarse_lag();
  return lag;
}

}  // namespace multicache
