// l2/event_loop.h — a libevent event_base running on its own thread.
//
// Every hiredis async context lives on this thread. Other threads hand work
// over with post(): tasks queue under a mutex and one eventfd write wakes the
// loop, however many tasks were posted before it ran (so commands posted
// while the loop is busy go out together: auto-pipelining). Work a task
// registers with after_tasks() runs once all the tasks of that wake-up have
// run, before the loop waits again: a connection writes the commands of every
// caller of the wake-up in one write, without waiting a loop turn for its
// socket to be reported writable.
//
// Thread-safety: post(), stop() and in_loop_thread() from any thread; every
// other member only on the loop thread (inside a posted task or a callback).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "util/mutex.h"

struct event_base;
struct event;

namespace multicache::l2 {

class EventLoop {
 public:
  EventLoop();   // starts the thread; throws multicache::Error if libevent fails
  ~EventLoop();  // stop()
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs fn on the loop thread, in posting order. Returns false (and drops fn)
  // once stop() has begun.
  bool post(std::function<void()> fn);
  // Runs every posted task, then ends the thread. Idempotent. Must not be
  // called from the loop thread.
  void stop();
  bool in_loop_thread() const { return std::this_thread::get_id() == thread_id_.load(); }

  event_base* base() { return base_; }

  // Loop thread only. While posted tasks run: queues fn(owner) to run after
  // the last of them and returns true (ask once per wake-up: nothing merges
  // repeated requests). Elsewhere (a timer, a socket callback) it returns
  // false and queues nothing. cancel_after_tasks(owner) drops what owner
  // queued (an owner being destroyed).
  bool after_tasks(void* owner, void (*fn)(void*));
  void cancel_after_tasks(void* owner);

 private:
  static void on_wake(int fd, short what, void* arg);
  void run_posted();

  event_base* base_ = nullptr;
  event* wake_event_ = nullptr;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};

  util::Mutex mu_;
  std::vector<std::function<void()>> tasks_ MC_GUARDED_BY(mu_);
  bool stopping_ MC_GUARDED_BY(mu_) = false;
  bool wake_pending_ MC_GUARDED_BY(mu_) = false;
  // Loop thread only.
  bool running_tasks_ = false;
  std::vector<std::pair<void*, void (*)(void*)>> after_tasks_;
  util::Mutex stop_mu_;  // serializes stop()
};

// A one-shot or repeating timer on a loop. Loop thread only (construction,
// arm, cancel and destruction).
class Timer {
 public:
  Timer(EventLoop& loop, std::function<void()> fn);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  void arm(std::chrono::microseconds after);  // re-arming replaces the previous deadline
  void cancel();

 private:
  static void on_fire(int fd, short what, void* arg);
  event* ev_ = nullptr;
  std::function<void()> fn_;
};

}  // namespace multicache::l2
