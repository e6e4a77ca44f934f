// cluster_bench — the same cache traffic against one redis-server and
// against a 3-primary Redis Cluster, both private and on this machine, in
// one run: L2 reads (L1 holds one item, so every read goes to Redis) and
// writes (set: SET PXAT + PUBLISH), from 1 and 16 threads. Arg 0 is the
// single server, arg 1 the cluster. The cluster's three servers share the
// machine's cores with the benchmark, so this measures routing overhead and
// parallelism on one box, not a cluster of machines.
#include <benchmark/benchmark.h>

#include <memory>
#include <multicache/multicache.hpp>

#include "support/redis_cluster.h"

namespace multicache::bench {
namespace {

using namespace std::chrono_literals;

struct World {
  test::RedisServer server;
  test::RedisCluster cluster;
  std::unique_ptr<Cache> caches[2];
  std::vector<std::string> keys;
  World() {
    for (int c = 0; c < 2; ++c) {
      Options o;
      o.redis_url = c == 0 ? server.url() : cluster.url();
      o.key_prefix = "bench:";
      o.l1_max_items = 1;  // every read goes to Redis
      o.pool_size = 2;     // per server
      o.log = [](log_level, std::string_view) {};
      caches[c] = std::make_unique<Cache>(o);
    }
    for (int i = 0; i < 1024; ++i) keys.push_back("k" + std::to_string(i));
    for (auto& cache : caches) {
      for (const auto& k : keys) cache->set<std::string>(k, std::string(200, 'v'), 1h);
    }
  }
};

World& world() {
  static World w;
  return w;
}

void BM_l2_read(benchmark::State& state) {
  Cache& cache = *world().caches[state.range(0)];
  const auto& keys = world().keys;
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 131;
  for (auto _ : state) benchmark::DoNotOptimize(cache.get<std::string>(keys[i++ & 1023]));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetLabel(state.range(0) == 0 ? "one server" : "3-primary cluster");
}

void BM_write(benchmark::State& state) {
  Cache& cache = *world().caches[state.range(0)];
  const auto& keys = world().keys;
  const std::string value(200, 'w');
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 131;
  for (auto _ : state) cache.set<std::string>(keys[i++ & 1023], value, 1h);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetLabel(state.range(0) == 0 ? "one server" : "3-primary cluster");
}

BENCHMARK(BM_l2_read)->Arg(0)->Arg(1)->Threads(1)->Threads(16)->UseRealTime();
BENCHMARK(BM_write)->Arg(0)->Arg(1)->Threads(1)->Threads(16)->UseRealTime();

}  // namespace
}  // namespace multicache::bench

BENCHMARK_MAIN();
