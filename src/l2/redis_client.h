// l2/redis_client.h — commands to one Redis over a few multiplexed connections.
//
// A caller hands execute() a pipeline (one or more RESP-formatted commands)
// and waits for all of its replies, at most the command timeout. The pipeline
// goes on one connection, in order, untouched by other callers' commands;
// pipelines of concurrent callers share the connection's socket writes
// (auto-pipelining). A caller that times out simply stops waiting: its
// replies, if they ever come, land in its abandoned Batch, and the connection
// itself is dropped once a reply is overdue, so no reply is ever matched to
// the wrong command.
//
// Thread-safety: execute(), connected() and stop() from any thread.
// Ownership: owns its Connections, and its EventLoop unless it was given one
// (a cluster's node clients share their ClusterClient's loop); stop() (or the
// destructor) fails queued pipelines, closes the sockets and, when it owns
// the loop, joins the loop thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "l2/command_client.h"
#include "l2/connection.h"
#include "l2/direct_pool.h"
#include "l2/event_loop.h"
#include "l2/reply.h"

namespace multicache::l2 {

struct ClientSettings {
  ConnectionSettings connection;
  int pool_size = 2;
  // Blocking connections that reads share, from the callers' own threads
  // (DirectPool); 0: every pipeline goes through the loop.
  int direct_size = 0;
  // When set, every pipeline passes it first: while it is open, execute()
  // and submit() answer k_breaker_open at once; whether each pipeline's
  // replies all arrived is recorded in it. (A cluster's node clients; a
  // single server's breaker sits in the cache, around the whole client.)
  std::shared_ptr<resilience::CircuitBreaker> breaker;
};

class RedisClient final : public CommandClient {
 public:
  // shared_loop: run on that loop (which must outlive this client) instead
  // of starting one.
  explicit RedisClient(ClientSettings settings, EventLoop* shared_loop = nullptr);
  ~RedisClient() override;
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // affinity: pipelines with the same affinity go on the same connection
  // while it is up, so they reach Redis in the order they were sent (a
  // remove() never overtakes the async SET of the same key). k_any: any.
  Result execute(std::vector<std::string> commands, std::size_t affinity = k_any) override;
  // The same, ending by `deadline` instead of one command timeout from now
  // (a cluster read that already spent part of its time).
  Result execute(std::vector<std::string> commands, std::size_t affinity,
                 std::chrono::steady_clock::time_point deadline);

  // Sends without waiting. done runs exactly once: on the loop thread when the
  // replies arrive or the connection fails (a reply overdue by the command
  // timeout fails the connection, a client still making its first connects
  // holds it until they end: at most the connect timeout), or on the
  // caller's thread when the pipeline cannot be sent at all. done must be
  // quick and must not throw.
  void submit(std::vector<std::string> commands, Callback done,
              std::size_t affinity = k_any) override;

  // True while at least one connection is ready.
  bool connected() const override { return ready_count_.load(std::memory_order_acquire) > 0; }
  // Waits until a connection is ready or every connection's first attempt
  // failed, at most `limit`.
  bool wait_connected(std::chrono::milliseconds limit) const override;
  std::uint64_t reconnects() const override { return reconnects_.load(std::memory_order_relaxed); }
  ReadRounds read_rounds() const override {
    return direct_ ? ReadRounds{direct_->rounds(), direct_->combined()} : ReadRounds{};
  }
  resilience::breaker_state breaker_state() const override {
    return settings_.breaker ? settings_.breaker->state() : resilience::breaker_state::closed;
  }
  // Drops every connection and connects again at once (to wherever the
  // endpoint resolver now points: a sentinel failover).
  void reset_connections();
  // The first connect attempts have not all ended yet; pipelines sent now
  // wait for them (at most the connect timeout) instead of failing.
  bool starting() const { return !first_attempts_done(); }

  EventLoop& loop() override { return *loop_; }
  const ClientSettings& settings() const { return settings_; }
  void stop() override;

 private:
  struct Batch;
  Result run(std::vector<std::string> commands, std::size_t affinity,
             std::chrono::steady_clock::time_point deadline);  // execute() past the breaker
  void queue(std::vector<std::string> commands, Callback done,
             std::size_t affinity);                    // submit() past the breaker
  void dispatch(const std::shared_ptr<Batch>& batch);  // loop thread
  void fail_parked(const std::string& why);            // loop thread
  bool first_attempts_done() const {
    return attempts_done_.load(std::memory_order_acquire) >= settings_.pool_size;
  }

  ClientSettings settings_;
  std::unique_ptr<DirectPool> direct_;   // null when direct_size is 0
  std::unique_ptr<EventLoop> own_loop_;  // null with a shared loop
  EventLoop* loop_;
  std::vector<std::unique_ptr<Connection>> conns_;  // created, used, destroyed on the loop
  std::size_t next_conn_ = 0;                       // loop thread
  std::vector<std::shared_ptr<Batch>> parked_;      // loop thread: waiting for a first connect
  std::atomic<int> ready_count_{0};
  std::atomic<int> attempts_done_{0};  // connections that connected or failed once
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace multicache::l2
