// workload.h — keys, values and Zipf-distributed access traces for benchmarks.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace multicache::bench {

// `count` keys of about 20 bytes: "user:profile:0000042".
inline std::vector<std::string> make_keys(std::size_t count) {
  std::vector<std::string> keys;
  keys.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::string n = std::to_string(i);
    keys.push_back("user:profile:" + std::string(7 - std::min<std::size_t>(7, n.size()), '0') + n);
  }
  return keys;
}

// `length` indices in [0, n) drawn from Zipf(s): P(i) ~ 1 / (i + 1)^s.
inline std::vector<std::uint32_t> zipf_trace(std::size_t n, double s, std::size_t length,
                                             std::uint64_t seed) {
  std::vector<double> cdf(n);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
    cdf[i] = sum;
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, sum);
  // Scatter ranks over the key space so popular keys do not share a shard.
  std::vector<std::uint32_t> perm(n);
  for (std::size_t i = 0; i < n; ++i) perm[i] = static_cast<std::uint32_t>(i);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<std::uint32_t> trace(length);
  for (auto& t : trace) {
    const auto rank = std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin();
    t = perm[static_cast<std::size_t>(
        std::min<std::ptrdiff_t>(rank, static_cast<std::ptrdiff_t>(n) - 1))];
  }
  return trace;
}

}  // namespace multicache::bench
