// load/executor: fixed worker pool with a bounded queue.
#include "load/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace multicache::load {
namespace {

// Tasks block in run() until open(); counts how many started, run and finished.
class Gate {
 public:
  void run() {
    std::unique_lock lk(mu_);
    ++started_;
    ++running_;
    if (running_ > max_running_) max_running_ = running_;
    cv_.notify_all();
    cv_.wait(lk, [&] { return open_; });
    --running_;
    ++finished_;
    cv_.notify_all();
  }
  void open() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void wait_started(int n) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return started_ >= n; });
  }
  void wait_finished(int n) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return finished_ >= n; });
  }
  int started() {
    std::lock_guard lk(mu_);
    return started_;
  }
  int finished() {
    std::lock_guard lk(mu_);
    return finished_;
  }
  int max_running() {
    std::lock_guard lk(mu_);
    return max_running_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int started_ = 0;
  int running_ = 0;
  int max_running_ = 0;
  int finished_ = 0;
};

TEST(Executor, RunsSubmittedTasks) {
  Executor ex(2, 16);
  EXPECT_EQ(ex.threads(), 2);
  Gate gate;
  gate.open();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(ex.try_submit([&] { gate.run(); }));
  gate.wait_finished(10);
  EXPECT_EQ(gate.finished(), 10);
  EXPECT_EQ(ex.shutdown(), 0u);
}

TEST(Executor, BoundsRunningAndQueuedTasks) {
  Executor ex(2, 4);
  Gate gate;
  auto task = [&] { gate.run(); };

  // Two tasks occupy both workers.
  ASSERT_TRUE(ex.try_submit(task));
  ASSERT_TRUE(ex.try_submit(task));
  gate.wait_started(2);
  EXPECT_EQ(ex.queued(), 0u);

  // Four more wait in the queue; the rest are refused without blocking.
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(ex.try_submit(task)) << i;
  EXPECT_EQ(ex.queued(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(ex.try_submit(task)) << i;
  EXPECT_EQ(ex.queued(), 4u);
  EXPECT_EQ(gate.started(), 2);  // both workers are still blocked

  gate.open();
  gate.wait_finished(6);
  EXPECT_EQ(gate.started(), 6);  // the refused ones never ran
  EXPECT_EQ(gate.max_running(), 2);
  EXPECT_EQ(ex.queued(), 0u);

  // Room again.
  EXPECT_TRUE(ex.try_submit(task));
  gate.wait_finished(7);
  EXPECT_EQ(ex.shutdown(), 0u);
  EXPECT_EQ(gate.started(), 7);
}

TEST(Executor, ShutdownDiscardsQueuedAndJoinsRunning) {
  Executor ex(2, 4);
  Gate gate;
  std::atomic<int> completed{0};
  auto task = [&] {
    gate.run();
    completed.fetch_add(1);
  };
  ASSERT_TRUE(ex.try_submit(task));
  ASSERT_TRUE(ex.try_submit(task));
  gate.wait_started(2);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ex.try_submit(task));
  ASSERT_EQ(ex.queued(), 4u);

  std::size_t discarded = 99;
  std::thread stopper([&] { discarded = ex.shutdown(); });
  // shutdown() empties the queue before it joins; the blocked workers cannot
  // take anything from it, so the queue reaching 0 means shutdown got there.
  while (ex.queued() != 0) std::this_thread::yield();
  EXPECT_FALSE(ex.try_submit(task));  // intake is closed
  gate.open();
  stopper.join();

  EXPECT_EQ(discarded, 4u);
  // shutdown() returned only after the running tasks completed.
  EXPECT_EQ(completed.load(), 2);
  EXPECT_EQ(gate.started(), 2);
}

TEST(Executor, SubmitAfterShutdownIsRefusedAndShutdownIsIdempotent) {
  Executor ex(1, 4);
  EXPECT_EQ(ex.shutdown(), 0u);
  EXPECT_FALSE(ex.try_submit([] {}));
  EXPECT_EQ(ex.queued(), 0u);
  EXPECT_EQ(ex.shutdown(), 0u);
}

TEST(Executor, DestructorDiscardsQueuedTasks) {
  Gate gate;
  std::atomic<int> ran{0};
  {
    Executor ex(1, 8);
    ASSERT_TRUE(ex.try_submit([&] {
      gate.run();
      ran.fetch_add(1);
    }));
    gate.wait_started(1);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(ex.try_submit([&] { ran.fetch_add(100); }));
    gate.open();
    // The destructor may race the worker for the queued tasks: each either ran
    // or was discarded, and none runs after destruction.
  }
  EXPECT_EQ(ran.load() % 100, 1);
  EXPECT_LE(ran.load() / 100, 3);
}

// A task that owns the last reference to its executor destroys it when the
// task is dropped, on the worker itself: no self-join (which would abort),
// and the other worker is joined.
TEST(Executor, ATaskMayHoldTheLastReferenceToItsExecutor) {
  Gate gate;
  std::atomic<bool> destroyed{false};  // set by the deleter, on the worker
  std::shared_ptr<Executor> ex(new Executor(2, 8), [&destroyed](Executor* e) {
    delete e;
    destroyed.store(true, std::memory_order_release);
  });
  ASSERT_TRUE(ex->try_submit([&gate, owner = ex] { gate.run(); }));
  gate.wait_started(1);
  ex.reset();  // the task's copy is the last one
  gate.open();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!destroyed.load(std::memory_order_acquire) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(destroyed.load(std::memory_order_acquire));
}

// shutdown() from a task waits for the other workers, not for its own; a
// later shutdown() (here the destructor's) from another thread waits for it.
TEST(Executor, ATaskMayShutItsExecutorDown) {
  std::atomic<bool> first_done{false}, own_done{false};
  std::atomic<std::size_t> discarded{99};
  {
    Executor ex(2, 8);
    Gate gate;
    ASSERT_TRUE(ex.try_submit([&] {
      gate.run();
      first_done = true;
    }));
    gate.wait_started(1);
    ASSERT_TRUE(ex.try_submit([&] {
      gate.open();
      discarded = ex.shutdown();
      EXPECT_TRUE(first_done.load());  // the other worker was joined
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      own_done = true;
    }));
    while (discarded.load() == 99) std::this_thread::yield();
  }  // the destructor waits for the task that called shutdown()
  EXPECT_TRUE(own_done.load());
  EXPECT_EQ(discarded.load(), 0u);
}

}  // namespace
}  // namespace multicache::load
