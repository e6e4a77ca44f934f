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
  const std::string lock_token = origin_ + ":" + std::to_string(lock_serial_.fetch_add(1));
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
      if (holding) m->store_->unlock(key, token);
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

}  // namespace multicache
