// support/redis_server.h — a private redis-server for one test.
//
// Starts `redis-server` (from PATH, or $MULTICACHE_REDIS_SERVER) on a free
// loopback port with no persistence, in its own temporary directory, and can
// stop, kill, restart (same port, empty), pause (SIGSTOP) and resume it. The
// destructor kills it. Also a blocking hiredis client for tests to look at
// and poke Redis directly.
//
// Not thread-safe: drive one RedisServer from one test thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "l2/reply.h"

struct redisContext;

namespace multicache::test {

struct RedisServerOptions {
  std::string password{};    // --requirepass
  bool unix_socket = false;  // also listen on a unix socket
  std::vector<std::string> extra_args{};
  // Cluster mode (--cluster-enabled, nodes.conf in its directory); the port
  // is picked so that the cluster bus port (port + 10000) is free too.
  bool cluster = false;
  int cluster_node_timeout_ms = 1000;
  // Sentinel mode: this text is written to sentinel.conf (sentinel needs a
  // writable config file) and the server runs with --sentinel.
  bool sentinel = false;
  std::string sentinel_config{};
};

class RedisServer {
 public:
  explicit RedisServer(RedisServerOptions options = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  const std::string& socket_path() const { return socket_path_; }
  // redis://[:password@]127.0.0.1:port[/db]
  std::string url(int db = 0) const;

  void kill();     // SIGKILL and reap
  void restart();  // start again on the same port (empty dataset)
  void pause();    // SIGSTOP
  void resume();   // SIGCONT
  bool running() const { return pid_ > 0; }

 private:
  void start();
  bool wait_ready(std::chrono::milliseconds limit);

  RedisServerOptions options_;
  std::string dir_;
  std::string socket_path_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

// For benchmark programs: `given` when it is a URL; when empty, starts a
// private server into *holder and returns its URL.
std::string url_or_private_server(std::string given, std::unique_ptr<RedisServer>* holder);

// A blocking connection for test assertions. Throws std::runtime_error on
// connection or protocol errors.
class RedisCli {
 public:
  // timeout: for the connect and each reply.
  explicit RedisCli(const RedisServer& server, int db = 0,
                    std::chrono::milliseconds timeout = std::chrono::seconds(2));
  ~RedisCli();
  RedisCli(const RedisCli&) = delete;
  RedisCli& operator=(const RedisCli&) = delete;

  l2::Reply cmd(const std::vector<std::string>& args);
  // Convenience: GET as optional bytes.
  bool get(const std::string& key, std::string* out);

 private:
  redisContext* ctx_ = nullptr;
};

// Time bounds that catch hangs (not speed) are multiplied by this factor:
// $MULTICACHE_TEST_SLOWDOWN (set by scripts/test.sh for sanitizer builds), default 1.
double slowdown();
template <class Rep, class Period>
std::chrono::milliseconds slack(std::chrono::duration<Rep, Period> d) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(d).count() * slowdown()));
}

// Polls cond every millisecond until it holds or limit passes; returns cond().
template <class Cond>
bool eventually(Cond cond, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + slack(limit);
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return cond();
    struct timespec ts {
      0, 1000000
    };
    nanosleep(&ts, nullptr);
  }
  return true;
}

// A unique key prefix per test, so tests never see each other's keys.
std::string unique_prefix();

}  // namespace multicache::test
