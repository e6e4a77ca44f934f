// metrics/families.h — turns the cache's counters into metric families.
#pragma once

#include <string>
#include <vector>

#include "metrics/histogram.h"
#include "multicache/metrics.hpp"
#include "multicache/stats.hpp"

namespace multicache::metrics {

struct Latencies {
  Histogram l1;  // sampled: one hit in 64 is timed
  Histogram l2;  // every Redis read the caller waits for
  Histogram db;  // every loader call
};

struct FamilyContext {
  std::string prefix;
  MetricLabels constant_labels;
  std::size_t l1_max_items = 0;
  std::size_t l1_max_bytes = 0;
  int breaker_state = 0;         // 0 closed, 1 open, 2 half-open
  double redis_spin_wait_s = 0;  // the spin in effect
};

std::vector<MetricFamily> build_families(const Stats& s, const Latencies& latencies,
                                         const FamilyContext& ctx);

}  // namespace multicache::metrics
