// multicache-bench — runs a workload through a Cache against a real Redis.
//
//   multicache-bench [--redis URL|none] [--keys N] [--zipf S] [--trace FILE]
//                    [--reads R] [--value-size B] [--threads T] [--duration SEC]
//                    [--loader-us U] [--l1-items N] [--json] [--simulate] [--help]
//
// Without --redis it starts a throwaway redis-server on a free loopback port
// (and stops it on every way out: the end of the run, an error, Ctrl-C or
// SIGTERM); "--redis none" runs L1-only. Every operation picks a key from a
// Zipf(S) trace over N keys; a fraction R of them (exactly, over each
// thread's operations) are get_or_load (whose loader sleeps U µs), the rest
// set. Prints progress each second, then throughput, latency percentiles
// per layer (reads by where get_or_load says their value came from: L1,
// Redis, another caller of the key, the loader; and writes), hit ratio per
// layer and loader calls; --json prints the same as one object.
// --trace FILE takes the keys from a trace instead (binary, little-endian
// u64 key ids, one per request), replayed in order, round and round.
// --simulate replays the requests against each L1 policy at several sizes
// (the --trace file, or built-in Zipf, scan and loop traces) and prints hit
// ratios; no Redis. Exit status: 0 done, 1 Redis unreachable or another
// failure, 2 a bad command line, 128 + the signal's number when interrupted
// (after the report of what ran).
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <multicache/multicache.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../bench/workload.h"
#include "bench_options.h"
#include "l1/l1_cache.h"
#include "support/redis_server.h"

namespace {

using multicache::tool::Config;
using steady = std::chrono::steady_clock;

// How often the main thread looks for a signal while the run goes on.
constexpr auto k_poll = std::chrono::milliseconds(50);

// The signal (SIGINT, SIGTERM or SIGHUP) that asked the run to stop; 0: none.
// A second one ends the process at once (SA_RESETHAND); the throwaway
// redis-server then dies with it (RedisServer sets PR_SET_PDEATHSIG).
volatile std::sig_atomic_t g_signal = 0;

void on_signal(int sig) { g_signal = sig; }

void stop_on_signals() {
  struct sigaction sa {};
  sa.sa_handler = &on_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);  // a closed terminal
}

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

// Reads by where get_or_load said their value came from (multicache::read_source).
constexpr std::size_t k_sources = 5;
static_assert(static_cast<std::size_t>(multicache::read_source::stale_on_error) + 1 == k_sources,
              "one histogram per read_source");

struct ThreadResult {
  std::array<Histogram, k_sources> reads;  // indexed by read_source
  Histogram writes;
  Histogram& by(multicache::read_source from) { return reads[static_cast<std::size_t>(from)]; }
  const Histogram& by(multicache::read_source from) const {
    return reads[static_cast<std::size_t>(from)];
  }
};

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
    traces.emplace_back("trace " + cfg.trace_file,
                        multicache::tool::load_trace(cfg.trace_file, &distinct));
    std::fprintf(cfg.json ? stderr : stdout, "%s: %zu requests, %zu distinct keys\n\n",
                 cfg.trace_file.c_str(), traces.back().second.size(), distinct);
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
  // --json: {"rows":[{"trace":..., "l1_entries":N, "hit_pct":{"clock":..., "tinylfu":...}}]}
  nlohmann::json rows = nlohmann::json::array();
  if (!cfg.json) {
    std::printf("| trace | L1 entries |");
    for (const auto& [name, p] : policies) std::printf(" %s |", name);
    std::printf("\n|---|---|");
    for (std::size_t i = 0; i < std::size(policies); ++i) std::printf("---|");
    std::printf("\n");
  }
  auto row = [&](const std::string& name, const std::vector<std::uint32_t>& trace,
                 std::size_t size) {
    if (cfg.json) {
      nlohmann::json pct;
      pct["clock"] = hit_ratio(trace, size, multicache::l1::policy::clock);
      pct["tinylfu"] = hit_ratio(trace, size, multicache::l1::policy::tinylfu);
      rows.push_back({{"trace", name}, {"l1_entries", size}, {"hit_pct", pct}});
      return;
    }
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
  if (cfg.json)
    std::printf("%s\n", nlohmann::json{{"rows", rows}}
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                            .c_str());
  return 0;
}

// The run: everything main() does, so that every way out of it (a return,
// an exception) stops the throwaway redis-server through its destructor.
int run(const Config& cfg) {
  if (cfg.simulate) return simulate(cfg);
  // The trace first: a bad file ends the run before a server starts.
  std::size_t key_count = cfg.keys;
  const auto trace = cfg.trace_file.empty()
                         ? multicache::bench::zipf_trace(cfg.keys, cfg.zipf, 1 << 20, 42)
                         : multicache::tool::load_trace(cfg.trace_file, &key_count);
  const auto keys = multicache::bench::make_keys(key_count);
  stop_on_signals();
  std::unique_ptr<multicache::test::RedisServer> server;
  const std::string url =
      cfg.redis == "none" ? "" : multicache::test::url_or_private_server(cfg.redis, &server);
  multicache::Options o;
  o.redis_url = url;
  o.key_prefix = "mcbench:";
  o.l1_max_items = cfg.l1_items;
  // Before the cache: a background refresh may run its loader, which
  // returns this, until the cache is destroyed.
  const std::string value(cfg.value_size, 'v');
  multicache::Cache cache(o);
  if (!url.empty() && !cache.redis_connected()) {
    std::fprintf(stderr, "multicache-bench: Redis at %s is not reachable\n",
                 multicache::tool::redacted(url).c_str());
    return 1;
  }
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> ops{0};
  std::vector<ThreadResult> results(static_cast<std::size_t>(cfg.threads));
  std::vector<std::thread> workers;
  const auto start = steady::now();
  for (int t = 0; t < cfg.threads; ++t) {
    workers.emplace_back([&, t] {
      ThreadResult& r = results[static_cast<std::size_t>(t)];
      std::size_t i = static_cast<std::size_t>(t) * 104729;
      // Writes in millionths of an operation: each operation adds the write
      // share, and one that brings the sum to a whole million writes.
      const auto write_share = std::llround((1.0 - cfg.reads) * 1e6);
      long long owed = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::string& key = keys[trace[i++ % trace.size()]];
        const auto t0 = steady::now();
        owed += write_share;
        if (owed >= 1'000'000) {
          owed -= 1'000'000;
          try {
            cache.set<std::string>(key, value, std::chrono::seconds(60));
          } catch (const multicache::RedisError&) {
          }
          r.writes.add((steady::now() - t0).count());
        } else {
          // Kept for background refreshes too: it captures only what
          // outlives the cache.
          auto loader = [&value, us = cfg.loader_us] {
            std::this_thread::sleep_for(std::chrono::microseconds(us));
            return value;
          };
          multicache::read_source from = multicache::read_source::l1;
          auto v = cache.get_or_load<std::string>(key, std::chrono::seconds(60), loader, &from);
          r.by(from).add((steady::now() - t0).count());
        }
        ops.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  const auto end = start + std::chrono::duration_cast<steady::duration>(
                               std::chrono::duration<double>(cfg.duration_s));
  std::uint64_t last = 0;
  auto next_report = start + std::chrono::seconds(1);
  while (steady::now() < end && g_signal == 0) {
    std::this_thread::sleep_until(std::min({end, next_report, steady::now() + k_poll}));
    if (steady::now() < next_report && steady::now() < end) continue;
    next_report += std::chrono::seconds(1);
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

  using multicache::read_source;
  ThreadResult all;
  for (const auto& r : results) {
    for (std::size_t i = 0; i < k_sources; ++i) all.reads[i].merge(r.reads[i]);
    all.writes.merge(r.writes);
  }
  Histogram cached;  // every read that did not run the loader
  for (read_source from :
       {read_source::l1, read_source::redis, read_source::joined, read_source::stale_on_error}) {
    cached.merge(all.by(from));
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
        "\"reads_l1\":%s,\"reads_redis\":%s,\"reads_joined\":%s,\"reads_stale_on_error\":%s,"
        "\"reads_loaded\":%s,\"writes\":%s,\"l1_hit_pct\":%.2f,\"l2_hit_pct\":%.2f,"
        "\"loader_calls\":%llu,\"redis_errors\":%llu}\n",
        cfg.threads, elapsed, throughput, lat(cached).c_str(), lat(all.by(read_source::l1)).c_str(),
        lat(all.by(read_source::redis)).c_str(), lat(all.by(read_source::joined)).c_str(),
        lat(all.by(read_source::stale_on_error)).c_str(), lat(all.by(read_source::loader)).c_str(),
        lat(all.writes).c_str(), ratio(s.l1_hits, s.l1_misses), ratio(s.l2_hits, s.l2_misses),
        static_cast<unsigned long long>(s.loads), static_cast<unsigned long long>(s.redis_errors));
    return g_signal == 0 ? 0 : 128 + g_signal;
  }
  const std::string keys_from = cfg.trace_file.empty()
                                    ? "Zipf " + std::to_string(cfg.zipf).substr(0, 4)
                                    : "trace " + cfg.trace_file;
  std::printf("%s, %zu keys, %s, %g%% reads, %zu-byte values, %d threads, %.1f s%s\n",
              url.empty() ? "L1-only" : multicache::tool::redacted(url).c_str(), key_count,
              keys_from.c_str(), cfg.reads * 100, cfg.value_size, cfg.threads, elapsed,
              g_signal == 0 ? "" : " (interrupted)");
  std::printf("throughput: %.0f ops/s\n\n", throughput);
  std::printf("| operations | count | p50 µs | p99 µs | p99.9 µs |\n|---|---|---|---|---|\n");
  auto row = [](const char* name, const Histogram& h) {
    std::printf("| %s | %llu | %.2f | %.2f | %.2f |\n", name,
                static_cast<unsigned long long>(h.total()), h.percentile_us(0.5),
                h.percentile_us(0.99), h.percentile_us(0.999));
  };
  row("reads served by L1", all.by(read_source::l1));
  row("reads served by Redis", all.by(read_source::redis));
  row("reads that waited for another caller of the key", all.by(read_source::joined));
  row("reads that ran the loader", all.by(read_source::loader));
  // The tool's loader never fails, but say so if a read was served stale.
  if (all.by(read_source::stale_on_error).total() != 0)
    row("reads served stale after a failed load", all.by(read_source::stale_on_error));
  row("writes (set)", all.writes);
  std::printf(
      "\nhit ratio: L1 %.2f%%, Redis %.2f%% of L1 misses; loader calls %llu; redis "
      "errors %llu\n",
      ratio(s.l1_hits, s.l1_misses), ratio(s.l2_hits, s.l2_misses),
      static_cast<unsigned long long>(s.loads), static_cast<unsigned long long>(s.redis_errors));
  return g_signal == 0 ? 0 : 128 + g_signal;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Config cfg = multicache::tool::parse(argc, argv);
    if (cfg.help) {
      std::fputs(multicache::tool::usage(), stdout);
      return 0;
    }
    return run(cfg);
  } catch (const multicache::tool::UsageError& e) {
    std::fprintf(stderr, "multicache-bench: %s\n%s", e.what(), multicache::tool::usage());
    return 2;
  } catch (const std::invalid_argument& e) {  // Options the library refused (a bad URL, ...)
    std::fprintf(stderr, "multicache-bench: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "multicache-bench: %s\n", e.what());
    return 1;
  }
}
