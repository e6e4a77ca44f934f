// cache_impl.cc — construction, shutdown, deadlines, encoding, stale-if-error
// and invalidation steps of Cache::Impl. The read and write paths that tie the
// steps together are in cache.cc; Redis steps are in cache_l2.cc, batches in
// cache_batch.cc, locks in cache_dlock.cc, refreshes in cache_refresh.cc.
//
// Deadlines: an L1 entry filled by a loader expires after ttl (capped by
// l1_ttl) and turns stale after ttl * early_refresh_ratio; one filled from
// Redis expires no later than Redis's own PTTL says, and turns stale at the
// stale-after second written in the value's header.
#include "cache_impl.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>

#include "l2/cluster_client.h"
#include "l2/redis_url.h"
#include "l2/sentinel_client.h"
#include "options_internal.h"
#include "util/cpus.h"
#include "util/time.h"
#include "wire/envelope.h"
#include "wire/invalidation.h"

namespace multicache {

namespace {

const Clock* default_clock() {
  static const SystemClock clock;
  return &clock;
}

std::string random_origin() {
  std::random_device rd;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string id;
  for (int i = 0; i < 16; ++i) id.push_back("0123456789abcdef"[hex(rd)]);
  return id;
}

}  // namespace

Cache::Impl::Impl(Options options)
    : opts_((options.validate(), std::move(options))),
      clock_(opts_.clock ? opts_.clock.get() : default_clock()),
      lag_ns_(clock_->max_lag().count()),
      origin_(random_origin()),
      l1_(opts_.l1_max_items, opts_.l1_max_memory_mb << 20, &l1_counters_,
          opts_.l1_policy == eviction_policy::tinylfu ? l1::policy::tinylfu : l1::policy::clock),
      // On a cluster each node has a breaker of its own (below), so one
      // node's outage does not send every other node's keys to the loader.
      breaker_(opts_.circuit_breaker && !is_cluster_url(opts_.redis_url),
               opts_.circuit_breaker_max_failures, opts_.circuit_breaker_open_timeout, clock_,
               breaker_transition_fn("")),
      executor_(opts_.refresh_threads, opts_.refresh_queue_size) {
  if (!opts_.metrics_listen.empty()) {
    const auto [host, port] = parse_listen_address(opts_.metrics_listen);
    http_ = std::make_unique<metrics::HttpEndpoint>(
        host, port, [this] { return to_prometheus_text(families()); });
    metrics_port_ = http_->port();
  }
  if (opts_.redis_url.empty()) return;
  const l2::ServerSpec spec = l2::parse_server_url(opts_.redis_url);
  l2::ConnectionSettings cs;
  cs.connect_timeout = opts_.connect_timeout;
  cs.command_timeout = opts_.command_timeout;
  // A waiter's spin pays only while the thread it waits for runs on another
  // CPU; with one usable CPU it would only hold that thread back
  // (docs/performance.md).
  if (util::usable_cpus() > 1) spin_in_effect_ = opts_.redis_spin_wait;
  cs.spin_wait = spin_in_effect_;
  cs.log = [this](bool is_error, std::string_view msg) {
    log(is_error ? log_level::warning : log_level::info, msg);
  };
  l2::ConnectionSettings sub = cs;  // the subscriber's connection
  l2::SentinelClient* sentinel = nullptr;
  l2::ClusterClient* cluster = nullptr;
  std::string where;  // every node the URL names, for the message below
  for (const auto& node : spec.nodes) where += (where.empty() ? "" : ", ") + node.describe();
  switch (spec.mode) {
    case l2::ServerSpec::kind::single:
      cs.endpoint = spec.nodes.front();
      sub.endpoint = cs.endpoint;
      client_ = std::make_unique<l2::RedisClient>(
          l2::ClientSettings{cs, opts_.pool_size, /*direct_size=*/opts_.pool_size, nullptr});
      break;
    case l2::ServerSpec::kind::cluster: {
      l2::ClusterSettings settings{spec.nodes, cs, opts_.pool_size, std::chrono::milliseconds(5000),
                                   nullptr};
      if (opts_.circuit_breaker) {
        settings.make_breaker = [this](const std::string& node) {
          auto b = std::make_shared<resilience::CircuitBreaker>(
              true, opts_.circuit_breaker_max_failures, opts_.circuit_breaker_open_timeout, clock_,
              breaker_transition_fn(" for node " + node));
          util::MutexLock lock(node_breakers_mu_);
          node_breakers_.push_back(b);
          return b;
        };
      }
      auto c = std::make_unique<l2::ClusterClient>(std::move(settings));
      // One subscriber anywhere hears every PUBLISH in the cluster; it moves
      // to the next node when its node goes away or leaves the cluster.
      sub.resolve = [c = c.get()] { return c->next_node(); };
      cluster = c.get();
      client_ = std::move(c);
      where = "the cluster at " + where;
      break;
    }
    case l2::ServerSpec::kind::sentinel: {
      auto s = std::make_unique<l2::SentinelClient>(
          l2::SentinelSettings{spec.nodes, spec.master_name, spec.credentials, cs, opts_.pool_size,
                               std::chrono::milliseconds(250)});
      sub.resolve = [c = s.get()] { return c->primary(); };
      sub.require_primary = true;
      sentinel = s.get();
      client_ = std::move(s);
      where = "the primary of \"" + spec.master_name + "\" (sentinels at " + where + ")";
      break;
    }
  }
  store_ = std::make_unique<l2::RedisStore>(
      [this](std::vector<std::string> cmds, std::size_t affinity) {
        return exec(std::move(cmds), affinity);
      },
      [this](std::vector<std::string> cmds, std::size_t affinity) {
        exec_async(std::move(cmds), affinity);
      },
      opts_.key_prefix, opts_.pubsub_channel, spec.mode == l2::ServerSpec::kind::cluster);
  subscriber_ = std::make_unique<sync::Subscriber>(
      client_->loop(), sub, opts_.pubsub_channel,
      [this](std::string_view payload) { on_message(payload); }, [this] { on_subscribed(); });
  if (sentinel != nullptr) sentinel->on_switch([s = subscriber_.get()] { s->reset(); });
  if (cluster != nullptr) {
    cluster->on_subscriber_node_gone([s = subscriber_.get()] { s->reset(); });
  }
  const bool up = client_->wait_connected(opts_.connect_timeout);
  const bool subscribed = subscriber_->wait_subscribed(opts_.connect_timeout);
  if (!up || !subscribed) {
    log(log_level::warning, "Redis at " + where +
                                " is not reachable yet; serving from L1 and the loader while "
                                "reconnecting in the background");
  }
}

Cache::Impl::~Impl() {
  close();
  // A close() on a refresh thread (from its loader) could not wait for that
  // refresh: it is waited for here, before the members it uses go.
  executor_.shutdown();
}

void Cache::Impl::close() {
  closed_.store(true, std::memory_order_release);  // no new refresh, no Redis from here on
  // Refreshes first, with no lock held: a close() from a refresh loader goes
  // on while another close() waits for that refresh. That one waits for no
  // refresh (another may be waiting for its key); every other close() waits
  // for them all, so that on return nothing runs in the background.
  metrics::bump(counters_.refreshes_skipped, executor_.shutdown(!executor_.on_worker()));
  util::MutexLock lock(close_mu_);
  if (parts_closed_) return;
  parts_closed_ = true;
  http_.reset();  // no scrape runs past close()
  if (subscriber_) subscriber_->shutdown();
  if (client_) client_->stop();
}

bool Cache::Impl::is_cluster_url(std::string_view url) {
  return !url.empty() && l2::parse_server_url(url).mode == l2::ServerSpec::kind::cluster;
}

resilience::CircuitBreaker::TransitionFn Cache::Impl::breaker_transition_fn(std::string which) {
  return [this, which = std::move(which)](resilience::breaker_state from,
                                          resilience::breaker_state to) {
    metrics::bump(counters_.breaker_transitions);
    log(to == resilience::breaker_state::open ? log_level::warning : log_level::info,
        "circuit breaker" + which + " " + resilience::to_string(from) + " -> " +
            resilience::to_string(to));
  };
}

Cache::Impl::Deadlines Cache::Impl::deadlines_for(std::chrono::milliseconds ttl) const {
  const std::int64_t ttl_ns = util::ms_to_ns(ttl.count());
  const auto stale_ns =
      static_cast<std::int64_t>(static_cast<double>(ttl_ns) * opts_.early_refresh_ratio);
  std::int64_t life_ns = ttl_ns;
  if (opts_.l1_ttl.count() > 0) {
    life_ns = std::min(life_ns, util::ms_to_ns(opts_.l1_ttl.count()));
  }
  Deadlines d;
  d.now_ns = now_ns();
  d.expires_at_ns = d.now_ns + life_ns;
  d.value_expires_at_ns = d.now_ns + ttl_ns;
  d.stale_at_ns = d.now_ns + std::min(stale_ns, life_ns);
  const std::int64_t wall = wall_ns();
  d.stale_after_s = static_cast<std::uint64_t>((wall + stale_ns) / 1'000'000'000);
  d.expires_at_unix_ms = (wall + ttl_ns) / 1'000'000;
  return d;
}

l1::InsertRequest Cache::Impl::insert_request(std::string_view key,
                                              const detail::erased_value& value,
                                              const detail::TypeOps* ops, std::size_t payload_bytes,
                                              const Deadlines& d) const {
  l1::InsertRequest req;
  req.key = key;
  req.value = value;
  req.ops = ops;
  req.expires_at_ns = d.expires_at_ns;
  req.value_expires_at_ns = d.value_expires_at_ns;
  req.stale_at_ns = d.stale_at_ns;
  req.value_bytes = ops->size_of(value.get(), payload_bytes);
  return req;
}

std::chrono::milliseconds Cache::Impl::jittered(std::chrono::milliseconds ttl) const {
  if (opts_.ttl_jitter <= 0.0) return ttl;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> cut(0.0, opts_.ttl_jitter);
  const auto ms = static_cast<std::int64_t>(static_cast<double>(ttl.count()) * (1.0 - cut(rng)));
  return std::chrono::milliseconds(std::max<std::int64_t>(1, ms));
}

detail::erased_value Cache::Impl::stale_on_error(std::string_view key, std::uint64_t hash,
                                                 const detail::TypeOps* ops, bool count) {
  if (opts_.stale_if_error.count() <= 0) return nullptr;
  detail::erased_value v;
  const std::int64_t grace_ns = util::ms_to_ns(opts_.stale_if_error.count());
  if (!l1_.find_expired_within(key, hash, ops, now_ns(), grace_ns, &v)) return nullptr;
  if (count) metrics::bump(counters_.stale_served_on_error);
  return v;
}

detail::erased_value Cache::Impl::wait_for_leader(
    std::string_view key, const detail::TypeOps* ops,
    const std::shared_ptr<load::SingleFlight::Call>& call, bool* stale) {
  try {
    return flights_.wait(call);
  } catch (const load::LoadCycleError&) {
    throw;
  } catch (...) {
    if (auto v = stale_on_error(key, l1::L1Cache::hash(key), ops)) {
      if (stale != nullptr) *stale = true;
      return v;
    }
    throw;
  }
}

std::string_view Cache::Impl::encoded(const detail::erased_value& value, const detail::TypeOps* ops,
                                      std::string* storage) {
  if (ops->bytes_of != nullptr) return ops->bytes_of(value.get());
  *storage = ops->encode(value.get());
  return *storage;
}

std::string Cache::Impl::envelope(std::string_view payload, const Deadlines& d) const {
  return wire::encode_envelope(d.stale_after_s, payload,
                               {opts_.compression, opts_.compression_min_bytes});
}

std::int64_t Cache::Impl::wall_ns() {
  // Real wall time, never the injected Clock: it goes to Redis and to other instances.
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Cache::Impl::log(log_level level, std::string_view message) const {
  if (opts_.log) {
    opts_.log(level, message);
    return;
  }
  if (level == log_level::warning || level == log_level::error) {
    std::fprintf(stderr, "multicache: %s: %.*s\n", level == log_level::error ? "error" : "warning",
                 static_cast<int>(message.size()), message.data());
  }
}

void Cache::Impl::on_message(std::string_view payload) {
  auto inv = wire::parse_invalidation(payload);
  if (!inv) {
    metrics::bump(counters_.invalidations_malformed);
    return;
  }
  if (inv->origin == origin_) {
    metrics::bump(counters_.invalidations_ignored);
    return;
  }
  l1_.erase(inv->key, l1::L1Cache::hash(inv->key));
  metrics::bump(counters_.invalidations_received);
}

void Cache::Impl::on_subscribed() {
  l1_.clear();
  metrics::bump(counters_.l1_clears);
}

}  // namespace multicache
