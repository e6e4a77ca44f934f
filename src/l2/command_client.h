// l2/command_client.h — what the cache needs from "a Redis": pipelines in,
// replies out. One server (RedisClient), a cluster (ClusterClient) and a
// sentinel-managed primary (SentinelClient) all provide it.
//
// Thread-safety: every member from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "l2/event_loop.h"
#include "l2/reply.h"
#include "resilience/circuit_breaker.h"

namespace multicache::l2 {

struct Result {
  bool ok = false;    // every reply arrived (a reply may still be a Redis error)
  std::string error;  // why not, when !ok
  // One per command when ok. When !ok: none, or, for a cluster pipeline of
  // which some nodes answered, one per command, those of the nodes that did
  // not answer (or not in time) being error replies that carry `error`'s text.
  std::vector<Reply> replies;
};

// Result::error of a pipeline a circuit breaker turned away unsent.
inline constexpr std::string_view k_breaker_open = "circuit breaker open";

// What execute()/submit() answer without sending anything: ok for an empty
// pipeline, "client stopped" once stopped; nullopt when it must be sent.
inline std::optional<Result> answer_without_sending(const std::vector<std::string>& commands,
                                                    bool stopped) {
  if (!commands.empty() && !stopped) return std::nullopt;
  Result r;
  r.ok = commands.empty();
  if (!r.ok) r.error = "client stopped";
  return r;
}

class CommandClient {
 public:
  virtual ~CommandClient() = default;

  // Pipelines with the same affinity keep their order while their
  // connection is up (see RedisClient); k_any: no order needed.
  static constexpr std::size_t k_any = static_cast<std::size_t>(-1);
  using Callback = std::function<void(Result)>;

  // Runs the pipeline and waits for all its replies, at most the command
  // timeout. Never throws.
  virtual Result execute(std::vector<std::string> commands, std::size_t affinity) = 0;
  // Sends without waiting; done runs exactly once (see RedisClient::submit).
  virtual void submit(std::vector<std::string> commands, Callback done, std::size_t affinity) = 0;
  virtual bool connected() const = 0;
  virtual bool wait_connected(std::chrono::milliseconds limit) const = 0;
  virtual std::uint64_t reconnects() const = 0;
  // Redis Cluster MOVED/ASK replies followed (0 elsewhere).
  virtual std::uint64_t redirects() const { return 0; }
  // Rounds on the blocking read connections, and reads that went out in a
  // round another caller led (DirectPool::rounds/combined; 0 without them).
  struct ReadRounds {
    std::uint64_t rounds = 0;
    std::uint64_t combined = 0;
  };
  virtual ReadRounds read_rounds() const { return {}; }
  // The worst state (open, then half-open) among the breakers inside the
  // client (a cluster's current primaries'; see ClusterSettings::make_breaker);
  // closed when there are none.
  virtual resilience::breaker_state breaker_state() const {
    return resilience::breaker_state::closed;
  }
  // The loop the subscriber shares.
  virtual EventLoop& loop() = 0;
  // Fails what is queued, closes every connection, joins threads. Idempotent.
  virtual void stop() = 0;
};

}  // namespace multicache::l2
