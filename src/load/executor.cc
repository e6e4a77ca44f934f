#include "load/executor.h"

namespace multicache::load {

Executor::Executor(int threads, std::size_t queue_limit) : queue_limit_(queue_limit) {
  workers_.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

Executor::~Executor() { shutdown(); }

bool Executor::try_submit(std::function<void()> task) {
  {
    util::MutexLock lock(mu_);
    if (stopping_ || queue_.size() >= queue_limit_) return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

std::size_t Executor::queued() {
  util::MutexLock lock(mu_);
  return queue_.size();
}

std::size_t Executor::shutdown() {
  std::deque<std::function<void()>> dropped;
  {
    util::MutexLock lock(mu_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  cv_.notify_all();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  return dropped.size();
}

void Executor::work() {
  for (;;) {
    std::function<void()> task;
    {
      util::MutexLock lock(mu_);
      cv_.wait(mu_, [&]() MC_REQUIRES(mu_) { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace multicache::load
