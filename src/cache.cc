// cache.cc — the Cache's read and write paths.
//
//   get_or_load: L1 (shared lock, copy out) → single-flight → leader: L1 again,
//   Redis (GET+PTTL), loader → L1 (fill-token checked) + Redis (SET PX).
//   remove/set: L1 erase (generation bump), Redis write + PUBLISH, L1 erase
//   again, so a fill that read Redis before the write cannot outlive it here.
#include <stdexcept>

#include "cache_impl.h"
#include "util/time.h"
#include "wire/invalidation.h"

namespace multicache {

Cache::Cache(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Cache::~Cache() = default;

void Cache::close() { impl_->close(); }

const Options& Cache::options() const { return impl_->opts_; }

bool Cache::redis_connected() const {
  return impl_->has_redis() && impl_->client_->connected() && impl_->subscriber_->subscribed();
}

// A key's message: its text, JSON-escaped (at most 6 bytes per byte), its
// hex when not UTF-8 (2 per byte), the origin and the framing.
static_assert(8 * Cache::max_key_bytes + 4096 <= wire::k_max_invalidation_bytes);

void Cache::check_key(std::string_view key) {
  if (key.size() > max_key_bytes) [[unlikely]] {
    throw std::invalid_argument("key: " + std::to_string(key.size()) + " bytes, longer than " +
                                std::to_string(max_key_bytes));
  }
}

void Cache::check_ttl(std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) throw std::invalid_argument("ttl: must be positive");
  if (ttl.count() > util::k_max_duration_ms) {
    throw std::invalid_argument("ttl: must be at most 100 years");
  }
}

// Cache::l1_status mirrors l1::lookup_result value for value.
static_assert(static_cast<int>(l1::lookup_result::miss) == 0 &&
              static_cast<int>(l1::lookup_result::hit) == 1 &&
              static_cast<int>(l1::lookup_result::stale) == 2);

Cache::l1_status Cache::lookup(std::string_view key, const detail::TypeOps* ops, void* out,
                               bool claim_refresh) {
  check_key(key);
  return static_cast<l1_status>(impl_->counted_find(
      [&](std::uint64_t hash, const l1::ReadTime& now) {
        return impl_->l1_.find(key, hash, ops, now, out, claim_refresh);
      },
      key));
}

Cache::l1_status Cache::lookup_shared(std::string_view key, const detail::TypeOps* ops,
                                      detail::erased_value* out) {
  check_key(key);
  return static_cast<l1_status>(impl_->counted_find(
      [&](std::uint64_t hash, const l1::ReadTime& now) {
        return impl_->l1_.find_shared(key, hash, ops, now, out);
      },
      key));
}

Cache::l1_status Cache::lookup_visit(std::string_view key, const detail::TypeOps* ops,
                                     const detail::VisitorRef& visit) {
  check_key(key);
  return static_cast<l1_status>(impl_->counted_find(
      [&](std::uint64_t hash, const l1::ReadTime& now) {
        return impl_->l1_.find_visit(key, hash, ops, now, visit);
      },
      key));
}

Cache::Fetched Cache::fetch(std::string_view key, std::chrono::milliseconds ttl,
                            const detail::TypeOps* ops, const detail::LoaderRef& loader) {
  Impl& m = *impl_;
  auto joined = m.flights_.join(key, ops);
  if (!joined.leader) {
    metrics::bump(m.counters_.shared_loads);
    bool stale = false;
    detail::erased_value v = m.wait_for_leader(key, ops, joined.call, &stale);
    if (v) return {std::move(v), false, stale ? read_source::stale_on_error : read_source::joined};
    // A batch leader whose loader did not find the key: load it ourselves,
    // alone (joining again could wait behind batch after batch).
    joined = load::SingleFlight::lead_privately(ops);
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
        m.fill_from_l2(key, hash, v, ops, token, /*will_refresh=*/true);
        out.value = std::move(v.value);
        out.needs_refresh = v.stale;
        out.from = read_source::redis;
      } else if (m.opts_.distributed_single_flight && m.has_redis() && !v.failed && !v.corrupt) {
        out.value = m.load_under_lock(key, hash, ops, ttl, token, loader, &out.from);
      } else {
        out.value = m.timed_load(loader);
        metrics::bump(m.counters_.loads);
        m.store_loaded(key, hash, out.value, ops, ttl, token,
                       {.write_l2 = !v.failed, .overwrite = v.corrupt, .publish = false});
      }
    } else {
      out.needs_refresh = again == l1::lookup_result::stale;
      out.from = read_source::l1;
    }
  } catch (const load::LoadCycleError&) {  // a bug to show, not an outage to hide
    metrics::bump(m.counters_.load_errors);
    m.flights_.finish(key, joined.call, nullptr, std::current_exception());
    throw;
  } catch (...) {
    metrics::bump(m.counters_.load_errors);
    if (auto stale = m.stale_on_error(key, hash, ops)) {  // stale-if-error
      m.flights_.finish(key, joined.call, stale, nullptr);
      return {std::move(stale), false, read_source::stale_on_error};
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
                    detail::OwnedBatchLoader loader) {
  // A batch refresh of one key (cache_refresh.cc). Its token is taken
  // now, when the entry was found stale: a write of the key while the
  // refresh waits in the queue cancels it (its value is newer than a reload
  // that started before it would be).
  BatchStale one;
  one.keys.emplace_back(key);
  one.generations.push_back(impl_->l1_.fill_token(l1::L1Cache::hash(key)).generation);
  refresh_many(std::move(one), ttl, ops, std::move(loader));
}

void Cache::write(std::string_view key, const detail::erased_value& value,
                  const detail::TypeOps* ops, std::chrono::milliseconds ttl) {
  check_key(key);
  Impl& m = *impl_;
  const std::uint64_t hash = l1::L1Cache::hash(key);
  // set<std::optional<U>>(key, std::nullopt) records "not found" explicitly.
  const bool absent = ops->is_absent != nullptr && ops->is_absent(value.get());
  // A codec error reaches the caller.
  std::string storage;
  const std::string_view payload =
      absent ? std::string_view() : Impl::encoded(value, ops, &storage);
  ttl = m.jittered(ttl);
  Impl::Deadlines d = m.deadlines_for(ttl);
  if (absent) d.stale_at_ns = d.expires_at_ns;
  if (!m.has_redis()) {
    // L1 is the only copy: the value replaces the old one in one step (no
    // window in which readers miss and call their loaders), and outdates every
    // fill that started before it. Of concurrent set()s of a key, the last to
    // reach L1 stays.
    m.l1_.insert_unconditionally(m.insert_request(key, value, ops, payload.size(), d), hash,
                                 m.now_ns(), /*bump_generation=*/true);
    return;
  }
  // The old value leaves L1 before the Redis write, so this instance stops
  // serving it while the write is in flight. Any invalidation that lands
  // after this (a remove() here, another instance's newer set) outdates the
  // token, and the value stays out of L1.
  m.l1_.erase(key, hash);
  const l1::FillToken token = m.l1_.fill_token(hash);
  if (m.opts_.test_before_l1_fill) m.opts_.test_before_l1_fill(key);
  const std::string bytes = absent ? std::string() : m.envelope(payload, d);
  l2::WriteRequest w;
  w.key = key;
  w.bytes = bytes;
  w.expires_at_ms = d.expires_at_unix_ms;
  w.negative = absent;
  w.clear_other = true;  // a value clears the marker; a marker clears the value
  w.message = m.invalidation_message(key);
  const l2::Status st = m.store_->write(w);
  if (!st.ok) {
    m.l1_.erase(key, hash);
    throw RedisError("set(" + std::string(key) + "): " + st.error);
  }
  metrics::bump(m.counters_.invalidations_sent);
  // Token-checked, and bumping the generation: a fill that read Redis before
  // this write cannot land in L1 after it.
  const auto r = m.l1_.insert(m.insert_request(key, value, ops, payload.size(), d), hash, token,
                              m.now_ns(), /*bump_generation=*/true);
  // Outdated: another write of the key overlapped this one, and either may
  // have reached Redis last. Erasing (which outdates every token) leaves
  // neither in L1: had another set() here taken its token after this one's
  // erase, its insert still to come would otherwise succeed, and this
  // instance would serve its value while Redis holds this one.
  if (r == l1::insert_result::outdated) m.l1_.erase(key, hash);
}

void Cache::remove(std::string_view key) {
  check_key(key);
  Impl& m = *impl_;
  const std::uint64_t hash = l1::L1Cache::hash(key);
  m.l1_.erase(key, hash);
  if (!m.has_redis()) return;
  const l2::Status st = m.store_->remove(key, m.invalidation_message(key));
  m.l1_.erase(key, hash);
  if (!st.ok) throw RedisError("remove(" + std::string(key) + "): " + st.error);
  metrics::bump(m.counters_.invalidations_sent);
}

Stats Cache::stats() const { return impl_->snapshot(); }

std::vector<MetricFamily> Cache::metrics() const { return impl_->families(); }

std::string Cache::metrics_text() const {
  return impl_->opts_.metrics ? to_prometheus_text(impl_->families()) : std::string();
}

int Cache::metrics_port() const { return impl_->metrics_port_; }

}  // namespace multicache
