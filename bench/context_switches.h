// context_switches.h — the process's context switches (all its threads,
// voluntary and involuntary, from getrusage), so a benchmark can report how
// many times its threads slept and were woken per operation.
#pragma once

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdint>

namespace multicache::bench {

inline std::int64_t process_context_switches() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<std::int64_t>(u.ru_nvcsw) + static_cast<std::int64_t>(u.ru_nivcsw);
}

// Counts the process's context switches from construction to report(), which
// thread 0 sets as the counter "cs_per_op": switches per operation, over
// every thread's operations (threads run the same iteration count).
class ContextSwitchCounter {
 public:
  explicit ContextSwitchCounter(const benchmark::State& state)
      : start_(state.thread_index() == 0 ? process_context_switches() : 0) {}
  void report(benchmark::State& state) const {
    if (state.thread_index() != 0 || state.iterations() == 0) return;
    const double ops = static_cast<double>(state.iterations()) * state.threads();
    state.counters["cs_per_op"] = static_cast<double>(process_context_switches() - start_) / ops;
  }

 private:
  std::int64_t start_;
};

}  // namespace multicache::bench
