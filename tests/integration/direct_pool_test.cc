// DirectPool against a real Redis: reads of concurrent callers combined into
// one pipeline per round on the callers' own blocking connections, each
// caller getting its own replies; and the deadlines of callers queued behind
// a round that Redis does not answer (paused with SIGSTOP): a queued caller
// returns at its own deadline, a caller whose round timed out with its
// leader is handed back for the loop to retry, and close_all() hands queued
// callers back.
#include "l2/direct_pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "concurrent_reads.h"
#include "l2/reply.h"
#include "support/redis_server.h"

namespace multicache::l2 {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using test::eventually;
using test::slack;

ConnectionSettings settings_for(const test::RedisServer& server) {
  ConnectionSettings cs;
  cs.endpoint.host = "127.0.0.1";
  cs.endpoint.port = server.port();
  cs.command_timeout = 2s;
  return cs;
}

std::vector<std::string> get(const std::string& key) {
  return {format_command({"GET", key}), format_command({"PTTL", key})};
}

// A read that runs on a new thread of its own, so the test can line callers
// up. Without an affinity, each thread starts from a connection of its own:
// consecutive threads alternate between two connections.
std::future<std::optional<Result>> read_async(DirectPool& pool, const std::string& key,
                                              std::chrono::milliseconds budget) {
  const auto deadline = steady::now() + budget;
  return std::async(std::launch::async, [&pool, key, deadline] {
    return pool.try_execute(get(key), CommandClient::k_any, deadline);
  });
}

bool timed_out(const std::optional<Result>& r) {
  return r.has_value() && !r->ok && r->error == "command timeout";
}

TEST(DirectPool, ConcurrentCallersEachGetTheirOwnRepliesFromCombinedRounds) {
  test::RedisServer server;
  test::RedisCli admin(server);
  constexpr int k_keys = 100;
  for (int i = 0; i < k_keys; ++i) {
    admin.cmd({"SET", "k" + std::to_string(i), "v" + std::to_string(i)});
  }
  DirectPool pool(settings_for(server), 2);
  constexpr int k_threads = 16;
  constexpr int k_calls = 300;
  const test::ConcurrentReads r = test::read_concurrently(
      [&pool](const std::vector<std::string>& commands) {
        return pool.try_execute(commands, CommandClient::k_any, steady::now() + slack(5s));
      },
      k_threads, k_calls, k_keys);
  EXPECT_EQ(r.declined, 0);
  EXPECT_EQ(r.failed, 0);
  EXPECT_EQ(r.wrong, 0);
  // Every call went out in a round it led or one it joined.
  EXPECT_EQ(pool.rounds() + pool.combined(), std::uint64_t{k_threads * k_calls});
  RecordProperty("rounds", std::to_string(pool.rounds()));
  RecordProperty("combined", std::to_string(pool.combined()));
}

// With both connections held by rounds Redis does not answer, later callers
// queue (3 on each: the threads alternate); when Redis answers, each
// connection's first queued caller leads a round that carries the others:
// 6 queued callers, 2 rounds, 4 combined.
TEST(DirectPool, CallersQueuedBehindBusyConnectionsGoOutTogether) {
  test::RedisServer server;
  test::RedisCli admin(server);
  admin.cmd({"SET", "k", "v"});
  DirectPool pool(settings_for(server), 2);
  ASSERT_TRUE(pool.try_execute(get("k"), 0, steady::now() + slack(5s)).value().ok);
  ASSERT_TRUE(pool.try_execute(get("k"), 1, steady::now() + slack(5s)).value().ok);
  const std::uint64_t rounds_before = pool.rounds();
  server.pause();
  std::vector<std::future<std::optional<Result>>> reads;
  for (int i = 0; i < 2; ++i) reads.push_back(read_async(pool, "k", slack(10s)));
  ASSERT_TRUE(eventually([&] { return pool.rounds() == rounds_before + 2; }));
  for (int i = 0; i < 6; ++i) reads.push_back(read_async(pool, "k", slack(10s)));
  ASSERT_TRUE(eventually([&] { return pool.queued() == 6; }));
  server.resume();
  for (auto& f : reads) {
    const auto r = f.get();
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->ok) << r->error;
    ASSERT_EQ(r->replies.size(), 2u);
    EXPECT_EQ(r->replies[0].str, "v");
  }
  EXPECT_EQ(pool.rounds(), rounds_before + 4);
  EXPECT_EQ(pool.combined(), 4u);
}

// One connection, to a server that holds "k" = "v" and is then paused, with
// a first caller's round stuck on it (its budget given); later callers queue.
class StuckRound : public ::testing::Test {
 protected:
  void start_stuck_round(std::chrono::milliseconds budget) {
    test::RedisCli(server_).cmd({"SET", "k", "v"});
    server_.pause();
    started_ = steady::now();
    leader_ = read_async(pool_, "k", budget);
    ASSERT_TRUE(eventually([&] { return pool_.rounds() == 1; }));
  }
  // Starts a read that queues (the n-th in the queue) and waits until it has.
  std::future<std::optional<Result>> queue_read(std::chrono::milliseconds budget, std::size_t n) {
    auto f = read_async(pool_, "k", budget);
    EXPECT_TRUE(eventually([&] { return pool_.queued() == n; }));
    return f;
  }
  void TearDown() override { server_.resume(); }

  test::RedisServer server_;
  DirectPool pool_{settings_for(server_), 1};
  steady::time_point started_;
  std::future<std::optional<Result>> leader_;
};

// A caller queued behind a stuck round returns "command timeout" at its own
// deadline, not its leader's; the leader times out at its own, closes the
// connection, and the next call connects again.
TEST_F(StuckRound, AQueuedCallerReturnsAtItsOwnDeadline) {
  start_stuck_round(slack(3s));
  auto queued = read_async(pool_, "k", slack(200ms));
  ASSERT_TRUE(timed_out(queued.get()));
  EXPECT_LT(steady::now() - started_, slack(2500ms)) << "the queued caller waited for its leader";
  EXPECT_EQ(pool_.queued(), 0u);  // it left the queue
  EXPECT_TRUE(timed_out(leader_.get()));
  server_.resume();
  const auto after = pool_.try_execute(get("k"), 0, steady::now() + slack(5s));
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(after->ok) << after->error;
  EXPECT_EQ(after->replies.at(0).str, "v");
}

// Callers queued behind a leader that times out: the first becomes the next
// leader (its round also times out, at its deadline), and the one that went
// out in that round, whose own deadline is far, is handed back (nullopt: the
// loop retries the read) as soon as the round ends.
TEST_F(StuckRound, CallersInARoundThatTimedOutAreHandedBack) {
  start_stuck_round(slack(400ms));
  auto second = queue_read(slack(1s), 1);
  auto third = queue_read(slack(30s), 2);
  EXPECT_TRUE(timed_out(leader_.get()));
  EXPECT_TRUE(timed_out(second.get()));
  const std::optional<Result> handed_back = third.get();
  EXPECT_FALSE(handed_back.has_value());
  EXPECT_LT(steady::now() - started_, slack(10s)) << "the third caller waited for its own deadline";
  EXPECT_EQ(pool_.rounds(), 2u);
  EXPECT_EQ(pool_.combined(), 1u);
}

// close_all() waits for the round in progress to end (at its leader's
// deadline), hands the queued callers back, and takes no more reads.
TEST_F(StuckRound, CloseAllHandsQueuedCallersBack) {
  start_stuck_round(slack(500ms));
  auto queued = queue_read(slack(30s), 1);
  pool_.close_all();
  EXPECT_TRUE(timed_out(leader_.get()));
  EXPECT_FALSE(queued.get().has_value());
  EXPECT_FALSE(pool_.try_execute(get("k"), 0, steady::now() + slack(5s)).has_value());
}

}  // namespace
}  // namespace multicache::l2
