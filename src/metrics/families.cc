// metrics/families.cc — the exported metric families and their labels.
//
// The first two families keep the Go library's names and labels:
//   <prefix>_requests_total{layer="l1|l2|db",status="hit|miss|fetched"}
//   <prefix>_errors_total{type="redis|db|decode|internal"}
// Everything else is what an operator of a two-level cache needs.
#include "metrics/families.h"

namespace multicache::metrics {

namespace {

class Builder {
 public:
  explicit Builder(const FamilyContext& ctx) : ctx_(ctx) {}

  Builder& family(const std::string& name, const std::string& help, metric_type type) {
    families_.push_back(MetricFamily{ctx_.prefix + "_" + name, help, type, {}, {}});
    return *this;
  }
  Builder& sample(double value, MetricLabels labels = {}) {
    families_.back().samples.push_back({with_constants(std::move(labels)), value});
    return *this;
  }
  Builder& histogram(const Histogram& h, MetricLabels labels) {
    HistogramSample hs;
    hs.labels = with_constants(std::move(labels));
    const auto counts = h.counts();
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < k_bucket_bounds_s.size(); ++i) {
      cumulative += counts[i];
      hs.buckets.emplace_back(k_bucket_bounds_s[i], cumulative);
    }
    hs.count = cumulative + counts.back();  // consistent with the buckets read
    hs.sum = h.sum_seconds();
    families_.back().histograms.push_back(std::move(hs));
    return *this;
  }
  std::vector<MetricFamily> take() { return std::move(families_); }

 private:
  MetricLabels with_constants(MetricLabels labels) const {
    MetricLabels out = ctx_.constant_labels;
    out.insert(out.end(), labels.begin(), labels.end());
    return out;
  }
  const FamilyContext& ctx_;
  std::vector<MetricFamily> families_;
};

double d(std::uint64_t v) { return static_cast<double>(v); }

}  // namespace

std::vector<MetricFamily> build_families(const Stats& s, const Latencies& lat,
                                         const FamilyContext& ctx) {
  using enum metric_type;
  Builder b(ctx);
  b.family("requests_total", "Cache requests by layer and outcome.", counter)
      .sample(d(s.l1_hits), {{"layer", "l1"}, {"status", "hit"}})
      .sample(d(s.l1_misses), {{"layer", "l1"}, {"status", "miss"}})
      .sample(d(s.l2_hits), {{"layer", "l2"}, {"status", "hit"}})
      .sample(d(s.l2_misses), {{"layer", "l2"}, {"status", "miss"}})
      .sample(d(s.loads), {{"layer", "db"}, {"status", "fetched"}});
  b.family("errors_total",
           "Errors by kind: redis round trips, loader exceptions, corrupt bytes "
           "in Redis, values the codec could not encode.",
           counter)
      .sample(d(s.redis_errors), {{"type", "redis"}})
      .sample(d(s.load_errors), {{"type", "db"}})
      .sample(d(s.decode_errors), {{"type", "decode"}})
      .sample(d(s.encode_errors), {{"type", "internal"}});
  b.family("request_duration_seconds",
           "Latency by layer: l1 (one hit in 64 is timed), l2 (Redis reads), db (loader calls).",
           histogram)
      .histogram(lat.l1, {{"layer", "l1"}})
      .histogram(lat.l2, {{"layer", "l2"}})
      .histogram(lat.db, {{"layer", "db"}});
  b.family("shared_loads_total", "Callers that waited for another caller's load (single-flight).",
           counter)
      .sample(d(s.shared_loads));
  b.family("stale_served_total",
           "Failed loads answered with an expired value (stale-if-error), once per load.", counter)
      .sample(d(s.stale_served_on_error));
  b.family("l1_entries", "Entries in L1.", gauge).sample(d(s.l1_items));
  b.family("l1_bytes", "Bytes charged to L1 (keys, values, per-entry overhead).", gauge)
      .sample(d(s.l1_bytes));
  b.family("l1_max_entries", "L1 entry bound.", gauge).sample(d(ctx.l1_max_items));
  b.family("l1_max_bytes", "L1 byte bound.", gauge).sample(d(ctx.l1_max_bytes));
  b.family("l1_evictions_total", "Entries leaving L1, by reason.", counter)
      .sample(d(s.l1_evictions_size), {{"reason", "size"}})
      .sample(d(s.l1_evictions_bytes), {{"reason", "bytes"}})
      .sample(d(s.l1_evictions_expired), {{"reason", "expired"}})
      .sample(d(s.l1_evictions_invalidated), {{"reason", "invalidated"}})
      .sample(d(s.l1_rejected_too_large), {{"reason", "too_large"}})
      .sample(d(s.l1_not_admitted), {{"reason", "not_admitted"}});
  b.family("refreshes_total", "Background refreshes, by outcome.", counter)
      .sample(d(s.refreshes_started), {{"result", "started"}})
      .sample(d(s.refreshes_ok), {{"result", "ok"}})
      .sample(d(s.refreshes_failed), {{"result", "failed"}})
      .sample(d(s.refreshes_skipped), {{"result", "skipped"}});
  b.family("invalidations_total", "Pub/Sub invalidations, by event.", counter)
      .sample(d(s.invalidations_sent), {{"event", "sent"}})
      .sample(d(s.invalidations_received), {{"event", "received"}})
      .sample(d(s.invalidations_ignored), {{"event", "ignored"}})
      .sample(d(s.invalidations_malformed), {{"event", "malformed"}});
  b.family("fill_writes_withdrawn_total",
           "Loaded values written to Redis as an invalidation of their key arrived, "
           "deleted again (if still there).",
           counter)
      .sample(d(s.fill_writes_withdrawn));
  b.family("pubsub_reconnects_total", "Times the subscriber connection came back.", counter)
      .sample(d(s.subscriber_reconnects));
  b.family("redis_redirects_total", "Redis Cluster MOVED/ASK redirects followed.", counter)
      .sample(d(s.redis_redirects));
  b.family("redis_read_rounds_total",
           "Rounds on the shared read connections: one write, then its replies.", counter)
      .sample(d(s.redis_read_rounds));
  b.family("redis_reads_combined_total",
           "Reads sent in a round another caller led (auto-pipelining).", counter)
      .sample(d(s.redis_reads_combined));
  b.family("l1_clears_total", "Times L1 was cleared whole (after each subscribe).", counter)
      .sample(d(s.l1_clears));
  b.family("redis_spin_wait_seconds",
           "How long a caller waiting for a reply another thread reads spins before it sleeps: "
           "Options::redis_spin_wait, or 0 when the process may run on only one CPU.",
           gauge)
      .sample(ctx.redis_spin_wait_s);
  b.family("breaker_state", "Circuit breaker state: 0 closed, 1 open, 2 half-open.", gauge)
      .sample(ctx.breaker_state);
  b.family("breaker_transitions_total", "Circuit breaker state changes.", counter)
      .sample(d(s.breaker_transitions));
  b.family("breaker_rejections_total", "Redis calls not made because the breaker was open.",
           counter)
      .sample(d(s.breaker_rejections));
  return b.take();
}

}  // namespace multicache::metrics
