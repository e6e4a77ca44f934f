#include "l2/event_loop.h"

#include <event2/event.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "multicache/errors.hpp"
#include "util/signals.h"

namespace multicache::l2 {

EventLoop::EventLoop() {
  // Not EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST, though it would merge hiredis's
  // add and delete of the write event around each flush: it defers the
  // delete of a closing socket's events past the close, and when a forked
  // child still holds a copy of that socket the kernel keeps it registered,
  // readable for ever, and the loop spins. (It saved 0.8 epoll_ctl per read
  // in the 16-thread L2 bench and no throughput that could be measured.)
  base_ = event_base_new();
  if (base_ == nullptr) throw Error("event_base_new failed");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    event_base_free(base_);
    throw Error("eventfd failed");
  }
  wake_event_ = event_new(base_, wake_fd_, EV_READ | EV_PERSIST, &EventLoop::on_wake, this);
  event_add(wake_event_, nullptr);
  thread_ = std::thread([this] {
    util::block_sigpipe_in_this_thread();
    thread_id_.store(std::this_thread::get_id());
    event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY);
    run_posted();  // tasks posted before stop began still run
  });
}

EventLoop::~EventLoop() {
  stop();
  event_free(wake_event_);
  close(wake_fd_);
  event_base_free(base_);
}

bool EventLoop::post(std::function<void()> fn) {
  bool wake = false;
  {
    util::MutexLock lock(mu_);
    if (stopping_) return false;
    tasks_.push_back(std::move(fn));
    if (!wake_pending_) wake = wake_pending_ = true;
  }
  if (wake) {
    std::uint64_t one = 1;
    while (write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }
  return true;
}

void EventLoop::stop() {
  util::MutexLock stop_lock(stop_mu_);
  if (!thread_.joinable()) return;
  // The last task breaks the loop; tasks posted before it run first. It is
  // queued and intake closed in one critical section, so post() never
  // accepts a task that will not run.
  {
    util::MutexLock lock(mu_);
    if (!stopping_) {
      tasks_.push_back([this] { event_base_loopbreak(base_); });
      stopping_ = true;
      if (!wake_pending_) {
        wake_pending_ = true;
        std::uint64_t one = 1;
        while (write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
        }
      }
    }
  }
  thread_.join();
}

void EventLoop::on_wake(int fd, short, void* arg) {
  std::uint64_t n = 0;
  while (read(fd, &n, sizeof n) < 0 && errno == EINTR) {
  }
  static_cast<EventLoop*>(arg)->run_posted();
}

void EventLoop::run_posted() {
  std::vector<std::function<void()>> batch;
  {
    util::MutexLock lock(mu_);
    batch.swap(tasks_);
    wake_pending_ = false;
  }
  running_tasks_ = true;
  for (auto& fn : batch) fn();
  running_tasks_ = false;
  // An entry may cancel a later one (a flush that fails a connection whose
  // client then drops another): run them one at a time from the front.
  for (std::size_t i = 0; i < after_tasks_.size(); ++i) {
    const auto [owner, fn] = after_tasks_[i];
    if (owner != nullptr) fn(owner);
  }
  after_tasks_.clear();
}

bool EventLoop::after_tasks(void* owner, void (*fn)(void*)) {
  if (!running_tasks_) return false;
  after_tasks_.emplace_back(owner, fn);
  return true;
}

void EventLoop::cancel_after_tasks(void* owner) {
  for (auto& a : after_tasks_) {
    if (a.first == owner) a.first = nullptr;
  }
}

Timer::Timer(EventLoop& loop, std::function<void()> fn) : fn_(std::move(fn)) {
  ev_ = event_new(loop.base(), -1, 0, &Timer::on_fire, this);
}

Timer::~Timer() { event_free(ev_); }

void Timer::arm(std::chrono::microseconds after) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(after.count() / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(after.count() % 1000000);
  event_add(ev_, &tv);
}

void Timer::cancel() { event_del(ev_); }

void Timer::on_fire(int, short, void* arg) { static_cast<Timer*>(arg)->fn_(); }

}  // namespace multicache::l2
