// multicache/cache.hpp — the two-level cache: L1 in process, L2 in Redis.
//
//   multicache::Cache cache({.redis_url = "redis://127.0.0.1:6379"});
//   User u = cache.get_or_load<User>("user:123", std::chrono::minutes(10),
//                                    [id = 123] { return db_load_user(id); });
//
// get_or_load returns the value from L1, else from Redis, else from the
// loader, called once however many threads ask at once; the loaded value is
// stored in both levels. Entries read past ttl * early_refresh_ratio are
// returned at once and refreshed in the background. remove() deletes from
// Redis and tells every instance (Pub/Sub) to drop its L1 copy.
//
// Thread-safety: every member function may be called from any thread, except
// that nothing may be called once destruction has begun.
// Errors:
//   - reads (get, get_or_load) never throw for Redis trouble: it is counted
//     (stats().redis_errors) and the read falls back to the loader;
//   - the loader's own exception reaches every caller waiting on that load,
//     unchanged, and nothing is cached;
//   - a loader that asks for the key it is loading (get_or_load and friends,
//     directly or through other keys' loaders, on its own thread) gets
//     std::logic_error from that call instead of waiting for itself forever
//     (loaders on different threads waiting for each other's keys: the wait
//     that would close the cycle throws std::logic_error);
//   - set() and remove() throw RedisError when the Redis write failed (the
//     local L1 copy is dropped first, so this instance never serves the old value);
//   - a ttl <= 0 throws std::invalid_argument("ttl ..."), and a key longer
//     than Cache::max_key_bytes std::invalid_argument("key ...").
// Ownership: the Cache owns its threads (one event loop, refresh workers) and
// connections; close() or the destructor stops and joins them. A refresh
// loader may close() the cache or hold the last reference to it: that close()
// waits for no refresh (one may wait for its key); any close() on another
// thread, and the destructor, wait for every refresh still running.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "multicache/codec.hpp"
#include "multicache/detail/type_ops.hpp"
#include "multicache/errors.hpp"
#include "multicache/metrics.hpp"
#include "multicache/options.hpp"
#include "multicache/stats.hpp"

namespace multicache {

// Where a read's value came from: the optional last argument of
// get_or_load, get_or_load_shared, visit_or_load and get sets it, and that of
// get_or_load_many one per key (for tracing a request, or latency per layer:
// tools/multicache-bench).
enum class read_source {
  // This instance's L1; a stale entry too (its background refresh is queued
  // unless one already is, or the refresh queue is full).
  l1,
  // Redis; also put in this L1 unless a write or invalidation of the key
  // raced with the read (a stale value queues a background refresh).
  redis,
  loader,  // this call ran the loader
  // The value of another fetch of the key, waited for: a concurrent call (or
  // a background refresh, or a get_or_load_many) in this process, or, with
  // Options::distributed_single_flight, what appeared in Redis while another
  // instance held the key's lock. If that fetch failed and its leader
  // served an expired copy (stale_if_error), that copy.
  joined,
  // This call's load (or the one it waited for) failed, and
  // Options::stale_if_error served an expired copy from this L1 (or one
  // Options::l1_ttl retired before its ttl ran out).
  stale_on_error,
};

class Cache {
 public:
  // Validates options (std::invalid_argument naming the field), starts the
  // Redis connections and the subscriber, and waits for them at most
  // connect_timeout. An unreachable Redis is not an error: the cache serves
  // from L1 and the loader and keeps reconnecting in the background. A valid
  // metrics_listen that cannot be bound (the port is taken, the host does not
  // resolve) throws multicache::Error, its message starting "metrics_listen".
  explicit Cache(Options options);
  ~Cache();
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  // The longest key any call accepts: its invalidation message must stay
  // under the size every instance accepts (wire/invalidation.h, 1 MiB),
  // whatever its bytes (a key that is not UTF-8 travels twice, once as hex).
  static constexpr std::size_t max_key_bytes = 64 * 1024;

  // L1 → Redis → loader(). Loader: a callable returning something convertible to T.
  //
  // The loader may be kept and called later on a background thread to refresh
  // a stale entry: it must own what it uses (capture by value), not refer to
  // locals of the calling scope.
  //
  // from, when not null, is set to where the returned value came from
  // (read_source; here and in the two calls below). After an exception its
  // value is unspecified.
  template <cacheable T, class Loader>
  T get_or_load(std::string_view key, std::chrono::milliseconds ttl, Loader&& loader,
                read_source* from = nullptr);

  // Like get_or_load, but shares the cached value instead of copying it:
  // for large values. The pointee is immutable and stays valid as long as held.
  template <cacheable T, class Loader>
  std::shared_ptr<const T> get_or_load_shared(std::string_view key, std::chrono::milliseconds ttl,
                                              Loader&& loader, read_source* from = nullptr);

  // Like get_or_load, but calls reader(const T&) on the value instead of
  // copying it out, and returns what reader returns (by value; void is fine):
  // no copy, and unlike get_or_load_shared no shared reference count.
  // On an L1 hit reader runs under a shared lock of the key's L1 shard: keep
  // it short (it holds off writers to that shard, not readers), keep no
  // reference to the value, and do not call into this Cache from it (a call
  // that needs the shard being read throws std::logic_error, where it would
  // otherwise deadlock).
  // Otherwise it runs on the value read from Redis or loaded, outside any
  // lock. An exception from reader reaches the caller (that hit then goes
  // uncounted). With Options::metrics, sampled L1 latencies include reader.
  template <cacheable T, class Loader, class Reader>
  std::invoke_result_t<Reader&, const T&> visit_or_load(std::string_view key,
                                                        std::chrono::milliseconds ttl,
                                                        Loader&& loader, Reader&& reader,
                                                        read_source* from = nullptr);

  // Many keys at once: L1 first, then ONE Redis round trip for every L1 miss,
  // then ONE call of batch_loader(missing_keys) for the rest (with
  // Options::distributed_single_flight, one for the keys this instance locks
  // and more for those it waited for in vain), whose values are written back
  // to Redis in one pipeline. batch_loader takes const
  // std::vector<std::string>& and returns a map from key to T
  // (std::unordered_map<std::string, T> or std::map) of the keys it found;
  // keys it leaves out are absent from the result and not cached. With
  // T = std::optional<U> (negative caching), every key is in the result: one
  // it leaves out, or maps to std::nullopt, is "not found", cached for
  // Options::negative_ttl as a single call's empty optional is (in L1 and as
  // the Redis marker other instances, single calls and lock waiters read).
  // So leave out only keys that do not exist, and throw when some could not
  // be read (a timed-out shard): a partial answer would be cached.
  // Single-flight per key holds across batch and single calls. Stale entries
  // (in L1, or read from Redis) are returned at once, and the call queues ONE
  // background refresh of all of them: one batch_loader call for the stale
  // keys Redis has no fresh value for (on a copy of batch_loader, or on it
  // moved if an rvalue: like get_or_load's loader, it must own what it uses),
  // then one pipeline of compare-and-set writes, as a single key's refresh
  // does. A key that refresh's batch_loader leaves out is dropped from L1,
  // and from Redis if Redis still holds the value it read, telling the other
  // instances (with T = std::optional<U>, it becomes "not found" there
  // instead). batch_loader's exception reaches the caller,
  // unless stale_if_error has an expired value for every key it was called
  // for (then the call returns those), and every caller waiting on one of its
  // keys unless stale_if_error has an expired value for that key; a key this
  // call waits for while another call or a refresh loads it is answered
  // likewise. from, when not null, is resized to keys.size() and (*from)[i]
  // set to where keys[i]'s value came from (read_source; joined also for a
  // key another instance loaded while this call waited on its distributed
  // lock); for a key absent from the result it means nothing. After an
  // exception its contents are unspecified.
  template <cacheable T, class BatchLoader>
  std::unordered_map<std::string, T> get_or_load_many(const std::vector<std::string>& keys,
                                                      std::chrono::milliseconds ttl,
                                                      BatchLoader&& batch_loader,
                                                      std::vector<read_source>* from = nullptr);

  // L1 → Redis, no loader. nullopt when absent (or unreadable) in both.
  // from, when not null and a value is returned, is set to read_source::l1 or
  // read_source::redis (left alone on nullopt).
  template <cacheable T>
  std::optional<T> get(std::string_view key, read_source* from = nullptr);

  // Writes Redis (SET PXAT, clearing a "not found" marker) and then L1, and tells other
  // instances to drop their copy; L1 keeps it only if no invalidation arrived meanwhile.
  // Throws RedisError if the Redis write failed, or if only its PUBLISH did
  // (an ACL without PUBLISH on the channel): then Redis holds the value but
  // other instances were not told (their copies live until ttl or l1_ttl),
  // and this instance drops its own. Throws what Codec<T>::encode throws.
  template <cacheable T>
  void set(std::string_view key, const T& value, std::chrono::milliseconds ttl);

  // Drops the key from L1 and Redis, and tells other instances to drop theirs.
  // Throws RedisError if the Redis delete failed (or the breaker is open), or
  // if only its PUBLISH did (the key is gone from Redis; other instances
  // were not told).
  void remove(std::string_view key);

  // Stops background work and closes connections. Idempotent. Afterwards reads
  // serve L1 and call loaders directly; writes touch L1 only.
  void close();

  Stats stats() const;
  // With Options::metrics: every metric family, named and labelled for export
  // (see multicache/metrics.hpp); empty without it.
  std::vector<MetricFamily> metrics() const;
  // metrics() in Prometheus text exposition format 0.0.4; empty without Options::metrics.
  std::string metrics_text() const;
  // The port the /metrics endpoint listens on (Options::metrics_listen), or 0.
  int metrics_port() const;
  const Options& options() const;
  // True when the data connections and the subscriber are currently up.
  bool redis_connected() const;

  class Impl;

 private:
  enum class l1_status { miss, hit, stale };
  struct Fetched {
    detail::erased_value value;
    bool needs_refresh = false;  // the value came from Redis already stale
    read_source from = read_source::loader;
  };

  // claim_refresh: a stale hit claims the key's refresh (get() cannot refresh: it has no loader).
  l1_status lookup(std::string_view key, const detail::TypeOps* ops, void* out,
                   bool claim_refresh = true);
  l1_status lookup_shared(std::string_view key, const detail::TypeOps* ops,
                          detail::erased_value* out);
  l1_status lookup_visit(std::string_view key, const detail::TypeOps* ops,
                         const detail::VisitorRef& visit);
  Fetched fetch(std::string_view key, std::chrono::milliseconds ttl, const detail::TypeOps* ops,
                const detail::LoaderRef& loader);
  detail::erased_value read(std::string_view key, const detail::TypeOps* ops);
  // The stale entries a batch call found first (it holds their refresh
  // claims), each with its key's L1 fill generation when it was found.
  struct BatchStale {
    std::vector<std::string> keys;
    std::vector<std::uint64_t> generations;
  };
  // One value per key (null: not found); see get_or_load_many. stale: filled
  // with the keys whose refresh the caller must queue (refresh_many) or give
  // up (release_claims); not to be used if it throws.
  std::vector<detail::erased_value> fetch_many(const std::vector<std::string>& keys,
                                               std::chrono::milliseconds ttl,
                                               const detail::TypeOps* ops,
                                               const detail::BatchLoaderRef& loader,
                                               BatchStale* stale, std::vector<read_source>* from);
  // Queues one background refresh of the keys (cache_refresh.cc).
  void refresh_many(BatchStale stale, std::chrono::milliseconds ttl, const detail::TypeOps* ops,
                    detail::OwnedBatchLoader loader);
  void release_claims(const std::vector<std::string>& keys);
  void refresh(std::string_view key, std::chrono::milliseconds ttl, const detail::TypeOps* ops,
               detail::OwnedBatchLoader loader);
  void write(std::string_view key, const detail::erased_value& value, const detail::TypeOps* ops,
             std::chrono::milliseconds ttl);
  static void check_ttl(std::chrono::milliseconds ttl);
  static void check_key(std::string_view key);

  template <class T, class Loader>
  static auto wrap(Loader& loader) {
    return [&loader]() -> detail::erased_value {
      return std::make_shared<const T>(std::invoke(loader));
    };
  }
  // Queues a background reload of key with an owned copy of loader.
  template <class T, class Loader>
  void refresh_with(std::string_view key, std::chrono::milliseconds ttl, Loader&& loader) {
    refresh(key, ttl, &detail::type_ops_for<T>,
            detail::OwnedBatchLoader([l = std::forward<Loader>(loader)](
                                         const std::vector<std::string>&) mutable {
              return std::vector<detail::erased_value>{std::make_shared<const T>(std::invoke(l))};
            }));
  }
  // The batch loader's map (key -> T) as one value per key. A key left out is
  // null (not found, not cached), or for T = std::optional<U> the empty
  // optional (not found, cached as such, as a single call's loader returning it).
  template <class T, class Found>
  static std::vector<detail::erased_value> found_values(Found found,
                                                        const std::vector<std::string>& keys) {
    std::vector<detail::erased_value> values(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      auto it = found.find(keys[i]);
      if (it != found.end()) {
        values[i] = std::make_shared<const T>(std::move(it->second));
      } else if constexpr (detail::is_optional_v<T>) {
        values[i] = std::make_shared<const T>();
      }
    }
    return values;
  }
  // Queues the refresh of a batch's stale keys with an owned copy of batch_loader.
  template <class T, class BatchLoader>
  void refresh_many_with(BatchStale stale, std::chrono::milliseconds ttl,
                         BatchLoader&& batch_loader) {
    detail::OwnedBatchLoader owned;
    try {
      owned = detail::OwnedBatchLoader([l = std::forward<BatchLoader>(batch_loader)](
                                           const std::vector<std::string>& keys) mutable {
        return found_values<T>(std::invoke(l, keys), keys);
      });
    } catch (...) {  // copying the loader threw: nobody will refresh them
      release_claims(stale.keys);
      throw;
    }
    refresh_many(std::move(stale), ttl, &detail::type_ops_for<T>, std::move(owned));
  }
  template <class T, class Loader>
  detail::erased_value load_path(std::string_view key, std::chrono::milliseconds ttl,
                                 Loader&& loader, read_source* from);
  static void set_source(read_source* from, read_source s) {
    if (from != nullptr) *from = s;
  }

  std::unique_ptr<Impl> impl_;
};

// ---- implementation of the templates ---------------------------------------

template <class T, class Loader>
detail::erased_value Cache::load_path(std::string_view key, std::chrono::milliseconds ttl,
                                      Loader&& loader, read_source* from) {
  static_assert(std::is_convertible_v<std::invoke_result_t<Loader&>, T>,
                "the loader must return something convertible to T");
  const detail::TypeOps* ops = &detail::type_ops_for<T>;
  auto call = wrap<T>(loader);
  Fetched f = fetch(key, ttl, ops, detail::LoaderRef(call));
  if (f.needs_refresh) refresh_with<T>(key, ttl, std::forward<Loader>(loader));
  set_source(from, f.from);
  return std::move(f.value);
}

template <cacheable T, class Loader>
T Cache::get_or_load(std::string_view key, std::chrono::milliseconds ttl, Loader&& loader,
                     read_source* from) {
  check_ttl(ttl);
  const detail::TypeOps* ops = &detail::type_ops_for<T>;
  std::optional<T> out;
  switch (lookup(key, ops, &out)) {
    case l1_status::hit:
      set_source(from, read_source::l1);
      return std::move(*out);
    case l1_status::stale:
      refresh_with<T>(key, ttl, std::forward<Loader>(loader));
      set_source(from, read_source::l1);
      return std::move(*out);
    case l1_status::miss:
      break;
  }
  detail::erased_value v = load_path<T>(key, ttl, std::forward<Loader>(loader), from);
  return *static_cast<const T*>(v.get());
}

template <cacheable T, class Loader>
std::shared_ptr<const T> Cache::get_or_load_shared(std::string_view key,
                                                   std::chrono::milliseconds ttl, Loader&& loader,
                                                   read_source* from) {
  check_ttl(ttl);
  const detail::TypeOps* ops = &detail::type_ops_for<T>;
  detail::erased_value v;
  switch (lookup_shared(key, ops, &v)) {
    case l1_status::hit:
      set_source(from, read_source::l1);
      return std::static_pointer_cast<const T>(v);
    case l1_status::stale:
      refresh_with<T>(key, ttl, std::forward<Loader>(loader));
      set_source(from, read_source::l1);
      return std::static_pointer_cast<const T>(v);
    case l1_status::miss:
      break;
  }
  return std::static_pointer_cast<const T>(
      load_path<T>(key, ttl, std::forward<Loader>(loader), from));
}

template <cacheable T, class Loader, class Reader>
std::invoke_result_t<Reader&, const T&> Cache::visit_or_load(std::string_view key,
                                                             std::chrono::milliseconds ttl,
                                                             Loader&& loader, Reader&& reader,
                                                             read_source* from) {
  using R = std::invoke_result_t<Reader&, const T&>;
  static_assert(!std::is_reference_v<R>,
                "the reader must return by value: a reference into the cached value would "
                "outlive the lock that keeps it alive");
  check_ttl(ttl);
  const detail::TypeOps* ops = &detail::type_ops_for<T>;
  std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> result;
  auto visit = [&](const void* p) {
    const T& value = *static_cast<const T*>(p);
    if constexpr (std::is_void_v<R>) {
      std::invoke(reader, value);
    } else {
      result.emplace(std::invoke(reader, value));
    }
  };
  switch (lookup_visit(key, ops, detail::VisitorRef(visit))) {
    case l1_status::hit:
      set_source(from, read_source::l1);
      break;
    case l1_status::stale:
      refresh_with<T>(key, ttl, std::forward<Loader>(loader));
      set_source(from, read_source::l1);
      break;
    case l1_status::miss: {
      const detail::erased_value v = load_path<T>(key, ttl, std::forward<Loader>(loader), from);
      visit(v.get());
      break;
    }
  }
  if constexpr (!std::is_void_v<R>) return std::move(*result);
}

template <cacheable T, class BatchLoader>
std::unordered_map<std::string, T> Cache::get_or_load_many(const std::vector<std::string>& keys,
                                                           std::chrono::milliseconds ttl,
                                                           BatchLoader&& batch_loader,
                                                           std::vector<read_source>* from) {
  check_ttl(ttl);
  auto call = [&batch_loader](const std::vector<std::string>& missing) {
    return found_values<T>(std::invoke(batch_loader, missing), missing);
  };
  BatchStale stale;
  const std::vector<detail::erased_value> values =
      fetch_many(keys, ttl, &detail::type_ops_for<T>, detail::BatchLoaderRef(call), &stale, from);
  if (!stale.keys.empty()) {
    refresh_many_with<T>(std::move(stale), ttl, std::forward<BatchLoader>(batch_loader));
  }
  std::unordered_map<std::string, T> result;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (values[i]) result.emplace(keys[i], *static_cast<const T*>(values[i].get()));
  }
  return result;
}

template <cacheable T>
std::optional<T> Cache::get(std::string_view key, read_source* from) {
  const detail::TypeOps* ops = &detail::type_ops_for<T>;
  std::optional<T> out;
  if (lookup(key, ops, &out, /*claim_refresh=*/false) != l1_status::miss) {
    set_source(from, read_source::l1);
    return out;
  }
  detail::erased_value v = read(key, ops);
  if (!v) return std::nullopt;
  set_source(from, read_source::redis);
  return *static_cast<const T*>(v.get());
}

template <cacheable T>
void Cache::set(std::string_view key, const T& value, std::chrono::milliseconds ttl) {
  check_ttl(ttl);
  write(key, std::make_shared<const T>(value), &detail::type_ops_for<T>, ttl);
}

}  // namespace multicache
