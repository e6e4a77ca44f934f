// util/mutex.h — std::mutex wrapped, and a reader-writer lock, so that clang's
// -Wthread-safety can check MC_GUARDED_BY / MC_REQUIRES annotations.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "util/spin.h"
#include "util/thread_annotations.h"
#include "util/thread_stripe.h"

namespace multicache::util {

class MC_CAPABILITY("mutex") Mutex {
 public:
  void lock() MC_ACQUIRE() { mu_.lock(); }
  void unlock() MC_RELEASE() { mu_.unlock(); }
  bool try_lock() MC_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

// A reader-writer lock built for L1 hits, where two cores reading the same
// shard must not pass one cache line back and forth. Readers count
// themselves in one of k_stripes counters, each on its own cache line,
// picked by the thread (util::thread_stripe): a reader's lock and unlock
// are one atomic add each on its own stripe's line, plus a read of the
// writer flag, a line that stays shared in every core's cache while no
// writer comes (with a single reader count, the cores took that line from
// each other on every hit of a shared shard: docs/performance.md, for what
// the change measured). Writers take a mutex among
// themselves, set the writer flag, which turns new readers away, then wait
// for every stripe to empty. Every wait first spins briefly
// (util::spin_until, a few microseconds at most: writers and L1 hits hold the
// lock for well under one; a slow visit_or_load reader outlasts the spin, and
// its writer then sleeps), then blocks on the word it waits for (C++20
// atomic wait: a futex on Linux); only a reader leaving its stripe empty while
// a writer is in, and a writer leaving, notify. Writer-preferring: a stream of
// readers cannot starve a writer. Not recursive: a thread holding the shared
// lock must not take it again (with a writer waiting in between, it would
// wait for itself). A lock takes (k_stripes + 1) cache lines.
class MC_CAPABILITY("shared_mutex") SharedMutex {
 public:
  static constexpr std::size_t k_stripes = 8;

  void lock() MC_ACQUIRE() {
    if (!spin_until([this] { return writers_.try_lock(); })) writers_.lock();
    // seq_cst, as the readers' add and check: either a reader sees the flag,
    // or this writer sees the reader's count.
    writer_.store(1, std::memory_order_seq_cst);
    for (Stripe& s : stripes_) wait_for(s.readers, [](std::uint32_t n) { return n == 0; });
  }
  void unlock() MC_RELEASE() {
    writer_.store(0, std::memory_order_seq_cst);
    writer_.notify_all();  // readers turned away
    writers_.unlock();
  }
  void lock_shared() MC_ACQUIRE_SHARED() {
    std::atomic<std::uint32_t>& readers = stripe().readers;
    while (true) {
      readers.fetch_add(1, std::memory_order_seq_cst);
      if (writer_.load(std::memory_order_seq_cst) == 0) return;
      leave(readers);  // a writer holds or waits: step back until it is done
      wait_for(writer_, [](std::uint32_t w) { return w == 0; });
    }
  }
  void unlock_shared() MC_RELEASE_SHARED() { leave(stripe().readers); }

 private:
  struct alignas(64) Stripe {
    std::atomic<std::uint32_t> readers{0};  // readers of this stripe inside or stepping in
  };

  Stripe& stripe() { return stripes_[thread_stripe() % k_stripes]; }

  void leave(std::atomic<std::uint32_t>& readers) {
    // The last reader out of a stripe while a writer waits lets it go on.
    if (readers.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        writer_.load(std::memory_order_seq_cst) != 0) {
      readers.notify_all();
    }
  }
  // Spins, then sleeps, until done(word's value).
  template <class Done>
  static void wait_for(std::atomic<std::uint32_t>& word, Done done) {
    std::uint32_t v = 0;
    spin_until([&] {
      v = word.load(std::memory_order_seq_cst);
      return done(v);
    });
    while (!done(v)) {
      word.wait(v, std::memory_order_seq_cst);
      v = word.load(std::memory_order_seq_cst);
    }
  }

  Stripe stripes_[k_stripes];
  alignas(64) std::atomic<std::uint32_t> writer_{0};  // 1 while a writer holds or waits
  std::mutex writers_;                                // one writer at a time
};

class MC_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) MC_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  // Takes over a lock already held (after try_lock).
  MutexLock(Mutex& mu, std::adopt_lock_t) MC_REQUIRES(mu) : mu_(mu) {}
  ~MutexLock() MC_RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

class MC_SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mu) MC_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~WriterLock() MC_RELEASE() { mu_.unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mu_;
};

class MC_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) MC_ACQUIRE_SHARED(mu) : mu_(mu) { mu_.lock_shared(); }
  ~ReaderLock() MC_RELEASE_GENERIC() { mu_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

// Waits on a Mutex already held through a MutexLock.
class CondVar {
 public:
  template <class Pred>
  void wait(Mutex& mu, Pred pred) MC_REQUIRES(mu) {
    std::unique_lock<std::mutex> lk(mu.native(), std::adopt_lock);
    cv_.wait(lk, pred);
    lk.release();
  }
  // Returns pred() at the end (false: timed out).
  template <class Clock, class Dur, class Pred>
  bool wait_until(Mutex& mu, std::chrono::time_point<Clock, Dur> deadline, Pred pred)
      MC_REQUIRES(mu) {
    std::unique_lock<std::mutex> lk(mu.native(), std::adopt_lock);
    bool ok = cv_.wait_until(lk, deadline, pred);
    lk.release();
    return ok;
  }
  void notify_all() { cv_.notify_all(); }
  void notify_one() { cv_.notify_one(); }

 private:
  std::condition_variable cv_;
};

}  // namespace multicache::util
