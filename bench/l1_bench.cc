// l1_bench — L1 hit throughput of Cache::get_or_load next to its baselines,
// in one run: the Go library's design (mutex + list + map, copying out) and an
// unsynchronized std::unordered_map::find (the limit), alone and followed by
// the copy of the value a copying get returns.
//
// Workload: 100k keys of ~20 bytes, 100-byte values, all cached; reads follow
// Zipf(0.99). Compare items_per_second (total across threads). Caches use
// the default L1 policy (tinylfu) unless the name says otherwise.
#include <benchmark/benchmark.h>

#include <multicache/multicache.hpp>
#include <unordered_map>

#include "baseline/mutex_lru.h"
#include "workload.h"

namespace multicache::bench {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t k_keys = 100000;
constexpr std::size_t k_trace = 1 << 20;

struct User {
  int id = 0;
  std::string name;
  std::string email;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(User, id, name, email)
};

struct World {
  std::vector<std::string> keys = make_keys(k_keys);
  std::vector<std::uint32_t> trace = zipf_trace(k_keys, 0.99, k_trace, 42);
  std::string value = std::string(100, 'v');
  Cache cache{{.l1_max_items = 2 * k_keys, .l1_max_memory_mb = 1024}};  // default: tinylfu
  Cache clock_cache{
      {.l1_max_items = 2 * k_keys, .l1_policy = eviction_policy::clock, .l1_max_memory_mb = 1024}};
  Cache user_cache{{.l1_max_items = 2 * k_keys, .l1_max_memory_mb = 1024}};
  Cache metrics_cache{{.l1_max_items = 2 * k_keys, .l1_max_memory_mb = 1024, .metrics = true}};
  MutexLru lru{2 * k_keys};
  std::unordered_map<std::string, std::string> map;
  // The mixed rows' own copies: their writes replace entries, which would
  // move the read-only rows' entries around in memory.
  Cache mixed_cache{{.l1_max_items = 2 * k_keys, .l1_max_memory_mb = 1024}};
  MutexLru mixed_lru{2 * k_keys};

  // Each structure is filled in its own pass, as in a process that holds one
  // of them: filling them key by key side by side would interleave their
  // allocations and spread each one's entries over several times the pages.
  World() {
    for (const auto& k : keys) cache.set<std::string>(k, value, 1h);
    for (const auto& k : keys) clock_cache.set<std::string>(k, value, 1h);
    for (const auto& k : keys) metrics_cache.set<std::string>(k, value, 1h);
    for (const auto& k : keys)
      user_cache.set<User>(k, User{7, "Ada Lovelace", "ada@example.com"}, 1h);
    for (const auto& k : keys) lru.put(k, value);
    for (const auto& k : keys) map.emplace(k, value);
    for (const auto& k : keys) mixed_cache.set<std::string>(k, value, 1h);
    for (const auto& k : keys) mixed_lru.put(k, value);
  }
};

World& world() {
  static World w;
  return w;
}

// Each thread walks the trace from its own offset: fn(w, key) per iteration.
template <class W, class Fn>
void run_over(benchmark::State& state, W& w, Fn&& fn) {
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    fn(w, w.keys[w.trace[i & (k_trace - 1)]]);
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

template <class Fn>
void run(benchmark::State& state, Fn&& fn) {
  run_over(state, world(), fn);
}

void BM_multicache_string(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) {
    std::string v = w.cache.get_or_load<std::string>(k, 1h, [] { return std::string(); });
    benchmark::DoNotOptimize(v);
  });
}

// The same as BM_multicache_string with l1_policy = clock (no frequency sketch).
void BM_multicache_string_clock(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) {
    std::string v = w.clock_cache.get_or_load<std::string>(k, 1h, [] { return std::string(); });
    benchmark::DoNotOptimize(v);
  });
}

// The same as BM_multicache_string with Options::metrics on (sampled latency histogram).
void BM_multicache_string_metrics(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) {
    std::string v = w.metrics_cache.get_or_load<std::string>(k, 1h, [] { return std::string(); });
    benchmark::DoNotOptimize(v);
  });
}

void BM_multicache_user(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) {
    User u = w.user_cache.get_or_load<User>(k, 1h, [] { return User{}; });
    benchmark::DoNotOptimize(u);
  });
}

void BM_multicache_shared(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) {
    auto u = w.user_cache.get_or_load_shared<User>(k, 1h, [] { return User{}; });
    benchmark::DoNotOptimize(u);
  });
}

// Zero-copy reads: visit_or_load hands the reader the cached object under the
// shard's shared lock. The readers touch the value as CaffeineBench's loop
// does (String.length()): the object and the first line of its bytes.
void BM_multicache_visit(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) {
    const std::size_t n = w.cache.visit_or_load<std::string>(
        k, 1h, [] { return std::string(); },
        [](const std::string& v) { return v.size() + static_cast<unsigned char>(v[0]); });
    benchmark::DoNotOptimize(n);
  });
}

void BM_multicache_visit_user(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) {
    const std::size_t n = w.user_cache.visit_or_load<User>(
        k, 1h, [] { return User{}; },
        [](const User& u) { return u.name.size() + static_cast<std::size_t>(u.id); });
    benchmark::DoNotOptimize(n);
  });
}

void BM_baseline_mutex_lru(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) {
    auto v = w.lru.get(k);
    benchmark::DoNotOptimize(v);
  });
}

void BM_limit_unordered_map(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) {
    auto it = w.map.find(k);
    benchmark::DoNotOptimize(it);
  });
}

// What a copying get adds to the limit: the same find, then the value copied
// out into a std::string as get_or_load<std::string> returns it (its bytes
// are read and a 100-byte string is allocated and freed).
void BM_limit_unordered_map_copy(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) {
    auto it = w.map.find(k);
    std::string v = it != w.map.end() ? it->second : std::string();
    benchmark::DoNotOptimize(v);
  });
}

// Issue 7's workload as stated, 95% reads: every 20th operation of each
// thread writes the key it drew (a 100-byte value), the others read it. A
// write replaces the value: set() for the cache (L1-only here, so the row
// measures L1's write path: an exclusive shard lock to drop the old entry
// and one to insert the new), put() for the mutex-LRU. The reads are hits.
template <class Read, class Write>
void run_mixed(benchmark::State& state, Read&& read, Write&& write) {
  World& w = world();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    const std::string& k = w.keys[w.trace[i & (k_trace - 1)]];
    if (i % 20 == 0) {
      write(w, k);
    } else {
      read(w, k);
    }
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_mixed_multicache_string(benchmark::State& state) {
  run_mixed(
      state,
      [](World& w, const std::string& k) {
        std::string v = w.mixed_cache.get_or_load<std::string>(k, 1h, [] { return std::string(); });
        benchmark::DoNotOptimize(v);
      },
      [](World& w, const std::string& k) { w.mixed_cache.set<std::string>(k, w.value, 1h); });
}

void BM_mixed_baseline_mutex_lru(benchmark::State& state) {
  run_mixed(
      state,
      [](World& w, const std::string& k) {
        auto v = w.mixed_lru.get(k);
        benchmark::DoNotOptimize(v);
      },
      [](World& w, const std::string& k) { w.mixed_lru.put(k, w.value); });
}

// Large values (4 KiB strings, 10k keys, Zipf 0.99): what each accessor
// costs when the caller reads one byte in the middle of the value.
constexpr std::size_t k_large_keys = 10000;
constexpr std::size_t k_large_bytes = 4096;

struct LargeWorld {
  std::vector<std::string> keys = make_keys(k_large_keys);
  std::vector<std::uint32_t> trace = zipf_trace(k_large_keys, 0.99, k_trace, 43);
  Cache cache{{.l1_max_items = 2 * k_large_keys, .l1_max_memory_mb = 1024}};
  LargeWorld() {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      cache.set<std::string>(keys[i], std::string(k_large_bytes, static_cast<char>('a' + i % 26)),
                             1h);
    }
  }
};

LargeWorld& large_world() {
  static LargeWorld w;
  return w;
}

// fn(cache, key) returns the byte the caller read.
template <class Fn>
void run_large(benchmark::State& state, Fn&& fn) {
  run_over(state, large_world(), [&fn](LargeWorld& w, const std::string& k) {
    benchmark::DoNotOptimize(fn(w.cache, k));
  });
}

char middle(const std::string& v) { return v[v.size() / 2]; }

void BM_large_copy(benchmark::State& state) {
  run_large(state, [](Cache& c, const std::string& k) {
    return middle(c.get_or_load<std::string>(k, 1h, [] { return std::string(1, 'x'); }));
  });
}

void BM_large_shared(benchmark::State& state) {
  run_large(state, [](Cache& c, const std::string& k) {
    return middle(*c.get_or_load_shared<std::string>(k, 1h, [] { return std::string(1, 'x'); }));
  });
}

void BM_large_visit(benchmark::State& state) {
  run_large(state, [](Cache& c, const std::string& k) {
    return c.visit_or_load<std::string>(
        k, 1h, [] { return std::string(1, 'x'); }, middle);
  });
}

BENCHMARK(BM_multicache_string)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_multicache_string_clock)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_multicache_string_metrics)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_multicache_user)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_multicache_shared)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_multicache_visit)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_multicache_visit_user)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_baseline_mutex_lru)->Threads(1)->Threads(2)->UseRealTime();
// Unsynchronized, and still safe on 2 threads: nothing writes the map while
// they read it.
BENCHMARK(BM_limit_unordered_map)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_limit_unordered_map_copy)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_mixed_multicache_string)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_mixed_baseline_mutex_lru)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_large_copy)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_large_shared)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_large_visit)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace multicache::bench

BENCHMARK_MAIN();
