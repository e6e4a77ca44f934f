// l2_bench — an L2 hit (L1 miss, Redis hit, with its PTTL read) next to raw
// hiredis on the same private redis-server:
//   - one thread: Cache::get vs one blocking hiredis GET (latency);
//   - 4 to 256 threads: Cache::get over pool_size = 2 connections
//     vs a blocking pool of 2 connections (throughput; auto-pipelining vs
//     borrowing), with Options::redis_spin_wait = 0 (callers sleep at once)
//     and at its default, 100 us.
// Each also reports cs_per_op and cpu_us_per_op: the process's context
// switches and CPU time per read (process_cost.h); the switches bound the
// 16-thread ratio here, and the CPU time is what spinning costs.
#include <benchmark/benchmark.h>

#include <memory>
#include <multicache/multicache.hpp>

#include "baseline/blocking_pool.h"
#include "process_cost.h"
#include "support/redis_server.h"

namespace multicache::bench {
namespace {

using namespace std::chrono_literals;

struct World {
  test::RedisServer server;
  std::unique_ptr<Cache> cache;     // redis_spin_wait 0: callers sleep at once
  std::unique_ptr<Cache> spinning;  // the same, with redis_spin_wait's default
  std::unique_ptr<BlockingPool> pool;
  std::unique_ptr<BlockingPool> single;
  std::vector<std::string> keys;
  World() {
    Options o;
    o.redis_url = server.url();
    o.key_prefix = "";
    o.l1_max_items = 1;  // every read below goes to Redis
    o.pool_size = 2;
    o.redis_spin_wait = 0us;
    cache = std::make_unique<Cache>(o);
    o.redis_spin_wait = Options{}.redis_spin_wait;
    spinning = std::make_unique<Cache>(o);
    for (int i = 0; i < 64; ++i) {
      keys.push_back("l2:" + std::to_string(i));
      cache->set<std::string>(keys.back(), std::string(200, 'v'), 1h);
    }
    pool = std::make_unique<BlockingPool>(server.port(), 2);
    single = std::make_unique<BlockingPool>(server.port(), 1);
  }
};

World& world() {
  static World w;
  return w;
}

void BM_raw_hiredis_get(benchmark::State& state) {
  World& w = world();
  std::size_t i = 0;
  const ProcessCostCounter cost(state);
  for (auto _ : state) benchmark::DoNotOptimize(w.single->get(w.keys[i++ & 63]));
  cost.report(state);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_blocking_pool_2(benchmark::State& state) {
  World& w = world();
  std::size_t i = static_cast<std::size_t>(state.thread_index());
  const ProcessCostCounter cost(state);
  for (auto _ : state) benchmark::DoNotOptimize(w.pool->get(w.keys[i++ & 63]));
  cost.report(state);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void l2_hits(benchmark::State& state, Cache& cache) {
  World& w = world();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7;
  const ProcessCostCounter cost(state);
  for (auto _ : state) {
    auto v = cache.get<std::string>(w.keys[i++ & 63]);
    if (!v) state.SkipWithError("miss");
    benchmark::DoNotOptimize(v);
  }
  cost.report(state);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_multicache_l2_hit(benchmark::State& state) { l2_hits(state, *world().cache); }
void BM_multicache_l2_hit_spin(benchmark::State& state) { l2_hits(state, *world().spinning); }

BENCHMARK(BM_raw_hiredis_get)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_multicache_l2_hit)
    ->Threads(1)
    ->Threads(4)
    ->Threads(16)
    ->Threads(64)
    ->Threads(256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_multicache_l2_hit_spin)
    ->Threads(4)
    ->Threads(16)
    ->Threads(64)
    ->Threads(256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_blocking_pool_2)
    ->Threads(4)
    ->Threads(16)
    ->Threads(64)
    ->Threads(256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace multicache::bench

BENCHMARK_MAIN();
