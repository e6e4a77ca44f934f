// l1_ladder_bench — where the time of an L1 hit goes: the same zero-copy read
// of a cached std::string (its size and first byte, as the visit rows of
// l1_bench do) taken through more and more of the cache, in one run:
//
//   1. index: a FlatIndex of Entries built as a shard builds them, with no
//      lock, no clock, no sketch — the least this layout can do per hit;
//   2. + lock: the same behind shared locks as L1's shards take them (64
//      util::SharedMutex on their own lines, picked by hash);
//   3. L1Cache::find_visit at a fixed time: adds shard choice, the reference
//      bit, the expiry and stale checks and the W-TinyLFU sketch count (and
//      the same with the clock policy: no sketch);
//   4. Cache::visit_or_load: adds the clock read, the hit counter and the
//      API's wrapping (the whole hit).
//
// Same workload as l1_bench: 100k keys of ~20 bytes, 100-byte values, Zipf
// 0.99. Compare items_per_second, as ratios within one run.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <limits>
#include <memory>
#include <multicache/multicache.hpp>

#include "l1/entry.h"
#include "l1/flat_index.h"
#include "l1/l1_cache.h"
#include "util/mutex.h"
#include "workload.h"

namespace multicache::bench {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t k_keys = 100000;
constexpr std::size_t k_trace = 1 << 20;
constexpr std::int64_t k_now = 1'000'000'000;
constexpr std::int64_t k_expires = std::numeric_limits<std::int64_t>::max() / 2;  // past any clock

const detail::TypeOps* string_ops() { return &detail::type_ops_for<std::string>; }

detail::erased_value make_value() { return std::make_shared<const std::string>(100, 'v'); }

std::size_t read(const std::string& v) { return v.size() + static_cast<unsigned char>(v[0]); }

// Rung 1 and 2: entries and index as a shard holds them (each entry's
// allocation followed by its value's, key by key).
struct Index {
  struct alignas(64) Lock {
    util::SharedMutex mu;
  };
  std::array<Lock, 64> locks;  // as many as L1's shards here
  l1::FlatIndex index;
  std::vector<l1::Entry*> entries;

  explicit Index(const std::vector<std::string>& keys) {
    for (const auto& k : keys) {
      l1::Entry* e = l1::Entry::create(k);
      e->hash = l1::L1Cache::hash(k);
      e->ops = string_ops();
      e->expires_at_ns = k_expires;
      e->stale_at_ns = k_expires;
      e->set_value(make_value());
      index.reserve_one();
      index.insert(e);
      entries.push_back(e);
    }
  }
  ~Index() {
    for (l1::Entry* e : entries) l1::Entry::destroy(e);
  }
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;
};

struct World {
  std::vector<std::string> keys = make_keys(k_keys);
  std::vector<std::uint32_t> trace = zipf_trace(k_keys, 0.99, k_trace, 42);
  Index index{keys};
  l1::L1Counters counters;
  l1::L1Cache l1{2 * k_keys, std::size_t{1} << 30, &counters, l1::policy::tinylfu};
  l1::L1Cache clock_l1{2 * k_keys, std::size_t{1} << 30, &counters, l1::policy::clock};
  Cache cache{{.l1_max_items = 2 * k_keys, .l1_max_memory_mb = 1024}};

  World() {
    fill(l1);
    fill(clock_l1);
    for (const auto& k : keys) cache.set<std::string>(k, std::string(100, 'v'), 1h);
  }

  void fill(l1::L1Cache& into) {
    for (const auto& k : keys) {
      const l1::InsertRequest req{.key = k,
                                  .value = make_value(),
                                  .ops = string_ops(),
                                  .expires_at_ns = k_expires,
                                  .stale_at_ns = k_expires,
                                  .value_bytes = 100 + sizeof(std::string)};
      into.insert_unconditionally(req, l1::L1Cache::hash(k), k_now);
    }
  }
};

World& world() {
  static World w;
  return w;
}

template <class Fn>
void run(benchmark::State& state, Fn&& fn) {
  World& w = world();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  std::size_t found = 0;
  for (auto _ : state) {
    found += fn(w, w.keys[w.trace[i & (k_trace - 1)]]);
    ++i;
  }
  benchmark::DoNotOptimize(found);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

std::size_t index_find(const l1::FlatIndex& index, const std::string& k, std::uint64_t hash) {
  const l1::Entry* e = index.find(k, hash);
  return e != nullptr ? read(*static_cast<const std::string*>(e->value.get())) : 0;
}

void BM_rung1_index(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) {
    return index_find(w.index.index, k, l1::L1Cache::hash(k));
  });
}

void BM_rung2_index_locked(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) {
    const std::uint64_t hash = l1::L1Cache::hash(k);
    util::ReaderLock lock(w.index.locks[hash >> 58].mu);
    return index_find(w.index.index, k, hash);
  });
}

std::size_t l1_visit(l1::L1Cache& l1, const std::string& k, const l1::ReadTime& now) {
  std::size_t n = 0;
  auto reader = [&n](const void* v) { n = read(*static_cast<const std::string*>(v)); };
  l1.find_visit(k, l1::L1Cache::hash(k), string_ops(), now, detail::VisitorRef(reader));
  return n;
}

void BM_rung3_l1_find_visit(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) { return l1_visit(w.l1, k, k_now); });
}

// The same with l1_policy clock: no frequency sketch to count the key in.
void BM_rung3_l1_find_visit_clock_policy(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) { return l1_visit(w.clock_l1, k, k_now); });
}

// Rung 3 with the time read per hit, as the cache reads it (SystemClock's
// coarse reading, checked against the exact clock only near a deadline), and
// as it read it before (the exact clock, an ordered TSC read).
const SystemClock& system_clock() {
  static const SystemClock clock;
  return clock;
}
l1::ReadTime exact_time() { return system_clock().now().time_since_epoch().count(); }
l1::ReadTime coarse_time() {
  const SystemClock& c = system_clock();
  return {c.coarse_now().time_since_epoch().count(), c.max_lag().count(), &c};
}

template <l1::ReadTime (*Now)()>
void BM_rung3_clock(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) { return l1_visit(w.l1, k, Now()); });
}

void BM_rung4_cache_visit(benchmark::State& state) {
  run(state, [](World& w, const std::string& k) {
    return w.cache.visit_or_load<std::string>(
        k, 1h, [] { return std::string(); }, read);
  });
}

// How far SystemClock's coarse reading lags the exact one, for the lag
// figures the README quotes (max_lag() is the bound the cache relies on):
// now() - coarse_now() over the run, in µs, with the exact clock read
// first, so the figures are lower bounds of the lag at each reading.
void BM_coarse_clock_lag(benchmark::State& state) {
  const SystemClock& c = system_clock();
  std::int64_t longest = 0;
  std::int64_t shortest = std::numeric_limits<std::int64_t>::max();
  for (auto _ : state) {
    const std::int64_t exact = c.now().time_since_epoch().count();
    const std::int64_t lag = exact - c.coarse_now().time_since_epoch().count();
    longest = std::max(longest, lag);
    shortest = std::min(shortest, lag);
  }
  state.counters["max_lag_us"] = static_cast<double>(longest) / 1e3;
  state.counters["min_lag_us"] = static_cast<double>(shortest) / 1e3;
  state.counters["bound_us"] = static_cast<double>(c.max_lag().count()) / 1e3;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

BENCHMARK(BM_rung1_index)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_rung2_index_locked)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_rung3_l1_find_visit)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_rung3_l1_find_visit_clock_policy)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_rung3_clock<exact_time>)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_rung3_clock<coarse_time>)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_rung4_cache_visit)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_coarse_clock_lag)->UseRealTime();

}  // namespace
}  // namespace multicache::bench

BENCHMARK_MAIN();
