// multicache/metrics.hpp — the cache's metrics as data, for any registry.
//
// Cache::metrics() returns a snapshot of every metric family (counters,
// gauges, histograms) with their labels, already named with
// Options::metrics_prefix and carrying Options::metrics_labels. Feed it to
// prometheus-cpp, OpenTelemetry or your own registry by polling; or use
// Cache::metrics_text() (Prometheus text format 0.0.4), or let the cache
// serve it itself (Options::metrics_listen).
//
// Plain value types; a snapshot is independent of the cache that made it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace multicache {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

enum class metric_type { counter, gauge, histogram };

struct MetricSample {
  MetricLabels labels;
  double value = 0;
};

struct HistogramSample {
  MetricLabels labels;
  // Cumulative counts per upper bound (seconds), ascending; +Inf is `count`.
  std::vector<std::pair<double, std::uint64_t>> buckets;
  double sum = 0;  // seconds
  std::uint64_t count = 0;
};

struct MetricFamily {
  std::string name;  // prefixed, e.g. "multicache_requests_total"
  std::string help;
  metric_type type = metric_type::counter;
  std::vector<MetricSample> samples;        // counter and gauge
  std::vector<HistogramSample> histograms;  // histogram
};

// Renders families in Prometheus text exposition format 0.0.4.
std::string to_prometheus_text(const std::vector<MetricFamily>& families);

}  // namespace multicache
