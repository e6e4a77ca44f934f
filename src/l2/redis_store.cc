#include "l2/redis_store.h"

#include "l2/cluster_slots.h"

namespace multicache::l2 {

RedisStore::RedisStore(Exec exec, ExecAsync exec_async, std::string key_prefix, std::string channel,
                       bool co_locate)
    : exec_(std::move(exec)),
      exec_async_(std::move(exec_async)),
      key_prefix_(std::move(key_prefix)),
      channel_(std::move(channel)),
      co_locate_(co_locate) {}

std::string RedisStore::full_key(std::string_view key) const {
  std::string k;
  k.reserve(key_prefix_.size() + key.size());
  k.append(key_prefix_).append(key);
  return k;
}

Status RedisStore::run(std::vector<std::string> commands, std::vector<Reply>* replies,
                       std::size_t affinity) const {
  Result r = exec_(std::move(commands), affinity);
  if (!r.ok) return {false, r.error};
  for (const Reply& reply : r.replies) {
    if (reply.is_error()) return {false, "redis replied: " + reply.str};
  }
  if (replies != nullptr) *replies = std::move(r.replies);
  return {true, {}};
}

std::string RedisStore::side_key(std::string_view infix, std::string_view key) const {
  std::string k;
  if (co_locate_) {
    const std::string& tag = slot_tag(slot_of(full_key(key)));
    k.reserve(tag.size() + 2 + key_prefix_.size() + infix.size() + key.size());
    k.append("{").append(tag).append("}");
  }
  k.append(key_prefix_).append(infix).append(key);
  return k;
}

std::string RedisStore::negative_key(std::string_view key) const {
  return side_key("\x01neg\x01", key);
}

void RedisStore::append_read(std::string_view key, bool with_negative,
                             std::vector<std::string>* cmds) const {
  cmds->push_back(format_key_command("GET", key_prefix_, key));
  cmds->push_back(format_key_command("PTTL", key_prefix_, key));
  if (with_negative) {
    const std::string nk = negative_key(key);
    cmds->push_back(format_command({"EXISTS", nk}));
    cmds->push_back(format_command({"PTTL", nk}));
  }
}

void RedisStore::parse_read(std::vector<Reply>& replies, std::size_t at, bool with_negative,
                            ReadResult* out) const {
  out->status = {true, {}};
  Reply& get = replies[at];
  if (get.type == Reply::kind::string) {
    out->bytes = std::move(get.str);
  } else if (get.type != Reply::kind::nil) {
    out->status = {false, "unexpected reply type to GET"};
    return;
  }
  if (replies[at + 1].type == Reply::kind::integer) out->pttl_ms = replies[at + 1].integer;
  if (with_negative && !out->bytes) {
    out->negative = replies[at + 2].type == Reply::kind::integer && replies[at + 2].integer == 1;
    if (replies[at + 3].type == Reply::kind::integer) {
      out->negative_pttl_ms = replies[at + 3].integer;
    }
  }
}

ReadResult RedisStore::read(std::string_view key, bool with_negative) const {
  ReadResult out;
  read_into({&key, 1}, with_negative, {&out, 1});
  return out;
}

std::vector<ReadResult> RedisStore::read_many(const std::vector<std::string_view>& keys,
                                              bool with_negative) const {
  std::vector<ReadResult> out(keys.size());
  read_into(keys, with_negative, out);
  return out;
}

void RedisStore::read_into(std::span<const std::string_view> keys, bool with_negative,
                           std::span<ReadResult> out) const {
  std::vector<std::string> cmds;
  cmds.reserve(keys.size() * (with_negative ? 4 : 2));
  for (auto key : keys) append_read(key, with_negative, &cmds);
  const std::size_t per_key = with_negative ? 4 : 2;  // append_read's commands per key
  Result r = exec_(std::move(cmds), keys.size() == 1 ? affinity_of(keys[0]) : CommandClient::k_any);
  // Each key stands on its own replies: a cluster node down (an error reply
  // for each of its commands) or a Redis error fails only its keys.
  const bool each = r.replies.size() == keys.size() * per_key;
  std::size_t at = 0;
  for (auto& o : out) {
    const Reply* error = nullptr;
    for (std::size_t k = 0; each && k < per_key && error == nullptr; ++k) {
      if (r.replies[at + k].is_error()) error = &r.replies[at + k];
    }
    if (!each) {
      o.status = {false, r.ok ? "wrong number of replies" : r.error};
    } else if (error != nullptr) {
      o.status = {false, "redis replied: " + error->str};
    } else {
      parse_read(r.replies, at, with_negative, &o);
    }
    at += per_key;
  }
}

namespace {

// What a "not found" marker holds.
constexpr std::string_view k_marker = "-";

// KEYS[1] key; ARGV: expected bytes ("" = absent), new bytes, PXAT deadline,
// channel ("" = no publish), message. Returns 1 when it wrote.
constexpr std::string_view k_compare_and_set = R"lua(
local cur = redis.call('GET', KEYS[1])
if (cur == false and ARGV[1] == '') or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
  if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
  return 1
end
return 0
)lua";

// KEYS[1] key, KEYS[2] its "not found" marker (same slot); ARGV: expected
// bytes of the key ("" = absent), the marker's PXAT deadline, channel ("" =
// no publish), message. Replaces the value with the marker only if the key
// still holds the expected bytes. Returns 1 when it wrote.
constexpr std::string_view k_compare_and_mark = R"lua(
local cur = redis.call('GET', KEYS[1])
if (cur == false and ARGV[1] == '') or cur == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], '-', 'PXAT', ARGV[2])
  if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
  return 1
end
return 0
)lua";

// KEYS[1] key; ARGV: the bytes it must hold (a value written, a lock's
// token), channel ("" = no publish), message. Returns 1 when it deleted.
constexpr std::string_view k_delete_if_equals = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
  return 1
end
return 0
)lua";

}  // namespace

std::string RedisStore::lock_key(std::string_view key) const {
  return side_key("\x01lock\x01", key);
}

Status RedisStore::try_lock(std::string_view key, std::string_view token, std::int64_t ttl_ms,
                            bool* acquired) const {
  LockOutcome o = std::move(try_lock_many({&key, 1}, token, ttl_ms)[0]);
  *acquired = o.acquired;
  return o.status;
}

Status RedisStore::unlock(std::string_view key, std::string_view token) const {
  return unlock_many({&key, 1}, token);
}

std::vector<RedisStore::LockOutcome> RedisStore::try_lock_many(
    std::span<const std::string_view> keys, std::string_view token, std::int64_t ttl_ms) const {
  std::vector<LockOutcome> out(keys.size());
  if (keys.empty()) return out;
  const std::string ttl = std::to_string(ttl_ms);
  std::vector<std::string> cmds;
  cmds.reserve(keys.size());
  for (auto key : keys)
    cmds.push_back(format_command({"SET", lock_key(key), token, "NX", "PX", ttl}));
  Result r = exec_(std::move(cmds), keys.size() == 1 ? affinity_of(keys[0]) : CommandClient::k_any);
  // Each key stands on its own reply, as in read_into.
  const bool each = r.replies.size() == keys.size();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!each) {
      out[i].status = {false, r.ok ? "wrong number of replies" : r.error};
    } else if (r.replies[i].is_error()) {
      out[i].status = {false, "redis replied: " + r.replies[i].str};
    } else {
      out[i].status = {true, {}};
      out[i].acquired = r.replies[i].type == Reply::kind::status;  // OK; nil when held
    }
  }
  return out;
}

Status RedisStore::unlock_many(std::span<const std::string_view> keys,
                               std::string_view token) const {
  if (keys.empty()) return {true, {}};
  std::vector<std::string> cmds;
  cmds.reserve(keys.size());
  for (auto key : keys) {
    cmds.push_back(format_command({"EVAL", k_delete_if_equals, "1", lock_key(key), token, "", ""}));
  }
  return run(std::move(cmds), nullptr,
             keys.size() == 1 ? affinity_of(keys[0]) : CommandClient::k_any);
}

void RedisStore::append_write(const WriteRequest& w, std::vector<std::string>* cmds) const {
  if (w.if_equals && w.negative) {
    static_assert(k_marker == "-", "k_compare_and_mark writes the marker's bytes itself");
    cmds->push_back(
        format_command({"EVAL", k_compare_and_mark, "2", full_key(w.key), negative_key(w.key),
                        *w.if_equals, std::to_string(w.expires_at_ms),
                        w.message ? std::string_view(channel_) : std::string_view(),
                        w.message ? std::string_view(*w.message) : std::string_view()}));
    return;
  }
  if (w.if_equals) {
    cmds->push_back(
        format_command({"EVAL", k_compare_and_set, "1", full_key(w.key), *w.if_equals, w.bytes,
                        std::to_string(w.expires_at_ms),
                        w.message ? std::string_view(channel_) : std::string_view(),
                        w.message ? std::string_view(*w.message) : std::string_view()}));
    return;
  }
  const std::string k = w.negative ? negative_key(w.key) : full_key(w.key);
  const std::string at = std::to_string(w.expires_at_ms);
  const std::string_view bytes = w.negative ? k_marker : std::string_view(w.bytes);
  cmds->push_back(w.only_if_absent ? format_command({"SET", k, bytes, "PXAT", at, "NX"})
                                   : format_command({"SET", k, bytes, "PXAT", at}));
  if (w.clear_other) {
    cmds->push_back(format_command({"DEL", w.negative ? full_key(w.key) : negative_key(w.key)}));
  }
  if (w.message) cmds->push_back(format_command({"PUBLISH", channel_, *w.message}));
}

Status RedisStore::write_many(std::span<const WriteRequest> writes,
                              std::vector<WriteOutcome>* each) const {
  if (each != nullptr) each->assign(writes.size(), WriteOutcome{});
  if (writes.empty()) return {true, {}};
  std::vector<std::string> cmds;
  std::vector<std::size_t> first_reply;  // of each write, and one past the last
  first_reply.reserve(writes.size() + 1);
  for (const auto& w : writes) {
    first_reply.push_back(cmds.size());
    append_write(w, &cmds);
  }
  first_reply.push_back(cmds.size());
  Result r = exec_(std::move(cmds),
                   writes.size() == 1 ? affinity_of(writes[0].key) : CommandClient::k_any);
  // Each write stands on its own replies, as each key of read_into does.
  const bool all_replies = r.replies.size() == first_reply.back();
  Status first_error{true, {}};
  for (std::size_t i = 0; i < writes.size(); ++i) {
    Status st{true, {}};
    if (!all_replies) {
      st = {false, r.ok ? "wrong number of replies" : r.error};
    } else {
      for (std::size_t k = first_reply[i]; k < first_reply[i + 1] && st.ok; ++k) {
        if (r.replies[k].is_error()) st = {false, "redis replied: " + r.replies[k].str};
      }
    }
    if (first_error.ok && !st.ok) first_error = st;
    if (each != nullptr) {
      bool applied = st.ok;
      if (applied && writes[i].if_equals) {  // the script's reply: 1 when it wrote
        const Reply& cas = r.replies[first_reply[i]];
        applied = cas.type == Reply::kind::integer && cas.integer == 1;
      }
      (*each)[i] = {std::move(st), applied};
    }
  }
  return first_error;
}

void RedisStore::undo_async(const WriteRequest& w,
                            const std::optional<std::string>& message) const {
  const std::string_view bytes = w.negative ? k_marker : std::string_view(w.bytes);
  exec_async_({format_command({"EVAL", k_delete_if_equals, "1",
                               w.negative ? negative_key(w.key) : full_key(w.key), bytes,
                               message ? std::string_view(channel_) : std::string_view(),
                               message ? std::string_view(*message) : std::string_view()})},
              affinity_of(w.key));
}

Status RedisStore::remove(std::string_view key, const std::optional<std::string>& message) const {
  std::vector<std::string> cmds;
  cmds.push_back(format_command({"DEL", full_key(key)}));
  cmds.push_back(format_command({"DEL", negative_key(key)}));
  if (message) cmds.push_back(format_command({"PUBLISH", channel_, *message}));
  return run(std::move(cmds), nullptr, affinity_of(key));
}

}  // namespace multicache::l2
