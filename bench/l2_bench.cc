// l2_bench — an L2 hit (L1 miss, Redis hit, with its PTTL read) next to raw
// hiredis on the same private redis-server:
//   - one thread: Cache::get vs one blocking hiredis GET (latency);
//   - 4 to 256 threads: Cache::get over pool_size = 2 connections
//     vs a blocking pool of 2 connections (throughput; auto-pipelining vs
//     borrowing), with Options::redis_spin_wait = 0 (callers sleep at once)
//     and at its default, 100 us;
//   - "wide": 16 and 64 threads reading 100k keys uniformly through a
//     1024-item L1 (fills spread over its shards as in a service whose L1
//     is a fraction of Redis), against the pool reading the same keys; the
//     cache rows report l1_hit_fraction, the reads L1 answered.
// Each also reports cs_per_op and cpu_us_per_op: the process's context
// switches and CPU time per read (process_cost.h); the switches bound the
// 16-thread ratio here, and the CPU time is what spinning costs.
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <multicache/multicache.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "baseline/blocking_pool.h"
#include "process_cost.h"
#include "support/redis_server.h"

namespace multicache::bench {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t k_wide_keys = 100000;

// Waits until the server holds at least n keys (the cache writes back to
// Redis after returning to its caller).
void wait_for_keys(int port, long long n) {
  redisContext* c = redisConnect("127.0.0.1", port);
  if (c == nullptr || c->err) throw std::runtime_error("l2_bench: connect failed");
  for (int tries = 0;; ++tries) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "DBSIZE"));
    const long long have = r != nullptr && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r != nullptr) freeReplyObject(r);
    if (have >= n) break;
    if (tries == 1000) throw std::runtime_error("l2_bench: keys not written");
    std::this_thread::sleep_for(10ms);
  }
  redisFree(c);
}

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

// The wide rows' keys, written to world()'s server on first use (only runs
// that select a wide row pay for writing them).
struct Wide {
  std::unique_ptr<Cache> cache;  // default spin, a 1024-item L1 over k_wide_keys keys
  std::vector<std::string> keys;
  explicit Wide(World& w) {
    Options o;
    o.redis_url = w.server.url();
    o.key_prefix = "";
    o.l1_max_items = 1024;
    o.pool_size = 2;
    cache = std::make_unique<Cache>(o);
    for (std::size_t i = 0; i < k_wide_keys; ++i) keys.push_back("w:" + std::to_string(i));
    for (std::size_t at = 0; at < k_wide_keys; at += 1000) {
      const std::vector<std::string> batch(keys.begin() + static_cast<std::ptrdiff_t>(at),
                                           keys.begin() + static_cast<std::ptrdiff_t>(at + 1000));
      cache->get_or_load_many<std::string>(batch, 1h, [](const std::vector<std::string>& ks) {
        std::unordered_map<std::string, std::string> out;
        for (const auto& k : ks) out.emplace(k, std::string(200, 'w'));
        return out;
      });
    }
    wait_for_keys(w.server.port(), static_cast<long long>(w.keys.size() + k_wide_keys));
  }
};

Wide& wide() {
  static Wide w(world());
  return w;
}

// l1_hit_fraction: the share of a run's reads that L1 answered, from the
// cache's counters (thread 0 reports it; its run spans the others'). Cache::get
// joins no other caller's read, so every other read went to Redis.
class L1Share {
 public:
  L1Share(benchmark::State& state, const Cache& cache)
      : state_(state), cache_(cache), before_(cache.stats()) {}
  void report() const {
    if (state_.thread_index() != 0) return;
    const Stats after = cache_.stats();
    const double l1 = static_cast<double>(after.l1_hits - before_.l1_hits);
    const double all = l1 + static_cast<double>(after.l1_misses - before_.l1_misses);
    state_.counters["l1_hit_fraction"] = all > 0 ? l1 / all : 0;
  }

 private:
  benchmark::State& state_;
  const Cache& cache_;
  const Stats before_;
};

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
  const L1Share shares(state, cache);
  const ProcessCostCounter cost(state);
  for (auto _ : state) {
    auto v = cache.get<std::string>(w.keys[i++ & 63]);
    if (!v) state.SkipWithError("miss");
    benchmark::DoNotOptimize(v);
  }
  cost.report(state);
  shares.report();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// Uniform over the wide keys, a different sequence per thread.
struct WideKeys {
  std::uint64_t x;
  explicit WideKeys(int thread)
      : x(0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(thread + 1)) {}
  const std::string& next(const Wide& w) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return w.keys[x % k_wide_keys];
  }
};

void BM_multicache_l2_hit_wide(benchmark::State& state) {
  Wide& w = wide();
  WideKeys keys(state.thread_index());
  const L1Share shares(state, *w.cache);
  const ProcessCostCounter cost(state);
  for (auto _ : state) {
    auto v = w.cache->get<std::string>(keys.next(w));
    if (!v) state.SkipWithError("miss");
    benchmark::DoNotOptimize(v);
  }
  cost.report(state);
  shares.report();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_blocking_pool_2_wide(benchmark::State& state) {
  BlockingPool& pool = *world().pool;
  Wide& w = wide();
  WideKeys keys(state.thread_index());
  const ProcessCostCounter cost(state);
  for (auto _ : state) benchmark::DoNotOptimize(pool.get(keys.next(w)));
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

BENCHMARK(BM_multicache_l2_hit_wide)
    ->Threads(16)
    ->Threads(64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_blocking_pool_2_wide)
    ->Threads(16)
    ->Threads(64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace multicache::bench

BENCHMARK_MAIN();
