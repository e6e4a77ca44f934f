// cache_stats.cc — the Stats snapshot and the exported metric families.
#include "cache_impl.h"

namespace multicache {

Stats Cache::Impl::snapshot() const {
  const Impl& m = *this;
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
  s.negative_hits = get(c.negative_hits);
  s.redis_errors = get(c.redis_errors);
  s.decode_errors = get(c.decode_errors);
  s.encode_errors = get(c.encode_errors);
  // Every breaker counts its own rejections: the cache's, and on a cluster
  // every one a primary was given.
  s.breaker_rejections = m.breaker_.rejections();
  {
    util::MutexLock lock(m.node_breakers_mu_);
    for (const auto& b : m.node_breakers_) s.breaker_rejections += b->rejections();
  }
  s.redis_redirects = m.client_ ? m.client_->redirects() : 0;
  if (m.client_) {
    const l2::CommandClient::ReadRounds r = m.client_->read_rounds();
    s.redis_read_rounds = r.rounds;
    s.redis_reads_combined = r.combined;
  }
  s.l1_items = m.l1_.items();
  s.l1_bytes = m.l1_.bytes();
  const auto& e = m.l1_counters_;
  s.l1_evictions_size = e.evictions_size.load(std::memory_order_relaxed);
  s.l1_evictions_bytes = e.evictions_bytes.load(std::memory_order_relaxed);
  s.l1_evictions_expired = e.evictions_expired.load(std::memory_order_relaxed);
  s.l1_evictions_invalidated = e.evictions_invalidated.load(std::memory_order_relaxed);
  s.l1_rejected_too_large = e.rejected_too_large.load(std::memory_order_relaxed);
  s.l1_not_admitted = e.rejected_admission.load(std::memory_order_relaxed);
  s.refreshes_started = get(c.refreshes_started);
  s.refreshes_ok = get(c.refreshes_ok);
  s.fill_writes_withdrawn = get(c.fill_writes_withdrawn);
  s.refreshes_failed = get(c.refreshes_failed);
  s.refreshes_skipped = get(c.refreshes_skipped);
  s.invalidations_sent = get(c.invalidations_sent);
  s.invalidations_received = get(c.invalidations_received);
  s.invalidations_ignored = get(c.invalidations_ignored);
  s.invalidations_malformed = get(c.invalidations_malformed);
  s.l1_clears = get(c.l1_clears);
  s.subscriber_reconnects = s.l1_clears > 0 ? s.l1_clears - 1 : 0;  // one clear per subscribe
  s.breaker_open = m.breaker_state() != resilience::breaker_state::closed;
  s.breaker_transitions = get(c.breaker_transitions);
  return s;
}

resilience::breaker_state Cache::Impl::breaker_state() const {
  const resilience::breaker_state own = breaker_.state();
  if (own != resilience::breaker_state::closed || client_ == nullptr) return own;
  return client_->breaker_state();
}

std::vector<MetricFamily> Cache::Impl::families() const {
  if (!opts_.metrics) return {};
  metrics::FamilyContext ctx;
  ctx.prefix = opts_.metrics_prefix;
  ctx.constant_labels = opts_.metrics_labels;
  ctx.l1_max_items = opts_.l1_max_items;
  ctx.l1_max_bytes = opts_.l1_max_memory_mb << 20;
  ctx.redis_spin_wait_s = std::chrono::duration<double>(spin_in_effect_).count();
  switch (breaker_state()) {
    case resilience::breaker_state::closed:
      ctx.breaker_state = 0;
      break;
    case resilience::breaker_state::open:
      ctx.breaker_state = 1;
      break;
    case resilience::breaker_state::half_open:
      ctx.breaker_state = 2;
      break;
  }
  return metrics::build_families(snapshot(), latencies_, ctx);
}

}  // namespace multicache
