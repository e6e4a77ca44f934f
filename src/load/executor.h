// load/executor.h — a fixed pool of worker threads with a bounded queue.
//
// try_submit() never blocks and never creates threads: when the queue is full
// (or the executor is shutting down) it returns false and the task is dropped.
// shutdown() stops intake, discards queued tasks (returning how many), and
// waits for the running ones to finish. Tasks must not throw.
//
// Thread-safety: all members thread-safe; shutdown() must not be called from
// a worker.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "util/mutex.h"

namespace multicache::load {

class Executor {
 public:
  Executor(int threads, std::size_t queue_limit);
  ~Executor();  // shutdown()
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  bool try_submit(std::function<void()> task);
  std::size_t shutdown();

  std::size_t queued();
  int threads() const { return static_cast<int>(workers_.size()); }

 private:
  void work();

  const std::size_t queue_limit_;
  std::vector<std::thread> workers_;
  util::Mutex mu_;
  util::CondVar cv_;
  std::deque<std::function<void()>> queue_ MC_GUARDED_BY(mu_);
  bool stopping_ MC_GUARDED_BY(mu_) = false;
};

}  // namespace multicache::load
