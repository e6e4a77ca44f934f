// resilience/circuit_breaker: closed / open / half-open on a manual clock.
#include "resilience/circuit_breaker.h"

#include <gtest/gtest.h>

#include <multicache/clock.hpp>
#include <utility>
#include <vector>

namespace multicache::resilience {
namespace {

using namespace std::chrono_literals;
using Transition = std::pair<breaker_state, breaker_state>;

constexpr auto k_closed = breaker_state::closed;
constexpr auto k_open = breaker_state::open;
constexpr auto k_half = breaker_state::half_open;

class CircuitBreakerTest : public testing::Test {
 protected:
  CircuitBreaker make(int max_failures, std::chrono::milliseconds timeout = 1000ms,
                      bool enabled = true) {
    return CircuitBreaker(
        enabled, max_failures, timeout, &clock_,
        [this](breaker_state from, breaker_state to) { transitions_.emplace_back(from, to); });
  }
  // Admits a call (must be admitted) and records its outcome.
  static void call(CircuitBreaker& b, bool success) {
    auto g = b.admit();
    ASSERT_TRUE(g.has_value());
    b.record(*g, success);
  }
  // Opens a closed breaker with max_failures failures.
  static void trip(CircuitBreaker& b, int max_failures) {
    for (int i = 0; i < max_failures; ++i) call(b, false);
    ASSERT_EQ(b.state(), k_open);
  }

  ManualClock clock_;
  std::vector<Transition> transitions_;
};

TEST_F(CircuitBreakerTest, ClosedUntilMaxConsecutiveFailures) {
  auto b = make(3);
  EXPECT_TRUE(b.enabled());
  EXPECT_EQ(b.state(), k_closed);
  call(b, false);
  call(b, false);
  EXPECT_EQ(b.state(), k_closed);
  EXPECT_TRUE(transitions_.empty());
  call(b, false);
  EXPECT_EQ(b.state(), k_open);
  EXPECT_EQ(transitions_, (std::vector<Transition>{{k_closed, k_open}}));
}

TEST_F(CircuitBreakerTest, SuccessResetsTheFailureCount) {
  auto b = make(3);
  call(b, false);
  call(b, false);
  call(b, true);
  call(b, false);
  call(b, false);
  EXPECT_EQ(b.state(), k_closed);
  call(b, false);
  EXPECT_EQ(b.state(), k_open);
}

TEST_F(CircuitBreakerTest, OneFailureOpensWithMaxOne) {
  auto b = make(1);
  call(b, true);
  EXPECT_EQ(b.state(), k_closed);
  call(b, false);
  EXPECT_EQ(b.state(), k_open);
}

TEST_F(CircuitBreakerTest, OpenRejectsUntilTimeoutPasses) {
  auto b = make(2, 1000ms);
  trip(b, 2);
  EXPECT_FALSE(b.admit().has_value());
  clock_.advance(999ms);
  EXPECT_FALSE(b.admit().has_value());
  EXPECT_EQ(b.state(), k_open);
  clock_.advance(1ms);
  EXPECT_TRUE(b.admit().has_value());
  EXPECT_EQ(b.state(), k_half);
}

TEST_F(CircuitBreakerTest, HalfOpenAdmitsExactlyOneProbe) {
  auto b = make(1, 100ms);
  trip(b, 1);
  clock_.advance(100ms);
  const auto probe = b.admit();
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(b.state(), k_half);
  EXPECT_FALSE(b.admit().has_value());
  clock_.advance(99ms);  // within an open time the probe slot stays taken
  EXPECT_FALSE(b.admit().has_value());
  EXPECT_EQ(b.state(), k_half);
}

// A probe whose outcome never comes (its caller died) would hold the breaker
// half-open for good: after another open time the next call is the probe.
TEST_F(CircuitBreakerTest, AProbeThatNeverReportsIsReplacedAfterTheOpenTime) {
  auto b = make(1, 1000ms);
  trip(b, 1);
  clock_.advance(1000ms);
  ASSERT_TRUE(b.admit().has_value());  // the probe, never recorded
  clock_.advance(999ms);
  EXPECT_FALSE(b.admit().has_value());
  clock_.advance(1ms);
  auto g = b.admit();
  ASSERT_TRUE(g.has_value());
  EXPECT_FALSE(b.admit().has_value());  // one probe at a time still
  b.record(*g, true);
  EXPECT_EQ(b.state(), k_closed);
}

TEST_F(CircuitBreakerTest, CountsTheCallsItTurnsAway) {
  auto b = make(1, 1000ms);
  EXPECT_EQ(b.rejections(), 0u);
  trip(b, 1);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(b.admit().has_value());
  EXPECT_EQ(b.rejections(), 3u);
  auto off = make(1, 1000ms, /*enabled=*/false);
  EXPECT_TRUE(off.admit().has_value());
  EXPECT_EQ(off.rejections(), 0u);
}

TEST_F(CircuitBreakerTest, ProbeSuccessCloses) {
  auto b = make(2, 100ms);
  trip(b, 2);
  clock_.advance(100ms);
  const auto probe = b.admit();
  ASSERT_TRUE(probe.has_value());
  b.record(*probe, true);
  EXPECT_EQ(b.state(), k_closed);
  // Closed again: calls pass and the failure count starts from zero.
  call(b, false);
  EXPECT_EQ(b.state(), k_closed);
  call(b, false);
  EXPECT_EQ(b.state(), k_open);
}

TEST_F(CircuitBreakerTest, ProbeFailureReopensForAFullTimeout) {
  auto b = make(2, 100ms);
  trip(b, 2);
  clock_.advance(100ms);
  auto probe = b.admit();
  ASSERT_TRUE(probe.has_value());
  clock_.advance(50ms);  // the probe took a while
  b.record(*probe, false);
  EXPECT_EQ(b.state(), k_open);
  EXPECT_FALSE(b.admit().has_value());
  clock_.advance(99ms);
  EXPECT_FALSE(b.admit().has_value());
  clock_.advance(1ms);
  probe = b.admit();
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(b.state(), k_half);
  b.record(*probe, true);
  EXPECT_EQ(b.state(), k_closed);
}

TEST_F(CircuitBreakerTest, ResultsFromOldGenerationsAreIgnored) {
  auto b = make(2, 100ms);
  // Three calls admitted while closed.
  const auto a = b.admit(), c = b.admit(), d = b.admit();
  ASSERT_TRUE(a && c && d);
  b.record(*a, false);
  b.record(*c, false);
  ASSERT_EQ(b.state(), k_open);
  b.record(*d, true);  // late success from before the trip: ignored
  EXPECT_EQ(b.state(), k_open);
  EXPECT_FALSE(b.admit().has_value());

  clock_.advance(100ms);
  const auto probe = b.admit();
  ASSERT_TRUE(probe.has_value());
  EXPECT_NE(*probe, *a);
  b.record(*a, false);  // a stale failure must not reopen
  EXPECT_EQ(b.state(), k_half);
  b.record(*d, true);  // a stale success must not close
  EXPECT_EQ(b.state(), k_half);
  EXPECT_FALSE(b.admit().has_value());  // the probe is still out

  b.record(*probe, true);
  ASSERT_EQ(b.state(), k_closed);
  // Now the probe's generation is old too: neither it nor the older ones count.
  b.record(*probe, false);
  b.record(*a, false);
  b.record(*c, false);
  EXPECT_EQ(b.state(), k_closed);
  call(b, false);  // one fresh failure of the two needed
  EXPECT_EQ(b.state(), k_closed);
}

TEST_F(CircuitBreakerTest, TransitionCallbackSeesEveryTransitionInOrder) {
  auto b = make(1, 100ms);
  trip(b, 1);
  clock_.advance(100ms);
  auto probe = b.admit();
  ASSERT_TRUE(probe);
  b.record(*probe, false);
  clock_.advance(100ms);
  probe = b.admit();
  ASSERT_TRUE(probe);
  b.record(*probe, true);
  call(b, true);
  EXPECT_EQ(transitions_, (std::vector<Transition>{{k_closed, k_open},
                                                   {k_open, k_half},
                                                   {k_half, k_open},
                                                   {k_open, k_half},
                                                   {k_half, k_closed}}));
}

TEST_F(CircuitBreakerTest, DisabledAdmitsEverythingForever) {
  auto b = make(1, 100ms, /*enabled=*/false);
  EXPECT_FALSE(b.enabled());
  for (int i = 0; i < 1000; ++i) {
    const auto g = b.admit();
    ASSERT_TRUE(g.has_value());
    b.record(*g, false);
    b.record(*g + 17, false);
  }
  clock_.advance(1h);
  EXPECT_TRUE(b.admit().has_value());
  EXPECT_EQ(b.state(), k_closed);
  EXPECT_TRUE(transitions_.empty());
}

TEST(CircuitBreakerState, Names) {
  EXPECT_STREQ(to_string(breaker_state::closed), "closed");
  EXPECT_STREQ(to_string(breaker_state::open), "open");
  EXPECT_STREQ(to_string(breaker_state::half_open), "half-open");
}

}  // namespace
}  // namespace multicache::resilience

namespace multicache::resilience {
namespace {

TEST(CircuitBreakerCallback, RunsOutsideTheLockSoItMayUseTheBreaker) {
  ManualClock clock;
  CircuitBreaker* self = nullptr;
  int calls = 0;
  CircuitBreaker b(true, 1, std::chrono::milliseconds(100), &clock,
                   [&](breaker_state, breaker_state) {
                     ++calls;
                     (void)self->admit();  // would deadlock if called under the mutex
                   });
  self = &b;
  auto g = b.admit();
  ASSERT_TRUE(g.has_value());
  b.record(*g, false);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(b.state(), breaker_state::open);
}

}  // namespace
}  // namespace multicache::resilience
