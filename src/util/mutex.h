// util/mutex.h — std::mutex wrapped, and a reader-writer lock, so that clang's
// -Wthread-safety can check MC_GUARDED_BY / MC_REQUIRES annotations.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "util/spin.h"
#include "util/thread_annotations.h"

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

// A reader-writer lock built for L1 hits: a reader's lock and unlock are one
// atomic add each on the lock's word, inline (std::shared_mutex calls into
// pthread_rwlock, about 60 instructions per lock/unlock pair). Writers take a
// mutex among themselves, then set the writer bit, which turns new readers
// away, and wait for the readers inside to leave. Every wait first spins
// briefly (util::spin_until, a few microseconds at most: writers and L1 hits
// hold the lock for well under one; a slow visit_or_load reader outlasts the
// spin, and its writer then sleeps), then blocks on the word (C++20 atomic wait: a futex on
// Linux); only the last reader leaving while a writer waits, and a writer
// leaving, notify. Writer-preferring: a stream of readers cannot starve a
// writer. Not recursive: a thread holding the shared lock must not take it
// again (with a writer waiting in between, it would wait for itself).
class MC_CAPABILITY("shared_mutex") SharedMutex {
 public:
  void lock() MC_ACQUIRE() {
    if (!spin_until([this] { return writers_.try_lock(); })) writers_.lock();
    std::uint32_t s = state_.fetch_or(k_writer, std::memory_order_acquire) | k_writer;
    spin_until([&] {
      s = state_.load(std::memory_order_acquire);
      return (s & k_readers) == 0;
    });
    while ((s & k_readers) != 0) {
      state_.wait(s, std::memory_order_acquire);
      s = state_.load(std::memory_order_acquire);
    }
  }
  void unlock() MC_RELEASE() {
    state_.fetch_and(~k_writer, std::memory_order_release);
    state_.notify_all();  // readers turned away
    writers_.unlock();
  }
  void lock_shared() MC_ACQUIRE_SHARED() {
    while ((state_.fetch_add(1, std::memory_order_acquire) & k_writer) != 0) {
      leave();  // a writer holds or waits: step back until it is done
      std::uint32_t s = 0;
      spin_until([&] {
        s = state_.load(std::memory_order_relaxed);
        return (s & k_writer) == 0;
      });
      while ((s & k_writer) != 0) {
        state_.wait(s, std::memory_order_relaxed);
        s = state_.load(std::memory_order_relaxed);
      }
    }
  }
  void unlock_shared() MC_RELEASE_SHARED() { leave(); }

 private:
  static constexpr std::uint32_t k_writer = 1u << 31;
  static constexpr std::uint32_t k_readers = k_writer - 1;

  void leave() {
    // The last reader out while a writer waits lets it in.
    if (state_.fetch_sub(1, std::memory_order_release) == (k_writer | 1)) state_.notify_all();
  }

  std::atomic<std::uint32_t> state_{0};  // k_writer | number of readers inside or stepping in
  std::mutex writers_;                   // one writer at a time
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
