// util::OneShotEvent: set before or during a wait, deadlines, many waiters,
// and waits that spin before they sleep.
#include "util/one_shot_event.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace multicache::util {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

TEST(OneShotEvent, SetBeforeTheWaitReturnsAtOnce) {
  OneShotEvent e;
  EXPECT_FALSE(e.is_set());
  e.set();
  EXPECT_TRUE(e.is_set());
  EXPECT_TRUE(e.wait_until(steady::now() - 1s));  // even with a deadline already past
  EXPECT_TRUE(e.wait_until(steady::now() + 1s));
}

TEST(OneShotEvent, ADeadlineEndsTheWaitUnset) {
  OneShotEvent e;
  const auto start = steady::now();
  EXPECT_FALSE(e.wait_until(start + 30ms));
  EXPECT_GE(steady::now() - start, 30ms);
  EXPECT_FALSE(e.wait_until(steady::now() - 1ms));  // past deadline: no sleep
  e.set();                                          // still settable after waits gave up
  EXPECT_TRUE(e.wait_until(steady::now()));
}

TEST(OneShotEvent, ANoDeadlineWaitEndsWhenSet) {
  OneShotEvent e;
  std::thread setter([&] {
    std::this_thread::sleep_for(20ms);
    e.set();
  });
  const auto start = steady::now();
  EXPECT_TRUE(e.wait_until(steady::time_point::max()));
  EXPECT_LT(steady::now() - start, 5s);  // woken by set(), not by some timeout
  setter.join();
}

TEST(OneShotEvent, SetFromAnotherThreadWakesEveryWaiterAndPublishesItsWrites) {
  for (int round = 0; round < 200; ++round) {
    OneShotEvent e;
    int payload = 0;  // written before set(), read after the wait: no race
    std::atomic<int> woken{0};
    std::vector<std::thread> waiters;
    for (int i = 0; i < 4; ++i) {
      waiters.emplace_back([&] {
        // A lost wake-up would end at the deadline with the event set: the
        // elapsed time, not the result, tells.
        const auto start = steady::now();
        const bool set = e.wait_until(start + 10s);
        if (set && payload == round + 1 && steady::now() - start < 5s) woken.fetch_add(1);
      });
    }
    if (round % 2 == 0) std::this_thread::sleep_for(100us);  // some waiters asleep, some not yet
    payload = round + 1;
    e.set();
    for (auto& t : waiters) t.join();
    ASSERT_EQ(woken.load(), 4) << "round " << round;
  }
}

TEST(OneShotEvent, ASpinningWaitEndsWhenSetDuringOrAfterTheSpin) {
  for (int round = 0; round < 100; ++round) {
    OneShotEvent e;
    int payload = 0;
    std::thread setter([&] {
      // Even rounds: set within the 2 ms spin; odd: after it, on a sleeper.
      std::this_thread::sleep_for(round % 2 == 0 ? 50us : 5ms);
      payload = round + 1;
      e.set();
    });
    const auto start = steady::now();
    const bool set = e.wait_until(start + 10s, 2ms);
    const bool prompt = steady::now() - start < 5s;  // not ended by the deadline
    setter.join();
    ASSERT_TRUE(set) << "round " << round;
    ASSERT_TRUE(prompt) << "round " << round;
    ASSERT_EQ(payload, round + 1) << "round " << round;
  }
}

TEST(OneShotEvent, ASpinLongerThanTheDeadlineStopsAtTheDeadline) {
  OneShotEvent e;
  const auto start = steady::now();
  EXPECT_FALSE(e.wait_until(start + 20ms, 10s));
  const auto waited = steady::now() - start;
  EXPECT_GE(waited, 20ms);
  EXPECT_LT(waited, 5s);  // the spin ended at the deadline, not after 10 s
  EXPECT_FALSE(e.wait_until(steady::now() - 1ms, 1ms));  // past deadline: no spin
  e.set();
  EXPECT_TRUE(e.wait_until(steady::now() - 1ms, 1ms));
}

}  // namespace
}  // namespace multicache::util
