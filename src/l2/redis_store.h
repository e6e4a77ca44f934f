// l2/redis_store.h — the cache's commands against Redis, as bytes.
//
// Knows key prefixing, the command shapes (GET+PTTL, SET PX+PUBLISH,
// DEL+PUBLISH) and how to read their replies; knows nothing of value types,
// envelopes or the breaker: the caller passes the function that executes a
// pipeline (which is where the breaker sits).
//
// Thread-safety: const after construction; safe from any thread if exec is.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "l2/redis_client.h"

namespace multicache::l2 {

struct Status {
  bool ok = false;
  std::string error;
};

struct ReadResult {
  Status status;
  std::optional<std::string> bytes;  // nullopt: no such key
  std::int64_t pttl_ms = -2;         // Redis PTTL: -1 no expiry, -2 gone
};

class RedisStore {
 public:
  using Exec = std::function<Result(std::vector<std::string>)>;
  // Sends a pipeline without waiting; the function reports the outcome itself.
  using ExecAsync = std::function<void(std::vector<std::string>)>;
  RedisStore(Exec exec, ExecAsync exec_async, std::string key_prefix, std::string channel);

  // GET and PTTL of one key in one round trip.
  ReadResult read(std::string_view key) const;
  // SET key bytes PXAT expires_at_ms [NX], then PUBLISH message (when given),
  // in one round trip. With only_if_absent, an existing value is left alone
  // (ok). The deadline is absolute (Unix ms, Redis >= 6.2), so a SET that
  // reaches Redis late (after a stall) does not live longer than meant.
  Status write(std::string_view key, std::string_view bytes, std::int64_t expires_at_ms,
               const std::optional<std::string>& message, bool only_if_absent = false) const;
  // write() without waiting for the reply (failures are counted by exec_async).
  void write_async(std::string_view key, std::string_view bytes, std::int64_t expires_at_ms,
                   const std::optional<std::string>& message, bool only_if_absent) const;
  // DEL key, then PUBLISH message (when given), in one round trip.
  Status remove(std::string_view key, const std::optional<std::string>& message) const;

  std::string full_key(std::string_view key) const;

 private:
  Status run(std::vector<std::string> commands, std::vector<Reply>* replies) const;
  std::vector<std::string> write_commands(std::string_view key, std::string_view bytes,
                                          std::int64_t expires_at_ms,
                                          const std::optional<std::string>& message,
                                          bool only_if_absent) const;

  Exec exec_;
  ExecAsync exec_async_;
  std::string key_prefix_;
  std::string channel_;
};

}  // namespace multicache::l2
