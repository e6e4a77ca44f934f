// multicache/clock.hpp — the time source of a Cache's L1.
//
// A Cache reads monotonic time only through a Clock, so tests of L1 expiry,
// staleness and the breaker can move time by hand instead of sleeping.
// Everything shared with Redis and other instances (the stale-after second in
// a value's header, the SET ... PXAT deadline) always uses the real wall
// clock, whatever Clock is injected. Implementations must be thread-safe:
// now() is called concurrently from every thread using the cache, and from
// inside the cache's locks (a hit near a deadline), so it must not call into
// the cache.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>

namespace multicache {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for L1 expiry and staleness and the circuit breaker.
  virtual std::chrono::steady_clock::time_point now() const = 0;
  // A cheaper reading of the same time for the L1 hit path: never ahead of
  // now(), behind it by at most max_lag(). A hit decides expiry and staleness
  // from it and calls now() only for a deadline within max_lag() of it, so
  // deadlines stay as exact as now(). Default: now() itself, no lag.
  virtual std::chrono::steady_clock::time_point coarse_now() const { return now(); }
  virtual std::chrono::nanoseconds max_lag() const { return std::chrono::nanoseconds::zero(); }
};

// The default: std::chrono::steady_clock (CLOCK_MONOTONIC). coarse_now() is
// CLOCK_MONOTONIC_COARSE (Linux): the same time as of the last kernel tick,
// read with a few loads, where steady_clock takes an ordered TSC read
// (lfence + rdtsc, or rdtscp, on x86) that waits for every memory load
// before it and so keeps an L1 hit from overlapping with the work around it.
// max_lag(): 4 ticks (clock_getres; 16 ms with Debian's 4 ms tick). The
// kernel moves the coarse time in whole ticks when a tick interrupt runs, and
// a late interrupt leaves it more than a tick behind: 1.2-5.2 ms measured on
// a 2-core VM with 4 ms ticks. Thread-safe.
class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::now();
  }
  std::chrono::steady_clock::time_point coarse_now() const override;
  std::chrono::nanoseconds max_lag() const override;
};

// A clock that moves only when told to. Thread-safe. For tests. Built with
// a max_lag, its coarse_now() can also read behind now() by up to that much
// (set_lag), to test code against a coarse reading's worst cases.
class ManualClock final : public Clock {
 public:
  ManualClock() = default;
  explicit ManualClock(std::chrono::nanoseconds max_lag) : max_lag_(max_lag) {
    if (max_lag < std::chrono::nanoseconds::zero()) {
      throw std::invalid_argument("ManualClock: max_lag must not be negative");
    }
  }
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(offset_ns_.load()));
  }
  std::chrono::steady_clock::time_point coarse_now() const override {
    return now() - std::chrono::nanoseconds(lag_ns_.load());
  }
  std::chrono::nanoseconds max_lag() const override { return max_lag_; }
  void advance(std::chrono::nanoseconds d) { offset_ns_.fetch_add(d.count()); }
  // How far coarse_now() reads behind now(). Throws std::invalid_argument
  // unless 0 <= lag <= max_lag.
  void set_lag(std::chrono::nanoseconds lag) {
    if (lag < std::chrono::nanoseconds::zero() || lag > max_lag_) {
      throw std::invalid_argument("ManualClock::set_lag: lag must be within [0, max_lag]");
    }
    lag_ns_.store(lag.count());
  }

 private:
  std::chrono::nanoseconds max_lag_{0};
  std::atomic<std::int64_t> offset_ns_{1'000'000'000};
  std::atomic<std::int64_t> lag_ns_{0};
};

}  // namespace multicache
