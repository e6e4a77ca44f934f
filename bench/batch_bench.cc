// batch_bench — 100 keys through get_or_load_many vs 100 get_or_load calls,
// all served by Redis (L1 holds one entry, so every read reaches L2).
// Starts a private redis-server on a free loopback port.
#include <benchmark/benchmark.h>

#include <memory>
#include <multicache/multicache.hpp>

#include "support/redis_server.h"

namespace multicache::bench {
namespace {

using namespace std::chrono_literals;

struct World {
  test::RedisServer server;
  std::unique_ptr<Cache> cache;
  std::vector<std::string> keys;
  World() {
    Options o;
    o.redis_url = server.url();
    o.key_prefix = "bench:batch:";
    o.l1_max_items = 1;  // every read goes to Redis
    cache = std::make_unique<Cache>(o);
    Cache writer({.redis_url = server.url(), .key_prefix = "bench:batch:"});
    for (int i = 0; i < 100; ++i) {
      keys.push_back("item:" + std::to_string(i));
      writer.set<std::string>(keys.back(), std::string(200, 'v'), 1h);
    }
  }
};

World& world() {
  static World w;
  return w;
}

std::unordered_map<std::string, std::string> nothing(const std::vector<std::string>&) { return {}; }

void BM_batch_100_keys(benchmark::State& state) {
  World& w = world();
  for (auto _ : state) {
    auto r = w.cache->get_or_load_many<std::string>(w.keys, 1h, nothing);
    if (r.size() != w.keys.size()) state.SkipWithError("missing keys");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * w.keys.size()));
  state.counters["round_trips"] = 1;
}

void BM_single_100_keys(benchmark::State& state) {
  World& w = world();
  for (auto _ : state) {
    for (const auto& k : w.keys) {
      auto v = w.cache->get_or_load<std::string>(k, 1h, [] { return std::string(); });
      benchmark::DoNotOptimize(v);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * w.keys.size()));
  state.counters["round_trips"] = 100;
}

BENCHMARK(BM_batch_100_keys)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_single_100_keys)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace multicache::bench

BENCHMARK_MAIN();
