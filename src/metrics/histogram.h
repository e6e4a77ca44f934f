// metrics/histogram.h — a fixed-bucket latency histogram with atomic counts.
//
// Buckets (seconds) span 1 µs to 10 s in 1-2.5-5 steps, wide enough for an L1
// hit, a Redis round trip and a database load alike. observe() is wait-free
// (three relaxed atomic adds). Thread-safe.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>

namespace multicache::metrics {

inline constexpr std::array<double, 22> k_bucket_bounds_s = {
    1e-6, 2.5e-6, 5e-6,   1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
    5e-3, 1e-2,   2.5e-2, 5e-2, 0.1,    0.25, 0.5,  1.0,    2.5,  5.0,  10.0};

class Histogram {
 public:
  void observe_ns(std::int64_t ns) {
    if (ns < 0) ns = 0;
    const double s = static_cast<double>(ns) * 1e-9;
    const auto it = std::lower_bound(k_bucket_bounds_s.begin(), k_bucket_bounds_s.end(), s);
    const auto i = static_cast<std::size_t>(it - k_bucket_bounds_s.begin());  // size() = +Inf
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
  }

  // Per-bucket (not cumulative) counts; the last is above the largest bound.
  std::array<std::uint64_t, k_bucket_bounds_s.size() + 1> counts() const {
    std::array<std::uint64_t, k_bucket_bounds_s.size() + 1> out{};
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = counts_[i].load(std::memory_order_relaxed);
    return out;
  }
  double sum_seconds() const {
    return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9;
  }

 private:
  std::array<std::atomic<std::uint64_t>, k_bucket_bounds_s.size() + 1> counts_{};
  std::atomic<std::uint64_t> sum_ns_{0};
  std::atomic<std::uint64_t> count_{0};
};

}  // namespace multicache::metrics
