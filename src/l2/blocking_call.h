// l2/blocking_call.h — blocking connections for the library's background
// threads (cluster slot discovery, sentinel questions): one kept open, or one
// per command; and the time conversions the blocking hiredis API needs.
//
// Thread-safety: a BlockingConnection belongs to one thread at a time; the
// free functions own what they open.
#pragma once

#include <sys/time.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "l2/redis_url.h"
#include "l2/reply.h"

struct redisContext;

namespace multicache::l2 {

timeval to_timeval(std::chrono::milliseconds d);
std::int64_t steady_ms();  // steady clock, milliseconds

// A blocking TCP connection that stays open between commands. The calling
// thread must not let SIGPIPE kill it (util::block_sigpipe_in_this_thread).
class BlockingConnection {
 public:
  BlockingConnection() = default;
  ~BlockingConnection() { close(); }
  BlockingConnection(const BlockingConnection&) = delete;
  BlockingConnection& operator=(const BlockingConnection&) = delete;

  // Connects to ep within timeout (each later read or write waits at most
  // timeout too) and AUTHs with its credentials if it has a password. false,
  // with *why, when that fails (the connection is then closed).
  bool open(const Endpoint& ep, std::chrono::milliseconds timeout, std::string* why);
  bool is_open() const { return ctx_ != nullptr; }
  // Runs args. nullopt, with *why, on an error reply, or on a connection
  // failure, which also closes the connection.
  std::optional<Reply> command(const std::vector<std::string_view>& args, std::string* why);
  void close();

 private:
  redisContext* ctx_ = nullptr;
};

// Connects to ep (TCP) within timeout, AUTHs with its credentials if it has
// a password, runs `args`, and closes. nullopt (with *why) on a connection
// failure or an error reply; each step waits at most timeout. The calling
// thread must not let SIGPIPE kill it (util::block_sigpipe_in_this_thread).
std::optional<Reply> blocking_command(const Endpoint& ep, std::chrono::milliseconds timeout,
                                      const std::vector<std::string_view>& args, std::string* why);

}  // namespace multicache::l2
