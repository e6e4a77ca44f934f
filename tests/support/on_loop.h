// support/on_loop.h — run a function on an l2::EventLoop's thread and wait
// for it, for tests that drive loop-thread-only objects (Connection, Timer).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <future>

#include "l2/event_loop.h"

namespace multicache::test {

// Fails the test (and returns) if the loop no longer takes tasks.
inline void on_loop(l2::EventLoop& loop, const std::function<void()>& fn) {
  std::promise<void> done;
  ASSERT_TRUE(loop.post([&] {
    fn();
    done.set_value();
  }));
  done.get_future().wait();
}

}  // namespace multicache::test
