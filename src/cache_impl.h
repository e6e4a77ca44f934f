// cache_impl.h — Cache::Impl: the parts a Cache owns and how they connect.
//
//   caller ─▶ L1Cache ─miss─▶ SingleFlight ─leader─▶ RedisStore ─▶ CircuitBreaker ─▶ RedisClient
//                                         (on a cluster: ClusterClient ─▶ a breaker per primary)
//                                              └─miss─▶ loader ─▶ L1 + Redis (SET PXAT NX)
//   Subscriber (loop thread) ─message─▶ L1Cache::erase      Executor ─▶ refreshes
//
// Lifetime: constructed whole by Cache's constructor; close() shuts down, in
// order, the refresh executor (running refreshes finish, queued ones are
// dropped), the subscriber, and the Redis client (its loop thread).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "l1/l1_cache.h"
#include "l2/command_client.h"
#include "l2/redis_store.h"
#include "load/executor.h"
#include "load/single_flight.h"
#include "metrics/counters.h"
#include "metrics/families.h"
#include "metrics/http_endpoint.h"
#include "multicache/cache.hpp"
#include "resilience/circuit_breaker.h"
#include "sync/subscriber.h"
#include "util/mutex.h"

namespace multicache {

class Cache::Impl {
 public:
  explicit Impl(Options options);
  ~Impl();

  void close();

  // Time. now_ns(): the clock's exact time. read_time(): what an L1 hit
  // checks deadlines against, the clock's coarse reading (see
  // Clock::coarse_now), which settles a deadline near it with now_ns().
  std::int64_t now_ns() const { return clock_->now().time_since_epoch().count(); }
  l1::ReadTime read_time() const {
    return {clock_->coarse_now().time_since_epoch().count(), lag_ns_, clock_};
  }
  static std::int64_t wall_ns();  // real Unix time in ns (for Redis and other instances)

  void log(log_level level, std::string_view message) const;

  // When a value written now with this ttl expires in L1, turns stale, and
  // what stale-after second goes into its Redis header.
  struct Deadlines {
    std::int64_t now_ns;
    std::int64_t expires_at_ns;        // in L1 (l1_ttl may cut it short)
    std::int64_t value_expires_at_ns;  // the value's (its ttl)
    std::int64_t stale_at_ns;
    std::uint64_t stale_after_s;
    std::int64_t expires_at_unix_ms;  // the Redis deadline (SET PXAT)
  };
  Deadlines deadlines_for(std::chrono::milliseconds ttl) const;
  static bool is_cluster_url(std::string_view url);
  // Counts and logs a breaker's transitions; which: "" or " for node host:port".
  resilience::CircuitBreaker::TransitionFn breaker_transition_fn(std::string which);
  // The breakers' worst state: this cache's, or on a cluster its nodes'.
  resilience::breaker_state breaker_state() const;
  // ttl shortened by a random fraction below Options::ttl_jitter (at least 1 ms).
  std::chrono::milliseconds jittered(std::chrono::milliseconds ttl) const;
  // Stale-if-error: an expired L1 value within the grace period, or null.
  // count: counted as served (stale_served_on_error) when found.
  detail::erased_value stale_on_error(std::string_view key, std::uint64_t hash,
                                      const detail::TypeOps* ops, bool count = true);
  // A follower's wait for the key's leader: its value (null: load it
  // yourself), or, when its load failed, the stale-if-error value or its
  // exception (a leading caller applies stale-if-error itself; a background
  // refresh does not, so its followers do). Throws LoadCycleError as wait().
  // *stale (optional): set when the value returned is the stale-if-error one.
  detail::erased_value wait_for_leader(std::string_view key, const detail::TypeOps* ops,
                                       const std::shared_ptr<load::SingleFlight::Call>& call,
                                       bool* stale = nullptr);
  l1::InsertRequest insert_request(std::string_view key, const detail::erased_value& value,
                                   const detail::TypeOps* ops, std::size_t payload_bytes,
                                   const Deadlines& d) const;
  std::string envelope(std::string_view payload, const Deadlines& d) const;
  // The codec's bytes for value: a view of a std::string's own bytes (its
  // codec is the identity, so nothing is copied), else ops->encode(), kept in
  // *storage. May throw what the codec throws.
  static std::string_view encoded(const detail::erased_value& value, const detail::TypeOps* ops,
                                  std::string* storage);

  // Redis, with the breaker and error counting; false/empty when L1-only or closed.
  bool has_redis() const { return store_ != nullptr && !closed_.load(std::memory_order_acquire); }
  l2::Result exec(std::vector<std::string> commands, std::size_t affinity);
  // exec without waiting: the outcome is recorded (breaker, counters) when it comes.
  void exec_async(std::vector<std::string> commands, std::size_t affinity);

  struct L2Value {
    detail::erased_value value;  // null: miss or error
    bool stale = false;          // past its stale-after second (see decode_read)
    bool may_be_stale = false;   // in or past it: the writer's exact time may have passed
    std::optional<std::int64_t> remaining_ms;  // L1 lifetime allowed by Redis; nullopt: none
    std::uint64_t stale_after_s = 0;
    std::size_t payload_bytes = 0;  // the codec's bytes, for L1 accounting
    bool corrupt = false;           // bytes were there but unusable
    bool failed = false;            // Redis did not answer (or the breaker is open)
    bool negative = false;          // a "not found" marker (value is the empty optional)
    std::string raw;                // the bytes read, when asked for (refresh's compare-and-set)
    // The clock's time just before the read was sent: remaining_ms counts
    // from no earlier, so an L1 copy is timed from here (0: unknown, now).
    std::int64_t sent_at_ns = 0;
  };
  // How store_loaded treats Redis.
  struct StoreMode {
    bool write_l2 = true;    // false after a failed read: Redis is likely down
    bool overwrite = false;  // plain SET (refreshes, repairing corrupt bytes); else SET NX,
                             // so a load never replaces a value another writer stored meanwhile
    bool publish = false;    // also send an invalidation
    // Compare-and-set: replace only these bytes ("" = only if absent).
    std::optional<std::string> if_equals{};
  };
  // Reads and decodes one key from Redis; corrupt bytes count as a miss.
  L2Value l2_read(std::string_view key, const detail::TypeOps* ops, bool keep_raw = false);
  // l2_read of many keys in one round trip.
  std::vector<L2Value> l2_read_many(const std::vector<std::string_view>& keys,
                                    const detail::TypeOps* ops, bool keep_raw = false);
  L2Value decode_read(const l2::ReadResult& r, const detail::TypeOps* ops, bool keep_raw = false);
  // Puts an L2 value into L1 if the fill token still holds.
  // will_refresh: the caller schedules the refresh of a stale value itself,
  // so the entry goes in already claimed; otherwise a later read claims it.
  void fill_from_l2(std::string_view key, std::uint64_t hash, const L2Value& v,
                    const detail::TypeOps* ops, const l1::FillToken& token,
                    bool will_refresh = false);
  // Stores a loaded value in L1 (token-checked) and Redis. If an invalidation
  // arrived while it loaded, the value is suspect and is stored nowhere.
  // Encoding failures are counted, not thrown.
  // The first half of store_loaded: L1, and the Redis write it would make.
  std::optional<l2::WriteRequest> prepare_store(std::string_view key, std::uint64_t hash,
                                                const detail::erased_value& value,
                                                const detail::TypeOps* ops,
                                                std::chrono::milliseconds ttl,
                                                const l1::FillToken& token, StoreMode mode);
  void store_loaded(std::string_view key, std::uint64_t hash, const detail::erased_value& value,
                    const detail::TypeOps* ops, std::chrono::milliseconds ttl,
                    const l1::FillToken& token, StoreMode mode);
  // The second half of store_loaded, for the writes prepare_store returned
  // (one load's, or a batch's): sends them in one pipeline, awaited, then per
  // write counts its invalidation, drops a reload whose compare-and-set lost
  // from L1, or takes back a fill an invalidation overtook. fills[i]: the key
  // hash and fill token of writes[i].
  struct Fill {
    std::uint64_t hash;
    l1::FillToken token;
  };
  void store_prepared(const std::vector<l2::WriteRequest>& writes, const std::vector<Fill>& fills);
  // A refresh found its key gone from the database: drops the L1 copy unless
  // written since, and (write_l2) the Redis copy if Redis still holds the
  // bytes the refresh read, telling the other instances.
  void forget_refreshed(std::string_view key, std::uint64_t hash, const l1::FillToken& token,
                        const std::string& read_bytes, bool write_l2);
  // After a fill's Redis write was answered: if an
  // invalidation of its key arrived since its token was checked, its DEL may
  // have gone out first, leaving the loaded value behind it in Redis. The
  // write is then taken back (RedisStore::undo_async; counted).
  void withdraw_if_overtaken(const l2::WriteRequest& w, std::uint64_t hash,
                             const l1::FillToken& token);
  // Distributed single-flight (cache_dlock.cc): loads under a Redis lock, or
  // waits for the lock holder's value. Stores what it loads. *from: loader,
  // or joined (the holder's value).
  detail::erased_value load_under_lock(std::string_view key, std::uint64_t hash,
                                       const detail::TypeOps* ops, std::chrono::milliseconds ttl,
                                       const l1::FillToken& token, const detail::LoaderRef& loader,
                                       read_source* from);
  // Distributed single-flight for a batch's misses (cache_dlock.cc), as
  // load_under_lock does for one key, with one pipeline per step for all of
  // them. The keys are named by position in `keys`. Those it locks (and
  // those with lock = false) it hands to load(positions) at once; the
  // others, locked by other instances, it polls Redis for with the same
  // backoff, handing what appears to found(position, value) and taking over
  // vanished locks, until lock_wait, when load() gets the rest. A key whose
  // lock attempt or poll failed goes to failed(position) (so its value is
  // not written back), then to load(). Locks are released after each load(),
  // exceptions included.
  struct BatchLockHooks {
    std::function<void(const std::vector<std::size_t>&)> load;
    std::function<void(std::size_t, L2Value)> found;
    std::function<void(std::size_t)> failed;
  };
  void batch_under_locks(const std::vector<std::string_view>& keys, const std::vector<bool>& lock,
                         const detail::TypeOps* ops, const BatchLockHooks& hooks);
  std::string new_lock_token();
  // The background refresh of stale keys (cache_refresh.cc): one key's
  // (get_or_load) or a batch's (get_or_load_many), with one Redis read, one
  // loader call and one pipeline of writes for all of them. tokens[i]
  // belongs to keys[i]: taken when the refresh was queued, so that a write
  // of the key after that (set(), an invalidation) cancels it.
  void run_batch_refresh(const std::vector<std::string>& keys,
                         const std::vector<l1::FillToken>& tokens, std::chrono::milliseconds ttl,
                         const detail::TypeOps* ops, const detail::OwnedBatchLoader& loader);
  std::optional<std::string> invalidation_message(std::string_view key) const;

  // Calls a loader and times it (with metrics); rethrows its exception.
  // Callers count loads themselves.
  template <class Loader>
  auto timed_load(const Loader& loader) -> decltype(loader()) {
    const std::int64_t t0 = opts_.metrics ? mono_ns() : 0;
    struct Observe {
      Impl* m;
      std::int64_t t0;
      ~Observe() {
        if (m->opts_.metrics) m->latencies_.db.observe_ns(mono_ns() - t0);
      }
    } observe{this, t0};
    return loader();
  }
  // Runs one L1 lookup, find(hash, now), counting it and timing one in 64
  // (the l1 histogram holds hits only: a miss goes on to Redis or the loader).
  template <class Find>
  l1::lookup_result counted_find(Find&& find, std::string_view key) {
    const bool timed = sample_l1();
    const std::int64_t t0 = timed ? mono_ns() : 0;
    const l1::lookup_result r = find(l1::L1Cache::hash(key), read_time());
    if (timed && r != l1::lookup_result::miss) latencies_.l1.observe_ns(mono_ns() - t0);
    if (r == l1::lookup_result::miss) {
      counters_.l1_misses.add();
    } else {
      counters_.l1_hits.add();
    }
    return r;
  }
  // Snapshot of every counter and gauge (cache_stats.cc).
  Stats snapshot() const;
  // Exported families; empty without Options::metrics (cache_stats.cc).
  std::vector<MetricFamily> families() const;

  // True for one call in 64 per thread when metrics are on: time this L1 lookup.
  bool sample_l1() const {
    if (!opts_.metrics) return false;
    thread_local unsigned n = 0;
    return (++n & 63u) == 0;
  }
  static std::int64_t mono_ns() {
    return std::chrono::steady_clock::now().time_since_epoch().count();
  }
  void on_message(std::string_view payload);
  void on_subscribed();

  const Options opts_;
  const Clock* clock_ = nullptr;
  std::int64_t lag_ns_ = 0;                    // clock_->max_lag()
  std::string origin_;                         // this instance's random id
  std::atomic<std::uint64_t> lock_serial_{0};  // makes lock tokens unique
  metrics::Counters counters_;
  metrics::Latencies latencies_;  // recorded only with Options::metrics
  l1::L1Counters l1_counters_;
  l1::L1Cache l1_;
  resilience::CircuitBreaker breaker_;  // off on a cluster: one per primary there
  // Every breaker a cluster's node client was given (nodes retired since
  // included), so their rejections keep counting.
  mutable util::Mutex node_breakers_mu_;
  std::vector<std::shared_ptr<resilience::CircuitBreaker>> node_breakers_
      MC_GUARDED_BY(node_breakers_mu_);
  load::SingleFlight flights_;
  load::Executor executor_;
  std::unique_ptr<l2::CommandClient> client_;  // null in L1-only mode
  std::unique_ptr<l2::RedisStore> store_;
  std::unique_ptr<sync::Subscriber> subscriber_;
  std::unique_ptr<metrics::HttpEndpoint> http_;  // Options::metrics_listen; close() resets it
  int metrics_port_ = 0;                         // set once, at construction
  // redis_spin_wait as applied: 0 without Redis, or when the constructing
  // thread's affinity mask holds one CPU (set once, at construction).
  std::chrono::microseconds spin_in_effect_{0};
  std::atomic<bool> closed_{false};
  util::Mutex close_mu_;                                // serializes closing the parts below
  bool parts_closed_ MC_GUARDED_BY(close_mu_) = false;  // http_, subscriber_, client_
};

}  // namespace multicache
