// util/one_shot_event.h — a flag set once, which threads can wait for with a
// deadline; a Linux futex on one 32-bit word.
//
// Why not a mutex and a condition variable: waking a thread out of
// pthread_cond_wait leaves glibc's mutex marked contended, so the woken
// thread's unlock makes one more futex syscall, and the broadcast takes the
// condvar's internal lock. Here set() is one atomic exchange, plus one
// FUTEX_WAKE only when a thread sleeps on the word; a waiter that finds the
// flag set makes no syscall at all.
//
// Thread-safety: every member from any thread. set() is a release and a
// wait that returns true an acquire: what the setter wrote before set() is
// visible to the waiter after it. Lifetime: set() may touch the word after a
// waiter has already returned, so the event must outlive every set() call
// (PendingResult: the completing thread holds a reference to it).
//
// Spinning: wait_until(deadline, spin) first gives up the CPU in a loop
// (sched_yield) for up to spin while the flag is not set, and only then
// sleeps on the futex. A set() during that phase costs the setter no
// syscall and the waiter no wake-up; the price is the CPU the waiter burns.
#pragma once

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>

namespace multicache::util {

class OneShotEvent {
 public:
  void set() {
    if (state_.exchange(k_set, std::memory_order_acq_rel) == k_sleeping) {
      futex(FUTEX_WAKE_PRIVATE, INT_MAX, nullptr);
    }
  }

  bool is_set() const { return state_.load(std::memory_order_acquire) == k_set; }

  // Waits until set() or deadline; whether it was set. deadline is a
  // steady_clock time: CLOCK_MONOTONIC, which FUTEX_WAIT_BITSET takes as an
  // absolute time. A far deadline (time_point::max()) is waited for an hour
  // at a time, so the kernel never sees a time it would refuse. spin: how
  // long to yield-and-look before sleeping (never past deadline).
  bool wait_until(std::chrono::steady_clock::time_point deadline,
                  std::chrono::microseconds spin = std::chrono::microseconds{0}) {
    using namespace std::chrono;
    if (spin > microseconds{0} && !is_set()) {
      const steady_clock::time_point now = steady_clock::now();
      const steady_clock::time_point spin_end = deadline - now > spin ? now + spin : deadline;
      while (!is_set() && steady_clock::now() < spin_end) sched_yield();
    }
    std::uint32_t s = state_.load(std::memory_order_acquire);
    while (s != k_set) {
      const steady_clock::time_point now = steady_clock::now();
      if (deadline <= now) return is_set();
      if (s == k_idle && !state_.compare_exchange_weak(s, k_sleeping, std::memory_order_acquire)) {
        continue;  // s reloaded: set meanwhile, or a spurious failure
      }
      const steady_clock::time_point until = deadline - now > hours(1) ? now + hours(1) : deadline;
      const std::int64_t ns = duration_cast<nanoseconds>(until.time_since_epoch()).count();
      timespec at{};
      at.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
      at.tv_nsec = static_cast<long>(ns % 1'000'000'000);
      // Returns at once if the word is no longer k_sleeping (set meanwhile);
      // a timeout, a signal or a spurious wake-up: the loop looks again.
      futex(FUTEX_WAIT_BITSET_PRIVATE, k_sleeping, &at);
      s = state_.load(std::memory_order_acquire);
    }
    return true;
  }

 private:
  static constexpr std::uint32_t k_idle = 0;
  static constexpr std::uint32_t k_sleeping = 1;  // not set, and a waiter may sleep
  static constexpr std::uint32_t k_set = 2;

  long futex(int op, std::uint32_t val, const timespec* at) {
    static_assert(sizeof(state_) == sizeof(std::uint32_t));
    return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_), op, val, at, nullptr,
                   FUTEX_BITSET_MATCH_ANY);
  }

  std::atomic<std::uint32_t> state_{k_idle};
  static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
};

}  // namespace multicache::util
