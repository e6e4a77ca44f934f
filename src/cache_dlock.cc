// cache_dlock.cc — distributed single-flight: one loader call across instances.
//
// After an L2 miss, the process-local leader tries SET lock token NX PX
// lock_ttl. The holder loads, writes the value to Redis (waiting for the
// reply, so the value is there before the lock goes), and releases the lock
// with a compare-and-delete script. Everyone else polls Redis with backoff
// (1 ms doubling to 50 ms): a value (or "not found" marker) ends the wait; a
// vanished lock (its holder failed or crashed and the lock expired) is taken
// over. After lock_wait a waiter loads by itself: a slow holder delays others
// at most that long. A waiter whose lock attempt or poll fails (Redis down
// or stalled) loads by itself and does not write back: a write would wait a
// second command_timeout for the Redis that just failed it.
#include <algorithm>
#include <thread>

#include "cache_impl.h"

namespace multicache {

detail::erased_value Cache::Impl::load_under_lock(std::string_view key, std::uint64_t hash,
                                                  const detail::TypeOps* ops,
                                                  std::chrono::milliseconds ttl,
                                                  const l1::FillToken& token,
                                                  const detail::LoaderRef& loader,
                                                  read_source* from) {
  const std::string lock_token = new_lock_token();
  const auto deadline = std::chrono::steady_clock::now() + opts_.lock_wait;
  auto backoff = std::chrono::milliseconds(1);
  bool holding = false;
  bool redis_failed = false;
  for (;;) {
    bool acquired = false;
    if (!store_->try_lock(key, lock_token, opts_.lock_ttl.count(), &acquired).ok) {
      redis_failed = true;
      break;
    }
    if (acquired) {
      holding = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;  // load by ourselves
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
    L2Value v = l2_read(key, ops);
    if (v.value) {  // the holder's value (or its "not found")
      fill_from_l2(key, hash, v, ops, token);
      metrics::bump(counters_.shared_loads);
      *from = read_source::joined;
      return std::move(v.value);
    }
    if (v.failed) {
      redis_failed = true;
      break;
    }
  }
  // Released on every way out, exceptions included.
  struct Release {
    Impl* m;
    std::string_view key;
    const std::string& token;
    bool holding;
    ~Release() {
      try {
        if (holding) m->store_->unlock(key, token);
      } catch (...) {  // out of memory: the lock expires after lock_ttl
      }
    }
  } release{this, key, lock_token, holding};
  if (holding) {
    // The previous holder may have stored its value and let go between our
    // last read and our lock: look once more before loading.
    L2Value v = l2_read(key, ops);
    if (v.value) {
      fill_from_l2(key, hash, v, ops, token);
      metrics::bump(counters_.shared_loads);
      *from = read_source::joined;
      return std::move(v.value);
    }
    redis_failed = v.failed;
  }
  detail::erased_value value = timed_load(loader);
  metrics::bump(counters_.loads);
  *from = read_source::loader;
  // Wait for the write: waiters poll for it, and the lock must outlive it.
  store_loaded(key, hash, value, ops, ttl, token, {.write_l2 = !redis_failed, .overwrite = false});
  return value;
}

std::string Cache::Impl::new_lock_token() {
  return origin_ + ":" + std::to_string(lock_serial_.fetch_add(1));
}

void Cache::Impl::batch_under_locks(const std::vector<std::string_view>& keys,
                                    const std::vector<bool>& lock, const detail::TypeOps* ops,
                                    const BatchLockHooks& hooks) {
  const std::string token = new_lock_token();
  const auto deadline = std::chrono::steady_clock::now() + opts_.lock_wait;
  auto backoff = std::chrono::milliseconds(1);
  auto names = [&](const std::vector<std::size_t>& at) {
    std::vector<std::string_view> v;
    v.reserve(at.size());
    for (std::size_t i : at) v.push_back(keys[i]);
    return v;
  };
  std::vector<std::size_t> now;      // to load in this round
  std::vector<std::size_t> pending;  // to lock in this round
  for (std::size_t i = 0; i < keys.size(); ++i) (lock[i] ? pending : now).push_back(i);
  for (;;) {
    std::vector<std::size_t> others;  // locked elsewhere
    {
      const std::vector<std::string_view> asked = names(pending);
      const auto locks = store_->try_lock_many(asked, token, opts_.lock_ttl.count());
      // The locks taken, released after the load, exceptions included. (Not
      // those whose attempt failed: Redis may have run it, but an unlock
      // would wait another command_timeout for the Redis that just failed
      // it; such a lock expires after lock_ttl, as a single key's does.)
      struct Release {
        Impl* m;
        const std::string& token;
        std::vector<std::string_view> keys{};
        ~Release() {
          try {
            m->store_->unlock_many(keys, token);
          } catch (...) {  // out of memory: the locks expire after lock_ttl
          }
        }
      } release{this, token};
      release.keys.reserve(pending.size());
      std::vector<std::size_t> mine;
      for (std::size_t k = 0; k < pending.size(); ++k) {
        if (!locks[k].status.ok) {
          hooks.failed(pending[k]);
          now.push_back(pending[k]);
        } else if (locks[k].acquired) {
          release.keys.push_back(asked[k]);
          mine.push_back(pending[k]);
        } else {
          others.push_back(pending[k]);
        }
      }
      if (!mine.empty()) {
        // A previous holder may have stored its value and let go between
        // the read and our lock: look once more before loading.
        std::vector<L2Value> again = l2_read_many(names(mine), ops);
        for (std::size_t k = 0; k < mine.size(); ++k) {
          if (again[k].value) {
            metrics::bump(counters_.shared_loads);
            hooks.found(mine[k], std::move(again[k]));
            continue;
          }
          if (again[k].failed) hooks.failed(mine[k]);
          now.push_back(mine[k]);
        }
      }
      if (!now.empty()) hooks.load(now);
      now.clear();
    }
    if (others.empty()) return;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
    // Polled after this round's load, however long it took: a holder that
    // wrote meanwhile answers its keys before lock_wait is judged.
    std::vector<L2Value> polled = l2_read_many(names(others), ops);
    pending.clear();
    for (std::size_t k = 0; k < others.size(); ++k) {
      if (polled[k].value) {  // the holder's value (or its "not found")
        metrics::bump(counters_.shared_loads);
        hooks.found(others[k], std::move(polled[k]));
      } else if (polled[k].failed) {
        hooks.failed(others[k]);
        now.push_back(others[k]);
      } else {
        pending.push_back(others[k]);  // still held, or its holder vanished
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {  // load the rest by ourselves
      now.insert(now.end(), pending.begin(), pending.end());
      if (!now.empty()) hooks.load(now);
      return;
    }
    if (pending.empty() && now.empty()) return;
  }
}

}  // namespace multicache
