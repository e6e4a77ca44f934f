// sync/subscriber.h — the Pub/Sub connection that receives invalidations.
//
// One dedicated connection (hiredis needs one per subscription) on the Redis
// client's event loop. Whenever it (re)subscribes it calls on_subscribed —
// the cache clears L1 then, since messages may have been missed while it was
// away — and it hands every message payload to on_message, on the loop thread.
// Reconnects use the connection's backoff.
//
// Thread-safety: the constructor, wait_subscribed(), shutdown() and
// subscribed() from any thread; the callbacks run on the loop thread and must
// be quick and must not throw. shutdown() must run before the loop stops.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "l2/connection.h"
#include "l2/event_loop.h"

namespace multicache::sync {

class Subscriber {
 public:
  Subscriber(l2::EventLoop& loop, l2::ConnectionSettings settings, std::string channel,
             std::function<void(std::string_view)> on_message, std::function<void()> on_subscribed);
  ~Subscriber();

  bool subscribed() const { return subscribed_.load(std::memory_order_acquire); }
  bool wait_subscribed(std::chrono::milliseconds limit) const;
  void shutdown();
  // Drops the connection and subscribes again at once, resolving the
  // endpoint again (a sentinel failover). L1 is cleared on resubscribe.
  void reset();

 private:
  void handle(const struct redisReply* reply);  // loop thread

  l2::EventLoop& loop_;
  std::string channel_;
  std::function<void(std::string_view)> on_message_;
  std::function<void()> on_subscribed_;
  std::unique_ptr<l2::Connection> conn_;  // loop thread
  l2::Connection::ReplyFn handler_;       // address handed to hiredis
  std::atomic<bool> subscribed_{false};
  std::atomic<bool> first_attempt_done_{false};
  std::atomic<bool> shut_down_{false};
};

}  // namespace multicache::sync
