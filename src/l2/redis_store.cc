#include "l2/redis_store.h"

namespace multicache::l2 {

RedisStore::RedisStore(Exec exec, ExecAsync exec_async, std::string key_prefix, std::string channel)
    : exec_(std::move(exec)),
      exec_async_(std::move(exec_async)),
      key_prefix_(std::move(key_prefix)),
      channel_(std::move(channel)) {}

std::string RedisStore::full_key(std::string_view key) const {
  std::string k;
  k.reserve(key_prefix_.size() + key.size());
  k.append(key_prefix_).append(key);
  return k;
}

Status RedisStore::run(std::vector<std::string> commands, std::vector<Reply>* replies) const {
  Result r = exec_(std::move(commands));
  if (!r.ok) return {false, r.error};
  for (const Reply& reply : r.replies) {
    if (reply.is_error()) return {false, "redis replied: " + reply.str};
  }
  if (replies != nullptr) *replies = std::move(r.replies);
  return {true, {}};
}

ReadResult RedisStore::read(std::string_view key) const {
  const std::string k = full_key(key);
  std::vector<Reply> replies;
  ReadResult out;
  out.status = run({format_command({"GET", k}), format_command({"PTTL", k})}, &replies);
  if (!out.status.ok) return out;
  const Reply& get = replies[0];
  const Reply& pttl = replies[1];
  if (get.type == Reply::kind::string) {
    out.bytes = get.str;
  } else if (get.type != Reply::kind::nil) {
    out.status = {false, "unexpected reply type to GET"};
    return out;
  }
  if (pttl.type == Reply::kind::integer) out.pttl_ms = pttl.integer;
  return out;
}

std::vector<std::string> RedisStore::write_commands(std::string_view key, std::string_view bytes,
                                                    std::int64_t expires_at_ms,
                                                    const std::optional<std::string>& message,
                                                    bool only_if_absent) const {
  std::vector<std::string> cmds;
  const std::string k = full_key(key);
  const std::string at = std::to_string(expires_at_ms);
  cmds.push_back(only_if_absent ? format_command({"SET", k, bytes, "PXAT", at, "NX"})
                                : format_command({"SET", k, bytes, "PXAT", at}));
  if (message) cmds.push_back(format_command({"PUBLISH", channel_, *message}));
  return cmds;
}

Status RedisStore::write(std::string_view key, std::string_view bytes, std::int64_t expires_at_ms,
                         const std::optional<std::string>& message, bool only_if_absent) const {
  return run(write_commands(key, bytes, expires_at_ms, message, only_if_absent), nullptr);
}

void RedisStore::write_async(std::string_view key, std::string_view bytes,
                             std::int64_t expires_at_ms, const std::optional<std::string>& message,
                             bool only_if_absent) const {
  exec_async_(write_commands(key, bytes, expires_at_ms, message, only_if_absent));
}

Status RedisStore::remove(std::string_view key, const std::optional<std::string>& message) const {
  std::vector<std::string> cmds;
  cmds.push_back(format_command({"DEL", full_key(key)}));
  if (message) cmds.push_back(format_command({"PUBLISH", channel_, *message}));
  return run(std::move(cmds), nullptr);
}

}  // namespace multicache::l2
