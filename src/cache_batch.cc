// cache_batch.cc — get_or_load_many: L1, one Redis round trip, one loader call.
//
// Every key missing from L1 joins its single-flight group. For the keys this
// call leads, one pipeline reads them all from Redis; the ones still missing
// go to the batch loader in one call, and what it found is put into L1 and
// written back to Redis in one pipeline. Keys another caller leads are waited
// for at the end. With distributed_single_flight the loads go through
// Impl::batch_under_locks (cache_dlock.cc): one loader call for the keys this
// instance locks, polls for the rest. Every led flight is finished on every path, exceptions
// included, so no waiter can hang. Stale values (in L1, or read from Redis)
// are answered, and their keys handed to the caller to refresh in one
// background batch (cache_refresh.cc); on an exception their refresh
// claims are released instead.
#include <unordered_map>

#include "cache_impl.h"

namespace multicache {

std::vector<detail::erased_value> Cache::fetch_many(
    const std::vector<std::string>& keys, std::chrono::milliseconds ttl, const detail::TypeOps* ops,
    const detail::BatchLoaderRef& loader, BatchStale* stale, std::vector<read_source>* from) {
  for (const auto& key : keys) check_key(key);
  Impl& m = *impl_;
  const std::size_t n = keys.size();
  std::vector<detail::erased_value> out(n);
  if (from != nullptr) from->assign(n, read_source::loader);
  auto note = [from](std::size_t i, read_source s) {
    if (from != nullptr) (*from)[i] = s;
  };
  struct Led {
    std::size_t index;
    std::shared_ptr<load::SingleFlight::Call> call;
    std::uint64_t hash;
    l1::FillToken token;
    bool finished = false;
  };
  std::vector<Led> led;
  std::vector<std::pair<std::size_t, std::shared_ptr<load::SingleFlight::Call>>> waiting;
  std::unordered_map<std::string_view, std::size_t> first_index;  // duplicates answered once
  // Stale keys found (their refresh claims held) and their fill generations.
  struct Claims {
    Impl& m;
    const std::vector<std::string>& keys;
    std::vector<std::pair<std::size_t, std::uint64_t>> held;
    bool handed_over = false;
    ~Claims() {
      if (handed_over) return;
      for (const auto& h : held)
        m.l1_.release_refresh_claim(keys[h.first], l1::L1Cache::hash(keys[h.first]));
    }
  } claims{m, keys, {}};
  // Reserved up front: once a key is led or a claim taken, recording it must not throw.
  led.reserve(n);
  waiting.reserve(n);
  claims.held.reserve(n);

  auto finish = [&](Led& l, detail::erased_value v, std::exception_ptr e) {
    l.finished = true;
    m.flights_.finish(keys[l.index], l.call, std::move(v), std::move(e));
  };
  try {
    for (std::size_t i = 0; i < n; ++i) {
      const std::string_view key = keys[i];
      if (!first_index.emplace(key, i).second) continue;
      const auto r = m.counted_find(
          [&](std::uint64_t hash, const l1::ReadTime& now) {
            return m.l1_.find_shared(key, hash, ops, now, &out[i]);
          },
          key);
      if (r != l1::lookup_result::miss) {
        note(i, read_source::l1);
        if (r == l1::lookup_result::stale) {
          claims.held.emplace_back(i, m.l1_.fill_token(l1::L1Cache::hash(key)).generation);
        }
        continue;
      }
      auto joined = m.flights_.join(key, ops);
      if (!joined.leader) {
        metrics::bump(m.counters_.shared_loads);
        note(i, read_source::joined);
        waiting.emplace_back(i, std::move(joined.call));
        continue;
      }
      const std::uint64_t hash = l1::L1Cache::hash(key);
      led.push_back({i, std::move(joined.call), hash, m.l1_.fill_token(hash)});
      // A leader that finished just before this one joined may have filled
      // L1 (with Redis down or absent, the only copy): take its value.
      const auto again = m.l1_.find_shared(key, hash, ops, m.now_ns(), &out[i]);
      if (again != l1::lookup_result::miss) {
        note(i, read_source::l1);
        if (again == l1::lookup_result::stale)
          claims.held.emplace_back(i, led.back().token.generation);
        finish(led.back(), out[i], nullptr);
        led.pop_back();
      }
    }

    std::vector<std::string_view> to_read;
    to_read.reserve(led.size());
    for (const auto& l : led) to_read.push_back(keys[l.index]);
    std::vector<Impl::L2Value> found = m.l2_read_many(to_read, ops);

    // A value read from Redis answers its key (and, if stale, is refreshed):
    // at once (redis), or after another instance's lock on it (joined).
    auto take = [&](std::size_t j, read_source s) {
      Led& l = led[j];
      note(l.index, s);
      m.fill_from_l2(keys[l.index], l.hash, found[j], ops, l.token, /*will_refresh=*/true);
      if (found[j].stale) claims.held.emplace_back(l.index, l.token.generation);
      out[l.index] = found[j].value;
      finish(l, found[j].value, nullptr);
    };
    std::vector<std::size_t> to_load;  // positions in `led`
    for (std::size_t j = 0; j < led.size(); ++j) {
      if (found[j].value) {
        take(j, read_source::redis);
      } else {
        to_load.push_back(j);
      }
    }
    // The batch loader failed: stale-if-error answers it only if every key
    // it was called for has an expired value within the grace (a partial
    // answer would read as "not found" for the rest).
    auto answer_stale = [&](const std::vector<std::size_t>& js) {
      std::vector<detail::erased_value> stale;
      stale.reserve(js.size());
      for (std::size_t j : js) {
        stale.push_back(m.stale_on_error(keys[led[j].index], led[j].hash, ops, /*count=*/false));
        if (!stale.back()) return false;
      }
      metrics::bump(m.counters_.load_errors);
      for (std::size_t k = 0; k < js.size(); ++k) {
        Led& l = led[js[k]];
        note(l.index, read_source::stale_on_error);
        out[l.index] = stale[k];
        finish(l, std::move(stale[k]), nullptr);
        metrics::bump(m.counters_.stale_served_on_error);
      }
      return true;
    };
    // One loader call for these keys; what it found goes to L1 and (unless
    // the key's read failed) to Redis in one pipeline, awaited as a single
    // load's write, before their waiters get it.
    auto load = [&](const std::vector<std::size_t>& js) {
      std::vector<std::string> missing;
      missing.reserve(js.size());
      for (std::size_t j : js) missing.push_back(keys[led[j].index]);
      std::vector<detail::erased_value> loaded;
      try {
        loaded = m.timed_load([&] { return loader(missing); });
      } catch (const load::LoadCycleError&) {  // a bug to show, not an outage to hide
        throw;
      } catch (...) {
        if (answer_stale(js)) return;
        throw;
      }
      metrics::bump(m.counters_.loads);  // one loader call
      std::vector<l2::WriteRequest> writes;
      std::vector<Impl::Fill> fills;  // whose each write is
      for (std::size_t k = 0; k < js.size(); ++k) {
        Led& l = led[js[k]];
        const Impl::L2Value& was = found[js[k]];
        detail::erased_value v = k < loaded.size() ? loaded[k] : nullptr;
        if (v) {
          auto w = m.prepare_store(keys[l.index], l.hash, v, ops, ttl, l.token,
                                   {.write_l2 = !was.failed, .overwrite = was.corrupt});
          if (w) {
            writes.push_back(std::move(*w));
            fills.push_back({l.hash, l.token});
          }
          out[l.index] = v;
        } else {
          finish(l, nullptr, nullptr);  // not found; single-call waiters load it
        }
      }
      m.store_prepared(writes, fills);
      for (std::size_t j : js) {
        if (!led[j].finished) finish(led[j], out[led[j].index], nullptr);
      }
    };
    if (!to_load.empty() && m.opts_.distributed_single_flight && m.has_redis()) {
      // As a single call: keys whose read failed or was corrupt load at once.
      std::vector<std::string_view> names;
      std::vector<bool> lock;
      for (std::size_t j : to_load) {
        names.push_back(keys[led[j].index]);
        lock.push_back(!found[j].failed && !found[j].corrupt);
      }
      auto at = [&](const std::vector<std::size_t>& positions) {
        std::vector<std::size_t> js;
        for (std::size_t p : positions) js.push_back(to_load[p]);
        return js;
      };
      m.batch_under_locks(names, lock, ops,
                          {.load = [&](const std::vector<std::size_t>& ps) { load(at(ps)); },
                           .found =
                               [&](std::size_t p, Impl::L2Value v) {
                                 found[to_load[p]] = std::move(v);
                                 take(to_load[p], read_source::joined);
                               },
                           .failed = [&](std::size_t p) { found[to_load[p]].failed = true; }});
    } else if (!to_load.empty()) {
      load(to_load);
    }
  } catch (...) {
    metrics::bump(m.counters_.load_errors);
    for (auto& l : led) {
      if (!l.finished) finish(l, nullptr, std::current_exception());
    }
    throw;
  }
  for (auto& [i, call] : waiting) {
    bool stale_served = false;
    out[i] = m.wait_for_leader(keys[i], ops, call, &stale_served);
    if (stale_served) note(i, read_source::stale_on_error);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t first = first_index.at(keys[i]);
    if (first == i) continue;
    out[i] = out[first];
    if (from != nullptr) (*from)[i] = (*from)[first];
  }
  stale->keys.reserve(claims.held.size());
  stale->generations.reserve(claims.held.size());
  for (const auto& [i, generation] : claims.held) {
    stale->keys.push_back(keys[i]);
    stale->generations.push_back(generation);
  }
  claims.handed_over = true;
  return out;
}

}  // namespace multicache
