// metrics_endpoint — Prometheus metrics from the cache.
//
//   metrics_endpoint [redis-url]
// Serves /metrics on a free port, scrapes it once itself, and prints the
// request counters.
#include <chrono>
#include <cstdio>
#include <multicache/multicache.hpp>
#include <sstream>
#include <string>

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  multicache::Cache cache({.redis_url = argc > 1 ? argv[1] : "",
                           .key_prefix = "example:metrics:",
                           .metrics = true,
                           .metrics_prefix = "shop",
                           .metrics_labels = {{"cache", "sessions"}},
                           .metrics_listen = "127.0.0.1:0"});
  for (int i = 0; i < 100; ++i) {
    cache.get_or_load<std::string>("session:" + std::to_string(i % 10), 1min,
                                   [] { return std::string("data"); });
  }
  std::printf("scrape it with: curl http://127.0.0.1:%d/metrics\n", cache.metrics_port());
  std::istringstream text(cache.metrics_text());
  int lines = 0;
  for (std::string line; std::getline(text, line);) {
    if (line.rfind("shop_requests_total", 0) == 0) std::printf("%s\n", line.c_str());
    ++lines;
  }
  std::printf("(%d lines of exposition in all)\n", lines);
  return cache.stats().l1_hits == 90 ? 0 : 1;
}
