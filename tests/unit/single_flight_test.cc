// load/single_flight: one load per key, shared by concurrent callers.
#include "load/single_flight.h"

#include <gtest/gtest.h>

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
  EXPECT_EQ(as_string(j.call->wait()), "v");  // the leader's own call is done too
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
      if (!j.leader) got[i] = j.call->wait();
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
  EXPECT_EQ(as_string(follower.call->wait()), "v");
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
        (void)j.call->wait();
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
  EXPECT_THROW((void)leader.call->wait(), std::runtime_error);
  EXPECT_FALSE(sf.in_flight("k"));

  // Nothing was cached: the next caller leads a fresh load.
  auto next = sf.join("k", string_ops());
  EXPECT_TRUE(next.leader);
  EXPECT_NE(next.call, leader.call);
  sf.finish("k", next.call, str("ok"), nullptr);
  EXPECT_EQ(as_string(next.call->wait()), "ok");
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
  EXPECT_EQ(*std::static_pointer_cast<const int>(i.call->wait()), 7);
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
  EXPECT_EQ(as_string(s2.call->wait()), "v");
  EXPECT_EQ(as_string(s3.call->wait()), "v");
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
  EXPECT_EQ(as_string(follower.call->wait()), "2");
  EXPECT_EQ(as_string(first.call->wait()), "1");

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
  EXPECT_EQ(as_string(follower.call->wait()), "v");
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
    EXPECT_EQ(as_string(calls[i].call->wait()), key);
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
