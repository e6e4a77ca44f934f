// cache_refresh.cc — background refreshes: of the stale key a get_or_load
// found (a batch of one), or of the stale keys one get_or_load_many found.
//
// Each key is skipped (its claim released) when it was written since it was
// found stale, or when a caller is loading it right now. For the rest, one
// pipeline reads them from Redis (another instance may have refreshed some
// already); the ones Redis has no fresh value for go to ONE batch loader call,
// and what it found goes back in one pipeline of compare-and-set writes, so a
// value someone else wrote meanwhile is never replaced. A key the loader
// leaves out is gone from the database: dropped from L1, and from Redis if
// Redis still holds the bytes read (for T = std::optional<U> it arrives here
// as the empty optional, and is stored as "not found" instead). Every led
// flight is finished and every claim released on every path, exceptions
// included.
#include "cache_impl.h"

namespace multicache {

void Cache::release_claims(const std::vector<std::string>& keys) {
  for (const auto& key : keys) impl_->l1_.release_refresh_claim(key, l1::L1Cache::hash(key));
}

void Cache::refresh_many(BatchStale stale, std::chrono::milliseconds ttl,
                         const detail::TypeOps* ops, detail::OwnedBatchLoader loader) {
  Impl& m = *impl_;
  struct Job {
    std::vector<std::string> keys;
    std::vector<l1::FillToken> tokens;
    detail::OwnedBatchLoader loader;
  };
  std::shared_ptr<Job> job;
  try {
    job = std::make_shared<Job>();
    job->tokens.reserve(stale.generations.size());
  } catch (...) {
    release_claims(stale.keys);
    throw;
  }
  job->keys = std::move(stale.keys);
  for (std::uint64_t g : stale.generations) job->tokens.push_back(l1::FillToken{g});
  job->loader = std::move(loader);
  const bool queued =
      !m.closed_.load(std::memory_order_acquire) && m.executor_.try_submit([&m, ttl, ops, job] {
        m.run_batch_refresh(job->keys, job->tokens, ttl, ops, job->loader);
      });
  if (!queued) {
    metrics::bump(m.counters_.refreshes_skipped, job->keys.size());
    release_claims(job->keys);
  }
}

void Cache::Impl::run_batch_refresh(const std::vector<std::string>& keys,
                                    const std::vector<l1::FillToken>& tokens,
                                    std::chrono::milliseconds ttl, const detail::TypeOps* ops,
                                    const detail::OwnedBatchLoader& loader) {
  struct Led {
    std::size_t index;  // in keys
    std::shared_ptr<load::SingleFlight::Call> call;
    std::uint64_t hash;
    bool finished = false;
  };
  std::vector<Led> led;
  // A finished refresh lets the next stale read claim one again.
  auto finish = [&](Led& l, detail::erased_value v, std::exception_ptr e) {
    l.finished = true;
    l1_.release_refresh_claim(keys[l.index], l.hash);
    flights_.finish(keys[l.index], l.call, std::move(v), std::move(e));
  };
  // Counters move after the claims are released and the flights finished, so
  // whoever sees them can claim the keys again.
  std::size_t examined = 0;  // keys led or skipped so far
  try {
    led.reserve(keys.size());
    for (; examined < keys.size(); ++examined) {
      const std::string& key = keys[examined];
      const std::uint64_t hash = l1::L1Cache::hash(key);
      // Written since it was found stale, or being loaded by a caller right now.
      if (l1_.is_current(tokens[examined], hash)) {
        auto joined = flights_.join(key, ops);
        if (joined.leader) {
          led.push_back({examined, std::move(joined.call), hash});
          metrics::bump(counters_.refreshes_started);
          continue;
        }
      }
      l1_.release_refresh_claim(key, hash);
      metrics::bump(counters_.refreshes_skipped);
    }
    if (led.empty()) return;
    std::vector<std::string_view> to_read;
    to_read.reserve(led.size());
    for (const auto& l : led) to_read.push_back(keys[l.index]);
    std::vector<L2Value> read = l2_read_many(to_read, ops, /*keep_raw=*/true);

    std::vector<std::size_t> to_load;  // positions in `led`
    std::vector<std::string> missing;
    for (std::size_t j = 0; j < led.size(); ++j) {
      Led& l = led[j];
      L2Value& v = read[j];
      const l1::FillToken& token = tokens[l.index];
      if (v.value && !l1_.is_current(token, l.hash)) {
        // A write of the key began (set() outdates tokens before its Redis
        // write) and what was just read may be its value, however stale its
        // whole-second stale-after looks: a reload must not overwrite it.
        // Callers that joined get it. (Nothing read: the reload goes on, as
        // a load after a miss would; its L1 fill is refused by the token.)
        finish(l, std::move(v.value), nullptr);
        metrics::bump(counters_.refreshes_skipped);
      } else if (v.value && !v.may_be_stale) {
        // Another instance refreshed it: its value is fresh even by the
        // earliest reading of its stale-after second (this instance's own
        // value, whose exact stale time has passed, is not). Kept out of L1
        // (a PTTL of 0), the old entry is still there, claimed: finish()
        // releases it.
        fill_from_l2(keys[l.index], l.hash, v, ops, token);
        finish(l, v.value, nullptr);
        metrics::bump(counters_.refreshes_ok);
      } else {
        to_load.push_back(j);
        missing.push_back(keys[l.index]);
      }
    }
    if (missing.empty()) return;
    std::vector<detail::erased_value> loaded = timed_load([&] { return loader(missing); });
    metrics::bump(counters_.loads);  // one loader call
    std::vector<l2::WriteRequest> writes;
    std::vector<Fill> fills;  // whose each write is
    for (std::size_t k = 0; k < to_load.size(); ++k) {
      const Led& l = led[to_load[k]];
      L2Value& was = read[to_load[k]];
      const l1::FillToken& token = tokens[l.index];
      if (k < loaded.size() && loaded[k]) {
        // Compare-and-set against what was just read: a set() from another
        // instance that lands meanwhile is never overwritten by this refresh.
        auto w = prepare_store(keys[l.index], l.hash, loaded[k], ops, ttl, token,
                               {.write_l2 = !was.failed,
                                .overwrite = true,
                                .publish = true,
                                .if_equals = std::move(was.raw)});
        if (w) {
          writes.push_back(std::move(*w));
          fills.push_back({l.hash, token});
        }
      } else {
        forget_refreshed(keys[l.index], l.hash, token, was.raw, !was.failed);
      }
    }
    store_prepared(writes, fills);
    // Not cached (the codec threw, or the write lost), the old entry is still
    // there, claimed: finish() releases it, so the next stale read may try
    // again. (A new entry starts unclaimed; releasing it is a no-op.)
    for (std::size_t k = 0; k < to_load.size(); ++k) {
      // Not found: waiters load it themselves, as after a batch call's miss.
      finish(led[to_load[k]], k < loaded.size() ? loaded[k] : nullptr, nullptr);
      metrics::bump(counters_.refreshes_ok);
    }
  } catch (...) {
    // Keys not examined yet (joining threw) were neither led nor released.
    for (std::size_t i = examined; i < keys.size(); ++i) {
      l1_.release_refresh_claim(keys[i], l1::L1Cache::hash(keys[i]));
    }
    for (auto& l : led) {
      if (l.finished) continue;
      finish(l, nullptr, std::current_exception());
      metrics::bump(counters_.refreshes_failed);
    }
    metrics::bump(counters_.load_errors);
  }
}

}  // namespace multicache
