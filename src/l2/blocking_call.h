// l2/blocking_call.h — one command on a short-lived blocking connection, for
// the library's background threads (cluster slot discovery, sentinel
// questions), and the time conversions the blocking hiredis API needs.
//
// Thread-safety: free functions; each call owns its connection.
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

namespace multicache::l2 {

timeval to_timeval(std::chrono::milliseconds d);
std::int64_t steady_ms();  // steady clock, milliseconds

// Connects to ep (TCP) within timeout, AUTHs with its credentials if it has
// a password, runs `args`, and closes. nullopt (with *why) on a connection
// failure or an error reply; each step waits at most timeout. The calling
// thread must not let SIGPIPE kill it (util::block_sigpipe_in_this_thread).
std::optional<Reply> blocking_command(const Endpoint& ep, std::chrono::milliseconds timeout,
                                      const std::vector<std::string_view>& args, std::string* why);

}  // namespace multicache::l2
