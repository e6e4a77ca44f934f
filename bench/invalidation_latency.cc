// invalidation_latency — how fast a remove() in one instance reaches another
// instance's L1, over a real Redis.
//
//   invalidation_latency [redis-url] [rounds]
// Without a URL it starts a private redis-server on a free loopback port.
// Each round: B holds key k in L1; A calls remove(k); the clock stops when B
// has applied the invalidation. The time includes A's DEL+PUBLISH round trip.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <multicache/multicache.hpp>
#include <string>
#include <vector>

#include "support/redis_server.h"

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

int main(int argc, char** argv) {
  std::unique_ptr<multicache::test::RedisServer> server;
  const std::string url = multicache::test::url_or_private_server(argc > 1 ? argv[1] : "", &server);
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 2000;
  multicache::Options o;
  o.redis_url = url;
  o.key_prefix = "bench:inv:";
  o.pubsub_channel = "bench:inv:sync";
  multicache::Cache a(o);
  multicache::Cache b(o);
  if (!a.redis_connected() || !b.redis_connected()) {
    std::fprintf(stderr, "Redis at %s is not reachable\n", url.c_str());
    return 1;
  }
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(rounds));
  for (int i = 0; i < rounds; ++i) {
    const std::string key = "k" + std::to_string(i);
    b.set<std::string>(key, "v", 60s);  // b holds it in L1 (a ignores nothing: a has no copy)
    const auto seen = b.stats().invalidations_received;
    const auto t0 = steady::now();
    a.remove(key);
    while (b.stats().invalidations_received == seen) {
      if (steady::now() - t0 > 2s) {
        std::fprintf(stderr, "round %d: invalidation not seen within 2 s\n", i);
        return 1;
      }
    }
    us.push_back(std::chrono::duration<double, std::micro>(steady::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) { return us[static_cast<std::size_t>(p * (us.size() - 1))]; };
  std::printf("invalidation propagation over %d rounds (remove() call to the other L1):\n", rounds);
  std::printf("  p50 %.0f us   p90 %.0f us   p99 %.0f us   max %.0f us\n", pct(0.5), pct(0.9),
              pct(0.99), us.back());
  return 0;
}
