// support/one_cpu.h — pins the calling thread to one CPU for a scope: the
// first CPU of its affinity mask. Threads it starts meanwhile inherit the
// pin; the destructor restores the thread's mask. Not thread-safe (one
// thread's own mask). Throws std::runtime_error if the mask cannot be read
// or set.
#pragma once

#include <sched.h>

#include <stdexcept>

namespace multicache::test {

class PinnedToOneCpu {
 public:
  PinnedToOneCpu() {
    if (sched_getaffinity(0, sizeof(saved_), &saved_) != 0) {
      throw std::runtime_error("sched_getaffinity failed");
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &saved_)) {
        CPU_SET(c, &one);
        break;
      }
    }
    if (sched_setaffinity(0, sizeof(one), &one) != 0) {
      throw std::runtime_error("sched_setaffinity failed");
    }
  }
  ~PinnedToOneCpu() { sched_setaffinity(0, sizeof(saved_), &saved_); }
  PinnedToOneCpu(const PinnedToOneCpu&) = delete;
  PinnedToOneCpu& operator=(const PinnedToOneCpu&) = delete;

  // CPUs in the mask before the pin.
  int cpus_before() const { return CPU_COUNT(&saved_); }

 private:
  cpu_set_t saved_;
};

}  // namespace multicache::test
