// load/single_flight: one load per key, shared by concurrent callers.
#include "load/single_flight.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace multicache::load {
namespace {

const detail::TypeOps* string_ops() { return &detail::type_ops_for<std::string>; }
const detail::TypeOps* int_ops() { return &detail::type_ops_for<int>; }

detail::erased_value str(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}
std::string as_string(const detail::erased_value& v) {
  return *std::static_pointer_cast<const std::string>(v);
}

// join() from a thread of its own: a caller other than the leader.
SingleFlight::Joined join_elsewhere(SingleFlight& sf, std::string_view key,
                                    const detail::TypeOps* ops) {
  SingleFlight::Joined j;
  std::thread([&] { j = sf.join(key, ops); }).join();
  return j;
}

TEST(SingleFlight, FirstJoinLeadsAndFinishUnregisters) {
  SingleFlight sf;
  EXPECT_FALSE(sf.in_flight("k"));
  auto j = sf.join("k", string_ops());
  EXPECT_TRUE(j.leader);
  ASSERT_NE(j.call, nullptr);
  EXPECT_TRUE(sf.in_flight("k"));
  EXPECT_FALSE(sf.in_flight("other"));
  sf.finish("k", j.call, str("v"), nullptr);
  EXPECT_FALSE(sf.in_flight("k"));
  EXPECT_EQ(as_string(sf.wait(j.call)), "v");  // the leader's own call is done too
}

TEST(SingleFlight, ConcurrentFollowersGetTheLeadersValue) {
  SingleFlight sf;
  auto leader = sf.join("k", string_ops());
  ASSERT_TRUE(leader.leader);

  constexpr int k_followers = 8;
  std::latch joined(k_followers);
  std::vector<int> was_leader(k_followers, -1);
  std::vector<detail::erased_value> got(k_followers);
  std::vector<std::thread> threads;
  for (int i = 0; i < k_followers; ++i) {
    threads.emplace_back([&, i] {
      auto j = sf.join("k", string_ops());
      was_leader[i] = j.leader ? 1 : 0;
      joined.count_down();
      if (!j.leader) got[i] = sf.wait(j.call);
    });
  }
  joined.wait();  // every follower joined before the leader finishes
  const auto value = str("loaded");
  sf.finish("k", leader.call, value, nullptr);
  for (auto& t : threads) t.join();

  for (int i = 0; i < k_followers; ++i) {
    EXPECT_EQ(was_leader[i], 0) << i;
    EXPECT_EQ(got[i], value) << i;  // the very same shared object
  }
  EXPECT_FALSE(sf.in_flight("k"));
}

TEST(SingleFlight, FollowerJoiningBeforeFinishButWaitingAfterGetsValue) {
  SingleFlight sf;
  auto leader = sf.join("k", string_ops());
  auto follower = join_elsewhere(sf, "k", string_ops());
  EXPECT_FALSE(follower.leader);
  EXPECT_EQ(follower.call, leader.call);
  sf.finish("k", leader.call, str("v"), nullptr);
  EXPECT_EQ(as_string(sf.wait(follower.call)), "v");
}

TEST(SingleFlight, LeadersExceptionReachesEveryFollower) {
  SingleFlight sf;
  auto leader = sf.join("k", string_ops());
  ASSERT_TRUE(leader.leader);

  constexpr int k_followers = 4;
  std::latch joined(k_followers);
  std::vector<std::string> errors(k_followers);
  std::vector<std::thread> threads;
  for (int i = 0; i < k_followers; ++i) {
    threads.emplace_back([&, i] {
      auto j = sf.join("k", string_ops());
      joined.count_down();
      if (j.leader) {
        errors[i] = "became leader";
        return;
      }
      try {
        (void)sf.wait(j.call);
        errors[i] = "no exception";
      } catch (const std::runtime_error& e) {
        errors[i] = e.what();
      } catch (...) {
        errors[i] = "wrong exception type";
      }
    });
  }
  joined.wait();
  sf.finish("k", leader.call, nullptr, std::make_exception_ptr(std::runtime_error("boom")));
  for (auto& t : threads) t.join();
  for (int i = 0; i < k_followers; ++i) EXPECT_EQ(errors[i], "boom") << i;
  EXPECT_THROW((void)sf.wait(leader.call), std::runtime_error);
  EXPECT_FALSE(sf.in_flight("k"));

  // Nothing was cached: the next caller leads a fresh load.
  auto next = sf.join("k", string_ops());
  EXPECT_TRUE(next.leader);
  EXPECT_NE(next.call, leader.call);
  sf.finish("k", next.call, str("ok"), nullptr);
  EXPECT_EQ(as_string(sf.wait(next.call)), "ok");
}

TEST(SingleFlight, OtherTypeGetsAPrivateLeaderCall) {
  SingleFlight sf;
  auto s = sf.join("k", string_ops());
  ASSERT_TRUE(s.leader);

  auto i = sf.join("k", int_ops());
  EXPECT_TRUE(i.leader);
  EXPECT_NE(i.call, s.call);

  // Another string caller still shares the registered call.
  auto s2 = join_elsewhere(sf, "k", string_ops());
  EXPECT_FALSE(s2.leader);
  EXPECT_EQ(s2.call, s.call);

  // Finishing the private call neither unregisters nor completes the shared one.
  sf.finish("k", i.call, std::make_shared<const int>(7), nullptr);
  EXPECT_EQ(*std::static_pointer_cast<const int>(sf.wait(i.call)), 7);
  EXPECT_TRUE(sf.in_flight("k"));
  auto s3 = join_elsewhere(sf, "k", string_ops());
  EXPECT_FALSE(s3.leader);
  EXPECT_EQ(s3.call, s.call);

  // A second int caller also leads privately (private calls are not shared).
  auto i2 = sf.join("k", int_ops());
  EXPECT_TRUE(i2.leader);
  EXPECT_NE(i2.call, i.call);
  EXPECT_NE(i2.call, s.call);
  sf.finish("k", i2.call, std::make_shared<const int>(8), nullptr);

  sf.finish("k", s.call, str("v"), nullptr);
  EXPECT_FALSE(sf.in_flight("k"));
  EXPECT_EQ(as_string(sf.wait(s2.call)), "v");
  EXPECT_EQ(as_string(sf.wait(s3.call)), "v");
}

TEST(SingleFlight, AfterFinishTheNextJoinLeadsAgain) {
  SingleFlight sf;
  auto first = sf.join("k", string_ops());
  ASSERT_TRUE(first.leader);
  sf.finish("k", first.call, str("1"), nullptr);

  auto second = sf.join("k", string_ops());
  EXPECT_TRUE(second.leader);
  EXPECT_NE(second.call, first.call);
  auto follower = join_elsewhere(sf, "k", string_ops());
  EXPECT_FALSE(follower.leader);
  EXPECT_EQ(follower.call, second.call);
  sf.finish("k", second.call, str("2"), nullptr);
  EXPECT_EQ(as_string(sf.wait(follower.call)), "2");
  EXPECT_EQ(as_string(sf.wait(first.call)), "1");

  // After a finish, the first type to join decides the shared type.
  auto by_int = sf.join("k", int_ops());
  EXPECT_TRUE(by_int.leader);
  EXPECT_TRUE(sf.in_flight("k"));
  EXPECT_FALSE(join_elsewhere(sf, "k", int_ops()).leader);
  sf.finish("k", by_int.call, std::make_shared<const int>(3), nullptr);
  EXPECT_FALSE(sf.in_flight("k"));
}

// A load asking for its own key (on the leader's thread) would wait for
// itself forever: join() throws instead. Another type leads privately, as
// from any thread; other threads still follow.
TEST(SingleFlight, TheLeadersOwnThreadJoiningItsKeyThrows) {
  SingleFlight sf;
  auto leader = sf.join("k", string_ops());
  ASSERT_TRUE(leader.leader);
  EXPECT_THROW(sf.join("k", string_ops()), std::logic_error);
  auto other_type = sf.join("k", int_ops());
  EXPECT_TRUE(other_type.leader);
  sf.finish("k", other_type.call, std::make_shared<const int>(1), nullptr);
  auto follower = join_elsewhere(sf, "k", string_ops());
  EXPECT_FALSE(follower.leader);
  sf.finish("k", leader.call, str("v"), nullptr);
  EXPECT_EQ(as_string(sf.wait(follower.call)), "v");
}

// Thread i leads key i and then waits for key i+1 (mod n): a cycle of loads
// on n threads. Exactly one wait, the one that would close the cycle, throws
// std::logic_error; its thread fails its own call, which unblocks the rest.
TEST(SingleFlight, LoadsOnDifferentThreadsWaitingInACycleThrowInsteadOfHanging) {
  for (int n : {2, 3, 5}) {
    SingleFlight sf;
    auto key = [&](int i) { return "k" + std::to_string(i % n); };
    const auto aborted = std::make_exception_ptr(std::runtime_error("aborted"));
    std::vector<SingleFlight::Joined> led(n);
    std::latch all_lead(n), all_follow(n);
    std::atomic<int> cycles{0}, unblocked{0}, done{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        led[i] = sf.join(key(i), string_ops());
        all_lead.arrive_and_wait();
        auto next = sf.join(key(i + 1), string_ops());
        EXPECT_FALSE(next.leader);
        // Nobody finishes before everyone follows: a late join of a finished
        // key would lead it instead of closing the cycle.
        all_follow.arrive_and_wait();
        try {
          (void)sf.wait(next.call);
          sf.finish(key(i), led[i].call, str("v"), nullptr);
        } catch (const std::logic_error&) {
          ++cycles;
          sf.finish(key(i), led[i].call, nullptr, aborted);
        } catch (const std::runtime_error&) {
          ++unblocked;
          sf.finish(key(i), led[i].call, nullptr, aborted);
        }
        ++done;
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (done < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (done < n) {  // deadlocked: fail, and free the threads so the test ends
      ADD_FAILURE() << n << " threads still waiting after 10 s";
      for (int i = 0; i < n; ++i) sf.finish(key(i), led[i].call, nullptr, aborted);
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(cycles, 1) << n;
    EXPECT_EQ(unblocked, n - 1) << n;
  }
}

// A chain of waits (thread 0 waits for 1's key, 1 for 2's, ...) that ends
// at a leader who is not waiting is no cycle: nobody throws.
TEST(SingleFlight, AChainOfWaitsEndingAtARunningLeaderDoesNotThrow) {
  constexpr int n = 4;
  SingleFlight sf;
  auto key = [](int i) { return "k" + std::to_string(i); };
  auto last = sf.join(key(n), string_ops());  // this thread leads the chain's end
  std::vector<SingleFlight::Joined> led(n);
  std::latch all_lead(n);
  std::atomic<int> waiting{0};
  std::vector<std::string> got(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      led[i] = sf.join(key(i), string_ops());
      all_lead.arrive_and_wait();
      auto next = sf.join(key(i + 1), string_ops());
      ++waiting;
      got[i] = as_string(sf.wait(next.call));
      sf.finish(key(i), led[i].call, str(got[i] + "<" + key(i)), nullptr);
    });
  }
  while (waiting < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let them block
  sf.finish(key(n), last.call, str("end"), nullptr);
  for (auto& t : threads) t.join();
  EXPECT_EQ(got[0], "end<k3<k2<k1");
}

TEST(SingleFlight, KeysAreIndependent) {
  SingleFlight sf;
  std::vector<SingleFlight::Joined> calls;
  for (int i = 0; i < 100; ++i) {
    auto j = sf.join("key" + std::to_string(i), string_ops());
    EXPECT_TRUE(j.leader) << i;
    calls.push_back(std::move(j));
  }
  for (int i = 0; i < 100; ++i) {
    const std::string key = "key" + std::to_string(i);
    EXPECT_TRUE(sf.in_flight(key));
    sf.finish(key, calls[i].call, str(key), nullptr);
    EXPECT_FALSE(sf.in_flight(key));
    EXPECT_EQ(as_string(sf.wait(calls[i].call)), key);
  }
  // Keys differing only past an embedded NUL are distinct.
  const std::string a("x\0a", 3), b("x\0b", 3);
  auto ja = sf.join(a, string_ops());
  auto jb = sf.join(b, string_ops());
  EXPECT_TRUE(ja.leader);
  EXPECT_TRUE(jb.leader);
  sf.finish(a, ja.call, str("a"), nullptr);
  EXPECT_TRUE(sf.in_flight(b));
  sf.finish(b, jb.call, str("b"), nullptr);
}

}  // namespace
}  // namespace multicache::load
