// util/mutex.h — std::mutex and std::shared_mutex wrapped so that clang's
// -Wthread-safety can check MC_GUARDED_BY / MC_REQUIRES annotations.
#pragma once

#include <condition_variable>
#include <mutex>
#include <shared_mutex>

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

class MC_CAPABILITY("shared_mutex") SharedMutex {
 public:
  void lock() MC_ACQUIRE() { mu_.lock(); }
  void unlock() MC_RELEASE() { mu_.unlock(); }
  void lock_shared() MC_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() MC_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
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
