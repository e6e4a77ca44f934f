// cache.cc — the Cache's read and write paths.
//
//   get_or_load: L1 (shared lock, copy out) → single-flight → leader: L1 again,
//   Redis (GET+PTTL), loader → L1 (fill-token checked) + Redis (SET PX).
//   remove/set: L1 erase (generation bump), Redis write + PUBLISH, L1 erase
//   again, so a fill that read Redis before the write cannot outlive it here.
#include <stdexcept>

#include "cache_impl.h"

namespace multicache {

Cache::Cache(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Cache::~Cache() = default;

void Cache::close() { impl_->close(); }

const Options& Cache::options() const { return impl_->opts_; }

bool Cache::redis_connected() const {
  return impl_->has_redis() && impl_->client_->connected() && impl_->subscriber_->subscribed();
}

void Cache::check_ttl(std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) throw std::invalid_argument("ttl: must be positive");
}

Cache::l1_status Cache::lookup(std::string_view key, const detail::TypeOps* ops, void* out,
                               bool claim_refresh) {
  const auto r =
      impl_->l1_.find(key, l1::L1Cache::hash(key), ops, impl_->now_ns(), out, claim_refresh);
  if (r == l1::lookup_result::miss) {
    impl_->counters_.l1_misses.add();
    return l1_status::miss;
  }
  impl_->counters_.l1_hits.add();
  return r == l1::lookup_result::stale ? l1_status::stale : l1_status::hit;
}

Cache::l1_status Cache::lookup_shared(std::string_view key, const detail::TypeOps* ops,
                                      detail::erased_value* out) {
  const auto r = impl_->l1_.find_shared(key, l1::L1Cache::hash(key), ops, impl_->now_ns(), out);
  if (r == l1::lookup_result::miss) {
    impl_->counters_.l1_misses.add();
    return l1_status::miss;
  }
  impl_->counters_.l1_hits.add();
  return r == l1::lookup_result::stale ? l1_status::stale : l1_status::hit;
}

Cache::Fetched Cache::fetch(std::string_view key, std::chrono::milliseconds ttl,
                            const detail::TypeOps* ops, const detail::LoaderRef& loader) {
  Impl& m = *impl_;
  auto joined = m.flights_.join(key, ops);
  if (!joined.leader) {
    metrics::bump(m.counters_.shared_loads);
    return {joined.call->wait(), false};  // rethrows the leader's exception
  }
  const std::uint64_t hash = l1::L1Cache::hash(key);
  const l1::FillToken token = m.l1_.fill_token(hash);
  Fetched out;
  try {
    // A leader that finished just before this one joined may have filled L1.
    const auto again = m.l1_.find_shared(key, hash, ops, m.now_ns(), &out.value);
    if (again == l1::lookup_result::miss) {
      Impl::L2Value v = m.l2_read(key, ops);
      if (v.value) {
        m.fill_from_l2(key, hash, v, ops, token);
        out.value = std::move(v.value);
        out.needs_refresh = v.stale;
      } else {
        out.value = loader();
        metrics::bump(m.counters_.loads);
        m.store_loaded(
            key, hash, out.value, ops, ttl, token,
            {.write_l2 = !v.failed, .overwrite = v.corrupt, .publish = false, .wait = false});
      }
    } else {
      out.needs_refresh = again == l1::lookup_result::stale;
    }
  } catch (...) {
    metrics::bump(m.counters_.load_errors);
    if (auto stale = m.stale_on_error(key, hash, ops)) {  // stale-if-error
      m.flights_.finish(key, joined.call, stale, nullptr);
      return {std::move(stale), false};
    }
    m.flights_.finish(key, joined.call, nullptr, std::current_exception());
    throw;
  }
  m.flights_.finish(key, joined.call, out.value, nullptr);
  return out;
}

detail::erased_value Cache::read(std::string_view key, const detail::TypeOps* ops) {
  Impl& m = *impl_;
  const std::uint64_t hash = l1::L1Cache::hash(key);
  const l1::FillToken token = m.l1_.fill_token(hash);
  Impl::L2Value v = m.l2_read(key, ops);
  if (v.value) m.fill_from_l2(key, hash, v, ops, token);
  return std::move(v.value);
}

void Cache::refresh(std::string_view key, std::chrono::milliseconds ttl, const detail::TypeOps* ops,
                    detail::OwnedLoader loader) {
  Impl& m = *impl_;
  auto shared = std::make_shared<detail::OwnedLoader>(std::move(loader));
  std::string k(key);
  const bool queued =
      !m.closed_.load(std::memory_order_acquire) &&
      m.executor_.try_submit([&m, k, ttl, ops, shared] { m.run_refresh(k, ttl, ops, *shared); });
  if (!queued) {
    metrics::bump(m.counters_.refreshes_skipped);
    m.l1_.release_refresh_claim(key, l1::L1Cache::hash(key));
  }
}

void Cache::write(std::string_view key, const detail::erased_value& value,
                  const detail::TypeOps* ops, std::chrono::milliseconds ttl) {
  Impl& m = *impl_;
  const std::uint64_t hash = l1::L1Cache::hash(key);
  const std::string payload = ops->encode(value.get());  // a codec error reaches the caller
  m.l1_.erase(key, hash);
  ttl = m.jittered(ttl);
  const Impl::Deadlines d = m.deadlines_for(ttl);
  if (m.has_redis()) {
    const l2::Status st = m.store_->write(key, m.envelope(payload, d), d.expires_at_unix_ms,
                                          m.invalidation_message(key));
    m.l1_.erase(key, hash);
    if (!st.ok) throw RedisError("set(" + std::string(key) + "): " + st.error);
    metrics::bump(m.counters_.invalidations_sent);
  }
  m.l1_.insert_unconditionally(m.insert_request(key, value, ops, payload.size(), d), hash,
                               m.now_ns());
}

void Cache::remove(std::string_view key) {
  Impl& m = *impl_;
  const std::uint64_t hash = l1::L1Cache::hash(key);
  m.l1_.erase(key, hash);
  if (!m.has_redis()) return;
  const l2::Status st = m.store_->remove(key, m.invalidation_message(key));
  m.l1_.erase(key, hash);
  if (!st.ok) throw RedisError("remove(" + std::string(key) + "): " + st.error);
  metrics::bump(m.counters_.invalidations_sent);
}

Stats Cache::stats() const {
  const Impl& m = *impl_;
  const auto& c = m.counters_;
  auto get = [](const metrics::Counter& x) { return x.load(std::memory_order_relaxed); };
  Stats s;
  s.l1_hits = c.l1_hits.value();
  s.l1_misses = c.l1_misses.value();
  s.l2_hits = get(c.l2_hits);
  s.l2_misses = get(c.l2_misses);
  s.loads = get(c.loads);
  s.load_errors = get(c.load_errors);
  s.shared_loads = get(c.shared_loads);
  s.stale_served_on_error = get(c.stale_served_on_error);
  s.redis_errors = get(c.redis_errors);
  s.decode_errors = get(c.decode_errors);
  s.encode_errors = get(c.encode_errors);
  s.breaker_rejections = get(c.breaker_rejections);
  s.l1_items = m.l1_.items();
  s.l1_bytes = m.l1_.bytes();
  const auto& e = m.l1_counters_;
  s.l1_evictions_size = e.evictions_size.load(std::memory_order_relaxed);
  s.l1_evictions_bytes = e.evictions_bytes.load(std::memory_order_relaxed);
  s.l1_evictions_expired = e.evictions_expired.load(std::memory_order_relaxed);
  s.l1_evictions_invalidated = e.evictions_invalidated.load(std::memory_order_relaxed);
  s.l1_rejected_too_large = e.rejected_too_large.load(std::memory_order_relaxed);
  s.refreshes_started = get(c.refreshes_started);
  s.refreshes_ok = get(c.refreshes_ok);
  s.refreshes_failed = get(c.refreshes_failed);
  s.refreshes_skipped = get(c.refreshes_skipped);
  s.invalidations_sent = get(c.invalidations_sent);
  s.invalidations_received = get(c.invalidations_received);
  s.invalidations_ignored = get(c.invalidations_ignored);
  s.invalidations_malformed = get(c.invalidations_malformed);
  s.l1_clears = get(c.l1_clears);
  s.subscriber_reconnects = s.l1_clears > 0 ? s.l1_clears - 1 : 0;  // one clear per subscribe
  s.breaker_open = m.breaker_.state() != resilience::breaker_state::closed;
  s.breaker_transitions = get(c.breaker_transitions);
  return s;
}

}  // namespace multicache
