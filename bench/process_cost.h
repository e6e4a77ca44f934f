// process_cost.h — what a benchmark's operations cost the whole process
// beyond wall time (all its threads, from getrusage): context switches
// (voluntary and involuntary) and CPU time (user + system), so a benchmark
// can report how often its threads slept and were woken per operation, and
// how much CPU an operation burnt (a spinning waiter shows up there).
#pragma once

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdint>

namespace multicache::bench {

struct ProcessCost {
  std::int64_t switches = 0;
  std::int64_t cpu_us = 0;
};

inline ProcessCost process_cost() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto us = [](const timeval& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000 + static_cast<std::int64_t>(t.tv_usec);
  };
  return {static_cast<std::int64_t>(u.ru_nvcsw) + static_cast<std::int64_t>(u.ru_nivcsw),
          us(u.ru_utime) + us(u.ru_stime)};
}

// Counts from construction to report(), which thread 0 sets as the counters
// "cs_per_op" (context switches per operation) and "cpu_us_per_op" (the
// process's CPU microseconds per operation), over every thread's operations
// (threads run the same iteration count).
class ProcessCostCounter {
 public:
  explicit ProcessCostCounter(const benchmark::State& state)
      : start_(state.thread_index() == 0 ? process_cost() : ProcessCost{}) {}
  void report(benchmark::State& state) const {
    if (state.thread_index() != 0 || state.iterations() == 0) return;
    const double ops = static_cast<double>(state.iterations()) * state.threads();
    const ProcessCost now = process_cost();
    state.counters["cs_per_op"] = static_cast<double>(now.switches - start_.switches) / ops;
    state.counters["cpu_us_per_op"] = static_cast<double>(now.cpu_us - start_.cpu_us) / ops;
  }

 private:
  ProcessCost start_;
};

}  // namespace multicache::bench
