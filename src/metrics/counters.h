// metrics/counters.h — the cache's internal counters.
//
// Hot-path counters (L1 hits and misses) are striped: each thread adds to one
// of 16 cache-line-sized slots picked once per thread, so two cores counting
// hits do not fight over one line. Everything else is a plain relaxed atomic.
// Reading sums the slots; a read under load is a close, not an exact, total.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "util/thread_stripe.h"

namespace multicache::metrics {

class StripedCounter {
 public:
  void add(std::uint64_t n = 1) { slots_[slot_index()].v.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const {
    std::uint64_t sum = 0;
    for (const auto& s : slots_) sum += s.v.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  struct alignas(64) Slot {
    std::atomic<std::uint64_t> v{0};
  };
  static std::size_t slot_index() { return util::thread_stripe() % 16; }
  std::array<Slot, 16> slots_;
};

using Counter = std::atomic<std::uint64_t>;

inline void bump(Counter& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

struct Counters {
  StripedCounter l1_hits;
  StripedCounter l1_misses;
  Counter l2_hits{0};
  Counter l2_misses{0};
  Counter loads{0};
  Counter load_errors{0};
  Counter shared_loads{0};
  Counter stale_served_on_error{0};
  Counter negative_hits{0};
  Counter redis_errors{0};
  Counter decode_errors{0};
  Counter encode_errors{0};
  Counter breaker_transitions{0};
  Counter refreshes_started{0};
  Counter refreshes_ok{0};
  Counter refreshes_failed{0};
  Counter refreshes_skipped{0};
  Counter invalidations_sent{0};
  Counter fill_writes_withdrawn{0};
  Counter invalidations_received{0};
  Counter invalidations_ignored{0};
  Counter invalidations_malformed{0};
  Counter l1_clears{0};
};

}  // namespace multicache::metrics
