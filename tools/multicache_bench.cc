// multicache-bench — runs a workload through a Cache against a real Redis.
//
//   multicache-bench [--redis URL|none] [--keys N] [--zipf S] [--trace FILE]
//                    [--reads R] [--value-size B] [--threads T] [--duration SEC]
//                    [--loader-us U] [--l1-items N] [--json] [--simulate]
//
// Without --redis it starts a throwaway redis-server on a free loopback port;
// "--redis none" runs L1-only. Every operation picks a key from a Zipf(S)
// trace over N keys; a fraction R are get_or_load (whose loader sleeps U µs),
// the rest set. Prints progress each second, then throughput, latency
// percentiles (reads served from cache, reads that ran the loader, writes),
// hit ratio per layer and loader calls; --json prints the same as one object.
// --trace FILE takes the keys from a trace instead (binary, little-endian
// u64 key ids, one per request), replayed in order, round and round.
// --simulate replays the requests against each L1 policy at several sizes
// (the --trace file, or built-in Zipf, scan and loop traces) and prints hit
// ratios; no Redis.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <multicache/multicache.hpp>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../bench/workload.h"
#include "l1/l1_cache.h"
#include "support/redis_server.h"

namespace {

using steady = std::chrono::steady_clock;

struct Config {
  std::string redis;  // empty: throwaway server; "none": L1-only
  std::size_t keys = 100000;
  double zipf = 0.99;
  double reads = 0.95;
  std::size_t value_size = 100;
  int threads = 2;
  double duration_s = 10;
  int loader_us = 1000;
  std::size_t l1_items = 10000;
  bool json = false;
  bool simulate = false;
  std::string trace_file;  // empty: Zipf over keys
};

// Log-linear latency histogram: 8 buckets per power of two of nanoseconds.
class Histogram {
 public:
  void add(std::int64_t ns) {
    const double v = static_cast<double>(std::max<std::int64_t>(ns, 1));
    const auto i = std::min<std::size_t>(static_cast<std::size_t>(std::log2(v) * 8), k_n - 1);
    ++counts_[i];
    ++total_;
  }
  void merge(const Histogram& o) {
    for (std::size_t i = 0; i < k_n; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
  }
  double percentile_us(double p) const {
    if (total_ == 0) return 0;
    const auto target = static_cast<std::uint64_t>(p * static_cast<double>(total_ - 1));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < k_n; ++i) {
      seen += counts_[i];
      if (seen > target) return std::exp2((static_cast<double>(i) + 0.5) / 8) / 1000.0;
    }
    return 0;
  }
  std::uint64_t total() const { return total_; }

 private:
  static constexpr std::size_t k_n = 8 * 40;
  std::array<std::uint64_t, k_n> counts_{};
  std::uint64_t total_ = 0;
};

struct ThreadResult {
  Histogram cached;  // reads that did not run the loader (L1 or Redis)
  Histogram loaded;  // reads whose loader ran in this call
  Histogram writes;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "multicache-bench: %s\n"
               "usage: multicache-bench [--redis URL|none] [--keys N] [--zipf S] [--trace FILE]\n"
               "                        [--reads R]\n"
               "                        [--value-size B] [--threads T] [--duration SEC]\n"
               "                        [--loader-us U] [--l1-items N] [--json] [--simulate]\n",
               why);
  std::exit(2);
}

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    try {
      if (a == "--redis")
        c.redis = next();
      else if (a == "--keys")
        c.keys = std::stoul(next());
      else if (a == "--zipf")
        c.zipf = std::stod(next());
      else if (a == "--reads")
        c.reads = std::stod(next());
      else if (a == "--value-size")
        c.value_size = std::stoul(next());
      else if (a == "--threads")
        c.threads = std::stoi(next());
      else if (a == "--duration")
        c.duration_s = std::stod(next());
      else if (a == "--loader-us")
        c.loader_us = std::stoi(next());
      else if (a == "--l1-items")
        c.l1_items = std::stoul(next());
      else if (a == "--json")
        c.json = true;
      else if (a == "--simulate")
        c.simulate = true;
      else if (a == "--trace")
        c.trace_file = next();
      else
        usage(("unknown option " + a).c_str());
    } catch (const std::logic_error&) {
      usage(("bad value for " + a).c_str());
    }
  }
  if (c.keys == 0 || c.threads < 1 || c.duration_s <= 0 || c.reads < 0 || c.reads > 1) {
    usage("keys, threads and duration must be positive; reads within [0, 1]");
  }
  return c;
}

// A trace file: little-endian u64 key ids, one per request. Returns dense
// ids (0..distinct-1) in request order; exits with a message on a bad file.
std::vector<std::uint32_t> load_trace(const std::string& path, std::size_t* distinct) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) usage(("cannot open trace " + path).c_str());
  std::vector<std::uint32_t> ids;
  std::unordered_map<std::uint64_t, std::uint32_t> dense;
  unsigned char b[8];
  std::size_t got = 0;
  while ((got = std::fread(b, 1, 8, f)) == 8) {
    std::uint64_t key = 0;
    for (int i = 7; i >= 0; --i) key = (key << 8) | b[i];
    const auto [it, fresh] = dense.emplace(key, static_cast<std::uint32_t>(dense.size()));
    ids.push_back(it->second);
  }
  std::fclose(f);
  if (got != 0) usage(("trace " + path + ": size is not a multiple of 8 bytes").c_str());
  if (ids.empty()) usage(("trace " + path + " is empty").c_str());
  *distinct = dense.size();
  return ids;
}

// Replays `trace` (key ids) against an L1 of `capacity` entries with `p`;
// returns the hit ratio in percent. A miss inserts the key, as a load would.
double hit_ratio(const std::vector<std::uint32_t>& trace, std::size_t capacity,
                 multicache::l1::policy p) {
  namespace l1 = multicache::l1;
  l1::L1Counters counters;
  l1::L1Cache cache(capacity, std::size_t{1} << 40, &counters, p);
  const auto* ops = &multicache::detail::type_ops_for<std::string>;
  const auto value = std::make_shared<const std::string>("v");
  std::size_t hits = 0;
  std::string key;
  for (std::uint32_t id : trace) {
    key = std::to_string(id);
    const std::uint64_t h = l1::L1Cache::hash(key);
    std::optional<std::string> out;
    if (cache.find(key, h, ops, 1, &out) != l1::lookup_result::miss) {
      ++hits;
      continue;
    }
    l1::InsertRequest req;
    req.key = key;
    req.value = value;
    req.ops = ops;
    req.expires_at_ns = INT64_MAX / 2;
    req.stale_at_ns = INT64_MAX / 2;
    cache.insert(req, h, cache.fill_token(h), 1);
  }
  return 100.0 * static_cast<double>(hits) / static_cast<double>(trace.size());
}

// --simulate: the same requests against each policy, at several sizes.
// Deterministic: fixed seeds, one thread.
int simulate(const Config& cfg) {
  const std::size_t n = 1'000'000;
  const std::size_t length = 2'000'000;
  std::vector<std::pair<std::string, std::vector<std::uint32_t>>> traces;
  if (!cfg.trace_file.empty()) {
    std::size_t distinct = 0;
    traces.emplace_back("trace " + cfg.trace_file, load_trace(cfg.trace_file, &distinct));
    std::printf("%s: %zu requests, %zu distinct keys\n\n", cfg.trace_file.c_str(),
                traces.back().second.size(), distinct);
  } else {
    traces.emplace_back("zipf " + std::to_string(cfg.zipf).substr(0, 4) + " over 1M keys",
                        multicache::bench::zipf_trace(n, cfg.zipf, length, 7));
  }
  if (cfg.trace_file
          .empty()) {  // Zipf traffic with a one-off scan of fresh keys every 100k requests
    auto t = multicache::bench::zipf_trace(n, cfg.zipf, length, 8);
    std::uint32_t fresh = static_cast<std::uint32_t>(n);
    for (std::size_t i = 0; i + 20000 < t.size(); i += 100000) {
      for (std::size_t j = 0; j < 20000; ++j) t[i + j] = fresh++;
    }
    traces.emplace_back("zipf + scans (20% one-off keys)", std::move(t));
  }
  // Every Options::l1_policy; lru is clock inside L1, so they share a column.
  const std::pair<const char*, multicache::l1::policy> policies[] = {
      {"clock (= lru)", multicache::l1::policy::clock},
      {"tinylfu (default)", multicache::l1::policy::tinylfu},
  };
  std::printf("| trace | L1 entries |");
  for (const auto& [name, p] : policies) std::printf(" %s |", name);
  std::printf("\n|---|---|");
  for (std::size_t i = 0; i < std::size(policies); ++i) std::printf("---|");
  std::printf("\n");
  auto row = [&](const std::string& name, const std::vector<std::uint32_t>& trace,
                 std::size_t size) {
    std::printf("| %s | %zu |", name.c_str(), size);
    for (const auto& [policy_name, p] : policies)
      std::printf(" %.2f%% |", hit_ratio(trace, size, p));
    std::printf("\n");
    std::fflush(stdout);
  };
  for (const auto& [name, trace] : traces) {
    for (std::size_t size : {1000UL, 10000UL, 100000UL}) row(name, trace, size);
  }
  for (std::size_t size : {1000UL, 10000UL}) {  // a loop slightly larger than the cache
    if (!cfg.trace_file.empty()) break;
    std::vector<std::uint32_t> loop(length);
    for (std::size_t i = 0; i < length; ++i)
      loop[i] = static_cast<std::uint32_t>(i % (size + size / 5));
    row("loop over 1.2 x size", loop, size);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = parse(argc, argv);
  if (cfg.simulate) return simulate(cfg);
  std::unique_ptr<multicache::test::RedisServer> server;
  const std::string url =
      cfg.redis == "none" ? "" : multicache::test::url_or_private_server(cfg.redis, &server);
  multicache::Options o;
  o.redis_url = url;
  o.key_prefix = "mcbench:";
  o.l1_max_items = cfg.l1_items;
  multicache::Cache cache(o);
  if (!url.empty() && !cache.redis_connected()) {
    std::fprintf(stderr, "multicache-bench: Redis at %s is not reachable\n", url.c_str());
    return 1;
  }

  std::size_t key_count = cfg.keys;
  const auto trace = cfg.trace_file.empty()
                         ? multicache::bench::zipf_trace(cfg.keys, cfg.zipf, 1 << 20, 42)
                         : load_trace(cfg.trace_file, &key_count);
  const auto keys = multicache::bench::make_keys(key_count);
  const std::string value(cfg.value_size, 'v');
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> ops{0};
  std::vector<ThreadResult> results(static_cast<std::size_t>(cfg.threads));
  std::vector<std::thread> workers;
  const auto start = steady::now();
  for (int t = 0; t < cfg.threads; ++t) {
    workers.emplace_back([&, t] {
      ThreadResult& r = results[static_cast<std::size_t>(t)];
      std::size_t i = static_cast<std::size_t>(t) * 104729;
      std::uint64_t local = 0;
      const auto write_every =
          cfg.reads >= 1.0 ? 0 : static_cast<std::uint64_t>(std::lround(1.0 / (1.0 - cfg.reads)));
      while (!stop.load(std::memory_order_relaxed)) {
        const std::string& key = keys[trace[i++ % trace.size()]];
        const auto t0 = steady::now();
        if (write_every != 0 && ++local % write_every == 0) {
          try {
            cache.set<std::string>(key, value, std::chrono::seconds(60));
          } catch (const multicache::RedisError&) {
          }
          r.writes.add((steady::now() - t0).count());
        } else {
          bool ran = false;
          auto v = cache.get_or_load<std::string>(key, std::chrono::seconds(60), [&] {
            ran = true;
            std::this_thread::sleep_for(std::chrono::microseconds(cfg.loader_us));
            return value;
          });
          (ran ? r.loaded : r.cached).add((steady::now() - t0).count());
        }
        ops.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  const auto end = start + std::chrono::duration_cast<steady::duration>(
                               std::chrono::duration<double>(cfg.duration_s));
  std::uint64_t last = 0;
  while (steady::now() < end) {
    std::this_thread::sleep_until(std::min(end, steady::now() + std::chrono::seconds(1)));
    const std::uint64_t now_ops = ops.load();
    if (!cfg.json) {
      const double t = std::chrono::duration<double>(steady::now() - start).count();
      std::fprintf(stderr, "\r  %5.1f s  %10llu ops  %9.0f ops/s", t,
                   static_cast<unsigned long long>(now_ops), static_cast<double>(now_ops - last));
    }
    last = now_ops;
  }
  stop = true;
  for (auto& w : workers) w.join();
  const double elapsed = std::chrono::duration<double>(steady::now() - start).count();
  if (!cfg.json) std::fprintf(stderr, "\n");

  ThreadResult all;
  for (const auto& r : results) {
    all.cached.merge(r.cached);
    all.loaded.merge(r.loaded);
    all.writes.merge(r.writes);
  }
  const multicache::Stats s = cache.stats();
  auto ratio = [](std::uint64_t hit, std::uint64_t miss) {
    return hit + miss == 0 ? 0.0
                           : 100.0 * static_cast<double>(hit) / static_cast<double>(hit + miss);
  };
  const double throughput = static_cast<double>(ops.load()) / elapsed;
  if (cfg.json) {
    auto lat = [](const Histogram& h) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "{\"count\":%llu,\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f}",
                    static_cast<unsigned long long>(h.total()), h.percentile_us(0.5),
                    h.percentile_us(0.99), h.percentile_us(0.999));
      return std::string(buf);
    };
    std::printf(
        "{\"threads\":%d,\"seconds\":%.2f,\"ops_per_s\":%.0f,\"reads_cached\":%s,"
        "\"reads_loaded\":%s,\"writes\":%s,\"l1_hit_pct\":%.2f,\"l2_hit_pct\":%.2f,"
        "\"loader_calls\":%llu,\"redis_errors\":%llu}\n",
        cfg.threads, elapsed, throughput, lat(all.cached).c_str(), lat(all.loaded).c_str(),
        lat(all.writes).c_str(), ratio(s.l1_hits, s.l1_misses), ratio(s.l2_hits, s.l2_misses),
        static_cast<unsigned long long>(s.loads), static_cast<unsigned long long>(s.redis_errors));
    return 0;
  }
  const std::string keys_from = cfg.trace_file.empty()
                                    ? "Zipf " + std::to_string(cfg.zipf).substr(0, 4)
                                    : "trace " + cfg.trace_file;
  std::printf("%s, %zu keys, %s, %.0f%% reads, %zu-byte values, %d threads, %.1f s\n",
              url.empty() ? "L1-only" : url.c_str(), key_count, keys_from.c_str(), cfg.reads * 100,
              cfg.value_size, cfg.threads, elapsed);
  std::printf("throughput: %.0f ops/s\n\n", throughput);
  std::printf("| operations | count | p50 µs | p99 µs | p99.9 µs |\n|---|---|---|---|---|\n");
  auto row = [](const char* name, const Histogram& h) {
    std::printf("| %s | %llu | %.2f | %.2f | %.2f |\n", name,
                static_cast<unsigned long long>(h.total()), h.percentile_us(0.5),
                h.percentile_us(0.99), h.percentile_us(0.999));
  };
  row("reads served from L1 or Redis", all.cached);
  row("reads that ran the loader", all.loaded);
  row("writes (set)", all.writes);
  std::printf(
      "\nhit ratio: L1 %.2f%%, Redis %.2f%% of L1 misses; loader calls %llu; redis "
      "errors %llu\n",
      ratio(s.l1_hits, s.l1_misses), ratio(s.l2_hits, s.l2_misses),
      static_cast<unsigned long long>(s.loads), static_cast<unsigned long long>(s.redis_errors));
  return 0;
}
