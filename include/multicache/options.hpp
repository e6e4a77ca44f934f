// multicache/options.hpp — configuration of a multicache::Cache.
//
// Options is a plain aggregate meant for designated initializers:
//
//   multicache::Cache cache({.redis_url = "redis://127.0.0.1:6379",
//                            .l1_max_items = 5000,
//                            .compression = true});
//
// Every field states its default, unit and meaning. The first rows mirror the
// Go library's options table (same names, same defaults); the rest are what a
// production deployment needs. Cache's constructor calls validate(), which
// throws std::invalid_argument naming the offending field.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "multicache/clock.hpp"
#include "multicache/metrics.hpp"

namespace multicache {

// Severity of a message passed to Options::log.
enum class log_level { debug, info, warning, error };

// How L1 chooses what to keep (Options::l1_policy). Under every policy hits
// take only a shard's shared lock, and both bounds (l1_max_items,
// l1_max_memory_mb) hold; each of L1's shards applies the policy to its own
// entries.
//   tinylfu: W-TinyLFU, the default. New entries enter a small admission
//            window (1% of the entries, CLOCK); when it overflows, its
//            candidate enters the main region only if a frequency sketch
//            (count-min, counters up to 15, a bloom-filter doorkeeper for
//            first-time keys, halved periodically) rates it strictly more
//            popular than the main region's victim — else the candidate is
//            evicted. The main region is split into probation (20%) and
//            protected (80%, entries hit while in probation), each a CLOCK.
//            Best on skewed (Zipf), scanned and looping traffic. Each lookup
//            also counts the key in the sketch (lock-free); the sketch and
//            doorkeeper take 16 to 32 bytes per l1_max_items (a 64-byte block
//            per 4, rounded up to a power of two), outside the byte bound.
//   clock:   CLOCK (second chance) eviction, an LRU approximation: no
//            admission, no sketch. A little cheaper per lookup.
//   lru:     the same as clock (L1 implements LRU as CLOCK, so hits need no
//            exclusive lock); a name for those who ask for LRU.
enum class eviction_policy { tinylfu, clock, lru };

struct Options {
  // --- The Go library's options -------------------------------------------

  // Redis to use as L2. Empty: L1-only mode (no Redis, no cross-instance sync).
  //   redis://[[user]:password@]host[:port][/db]   (port 6379, db 0 by default)
  //   unix:///path/to/redis.sock[?db=N]
  //   redis-cluster://[[user]:password@]host:port,host:port,...  (seed nodes)
  //   redis-sentinel://[[user]:password@]host:port,.../master_name[?db=N&sentinel_password=p]
  // rediss:// (TLS) is rejected: hiredis 0.14 has no TLS support.
  // Cluster: keys route by hash slot to their primary (pool_size connections
  // each); MOVED/ASK are followed. Sentinel: the sentinels name the primary,
  // and the cache reconnects when they announce a new one.
  std::string redis_url{};

  // L1 bound on entry count. Must be >= 1. Default 10000.
  std::size_t l1_max_items = 10000;

  // L1 eviction/admission policy (see eviction_policy). Default tinylfu.
  eviction_policy l1_policy = eviction_policy::tinylfu;

  // L1 bound on bytes, in MiB, counting keys, values and per-entry overhead.
  // Must be >= 1. Default 100.
  std::size_t l1_max_memory_mb = 100;

  // Prepended to every key in Redis. Default "cache:".
  std::string key_prefix = "cache:";

  // Pub/Sub channel carrying invalidations between instances.
  // Must not be empty. Default "multicache:sync".
  std::string pubsub_channel = "multicache:sync";

  // An entry becomes stale after ttl * ratio; a read of a stale entry returns it
  // at once and refreshes it in the background. Range [0.1, 0.99]. Default 0.8.
  double early_refresh_ratio = 0.8;

  // Snappy-compress payloads of at least compression_min_bytes bytes when
  // writing. Reading always honours the stored flag. Default false.
  bool compression = false;

  // Circuit breaker around every Redis call; on Redis Cluster one per
  // primary, so one primary's outage does not send the other primaries' keys
  // to the loader. Default false.
  bool circuit_breaker = false;
  // Consecutive Redis failures that open the breaker. >= 1. Default 3.
  int circuit_breaker_max_failures = 3;
  // How long the breaker stays open before one probe is let through. > 0. Default 5 s.
  std::chrono::milliseconds circuit_breaker_open_timeout{5000};

  // Export metrics: Cache::metrics(), Cache::metrics_text(), latency
  // histograms. (The counters behind Cache::stats() are always kept.) Default false.
  bool metrics = false;
  // Prefix of exported metric names. Must match [a-zA-Z_:][a-zA-Z0-9_:]*. Default "multicache".
  std::string metrics_prefix = "multicache";
  // Constant labels on every exported sample, e.g. {{"cache", "users"}}, so
  // several caches in one process can share a prefix. Names must match
  // [a-zA-Z_][a-zA-Z0-9_]* and not be one the cache uses itself. Default none.
  MetricLabels metrics_labels{};
  // Serve GET /metrics (Prometheus text format) on "host:port", e.g.
  // "127.0.0.1:9464"; port 0 picks a free one (see Cache::metrics_port()).
  // Needs metrics = true. Empty: no endpoint. Default empty.
  std::string metrics_listen{};

  // --- Production settings --------------------------------------------------

  // Payloads shorter than this stay uncompressed even with compression on
  // (Snappy makes tiny values bigger). Default 256 bytes.
  std::size_t compression_min_bytes = 256;

  // Cap on how long an entry may live in L1, whatever its Redis TTL. This
  // bounds staleness when an invalidation message is lost. 0 = no cap (the
  // entry's TTL alone bounds it). Default 0.
  std::chrono::milliseconds l1_ttl{0};

  // Stale-if-error: when a load fails (the loader throws and Redis has no
  // usable value), an L1 copy whose value expired less than this long ago is
  // returned instead of the exception. The grace counts from the value's
  // ttl (or the PTTL it was read with), not from the end of its L1 life
  // that l1_ttl may set earlier. 0 = off. Default 0.
  std::chrono::milliseconds stale_if_error{0};

  // Negative caching: when a loader returns an empty std::optional (the
  // caller used get_or_load<std::optional<T>>), or a get_or_load_many<
  // std::optional<T>> batch loader leaves a key out, "not found" is cached for
  // min(ttl, negative_ttl), in L1 and as a marker under a separate Redis key
  // (Go instances never read it: to them the key is simply absent). 0: absence
  // is not cached. set() and remove() clear the marker. Default 10 s.
  std::chrono::milliseconds negative_ttl{10000};

  // Distributed single-flight: when several instances miss the same key at
  // once, only the one holding a short Redis lock (SET NX PX lock_ttl) runs the
  // loader; the others poll Redis for its value, for at most lock_wait, then
  // load by themselves. A crashed holder blocks others for at most lock_ttl.
  // Costs one more round trip per load. get_or_load_many takes the locks of
  // its missing keys in one pipeline, loads the ones it holds at once, and
  // polls for the others together. Default false.
  bool distributed_single_flight = false;
  std::chrono::milliseconds lock_ttl{10000};  // > 0. Default 10 s.
  std::chrono::milliseconds lock_wait{5000};  // > 0. Default 5 s.

  // TTL jitter: every stored entry's ttl is shortened by a random fraction in
  // [0, ttl_jitter), so keys loaded together do not expire together.
  // Range [0, 0.5]. Default 0 (off).
  double ttl_jitter = 0.0;

  // Time allowed to establish a Redis connection (TCP + AUTH + SELECT). > 0. Default 1 s.
  std::chrono::milliseconds connect_timeout{1000};
  // Time allowed for one Redis round trip (a pipeline of commands). > 0. Default 250 ms.
  std::chrono::milliseconds command_timeout{250};
  // How long a caller whose Redis command another thread sends (the leader
  // of a read round, or the event loop; many concurrent callers) spins,
  // yielding the CPU (sched_yield), before it sleeps until its reply. A
  // reply that comes while it spins costs no thread wake-up; the waiting
  // thread burns CPU instead, up to this much per command while Redis is
  // slow to answer. A lone caller never spins (it sends its own command).
  // Measured (docs/performance.md): reads under concurrency gain throughput
  // and, from 16 threads up, spend less CPU per read than with 0 (sleep at
  // once). Applies only when the constructing thread's affinity mask holds
  // more than one CPU (threads inherit it; taskset, a cpuset): on one CPU a
  // spinning waiter only holds back the thread it waits for, so it sleeps at
  // once (metric redis_spin_wait_seconds: the spin in effect). A CPU quota
  // does not count (docs/performance.md).
  // Range [0, 100 ms], and not above command_timeout. Default 100 µs.
  std::chrono::microseconds redis_spin_wait{100};
  // Number of multiplexed Redis connections for commands, and as many
  // blocking connections that reads share; concurrent callers' commands are
  // pipelined on both. Range [1, 64]. Default 2.
  int pool_size = 2;

  // Background refresh: worker threads (range [1, 64], default 2) and the bound
  // on queued refreshes (>= 1, default 1024; when full, a refresh is skipped
  // and counted).
  int refresh_threads = 2;
  std::size_t refresh_queue_size = 1024;

  // Where log lines go. Default (empty): one line to stderr for warnings and errors.
  std::function<void(log_level, std::string_view)> log{};

  // Monotonic time source for L1 expiry, staleness and the breaker. Default
  // (null): SystemClock (std::chrono::steady_clock; L1 hits read its coarse
  // reading, see clock.hpp). Tests inject a ManualClock. What goes
  // to Redis (stale-after seconds, SET PXAT deadlines) always uses the real
  // wall clock: keep instances' clocks in sync with Redis's (NTP).
  std::shared_ptr<const Clock> clock{};

  // Test-only hook: called with the key just before a value read from Redis
  // or returned by a loader is put into L1, and by set() with Redis before
  // its Redis write (after the old value left L1), on the thread doing it.
  // Lets tests force an invalidation or another write into that window.
  // Leave empty in production.
  std::function<void(std::string_view key)> test_before_l1_fill{};

  // Throws std::invalid_argument naming the first invalid field.
  void validate() const;
};

}  // namespace multicache
