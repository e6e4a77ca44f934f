// multicache/clock.hpp — the time source of a Cache.
//
// A Cache reads time only through a Clock, so tests of expiry and refresh can
// move time by hand instead of sleeping. Implementations must be thread-safe:
// now() and wall_now() are called concurrently from every thread using the cache.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace multicache {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for L1 expiry and staleness.
  virtual std::chrono::steady_clock::time_point now() const = 0;
  // Wall time, for the stale-after field written into Redis values (Unix seconds).
  virtual std::chrono::system_clock::time_point wall_now() const = 0;
};

// The default: std::chrono::steady_clock and std::chrono::system_clock.
class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::now();
  }
  std::chrono::system_clock::time_point wall_now() const override {
    return std::chrono::system_clock::now();
  }
};

// A clock that moves only when told to; both time lines advance together.
// Thread-safe. For tests.
class ManualClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(offset_ns_.load()));
  }
  std::chrono::system_clock::time_point wall_now() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(wall_base_ns_ + offset_ns_.load())));
  }
  void advance(std::chrono::nanoseconds d) { offset_ns_.fetch_add(d.count()); }

 private:
  // Starts at a realistic wall time so stale-after seconds look like real ones.
  std::int64_t wall_base_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
  std::atomic<std::int64_t> offset_ns_{1'000'000'000};
};

}  // namespace multicache
