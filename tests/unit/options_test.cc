// Options: documented defaults and validate(); Cache's constructor validates.
#include "multicache/options.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <multicache/multicache.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace multicache {
namespace {

using namespace std::chrono_literals;

// Calls f, expects std::invalid_argument whose message starts with "<field>:".
template <class F>
void expect_invalid(F&& f, const std::string& field) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one naming " << field;
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.starts_with(field + ":")) << "message: " << what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

struct InvalidCase {
  std::string field;
  std::string label;
  std::function<void(Options&)> mutate;
};

std::vector<InvalidCase> invalid_cases() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {
      {"l1_max_items", "0", [](Options& o) { o.l1_max_items = 0; }},
      {"l1_max_memory_mb", "0", [](Options& o) { o.l1_max_memory_mb = 0; }},
      {"l1_max_memory_mb", "2^24+1",
       [](Options& o) { o.l1_max_memory_mb = (std::size_t{1} << 24) + 1; }},
      {"early_refresh_ratio", "0.05", [](Options& o) { o.early_refresh_ratio = 0.05; }},
      {"early_refresh_ratio", "1.0", [](Options& o) { o.early_refresh_ratio = 1.0; }},
      {"early_refresh_ratio", "NaN", [nan](Options& o) { o.early_refresh_ratio = nan; }},
      {"early_refresh_ratio", "-inf",
       [](Options& o) { o.early_refresh_ratio = -std::numeric_limits<double>::infinity(); }},
      {"pubsub_channel", "empty", [](Options& o) { o.pubsub_channel = ""; }},
      {"circuit_breaker_max_failures", "0", [](Options& o) { o.circuit_breaker_max_failures = 0; }},
      {"circuit_breaker_open_timeout", "0",
       [](Options& o) { o.circuit_breaker_open_timeout = 0ms; }},
      {"circuit_breaker_open_timeout", "-1ms",
       [](Options& o) { o.circuit_breaker_open_timeout = -1ms; }},
      {"metrics_prefix", "1abc", [](Options& o) { o.metrics_prefix = "1abc"; }},
      {"metrics_prefix", "a-b", [](Options& o) { o.metrics_prefix = "a-b"; }},
      {"metrics_prefix", "empty", [](Options& o) { o.metrics_prefix = ""; }},
      {"metrics_labels", "a name given twice",
       [](Options& o) {
         o.metrics_labels = {{"app", "x"}, {"env", "y"}, {"app", "z"}};
       }},
      {"metrics_labels", "a value that is not UTF-8",
       [](Options& o) {
         o.metrics_labels = {{"app", "bad\xff\xfe"}};
       }},
      {"l1_ttl", "-1ms", [](Options& o) { o.l1_ttl = -1ms; }},
      {"connect_timeout", "0", [](Options& o) { o.connect_timeout = 0ms; }},
      {"command_timeout", "0", [](Options& o) { o.command_timeout = 0ms; }},
      {"redis_spin_wait", "-1us", [](Options& o) { o.redis_spin_wait = -1us; }},
      {"redis_spin_wait", "101ms", [](Options& o) { o.redis_spin_wait = 101ms; }},
      {"redis_spin_wait", "above command_timeout",
       [](Options& o) {
         o.command_timeout = 10ms;
         o.redis_spin_wait = 11ms;
       }},
      {"pool_size", "0", [](Options& o) { o.pool_size = 0; }},
      {"pool_size", "65", [](Options& o) { o.pool_size = 65; }},
      {"refresh_threads", "0", [](Options& o) { o.refresh_threads = 0; }},
      {"refresh_threads", "65", [](Options& o) { o.refresh_threads = 65; }},
      {"refresh_queue_size", "0", [](Options& o) { o.refresh_queue_size = 0; }},
      {"redis_url", "rediss://x", [](Options& o) { o.redis_url = "rediss://x"; }},
      {"redis_url", "http://x", [](Options& o) { o.redis_url = "http://x"; }},
  };
}

TEST(Options, DocumentedDefaults) {
  const Options o;
  EXPECT_EQ(o.redis_url, "");
  EXPECT_EQ(o.l1_max_items, 10000u);
  EXPECT_EQ(o.l1_policy, eviction_policy::tinylfu);
  EXPECT_EQ(o.l1_max_memory_mb, 100u);
  EXPECT_EQ(o.key_prefix, "cache:");
  EXPECT_EQ(o.pubsub_channel, "multicache:sync");
  EXPECT_DOUBLE_EQ(o.early_refresh_ratio, 0.8);
  EXPECT_FALSE(o.compression);
  EXPECT_FALSE(o.circuit_breaker);
  EXPECT_EQ(o.circuit_breaker_max_failures, 3);
  EXPECT_EQ(o.circuit_breaker_open_timeout, 5000ms);
  EXPECT_FALSE(o.metrics);
  EXPECT_EQ(o.metrics_prefix, "multicache");
  EXPECT_EQ(o.compression_min_bytes, 256u);
  EXPECT_EQ(o.l1_ttl, 0ms);
  EXPECT_EQ(o.connect_timeout, 1000ms);
  EXPECT_EQ(o.command_timeout, 250ms);
  EXPECT_EQ(o.redis_spin_wait, 100us);
  EXPECT_EQ(o.pool_size, 2);
  EXPECT_EQ(o.refresh_threads, 2);
  EXPECT_EQ(o.refresh_queue_size, 1024u);
  EXPECT_FALSE(o.log);
  EXPECT_EQ(o.clock, nullptr);
  EXPECT_FALSE(o.test_before_l1_fill);
}

TEST(Options, DefaultsValidate) { EXPECT_NO_THROW(Options{}.validate()); }

TEST(Options, BoundaryValuesValidate) {
  const std::vector<std::function<void(Options&)>> ok = {
      [](Options& o) { o.l1_max_items = 1; },
      [](Options& o) { o.l1_max_memory_mb = 1; },
      [](Options& o) { o.l1_max_memory_mb = std::size_t{1} << 24; },
      [](Options& o) { o.early_refresh_ratio = 0.1; },
      [](Options& o) { o.early_refresh_ratio = 0.99; },
      [](Options& o) { o.circuit_breaker_max_failures = 1; },
      [](Options& o) { o.circuit_breaker_open_timeout = 1ms; },
      [](Options& o) { o.metrics_prefix = "_a:b_9"; },
      [](Options& o) { o.metrics_prefix = ":"; },
      [](Options& o) { o.l1_ttl = 1ms; },
      [](Options& o) { o.redis_spin_wait = 100ms; },
      [](Options& o) {
        o.command_timeout = 10ms;
        o.redis_spin_wait = 10ms;
      },
      [](Options& o) { o.pool_size = 1; },
      [](Options& o) { o.pool_size = 64; },
      [](Options& o) { o.refresh_threads = 1; },
      [](Options& o) { o.refresh_threads = 64; },
      [](Options& o) { o.refresh_queue_size = 1; },
      [](Options& o) { o.key_prefix = ""; },
      [](Options& o) { o.compression_min_bytes = 0; },
      [](Options& o) { o.redis_url = "redis://127.0.0.1:6379/0"; },
      [](Options& o) { o.redis_url = "unix:///tmp/redis.sock?db=1"; },
  };
  for (std::size_t i = 0; i < ok.size(); ++i) {
    Options o;
    ok[i](o);
    EXPECT_NO_THROW(o.validate()) << "case " << i;
  }
}

TEST(Options, EachInvalidFieldIsNamed) {
  for (const auto& c : invalid_cases()) {
    SCOPED_TRACE(c.field + " = " + c.label);
    Options o;
    c.mutate(o);
    expect_invalid([&] { o.validate(); }, c.field);
  }
}

TEST(Options, CacheConstructorValidates) {
  for (const auto& c : invalid_cases()) {
    SCOPED_TRACE(c.field + " = " + c.label);
    Options o;
    c.mutate(o);
    expect_invalid([&] { Cache cache(o); }, c.field);
  }
}

TEST(Options, CacheConstructsWithValidL1OnlyOptions) {
  Options o;
  o.l1_max_items = 10;
  o.l1_max_memory_mb = 1;
  o.refresh_threads = 1;
  o.refresh_queue_size = 1;
  EXPECT_NO_THROW({ Cache cache(o); });
}

}  // namespace
}  // namespace multicache
