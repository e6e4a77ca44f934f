// multicache/clock.hpp — the time source of a Cache's L1.
//
// A Cache reads monotonic time only through a Clock, so tests of L1 expiry,
// staleness and the breaker can move time by hand instead of sleeping.
// Everything shared with Redis and other instances (the stale-after second in
// a value's header, the SET ... PXAT deadline) always uses the real wall
// clock, whatever Clock is injected. Implementations must be thread-safe:
// now() is called concurrently from every thread using the cache.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace multicache {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for L1 expiry and staleness and the circuit breaker.
  virtual std::chrono::steady_clock::time_point now() const = 0;
};

// The default: std::chrono::steady_clock.
class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::now();
  }
};

// A clock that moves only when told to. Thread-safe. For tests.
class ManualClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(offset_ns_.load()));
  }
  void advance(std::chrono::nanoseconds d) { offset_ns_.fetch_add(d.count()); }

 private:
  std::atomic<std::int64_t> offset_ns_{1'000'000'000};
};

}  // namespace multicache
