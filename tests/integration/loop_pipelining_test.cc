// The event loop's command path against a real Redis: many callers' pipelines
// sharing the loop's connections, each caller getting its own replies; and
// connections destroyed or reset between a send and the flush that
// EventLoop::after_tasks would run for it. (Whether the flush, rather than
// hiredis's own write event, wrote the commands is not observable here: that
// it saves loop turns is measured with perf stat, see docs/performance.md.)
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <atomic>
#include <barrier>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "concurrent_reads.h"
#include "l2/connection.h"
#include "l2/event_loop.h"
#include "l2/redis_client.h"
#include "l2/reply.h"
#include "support/on_loop.h"
#include "support/redis_server.h"

namespace multicache::l2 {
namespace {

using namespace std::chrono_literals;

ConnectionSettings settings_for(const test::RedisServer& server) {
  ConnectionSettings cs;
  cs.endpoint.host = "127.0.0.1";
  cs.endpoint.port = server.port();
  cs.command_timeout = 2s;  // a loaded sanitizer run must not time out
  return cs;
}

using test::on_loop;

void sixteen_callers_each_get_their_own_replies(std::chrono::microseconds spin_wait) {
  test::RedisServer server;
  ClientSettings settings{settings_for(server), /*pool_size=*/2, /*direct_size=*/0, nullptr};
  settings.connection.spin_wait = spin_wait;
  RedisClient client(settings);  // no direct connections: every call takes the loop
  ASSERT_TRUE(client.wait_connected(5s));
  constexpr int k_keys = 100;
  for (int i = 0; i < k_keys; ++i) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_TRUE(client.execute({format_command({"SET", k, "v" + std::to_string(i)})}).ok);
  }
  const test::ConcurrentReads r = test::read_concurrently(
      [&client](std::vector<std::string> commands) -> std::optional<Result> {
        return client.execute(std::move(commands));
      },
      /*threads=*/16, /*calls=*/300, k_keys);
  EXPECT_EQ(r.failed, 0);
  EXPECT_EQ(r.wrong, 0);
}

TEST(LoopPipelining, SixteenCallersThroughTheLoopEachGetTheirOwnReplies) {
  sixteen_callers_each_get_their_own_replies(0us);
}

// Callers that spin before they sleep (Options::redis_spin_wait): some
// replies land while their caller spins, others after it fell asleep.
TEST(LoopPipelining, SpinningCallersEachGetTheirOwnReplies) {
  sixteen_callers_each_get_their_own_replies(50us);
  sixteen_callers_each_get_their_own_replies(5ms);
}

// A connection that a later task of the same wake-up destroys or resets
// after it queued a command: the flush must not touch it (ASan checks the
// first), the command's callback runs exactly once with "no reply", and the
// loop goes on serving others.
TEST(LoopPipelining, AConnectionGoneBeforeItsFlushFailsItsCommandsOnce) {
  test::RedisServer server;
  EventLoop loop;
  std::unique_ptr<Connection> doomed, reset, healthy;
  std::promise<void> ready_all;
  std::atomic<int> ready{0};
  on_loop(loop, [&] {
    for (auto* slot : {&doomed, &reset, &healthy}) {
      *slot = std::make_unique<Connection>(loop, settings_for(server));
      (*slot)->on_ready([&] {
        if (ready.fetch_add(1) + 1 == 3) ready_all.set_value();
      });
      (*slot)->start();
    }
  });
  ASSERT_EQ(ready_all.get_future().wait_for(5s), std::future_status::ready);

  std::atomic<int> doomed_calls{0}, reset_calls{0}, doomed_null{0}, reset_null{0};
  std::promise<std::string> healthy_reply;
  on_loop(loop, [&] {
    // Queued from inside a task so that the three below share one wake-up.
    loop.post([&] {
      EXPECT_TRUE(doomed->send(format_command({"PING"}), [&](const redisReply* r) {
        doomed_calls.fetch_add(1);
        if (r == nullptr) doomed_null.fetch_add(1);
      }));
      EXPECT_TRUE(reset->send(format_command({"PING"}), [&](const redisReply* r) {
        reset_calls.fetch_add(1);
        if (r == nullptr) reset_null.fetch_add(1);
      }));
      EXPECT_TRUE(healthy->send(format_command({"ECHO", "still here"}), [&](const redisReply* r) {
        healthy_reply.set_value(r != nullptr ? std::string(r->str, r->len) : "null");
      }));
    });
    loop.post([&] { doomed.reset(); });              // freed before the flush
    loop.post([&] { reset->reset("test reset"); });  // reconnecting at flush time
  });
  auto got = healthy_reply.get_future();
  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(got.get(), "still here");
  on_loop(loop, [] {});
  EXPECT_EQ(doomed_calls.load(), 1);
  EXPECT_EQ(doomed_null.load(), 1);
  EXPECT_EQ(reset_calls.load(), 1);
  EXPECT_EQ(reset_null.load(), 1);
  on_loop(loop, [&] {
    reset.reset();
    healthy.reset();
  });
}

}  // namespace
}  // namespace multicache::l2
