// load/executor.h — a fixed pool of worker threads with a bounded queue.
//
// try_submit() never blocks and never creates threads: when the queue is full
// (or the executor is shutting down) it returns false and the task is dropped.
// shutdown() stops intake, discards queued tasks (returning how many), and
// waits for the running ones to finish. Tasks must not throw.
//
// A task may shut down or destroy its own executor (a refresh loader that
// closes its cache, or holds the last reference to it): shutdown() called on
// a worker never waits for itself (a later shutdown() from another thread
// does), and the destructor on a worker detaches that worker, which then
// touches only the state the workers share.
//
// Thread-safety: all members thread-safe. The queue and the stop flag live in
// a State that the workers co-own, guarded by State::mu; joining and
// detaching workers_ is serialized by join_mu_.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "util/mutex.h"

namespace multicache::load {

class Executor {
 public:
  Executor(int threads, std::size_t queue_limit);
  ~Executor();  // shutdown(); detaches the calling worker, if it is one
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  bool try_submit(std::function<void()> task);
  // Stops intake and discards the queue (returning how many); with wait,
  // then waits for every running task but the caller's own.
  std::size_t shutdown(bool wait = true);
  // Whether the calling thread is one of this executor's workers.
  bool on_worker() const;

  std::size_t queued();
  int threads() const { return static_cast<int>(workers_.size()); }

 private:
  struct State {
    util::Mutex mu;
    util::CondVar cv;
    std::deque<std::function<void()>> queue MC_GUARDED_BY(mu);
    bool stopping MC_GUARDED_BY(mu) = false;
  };
  // Runs tasks until stopping; touches nothing but *state.
  static void work(State& state);

  const std::size_t queue_limit_;
  const std::shared_ptr<State> state_ = std::make_shared<State>();
  util::Mutex join_mu_;
  std::vector<std::thread> workers_;  // joined/detached under join_mu_
};

}  // namespace multicache::load
