#include "resilience/circuit_breaker.h"

namespace multicache::resilience {

const char* to_string(breaker_state s) {
  switch (s) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half-open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(bool enabled, int max_failures,
                               std::chrono::milliseconds open_timeout, const Clock* clock,
                               TransitionFn on_transition)
    : enabled_(enabled),
      max_failures_(max_failures),
      open_timeout_(open_timeout),
      clock_(clock),
      on_transition_(std::move(on_transition)) {}

std::optional<std::uint64_t> CircuitBreaker::admit() {
  if (!enabled_) return 0;
  std::optional<std::uint64_t> admitted;
  {
    util::MutexLock lock(mu_);
    const auto now = clock_->now();
    if (state_ == breaker_state::open && now >= open_until_) {
      transition(breaker_state::half_open, now);
    }
    if (state_ == breaker_state::closed) {
      admitted = generation_;
    } else if (state_ == breaker_state::half_open &&
               (!probe_in_flight_ || now >= probe_since_ + open_timeout_)) {
      probe_in_flight_ = true;
      probe_since_ = now;
      admitted = generation_;
    }
  }
  if (!admitted) rejections_.fetch_add(1, std::memory_order_relaxed);
  notify();
  return admitted;
}

void CircuitBreaker::record(std::uint64_t generation, bool success) {
  if (!enabled_) return;
  {
    util::MutexLock lock(mu_);
    if (generation != generation_) return;
    const auto now = clock_->now();
    if (success) {
      consecutive_failures_ = 0;
      if (state_ == breaker_state::half_open) transition(breaker_state::closed, now);
    } else {
      ++consecutive_failures_;
      if (state_ == breaker_state::half_open ||
          (state_ == breaker_state::closed && consecutive_failures_ >= max_failures_)) {
        transition(breaker_state::open, now);
      }
    }
  }
  notify();
}

void CircuitBreaker::notify() {
  std::vector<std::pair<breaker_state, breaker_state>> changes;
  {
    util::MutexLock lock(mu_);
    changes.swap(unreported_);
  }
  if (on_transition_) {
    for (const auto& [from, to] : changes) on_transition_(from, to);
  }
}

void CircuitBreaker::transition(breaker_state to, std::chrono::steady_clock::time_point now) {
  const breaker_state from = state_;
  state_ = to;
  ++generation_;
  consecutive_failures_ = 0;
  probe_in_flight_ = false;
  if (to == breaker_state::open) open_until_ = now + open_timeout_;
  mirror_.store(to, std::memory_order_release);
  unreported_.emplace_back(from, to);
}

}  // namespace multicache::resilience
