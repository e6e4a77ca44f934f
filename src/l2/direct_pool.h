// l2/direct_pool.h — blocking connections that callers' own threads use for
// reads, combining the reads of concurrent callers into one pipeline.
//
// Through the event loop a round trip costs four thread wake-ups (caller →
// loop → Redis → loop → caller); on a blocking connection of its own it costs
// two, like a plain hiredis client. RedisClient sends read-only pipelines
// (GET, PTTL, EXISTS) here first. A caller that finds a connection idle leads
// a round on it: it writes its own commands and those of every caller queued
// on that connection meanwhile in one write, reads all their replies, hands
// them out, and passes the lead to the first caller that queued during the
// round. When every connection is busy, a caller queues on one and sleeps
// until its replies are in (auto-pipelining with no thread between the
// callers and the socket). Only reads come here: writes keep their per-key
// order on the loop's connections.
//
// A call, connect and handshake included, ends by the caller's deadline. A
// round's socket reads end by its leader's deadline (receive timeouts
// brought down to what is left; a name lookup for a host name is not
// bounded); a connection that times out is closed, so a late reply is never
// read as another command's answer. A queued caller whose deadline passes
// returns "command timeout" at once (a leader that already sent its commands
// drops their replies). At most one connect per round; a connect that fails
// (then no retry for a second), or an idle connection found closed by the
// server, hands the round's reads to the loop, as does a round cut short by
// its leader's deadline for the other callers in it (reads are safe to
// repeat). The endpoint is resolved (and ROLE checked, when required) at each
// connect; reset() makes every open connection old, for a new primary. Sends
// use MSG_NOSIGNAL: a dead peer never raises SIGPIPE in the caller's thread.
//
// Thread-safety: every member from any thread. Each slot's mu guards its
// queue and who leads it; the slot's connection fields belong to its current
// leader (the one caller that set leading), and to close_all() when no one
// leads. generation_ is atomic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
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
  // size: connections (each opened by the first read that needs it).
  DirectPool(ConnectionSettings settings, int size);
  ~DirectPool();
  DirectPool(const DirectPool&) = delete;
  DirectPool& operator=(const DirectPool&) = delete;

  // The result of the pipeline, or nullopt when the loop should take it
  // (read-only commands, so even a pipeline already sent is safe to repeat).
  // deadline: the caller's, for the whole call (connect included). hint: the
  // connection to try first; k_any: the calling thread's own (threads are
  // spread evenly over the connections, and queue on theirs when all are busy).
  std::optional<Result> try_execute(const std::vector<std::string>& commands, std::size_t hint,
                                    std::chrono::steady_clock::time_point deadline);
  void reset() { generation_.fetch_add(1, std::memory_order_acq_rel); }
  // Closes every connection and opens no more (RedisClient::stop); waits for
  // rounds in progress to end, and hands queued callers to the loop.
  void close_all();

  // Rounds led so far, and pipelines that went out in a round another caller
  // led (combined); callers queued for a next round now.
  std::uint64_t rounds() const { return rounds_.load(std::memory_order_relaxed); }
  std::uint64_t combined() const { return combined_.load(std::memory_order_relaxed); }
  std::size_t queued() const;

  // Only GET, PTTL and EXISTS.
  static bool read_only(const std::vector<std::string>& commands);

 private:
  // A queued caller's state. queued: in its slot's queue; taken: in a round;
  // then one of: lead (it leads the next round), done (its answer is in),
  // declined (the loop takes it).
  enum class wait_state { queued, taken, lead, done, declined };
  struct Waiter;
  using WaiterPtr = std::shared_ptr<Waiter>;
  struct Slot {
    util::Mutex mu;
    bool leading MC_GUARDED_BY(mu) = false;         // a caller holds the connection for a round
    bool closed MC_GUARDED_BY(mu) = false;          // close_all(): no more rounds
    std::deque<WaiterPtr> queue MC_GUARDED_BY(mu);  // callers for the next round, in order
    // The leader's (see the header comment):
    redisContext* ctx = nullptr;
    std::uint64_t generation = 0;
    std::int64_t retry_after_ms = 0;
    std::int64_t timeout_ms = 0;  // the socket's receive timeout now
  };
  std::optional<Result> lead(Slot& slot, const WaiterPtr& me);
  std::optional<Result> follow(Slot& slot, const WaiterPtr& me);
  // As the leader: each caller's verdict (done or declined) and its answer,
  // written into its Waiter.
  void run_round(Slot& slot, const std::vector<WaiterPtr>& round);
  // Under slot.mu, after a round or a lead given up: the next leader (its
  // state already set), or null when no one waits (then no one leads).
  static WaiterPtr pass_lead(Slot& slot) MC_REQUIRES(slot.mu);
  bool connect(Slot& slot, std::chrono::steady_clock::time_point deadline);
  static void close(Slot& slot);

  ConnectionSettings settings_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> rounds_{0};
  std::atomic<std::uint64_t> combined_{0};
};

}  // namespace multicache::l2
