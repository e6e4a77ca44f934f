// l2/redis_store.h — the cache's commands against Redis, as bytes.
//
// Knows key prefixing, the command shapes (GET+PTTL, SET PXAT+PUBLISH,
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
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "l2/command_client.h"

namespace multicache::l2 {

struct Status {
  bool ok = false;
  std::string error;
};

struct ReadResult {
  Status status;
  std::optional<std::string> bytes;  // nullopt: no such key
  std::int64_t pttl_ms = -2;         // Redis PTTL: -1 no expiry, -2 gone
  bool negative = false;             // a "not found" marker exists (and no value)
  std::int64_t negative_pttl_ms = -2;
};

// One write: SET key bytes PXAT expires_at_ms [NX], and optionally more in
// the same round trip.
struct WriteRequest {
  std::string key;    // the user's key (unprefixed)
  std::string bytes;  // the envelope
  // Absolute deadline (Unix ms; Redis >= 6.2), so a SET that reaches Redis
  // late (after a stall) does not live longer than meant.
  std::int64_t expires_at_ms = 0;
  bool only_if_absent = false;  // NX: leave an existing value alone (still ok)
  bool negative = false;        // write the key's "not found" marker, not the value
  bool clear_other = false;     // also delete the other one: the marker, or (negative) the value
  std::optional<std::string> message;  // then PUBLISH this invalidation
  // Compare-and-set (a background refresh): write, and publish, only if the
  // key still holds exactly these bytes ("" = only if absent). One EVAL.
  // With negative: the value is deleted and the marker set, on that condition.
  std::optional<std::string> if_equals;
};

class RedisStore {
 public:
  // Run a pipeline on the connection picked by affinity (RedisClient::execute).
  using Exec = std::function<Result(std::vector<std::string>, std::size_t affinity)>;
  // Sends a pipeline without waiting; the function reports the outcome itself.
  using ExecAsync = std::function<void(std::vector<std::string>, std::size_t affinity)>;
  // co_locate (Redis Cluster): a key's "not found" marker and lock start
  // with a hash tag of the key's own slot, so all three live on one node and
  // one pipeline about a key never spans nodes.
  RedisStore(Exec exec, ExecAsync exec_async, std::string key_prefix, std::string channel,
             bool co_locate = false);

  // GET and PTTL of one key (and of its "not found" marker, with_negative),
  // in one round trip.
  ReadResult read(std::string_view key, bool with_negative = false) const;
  // read() of many keys in one round trip; one result per key, in order.
  std::vector<ReadResult> read_many(const std::vector<std::string_view>& keys,
                                    bool with_negative) const;
  // One write, in one round trip.
  Status write(const WriteRequest& w) const { return write_many({&w, 1}); }
  // One write's part of write_many: its own status (a cluster node down or
  // an error reply fails only the writes it answered), and applied: false
  // when its compare-and-set (if_equals) lost and wrote nothing.
  struct WriteOutcome {
    Status status;
    bool applied = false;
  };
  // The writes in one pipeline (a cluster client splits it by node), waiting
  // for the replies; the first error, if any. each (optional): one outcome
  // per write.
  Status write_many(std::span<const WriteRequest> writes,
                    std::vector<WriteOutcome>* each = nullptr) const;
  // DEL key, DEL its "not found" marker, then PUBLISH message (when given), in
  // one round trip.
  Status remove(std::string_view key, const std::optional<std::string>& message) const;
  // Takes back a write an invalidation may have overtaken, without waiting:
  // deletes what w wrote (its value, or its marker when negative) only if the
  // key still holds exactly those bytes, and then PUBLISHes message (when
  // given), in one EVAL.
  void undo_async(const WriteRequest& w, const std::optional<std::string>& message) const;

  // Distributed single-flight lock of a key: SET lock token NX PX ttl.
  // true: acquired; false: someone holds it; error status: Redis failed.
  Status try_lock(std::string_view key, std::string_view token, std::int64_t ttl_ms,
                  bool* acquired) const;
  // Deletes the lock only if it still holds `token` (one EVAL), so a holder
  // whose lock expired never deletes the next holder's.
  Status unlock(std::string_view key, std::string_view token) const;
  // try_lock of many keys in one pipeline: per key, its own status (a
  // cluster node down fails only its keys) and whether it was acquired.
  struct LockOutcome {
    Status status;
    bool acquired = false;
  };
  std::vector<LockOutcome> try_lock_many(std::span<const std::string_view> keys,
                                         std::string_view token, std::int64_t ttl_ms) const;
  // unlock of many keys in one pipeline (awaited).
  Status unlock_many(std::span<const std::string_view> keys, std::string_view token) const;

  std::string full_key(std::string_view key) const;
  // Where a key's "not found" marker lives: key_prefix + "\x01neg\x01" + key
  // (with co_locate, behind "{tag}" where tag hashes to the key's slot).
  // A separate Redis key, so a Go instance never reads a marker (it sees a
  // miss and loads), and no printable user key can collide with it.
  std::string negative_key(std::string_view key) const;
  std::string lock_key(std::string_view key) const;  // key_prefix + "\x01lock\x01" + key (+ tag)

  // key_prefix + infix + key, behind the slot tag of full_key(key) when co-locating.
  std::string side_key(std::string_view infix, std::string_view key) const;

 private:
  Status run(std::vector<std::string> commands, std::vector<Reply>* replies,
             std::size_t affinity) const;
  // Commands about one key share a connection (see RedisClient::execute).
  static std::size_t affinity_of(std::string_view key) {
    return std::hash<std::string_view>{}(key);
  }
  void append_write(const WriteRequest& w, std::vector<std::string>* cmds) const;
  void append_read(std::string_view key, bool with_negative, std::vector<std::string>* cmds) const;
  // read_many into out (one result per key, same size): read() needs no vectors of its own.
  void read_into(std::span<const std::string_view> keys, bool with_negative,
                 std::span<ReadResult> out) const;
  // Parses one key's replies (none an error reply) starting at replies[at],
  // taking the value out of them.
  void parse_read(std::vector<Reply>& replies, std::size_t at, bool with_negative,
                  ReadResult* out) const;

  Exec exec_;
  ExecAsync exec_async_;
  std::string key_prefix_;
  std::string channel_;
  bool co_locate_;
};

}  // namespace multicache::l2
