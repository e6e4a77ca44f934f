// cache_l2.cc — Cache::Impl's steps that talk to Redis: executing pipelines
// through the breaker, reading and decoding values (corrupt bytes are a
// counted miss), filling L1 from them, and storing loaded values.
#include <algorithm>
#include <cstdint>

#include "cache_impl.h"
#include "util/time.h"
#include "wire/envelope.h"
#include "wire/invalidation.h"

namespace multicache {

l2::Result Cache::Impl::exec(std::vector<std::string> commands, std::size_t affinity) {
  l2::Result r;
  if (closed_.load(std::memory_order_acquire) || client_ == nullptr) {
    r.error = "cache closed";
    return r;
  }
  auto generation = breaker_.admit();
  if (!generation) {  // counted by the breaker
    r.error = l2::k_breaker_open;
    return r;
  }
  r = client_->execute(std::move(commands), affinity);
  breaker_.record(*generation, r.ok);
  bool replied_ok = r.ok;
  for (const auto& reply : r.replies) replied_ok = replied_ok && !reply.is_error();
  // Transport or reply error (a cluster node's breaker turning its part away
  // is a rejection, counted there).
  if (!replied_ok && r.error != l2::k_breaker_open) metrics::bump(counters_.redis_errors);
  return r;
}

void Cache::Impl::exec_async(std::vector<std::string> commands, std::size_t affinity) {
  if (closed_.load(std::memory_order_acquire) || client_ == nullptr) return;
  auto generation = breaker_.admit();
  if (!generation) return;  // counted by the breaker
  client_->submit(
      std::move(commands),
      [this, gen = *generation](l2::Result r) {
        bool replied_ok = r.ok;
        for (const auto& reply : r.replies) replied_ok = replied_ok && !reply.is_error();
        breaker_.record(gen, r.ok);
        if (!replied_ok && r.error != l2::k_breaker_open) metrics::bump(counters_.redis_errors);
      },
      affinity);
}

Cache::Impl::L2Value Cache::Impl::l2_read(std::string_view key, const detail::TypeOps* ops,
                                          bool keep_raw) {
  if (!has_redis()) return {};
  const std::int64_t t0 = opts_.metrics ? mono_ns() : 0;
  const std::int64_t sent_at = now_ns();
  l2::ReadResult r = store_->read(key, /*with_negative=*/ops->is_absent != nullptr);
  if (opts_.metrics) latencies_.l2.observe_ns(mono_ns() - t0);
  L2Value out = decode_read(r, ops, keep_raw);
  out.sent_at_ns = sent_at;
  return out;
}

std::vector<Cache::Impl::L2Value> Cache::Impl::l2_read_many(
    const std::vector<std::string_view>& keys, const detail::TypeOps* ops, bool keep_raw) {
  if (!has_redis() || keys.empty()) return std::vector<L2Value>(keys.size());
  const std::int64_t t0 = opts_.metrics ? mono_ns() : 0;
  const std::int64_t sent_at = now_ns();
  std::vector<l2::ReadResult> rs = store_->read_many(keys, ops->is_absent != nullptr);
  if (opts_.metrics) latencies_.l2.observe_ns(mono_ns() - t0);
  std::vector<L2Value> out;
  out.reserve(rs.size());
  for (const auto& r : rs) {
    out.push_back(decode_read(r, ops, keep_raw));
    out.back().sent_at_ns = sent_at;
  }
  return out;
}

Cache::Impl::L2Value Cache::Impl::decode_read(const l2::ReadResult& r, const detail::TypeOps* ops,
                                              bool keep_raw) {
  L2Value out;
  if (keep_raw && r.bytes) out.raw = *r.bytes;
  if (!r.status.ok) {  // counted in exec
    out.failed = true;
    return out;
  }
  if (r.negative) {  // known not to exist
    metrics::bump(counters_.l2_hits);
    metrics::bump(counters_.negative_hits);
    out.value = ops->make_absent();
    out.negative = true;
    out.remaining_ms = r.negative_pttl_ms > 0 ? r.negative_pttl_ms : 0;
    return out;
  }
  if (!r.bytes) {
    metrics::bump(counters_.l2_misses);
    return out;
  }
  wire::Decoded d = wire::decode_envelope(*r.bytes);
  if (d.error == wire::decode_error::none) {
    try {
      out.value = ops->decode(d.payload());
    } catch (...) {
      out.value = nullptr;
    }
  }
  if (!out.value) {
    out.corrupt = true;
    metrics::bump(counters_.decode_errors);
    metrics::bump(counters_.l2_misses);
    return out;
  }
  metrics::bump(counters_.l2_hits);
  out.stale_after_s = d.stale_after_unix_s;
  out.payload_bytes = d.payload().size();
  // The envelope holds the writer's stale-after time rounded down to whole
  // seconds (the Go library's unit). A read counts the value stale once that
  // second is over: never early, at most a second late. (Counted stale as
  // soon as the second began, a value written with a TTL of a few seconds or
  // less would read back stale right away, and every instance reading it would
  // reload it and drop everyone's copy.)
  const auto now_s = static_cast<std::uint64_t>(wall_ns() / 1'000'000'000);
  out.stale = d.stale_after_unix_s < now_s;
  out.may_be_stale = d.stale_after_unix_s <= now_s;
  // PTTL 0 (under a millisecond left) and -2 (deleted or expired between GET
  // and PTTL): serve once, keep out of L1. Only -1 means no expiry.
  if (r.pttl_ms >= 0) {
    out.remaining_ms = r.pttl_ms;
  } else if (r.pttl_ms == -2) {
    out.remaining_ms = 0;
  }
  return out;
}

void Cache::Impl::fill_from_l2(std::string_view key, std::uint64_t hash, const L2Value& v,
                               const detail::TypeOps* ops, const l1::FillToken& token,
                               bool will_refresh) {
  const std::int64_t now = now_ns();
  // No PTTL (a key without expiry): as long as the longest ttl we accept.
  const std::int64_t value_life_ns =
      util::ms_to_ns(v.remaining_ms ? *v.remaining_ms : util::k_max_duration_ms);
  std::int64_t life_ns = value_life_ns;
  if (opts_.l1_ttl.count() > 0) life_ns = std::min(life_ns, util::ms_to_ns(opts_.l1_ttl.count()));
  if (life_ns <= 0) return;
  const std::int64_t stale_in =
      v.negative ? life_ns  // "not found" is never refreshed, it expires
                 : util::ns_until_second(util::end_of_second(v.stale_after_s), wall_ns(), life_ns);
  l1::InsertRequest req;
  req.key = key;
  req.value = v.value;
  req.ops = ops;
  // Redis's PTTL counted from its answer, which came after the read was sent.
  const std::int64_t from = v.sent_at_ns != 0 ? std::min(now, v.sent_at_ns) : now;
  req.expires_at_ns = from + life_ns;
  req.value_expires_at_ns = from + value_life_ns;
  req.stale_at_ns = std::min(now + std::min(stale_in, life_ns), req.expires_at_ns);
  req.value_bytes = ops->size_of(v.value.get(), v.payload_bytes);
  req.refresh_claimed = v.stale && will_refresh;
  if (opts_.test_before_l1_fill) opts_.test_before_l1_fill(key);
  l1_.insert(req, hash, token, now);
}

std::optional<std::string> Cache::Impl::invalidation_message(std::string_view key) const {
  return wire::encode_invalidation(key, origin_);
}

std::optional<l2::WriteRequest> Cache::Impl::prepare_store(std::string_view key, std::uint64_t hash,
                                                           const detail::erased_value& value,
                                                           const detail::TypeOps* ops,
                                                           std::chrono::milliseconds ttl,
                                                           const l1::FillToken& token,
                                                           StoreMode mode) {
  const bool absent = ops->is_absent != nullptr && ops->is_absent(value.get());
  std::string storage;
  std::string_view payload;
  if (absent) {  // "not found": cached for negative_ttl at most, or not at all
    if (opts_.negative_ttl.count() == 0) {
      // A refresh (it compares with what it read) that finds nothing leaves
      // no copy of the value it was to replace: out of L1 unless written
      // since, and out of Redis if Redis still holds the bytes it read (then
      // telling the other instances).
      if (mode.if_equals) forget_refreshed(key, hash, token, *mode.if_equals, mode.write_l2);
      return std::nullopt;
    }
    ttl = std::min(ttl, opts_.negative_ttl);
  } else {
    try {
      payload = encoded(value, ops, &storage);
    } catch (...) {
      metrics::bump(counters_.encode_errors);
      log(log_level::warning, "a loaded value could not be encoded; it is returned but not cached");
      return std::nullopt;
    }
  }
  ttl = jittered(ttl);
  Deadlines d = deadlines_for(ttl);
  if (absent) d.stale_at_ns = d.expires_at_ns;  // never refreshed
  if (opts_.test_before_l1_fill) opts_.test_before_l1_fill(key);
  const auto inserted =
      l1_.insert(insert_request(key, value, ops, payload.size(), d), hash, token, d.now_ns);
  if (inserted == l1::insert_result::outdated) {
    // With Redis, keep no older copy either: the next read goes to Redis.
    // Without it, L1 already holds what outdated the fill: a set()'s value
    // (the only copy), or nothing after a remove().
    if (has_redis()) l1_.drop(key, hash);
    return std::nullopt;
  }
  if (!has_redis() || !mode.write_l2) return std::nullopt;
  l2::WriteRequest w;
  w.key = std::string(key);
  if (!absent) w.bytes = envelope(payload, d);
  w.expires_at_ms = d.expires_at_unix_ms;
  w.only_if_absent = !mode.overwrite;
  w.negative = absent;
  if (mode.publish) w.message = invalidation_message(key);
  // A refresh compares with what it read: a value another instance wrote
  // meanwhile is neither overwritten nor (by a "not found") deleted.
  w.if_equals = std::move(mode.if_equals);
  if (absent) {
    // "Not found" goes to the marker key; a refresh (overwrite) also deletes
    // the value it replaces.
    w.clear_other = mode.overwrite;
  } else {
    // A present value of an optional type clears a marker a racing instance left.
    w.clear_other = ops->is_absent != nullptr;
  }
  return w;
}

void Cache::Impl::store_loaded(std::string_view key, std::uint64_t hash,
                               const detail::erased_value& value, const detail::TypeOps* ops,
                               std::chrono::milliseconds ttl, const l1::FillToken& token,
                               StoreMode mode) {
  auto w = prepare_store(key, hash, value, ops, ttl, token, mode);
  if (!w) return;
  store_prepared({std::move(*w)}, {{hash, token}});
}

void Cache::Impl::store_prepared(const std::vector<l2::WriteRequest>& writes,
                                 const std::vector<Fill>& fills) {
  if (writes.empty()) return;
  // Awaited, so once the caller has its value, Redis has it too: a remove()
  // anywhere after that (another instance's, after this caller told it)
  // cannot be overtaken by this write.
  std::vector<l2::RedisStore::WriteOutcome> each;
  store_->write_many(writes, &each);
  for (std::size_t k = 0; k < writes.size(); ++k) {
    const l2::WriteRequest& w = writes[k];
    const bool written = each[k].status.ok;
    if (written && each[k].applied && w.message) metrics::bump(counters_.invalidations_sent);
    if (written && !each[k].applied && w.if_equals) {
      // A refresh's compare-and-set lost: Redis holds a newer write than the
      // value read, so this reload must not stand in L1 either (the writer's
      // invalidation would drop it too, unless it is late or lost).
      l1_.drop(w.key, fills[k].hash);
      continue;
    }
    withdraw_if_overtaken(w, fills[k].hash, fills[k].token);
  }
}

void Cache::Impl::forget_refreshed(std::string_view key, std::uint64_t hash,
                                   const l1::FillToken& token, const std::string& read_bytes,
                                   bool write_l2) {
  l1_.drop_if_current(key, hash, token);
  if (has_redis() && write_l2 && !read_bytes.empty()) {
    l2::WriteRequest w;
    w.key = std::string(key);
    w.bytes = read_bytes;
    store_->undo_async(w, invalidation_message(key));
  }
}

void Cache::Impl::withdraw_if_overtaken(const l2::WriteRequest& w, std::uint64_t hash,
                                        const l1::FillToken& token) {
  // The write has been answered before this check, and a remove() or set()
  // here bumps the key's generation before it sends its DEL or SET, so an
  // unchanged generation means those reach Redis after the write. A write
  // that a newer one replaced meanwhile is left alone (the bytes differ).
  // (Another instance's DEL went out before its invalidation arrived: the
  // fill race the README leaves uncovered, unless it arrived by now.)
  if (l1_.fill_token(hash).generation == token.generation) return;
  store_->undo_async(w, invalidation_message(w.key));
  metrics::bump(counters_.fill_writes_withdrawn);
}

}  // namespace multicache
