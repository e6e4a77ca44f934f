// l2/connection.h — one self-healing hiredis async connection.
//
// States: disconnected → connecting → handshaking (AUTH, SELECT, ROLE, or
// else PING: a server that accepts and then refuses, at maxclients or
// without AUTH, fails the attempt; other errors to PING do not) → ready.
// Any failure (connect error or timeout, handshake error, server close, a
// reply overdue by more than the command timeout) frees the hiredis context,
// which fails every pending callback with a null reply, and schedules a
// reconnect with exponential backoff (50 ms doubling to 2 s). The backoff and
// the failure count start over only once a connection stayed ready for
// k_stable (a server that drops every connection at once, as one refusing
// SUBSCRIBE, is retried every 2 s, not every 50 ms).
// Freeing the context on an overdue reply is what keeps a late reply from
// ever being read as the answer to a later command.
//
// Thread-safety: loop thread only, except the atomic is_ready().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "l2/event_loop.h"
#include "l2/redis_url.h"

struct redisAsyncContext;
struct redisReply;

namespace multicache::l2 {

struct ConnectionSettings {
  Endpoint endpoint;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{250};
  // How long a caller waiting for a reply spins (yielding) before it sleeps
  // (Options::redis_spin_wait). Read by the clients' execute(), not here.
  std::chrono::microseconds spin_wait{0};
  std::function<void(bool is_error, std::string_view)> log;  // warnings/errors
  std::string name;  // for log lines: "command#0", "subscriber"
  // When set, asked before every connect attempt for where to connect (a
  // sentinel's current primary, the next cluster node): nullopt keeps the
  // last endpoint. Called on the loop thread, and on callers' threads by the
  // direct connections: must be thread-safe and quick (no I/O).
  std::function<std::optional<Endpoint>()> resolve;
  // Check with ROLE during the handshake that the server is a primary; a
  // replica fails the attempt (which then resolves again). A user without
  // the right to run ROLE (NOPERM) is let through unchecked.
  bool require_primary = false;
};

class Connection {
 public:
  // reply is null when the connection failed before the reply arrived.
  using ReplyFn = std::function<void(const redisReply* reply)>;

  Connection(EventLoop& loop, ConnectionSettings settings);
  ~Connection();  // frees the context (pending callbacks see null replies)
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void on_ready(std::function<void()> fn) { on_ready_ = std::move(fn); }
  // Called on every failure: was_ready tells a lost connection from a failed attempt.
  void on_lost(std::function<void(bool was_ready)> fn) { on_lost_ = std::move(fn); }

  void start();     // first connect attempt
  void shutdown();  // frees the context, no more reconnects
  // Drops the connection (if any) and connects again at once. Not from
  // inside a hiredis callback (use it from a posted task or a timer).
  void reset(std::string_view why);

  bool is_ready() const { return ready_.load(std::memory_order_acquire); }

  // Sends one RESP-formatted command. tracked: its reply counts against the
  // command timeout. Returns false (fn not called) when not ready.
  bool send(std::string_view formatted, ReplyFn fn, bool tracked = true);
  // For a SUBSCRIBE: fn is kept by hiredis and called for every push message,
  // and once with null when the connection goes.
  bool send_subscribe(std::string_view formatted, ReplyFn* fn);

  std::uint64_t reconnects() const { return reconnects_.load(std::memory_order_relaxed); }

 private:
  enum class state { disconnected, connecting, handshaking, ready, closed };
  struct Pending;

  static void on_connect_cb(const redisAsyncContext* ac, int status);
  static void on_disconnect_cb(const redisAsyncContext* ac, int status);
  static void on_reply_cb(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_subscribe_cb(redisAsyncContext* ac, void* reply, void* privdata);

  void connect();
  void handshake();
  void become_ready();
  // Fails the current context from a zero-delay timer (for use inside hiredis callbacks).
  void fail_soon(std::string why);
  void lost(std::string_view why, bool free_context);
  void schedule_reconnect();
  void check_overdue();
  std::int64_t now_us() const;
  // Writes what send() queued, from EventLoop::after_tasks (see event_loop.h).
  static void flush(void* self);

  EventLoop& loop_;
  ConnectionSettings settings_;
  redisAsyncContext* ac_ = nullptr;
  state state_ = state::disconnected;
  std::deque<std::int64_t> inflight_sent_us_;  // tracked commands, oldest first
  std::chrono::milliseconds backoff_{0};
  Timer connect_timer_;
  Timer reconnect_timer_;
  Timer overdue_timer_;
  Timer fail_timer_;
  redisAsyncContext* failing_ac_ = nullptr;
  std::string failing_why_;
  std::function<void()> on_ready_;
  std::function<void(bool)> on_lost_;
  std::atomic<bool> ready_{false};
  std::atomic<std::uint64_t> reconnects_{0};
  bool ever_ready_ = false;
  // Failures (lost connections, failed connects) since the connection was
  // last ready; loop thread. Only some of them are logged.
  std::uint64_t failures_ = 0;
  static constexpr std::uint64_t k_log_every_failures = 30;
  bool outage_logged_ = false;  // a failure was logged since the last "connected" line
  std::int64_t ready_since_us_ = 0;
  static constexpr std::int64_t k_stable_us = 2'000'000;
  bool flush_queued_ = false;  // a flush waits in the loop's after_tasks
};

}  // namespace multicache::l2
