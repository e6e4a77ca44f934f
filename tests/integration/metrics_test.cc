// Metrics: exact counts for a scripted sequence, promtool's verdict, the HTTP endpoint.
#include <gtest/gtest.h>
#include <unistd.h>

#include <barrier>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "integration/test_types.h"
#include "support/one_cpu.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

// The value of the sample line that starts with `series` + ' ', or -1.
double value_of(const std::string& text, const std::string& series) {
  const std::string needle = "\n" + series + " ";
  const auto at = ("\n" + text).find(needle);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + needle.size() - 1));
}

std::string run(const std::string& command, int* status) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen failed");
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

class MetricsTest : public ::testing::Test {
 protected:
  RedisServer server_;
  std::string prefix_ = unique_prefix();
  Options options() const {
    Options o = options_for(server_, prefix_);
    o.metrics = true;
    o.metrics_prefix = "mc";
    o.metrics_labels = {{"cache", "users"}};
    return o;
  }
};

// The l1 latency histogram samples hits only (one in 64 per thread): a
// thread's 640 misses add nothing to it, its next 640 hits add 10.
TEST(MetricsWithoutRedisTest, TheL1LatencyHistogramTimesHitsOnly) {
  Options o;
  o.metrics = true;
  o.metrics_prefix = "mc";
  Cache cache(o);
  std::thread([&] {
    for (int i = 0; i < 640; ++i) {
      cache.get_or_load<std::string>("k" + std::to_string(i), 60s, [] { return std::string("v"); });
    }
  }).join();
  const std::string count = "mc_request_duration_seconds_count{layer=\"l1\"}";
  EXPECT_EQ(value_of(cache.metrics_text(), count), 0);
  std::thread([&] {
    for (int i = 0; i < 640; ++i) {
      cache.get_or_load<std::string>("k" + std::to_string(i), 60s, [] { return std::string("v"); });
    }
  }).join();
  EXPECT_EQ(cache.stats().l1_hits, 640u);
  EXPECT_EQ(value_of(cache.metrics_text(), count), 10);
}

TEST_F(MetricsTest, CountersMatchAScriptedSequenceExactly) {
  Cache a(options());
  Cache b(options());
  auto loader = [] { return std::string("v"); };
  a.get_or_load<std::string>("k1", 60s, loader);  // l1 miss, l2 miss, db fetched
  a.get_or_load<std::string>("k1", 60s, loader);  // l1 hit
  a.get_or_load<std::string>("k1", 60s, loader);  // l1 hit
  RedisCli cli(server_);
  ASSERT_TRUE(eventually([&] { return cli.cmd({"EXISTS", prefix_ + "k1"}).integer == 1; }));
  b.get<std::string>("k1");  // b: l1 miss, l2 hit
  EXPECT_THROW(a.get_or_load<std::string>("k2", 60s,
                                          []() -> std::string { throw std::runtime_error("db"); }),
               std::runtime_error);  // l1 miss, l2 miss, db error
  a.remove("k1");                    // invalidation sent
  ASSERT_TRUE(eventually([&] { return b.stats().invalidations_received == 1; }));

  const std::string ta = a.metrics_text();
  const std::string l = "{cache=\"users\",";
  EXPECT_EQ(value_of(ta, "mc_requests_total" + l + "layer=\"l1\",status=\"hit\"}"), 2);
  EXPECT_EQ(value_of(ta, "mc_requests_total" + l + "layer=\"l1\",status=\"miss\"}"), 2);
  EXPECT_EQ(value_of(ta, "mc_requests_total" + l + "layer=\"l2\",status=\"miss\"}"), 2);
  EXPECT_EQ(value_of(ta, "mc_requests_total" + l + "layer=\"l2\",status=\"hit\"}"), 0);
  EXPECT_EQ(value_of(ta, "mc_requests_total" + l + "layer=\"db\",status=\"fetched\"}"), 1);
  EXPECT_EQ(value_of(ta, "mc_errors_total" + l + "type=\"db\"}"), 1);
  EXPECT_EQ(value_of(ta, "mc_errors_total" + l + "type=\"redis\"}"), 0);
  EXPECT_EQ(value_of(ta, "mc_invalidations_total" + l + "event=\"sent\"}"), 1);
  EXPECT_EQ(value_of(ta, "mc_l1_entries{cache=\"users\"}"), 0);
  EXPECT_EQ(value_of(ta, "mc_request_duration_seconds_count" + l + "layer=\"db\"}"), 2);
  EXPECT_EQ(value_of(ta, "mc_request_duration_seconds_count" + l + "layer=\"l2\"}"), 2);
  EXPECT_EQ(value_of(ta, "mc_breaker_state{cache=\"users\"}"), 0);

  const std::string tb = b.metrics_text();
  EXPECT_EQ(value_of(tb, "mc_requests_total" + l + "layer=\"l2\",status=\"hit\"}"), 1);
  // b's one read, a round of its own on a blocking connection.
  EXPECT_EQ(value_of(tb, "mc_redis_read_rounds_total{cache=\"users\"}"), 1);
  EXPECT_EQ(value_of(tb, "mc_redis_reads_combined_total{cache=\"users\"}"), 0);
  EXPECT_EQ(value_of(tb, "mc_invalidations_total" + l + "event=\"received\"}"), 1);
  EXPECT_EQ(value_of(tb, "mc_l1_evictions_total" + l + "reason=\"invalidated\"}"), 1);
}

// Concurrent L1 misses share rounds on the blocking read connections: every
// Redis read is either a round's leader or combined into one, and with 16
// threads some are combined.
TEST_F(MetricsTest, ConcurrentReadsAreCountedAsRoundsAndCombinedReads) {
  Options o = options();
  o.l1_max_items = 1;  // every read below goes to Redis
  Cache cache(o);
  constexpr int k_threads = 16;
  constexpr int k_reads = 200;
  for (int i = 0; i < k_threads; ++i) cache.set<std::string>("k" + std::to_string(i), "v", 60s);
  const Stats before = cache.stats();
  std::barrier start(k_threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&cache, &start, t] {
      start.arrive_and_wait();
      // A different key each time, so the one-item L1 rarely has it.
      for (int i = 0; i < k_reads; ++i) {
        (void)cache.get<std::string>("k" + std::to_string((t + i) % k_threads));
      }
    });
  }
  for (auto& th : threads) th.join();
  const Stats after = cache.stats();
  const std::uint64_t reads =
      (after.l2_hits + after.l2_misses) - (before.l2_hits + before.l2_misses);
  const std::uint64_t rounds = after.redis_read_rounds - before.redis_read_rounds;
  const std::uint64_t combined = after.redis_reads_combined - before.redis_reads_combined;
  EXPECT_GT(reads, 0u);
  EXPECT_EQ(rounds + combined, reads);
  EXPECT_GT(combined, 0u);
  const std::string text = cache.metrics_text();
  EXPECT_EQ(value_of(text, "mc_redis_read_rounds_total{cache=\"users\"}"),
            static_cast<double>(after.redis_read_rounds));
  EXPECT_EQ(value_of(text, "mc_redis_reads_combined_total{cache=\"users\"}"),
            static_cast<double>(after.redis_reads_combined));
}

// redis_spin_wait applies only when the process can use more than one CPU:
// a cache built on a thread pinned to one CPU does not spin, and says so.
TEST_F(MetricsTest, NoSpinWhenTheProcessCanUseOneCpu) {
  const std::string series = "mc_redis_spin_wait_seconds{cache=\"users\"}";
  double pinned = -1;
  int cpus = 0;
  {
    const PinnedToOneCpu pin;
    cpus = pin.cpus_before();
    Cache writer(options());
    Cache reader(options());
    pinned = value_of(reader.metrics_text(), series);
    writer.set<int>("k", 7, 1min);
    EXPECT_EQ(reader.get<int>("k"), std::optional<int>(7));  // from Redis, without spinning
  }
  EXPECT_EQ(pinned, 0);
  Cache cache(options());
  const double expected = cpus > 1 ? 100e-6 : 0;
  EXPECT_DOUBLE_EQ(value_of(cache.metrics_text(), series), expected);
}

TEST_F(MetricsTest, PromtoolAcceptsTheExposition) {
  Options o = options();
  // Escaping exercised, and UTF-8 beyond ASCII (a value that is not UTF-8
  // is refused by Options: Prometheus rejects the whole text over it).
  o.metrics_labels = {{"cache", "we\"ird\\name\nzürich ✓"}};
  Cache cache(o);
  for (int i = 0; i < 200; ++i) {
    cache.get_or_load<std::string>("k" + std::to_string(i % 20), 60s,
                                   [] { return std::string("v"); });
  }
  char path[] = "/tmp/multicache-metrics-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << cache.metrics_text();
  int status = 0;
  const std::string out = run("promtool check metrics < " + std::string(path) + " 2>&1", &status);
  std::remove(path);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out.find("error"), std::string::npos) << out;
}

TEST_F(MetricsTest, HttpEndpointServesTheTextFormat) {
  Options o = options();
  o.metrics_listen = "127.0.0.1:0";
  Cache cache(o);
  ASSERT_GT(cache.metrics_port(), 0);
  cache.get_or_load<std::string>("k", 60s, [] { return std::string("v"); });
  int status = 0;
  const std::string out = run(
      "curl -si --max-time 5 http://127.0.0.1:" + std::to_string(cache.metrics_port()) + "/metrics",
      &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
  EXPECT_NE(out.find("Content-Type: text/plain; version=0.0.4; charset=utf-8"), std::string::npos)
      << out;
  EXPECT_NE(out.find("mc_requests_total{cache=\"users\",layer=\"db\",status=\"fetched\"} 1"),
            std::string::npos)
      << out;
}

TEST(MetricsOptions, OffMeansNothingExportedAndListenNeedsMetrics) {
  Cache cache({});
  EXPECT_TRUE(cache.metrics().empty());
  EXPECT_EQ(cache.metrics_text(), "");
  EXPECT_EQ(cache.metrics_port(), 0);
  EXPECT_THROW(Cache({.metrics_listen = "127.0.0.1:9464"}), std::invalid_argument);
  EXPECT_THROW(Cache({.metrics = true, .metrics_listen = "nonsense"}), std::invalid_argument);
  EXPECT_THROW(Cache({.metrics = true, .metrics_labels = {{"le", "x"}}}), std::invalid_argument);
  EXPECT_THROW(Cache({.metrics = true, .metrics_labels = {{"1bad", "x"}}}), std::invalid_argument);
}

}  // namespace
}  // namespace multicache::test
