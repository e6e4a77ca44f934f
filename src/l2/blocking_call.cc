#include "l2/blocking_call.h"

#include <hiredis/hiredis.h>

namespace multicache::l2 {

timeval to_timeval(std::chrono::milliseconds d) {
  return {static_cast<time_t>(d.count() / 1000),
          static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::optional<Reply> blocking_command(const Endpoint& ep, std::chrono::milliseconds timeout,
                                      const std::vector<std::string_view>& args, std::string* why) {
  const timeval tv = to_timeval(timeout);
  redisContext* c = redisConnectWithTimeout(ep.host.c_str(), ep.port, tv);
  if (c == nullptr || c->err != 0) {
    *why = c != nullptr ? c->errstr : "out of memory";
    if (c != nullptr) redisFree(c);
    return std::nullopt;
  }
  redisSetTimeout(c, tv);
  auto command = [&](const std::vector<std::string_view>& argv_in) -> std::optional<Reply> {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (auto a : argv_in) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r == nullptr) {
      *why = c->errstr;
      return std::nullopt;
    }
    Reply out = Reply::from_hiredis(r);
    freeReplyObject(r);
    if (out.is_error()) {
      *why = out.str;
      return std::nullopt;
    }
    return out;
  };
  std::optional<Reply> out;
  bool authed = true;
  if (!ep.password.empty()) {
    authed = ep.user.empty() ? command({"AUTH", ep.password}).has_value()
                             : command({"AUTH", ep.user, ep.password}).has_value();
  }
  if (authed) out = command(args);
  redisFree(c);
  return out;
}

}  // namespace multicache::l2
