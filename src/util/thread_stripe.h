// util/thread_stripe.h — which stripe of a striped counter this thread uses.
//
// Each thread draws the next number the first time it asks and keeps it;
// callers take it modulo their stripe count, so threads spread over stripes
// (and cache lines) round robin. Thread-safe.
//
// The thread's number lives in a constant-initialized thread_local (0: not
// drawn yet), so a call is one load from the thread's TLS block and a test:
// no per-access guard of a dynamically initialized thread_local. An L1 hit
// asks three times (shard lock in and out, hit counter).
#pragma once

#include <atomic>
#include <cstddef>

namespace multicache::util {

namespace detail {
inline constinit thread_local std::size_t t_stripe_plus_one = 0;  // 0: not drawn yet

[[gnu::noinline, gnu::cold]] inline std::size_t draw_thread_stripe() {
  static std::atomic<std::size_t> next{0};
  t_stripe_plus_one = next.fetch_add(1, std::memory_order_relaxed) + 1;
  return t_stripe_plus_one;
}
}  // namespace detail

inline std::size_t thread_stripe() {
  const std::size_t s = detail::t_stripe_plus_one;
  return (s != 0 ? s : detail::draw_thread_stripe()) - 1;
}

}  // namespace multicache::util
