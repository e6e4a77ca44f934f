// l2::EventLoop: posted tasks in order, and work queued with after_tasks()
// running once the tasks of that wake-up have run.
#include "l2/event_loop.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "support/on_loop.h"

namespace multicache::l2 {
namespace {

using test::on_loop;

struct Recorder {
  std::vector<std::string>* log;
  std::string name;
  static void run(void* self) {
    auto* r = static_cast<Recorder*>(self);
    r->log->push_back("after:" + r->name);
  }
};

TEST(EventLoop, AfterTasksRunsOnceEveryTaskOfTheWakeUpHasRun) {
  EventLoop loop;
  std::vector<std::string> log;  // loop thread only until the last wait
  Recorder a{&log, "a"}, b{&log, "b"};
  // Tasks posted by a running task are all taken by the next wake-up.
  on_loop(loop, [&] {
    loop.post([&] {
      log.push_back("task1");
      EXPECT_TRUE(loop.after_tasks(&a, &Recorder::run));
    });
    loop.post([&] {
      log.push_back("task2");
      EXPECT_TRUE(loop.after_tasks(&b, &Recorder::run));
    });
    loop.post([&] { log.push_back("task3"); });
  });
  // Two round trips: the first may share the three tasks' wake-up (and end
  // before its after_tasks work); the second cannot.
  on_loop(loop, [] {});
  on_loop(loop, [] {});
  EXPECT_EQ(log, (std::vector<std::string>{"task1", "task2", "task3", "after:a", "after:b"}));
}

TEST(EventLoop, AfterTasksOutsidePostedTasksQueuesNothing) {
  EventLoop loop;
  std::vector<std::string> log;
  Recorder a{&log, "a"};
  std::promise<bool> queued;
  std::unique_ptr<Timer> timer;  // made, armed and freed on the loop thread
  on_loop(loop, [&] {
    timer = std::make_unique<Timer>(
        loop, [&] { queued.set_value(loop.after_tasks(&a, &Recorder::run)); });
    timer->arm(std::chrono::microseconds(0));
  });
  EXPECT_FALSE(queued.get_future().get());  // from a timer: not inside posted tasks
  on_loop(loop, [] {});
  EXPECT_TRUE(log.empty());
  on_loop(loop, [&] { timer.reset(); });
}

TEST(EventLoop, WorkCancelledByEarlierAfterTasksWorkDoesNotRun) {
  EventLoop loop;
  std::vector<std::string> log;
  Recorder b{&log, "b"};
  struct Canceller {
    EventLoop* loop;
    Recorder* victim;
    std::vector<std::string>* log;
    static void run(void* self) {
      auto* c = static_cast<Canceller*>(self);
      c->log->push_back("after:a");
      c->loop->cancel_after_tasks(c->victim);  // as a failing flush freeing another connection
    }
  } a{&loop, &b, &log};
  on_loop(loop, [&] {
    loop.after_tasks(&a, &Canceller::run);
    loop.after_tasks(&b, &Recorder::run);
  });
  on_loop(loop, [] {});
  EXPECT_EQ(log, (std::vector<std::string>{"after:a"}));
}

TEST(EventLoop, CancelledAfterTasksWorkDoesNotRun) {
  EventLoop loop;
  std::vector<std::string> log;
  Recorder a{&log, "a"}, b{&log, "b"};
  on_loop(loop, [&] {
    loop.after_tasks(&a, &Recorder::run);
    loop.after_tasks(&b, &Recorder::run);
    loop.cancel_after_tasks(&a);  // a destroyed before the tasks end
  });
  on_loop(loop, [] {});
  EXPECT_EQ(log, (std::vector<std::string>{"after:b"}));
}

}  // namespace
}  // namespace multicache::l2
