// l1/read_time.h — the time an L1 hit checks an entry's deadlines against:
// a cheap reading (Clock::coarse_now) that may lag the exact time by up to a
// known bound, and the exact clock, asked only for a deadline inside it.
//
// A value type, read by one thread.
#pragma once

#include <cstdint>

#include "multicache/clock.hpp"

namespace multicache::l1 {

struct ReadTime {
  // An exact time (tests, and paths that read the exact clock anyway).
  // Implicit on purpose: an exact time is a ReadTime without uncertainty.
  ReadTime(std::int64_t exact_ns) : earliest_ns(exact_ns), latest_ns(exact_ns) {}
  // A coarse reading and its clock: the exact time is in [coarse, coarse + max_lag].
  ReadTime(std::int64_t coarse_ns, std::int64_t max_lag_ns, const Clock* clock)
      : earliest_ns(coarse_ns), latest_ns(coarse_ns + max_lag_ns), exact(clock) {}

  // Whether the exact time is at or past deadline_ns.
  bool reached(std::int64_t deadline_ns) const {
    if (deadline_ns > latest_ns) return false;
    if (deadline_ns <= earliest_ns) return true;
    return deadline_ns <= exact->now().time_since_epoch().count();
  }

  std::int64_t earliest_ns;
  std::int64_t latest_ns;
  const Clock* exact = nullptr;  // non-null whenever latest_ns > earliest_ns
};

}  // namespace multicache::l1
