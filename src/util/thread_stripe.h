// util/thread_stripe.h — which stripe of a striped counter this thread uses.
//
// Each thread draws the next number the first time it asks and keeps it;
// callers take it modulo their stripe count, so threads spread over stripes
// (and cache lines) round robin. Thread-safe.
#pragma once

#include <atomic>
#include <cstddef>

namespace multicache::util {

inline std::size_t thread_stripe() {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed);
  return index;
}

}  // namespace multicache::util
