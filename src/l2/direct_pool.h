// l2/direct_pool.h — blocking connections that a caller's own thread uses
// for a read, when one is idle.
//
// Through the event loop a round trip costs four thread wake-ups (caller →
// loop → Redis → loop → caller); on its own blocking connection it costs two,
// like a plain hiredis client. RedisClient sends read-only pipelines (GET,
// PTTL, EXISTS) here first; when every direct connection is busy (many
// concurrent callers), or the last connect failed less than a second ago,
// try_execute() declines and the pipeline goes through the loop, where
// concurrent callers share socket writes. Only reads come here: writes keep
// their per-key order on the loop's connections.
//
// A call, connect and handshake included, ends by the caller's deadline
// (receive timeouts brought down to what is left; a name lookup for a host
// name is not bounded); a connection that times out is
// closed, so a late reply is never read as another command's answer. At most
// one connect per call; a connect that fails (then no retry for a second), or
// an idle connection found closed by the server, hands the read to the loop.
// The endpoint is resolved (and ROLE checked, when required) at each connect;
// reset() makes every open connection old, for a new primary. Sends use
// MSG_NOSIGNAL: a dead peer never raises SIGPIPE in the caller's thread.
//
// Thread-safety: every member from any thread; each slot's mu guards its
// context; generation_ is atomic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "l2/command_client.h"
#include "l2/connection.h"
#include "util/mutex.h"

struct redisContext;

namespace multicache::l2 {

class DirectPool {
 public:
  DirectPool(ConnectionSettings settings, int size);
  ~DirectPool();
  DirectPool(const DirectPool&) = delete;
  DirectPool& operator=(const DirectPool&) = delete;

  // The result of the pipeline, or nullopt when no direct connection could
  // take it (then nothing was sent).
  // deadline: the caller's, for the whole call (connect included).
  std::optional<Result> try_execute(const std::vector<std::string>& commands, std::size_t hint,
                                    std::chrono::steady_clock::time_point deadline);
  void reset() { generation_.fetch_add(1, std::memory_order_acq_rel); }
  // Closes every connection and opens no more (RedisClient::stop).
  void close_all();

  // Only GET, PTTL and EXISTS.
  static bool read_only(const std::vector<std::string>& commands);

 private:
  struct Slot {
    util::Mutex mu;
    redisContext* ctx MC_GUARDED_BY(mu) = nullptr;
    std::uint64_t generation MC_GUARDED_BY(mu) = 0;
    std::int64_t retry_after_ms MC_GUARDED_BY(mu) = 0;
    std::int64_t timeout_ms MC_GUARDED_BY(mu) = 0;  // the socket's receive timeout now
  };
  bool connect(Slot& slot, std::chrono::steady_clock::time_point deadline) MC_REQUIRES(slot.mu);
  static void close(Slot& slot) MC_REQUIRES(slot.mu);

  ConnectionSettings settings_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace multicache::l2
