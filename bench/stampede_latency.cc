// stampede_latency — loader protection: N threads ask for one cold key at
// once; the loader must run once, and the others wait for it. Reports, per
// N, loader calls per round and the latency the waiters add on top of the
// loader's own time (their latency minus the loader's duration).
//
//   stampede_latency [redis-url] [rounds] [loader-ms]
// Without a URL it starts a private redis-server on a free loopback port.
// Each round uses a fresh key; every thread is released by one barrier.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <multicache/multicache.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/redis_server.h"

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<multicache::test::RedisServer> server;
  const std::string url = multicache::test::url_or_private_server(argc > 1 ? argv[1] : "", &server);
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 20;
  const int loader_ms = argc > 3 ? std::atoi(argv[3]) : 20;
  multicache::Options o;
  o.redis_url = url;
  o.key_prefix = "bench:stampede:";
  o.pubsub_channel = "bench:stampede:sync";
  multicache::Cache cache(o);
  if (!cache.redis_connected()) {
    std::fprintf(stderr, "Redis at %s is not reachable\n", url.c_str());
    return 1;
  }
  std::printf(
      "| threads | loader calls per round | loader time | waiters' added latency p50 | p99 | max "
      "|\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const int n : {16, 64, 256}) {
    std::vector<double> added_us;
    std::atomic<int> calls{0};
    double loader_us_total = 0;
    for (int r = 0; r < rounds; ++r) {
      const std::string key = "n" + std::to_string(n) + "-r" + std::to_string(r);
      std::atomic<std::int64_t> loader_ns{0};
      std::vector<double> latency_us(static_cast<std::size_t>(n));
      std::barrier start(n);
      std::vector<std::thread> threads;
      for (int t = 0; t < n; ++t) {
        threads.emplace_back([&, t] {
          start.arrive_and_wait();
          const auto t0 = steady::now();
          cache.get_or_load<std::string>(key, 60s, [&] {
            const auto l0 = steady::now();
            calls.fetch_add(1);
            std::this_thread::sleep_for(std::chrono::milliseconds(loader_ms));
            loader_ns.store((steady::now() - l0).count());
            return std::string("value");
          });
          latency_us[static_cast<std::size_t>(t)] =
              std::chrono::duration<double, std::micro>(steady::now() - t0).count();
        });
      }
      for (auto& th : threads) th.join();
      const double loader_us = static_cast<double>(loader_ns.load()) / 1000.0;
      loader_us_total += loader_us;
      for (const double l : latency_us) added_us.push_back(std::max(0.0, l - loader_us));
    }
    std::printf("| %d | %.2f | %.2f ms | %.0f µs | %.0f µs | %.0f µs |\n", n,
                static_cast<double>(calls.load()) / rounds, loader_us_total / rounds / 1000.0,
                percentile(added_us, 0.5), percentile(added_us, 0.99), percentile(added_us, 1.0));
  }
  return 0;
}
