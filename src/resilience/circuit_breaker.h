// resilience/circuit_breaker.h — closed / open / half-open, as sony/gobreaker
// is configured by the Go library (MaxRequests 1).
//
//   closed    calls pass; `max_failures` consecutive failures open it.
//   open      calls are rejected at once for `open_timeout`; then half-open.
//   half-open one probe passes, others are rejected; its success closes the
//             breaker, its failure opens it again. A probe that has not
//             reported within `open_timeout` is given up: the next call is
//             the probe.
// Each transition starts a new generation; results of calls admitted in an
// older generation are ignored, so a slow call from before a transition
// cannot flip the new state.
//
// Thread-safety: all members are thread-safe (one mutex; the state is also
// mirrored in an atomic for cheap reads). The transition callback runs
// outside the mutex, on the thread whose call caused the transition.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "multicache/clock.hpp"
#include "util/mutex.h"

namespace multicache::resilience {

enum class breaker_state { closed, open, half_open };
const char* to_string(breaker_state s);

class CircuitBreaker {
 public:
  using TransitionFn = std::function<void(breaker_state from, breaker_state to)>;

  // A disabled breaker admits everything and records nothing.
  CircuitBreaker(bool enabled, int max_failures, std::chrono::milliseconds open_timeout,
                 const Clock* clock, TransitionFn on_transition);

  // Admits a call: returns its generation, or nullopt when rejected.
  std::optional<std::uint64_t> admit();
  void record(std::uint64_t generation, bool success);

  breaker_state state() const { return mirror_.load(std::memory_order_acquire); }
  bool enabled() const { return enabled_; }
  // Calls admit() turned away so far.
  std::uint64_t rejections() const { return rejections_.load(std::memory_order_relaxed); }

 private:
  // Changes state; the callback runs later, in notify(), outside the lock.
  void transition(breaker_state to, std::chrono::steady_clock::time_point now) MC_REQUIRES(mu_);
  void notify() MC_EXCLUDES(mu_);

  const bool enabled_;
  const int max_failures_;
  const std::chrono::milliseconds open_timeout_;
  const Clock* const clock_;
  const TransitionFn on_transition_;

  util::Mutex mu_;
  breaker_state state_ MC_GUARDED_BY(mu_) = breaker_state::closed;
  std::uint64_t generation_ MC_GUARDED_BY(mu_) = 0;
  int consecutive_failures_ MC_GUARDED_BY(mu_) = 0;
  bool probe_in_flight_ MC_GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point probe_since_ MC_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point open_until_ MC_GUARDED_BY(mu_);
  std::atomic<breaker_state> mirror_{breaker_state::closed};
  std::atomic<std::uint64_t> rejections_{0};
  std::vector<std::pair<breaker_state, breaker_state>> unreported_ MC_GUARDED_BY(mu_);
};

}  // namespace multicache::resilience
