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

bool BlockingConnection::open(const Endpoint& ep, std::chrono::milliseconds timeout,
                              std::string* why) {
  close();
  const timeval tv = to_timeval(timeout);
  ctx_ = redisConnectWithTimeout(ep.host.c_str(), ep.port, tv);
  if (ctx_ == nullptr || ctx_->err != 0) {
    *why = ctx_ != nullptr ? ctx_->errstr : "out of memory";
    close();
    return false;
  }
  redisSetTimeout(ctx_, tv);
  if (!ep.password.empty()) {
    const bool authed = ep.user.empty() ? command({"AUTH", ep.password}, why).has_value()
                                        : command({"AUTH", ep.user, ep.password}, why).has_value();
    if (!authed) {
      close();
      return false;
    }
  }
  return true;
}

std::optional<Reply> BlockingConnection::command(const std::vector<std::string_view>& args,
                                                 std::string* why) {
  if (ctx_ == nullptr) {
    *why = "not connected";
    return std::nullopt;
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (auto a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (r == nullptr) {  // an I/O error or a timeout: the connection is unusable
    *why = ctx_->errstr;
    close();
    return std::nullopt;
  }
  Reply out = Reply::from_hiredis(r);
  freeReplyObject(r);
  if (out.is_error()) {
    *why = out.str;
    return std::nullopt;
  }
  return out;
}

void BlockingConnection::close() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

std::optional<Reply> blocking_command(const Endpoint& ep, std::chrono::milliseconds timeout,
                                      const std::vector<std::string_view>& args, std::string* why) {
  BlockingConnection c;
  if (!c.open(ep, timeout, why)) return std::nullopt;
  return c.command(args, why);
}

}  // namespace multicache::l2
