// The Prometheus text renderer: escaping, numbers, histogram layout.
#include <gtest/gtest.h>

#include <multicache/metrics.hpp>

namespace multicache {
namespace {

TEST(PrometheusText, CounterWithEscapedLabelsAndHelp) {
  MetricFamily f{"x_total", "a \\ help\nline", metric_type::counter, {}, {}};
  f.samples.push_back({{{"cache", "we\"ird\\name\n"}}, 3});
  f.samples.push_back({{}, 0.25});
  EXPECT_EQ(to_prometheus_text({f}),
            "# HELP x_total a \\\\ help\\nline\n"
            "# TYPE x_total counter\n"
            "x_total{cache=\"we\\\"ird\\\\name\\n\"} 3\n"
            "x_total 0.25\n");
}

TEST(PrometheusText, HistogramIsCumulativeWithInfSumAndCount) {
  MetricFamily f{"lat_seconds", "latency", metric_type::histogram, {}, {}};
  HistogramSample h;
  h.labels = {{"layer", "l2"}};
  h.buckets = {{0.001, 2}, {0.0025, 5}};
  h.sum = 0.0042;
  h.count = 6;
  f.histograms.push_back(h);
  EXPECT_EQ(to_prometheus_text({f}),
            "# HELP lat_seconds latency\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{layer=\"l2\",le=\"0.001\"} 2\n"
            "lat_seconds_bucket{layer=\"l2\",le=\"0.0025\"} 5\n"
            "lat_seconds_bucket{layer=\"l2\",le=\"+Inf\"} 6\n"
            "lat_seconds_sum{layer=\"l2\"} 0.0042\n"
            "lat_seconds_count{layer=\"l2\"} 6\n");
}

TEST(PrometheusText, GaugeTypeAndLargeIntegers) {
  MetricFamily f{"g", "h", metric_type::gauge, {}, {}};
  f.samples.push_back({{}, 123456789012.0});
  EXPECT_EQ(to_prometheus_text({f}), "# HELP g h\n# TYPE g gauge\ng 123456789012\n");
}

}  // namespace
}  // namespace multicache
