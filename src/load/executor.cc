#include "load/executor.h"

namespace multicache::load {

namespace {
// The State of the executor whose worker this thread is, if any.
thread_local const void* t_worker_of = nullptr;
}  // namespace

Executor::Executor(int threads, std::size_t queue_limit) : queue_limit_(queue_limit) {
  workers_.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    workers_.emplace_back([state = state_] { work(*state); });
  }
}

Executor::~Executor() {
  shutdown();
  // Left joinable by shutdown(): this very thread, a worker whose task is
  // destroying the executor. It goes on alone, on the state it co-owns.
  util::MutexLock lock(join_mu_);
  for (auto& w : workers_) {
    if (w.joinable()) w.detach();
  }
}

bool Executor::on_worker() const { return t_worker_of == state_.get(); }

bool Executor::try_submit(std::function<void()> task) {
  {
    util::MutexLock lock(state_->mu);
    if (state_->stopping || state_->queue.size() >= queue_limit_) return false;
    state_->queue.push_back(std::move(task));
  }
  state_->cv.notify_one();
  return true;
}

std::size_t Executor::queued() {
  util::MutexLock lock(state_->mu);
  return state_->queue.size();
}

std::size_t Executor::shutdown(bool wait) {
  std::deque<std::function<void()>> dropped;
  {
    util::MutexLock lock(state_->mu);
    state_->stopping = true;
    dropped.swap(state_->queue);
  }
  state_->cv.notify_all();
  if (!wait) return dropped.size();
  const std::thread::id self = std::this_thread::get_id();
  util::MutexLock lock(join_mu_);
  for (auto& w : workers_) {
    if (w.joinable() && w.get_id() != self) w.join();  // never itself: it would deadlock
  }
  return dropped.size();
}

void Executor::work(State& state) {
  t_worker_of = &state;
  for (;;) {
    std::function<void()> task;
    {
      util::MutexLock lock(state.mu);
      state.cv.wait(state.mu,
                    [&]() MC_REQUIRES(state.mu) { return state.stopping || !state.queue.empty(); });
      if (state.stopping) return;
      task = std::move(state.queue.front());
      state.queue.pop_front();
    }
    task();
    // The task dies here, before the next lock: it may own the executor.
  }
}

}  // namespace multicache::load
