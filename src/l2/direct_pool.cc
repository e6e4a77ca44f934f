#include "l2/direct_pool.h"

#include <hiredis/hiredis.h>

#include <cerrno>
#include <chrono>

namespace multicache::l2 {

namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

timeval to_timeval(std::chrono::milliseconds d) {
  return {static_cast<time_t>(d.count() / 1000),
          static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

// The command name of a RESP-formatted command ("*N\r\n$len\r\nNAME\r\n...").
std::string_view command_name(std::string_view cmd) {
  const std::size_t dollar = cmd.find('$');
  if (dollar == std::string_view::npos) return {};
  const std::size_t start = cmd.find("\r\n", dollar);
  if (start == std::string_view::npos) return {};
  const std::size_t end = cmd.find("\r\n", start + 2);
  if (end == std::string_view::npos) return {};
  return cmd.substr(start + 2, end - start - 2);
}

}  // namespace

DirectPool::DirectPool(ConnectionSettings settings, int size) : settings_(std::move(settings)) {
  for (int i = 0; i < size; ++i) slots_.push_back(std::make_unique<Slot>());
}

DirectPool::~DirectPool() {
  for (auto& s : slots_) {
    util::MutexLock lock(s->mu);
    close(*s);
  }
}

bool DirectPool::read_only(const std::vector<std::string>& commands) {
  for (const auto& c : commands) {
    const std::string_view name = command_name(c);
    if (name != "GET" && name != "PTTL" && name != "EXISTS") return false;
  }
  return !commands.empty();
}

void DirectPool::close(Slot& slot) {
  if (slot.ctx != nullptr) redisFree(slot.ctx);
  slot.ctx = nullptr;
}

bool DirectPool::connect(Slot& slot) {
  const std::int64_t now = steady_ms();
  if (now < slot.retry_after_ms) return false;
  slot.retry_after_ms = now + 1000;  // until this attempt succeeds
  Endpoint ep = settings_.endpoint;
  if (settings_.resolve) {
    if (auto r = settings_.resolve()) ep = std::move(*r);
  }
  const timeval connect_tv = to_timeval(settings_.connect_timeout);
  redisContext* c = ep.is_unix() ? redisConnectUnixWithTimeout(ep.unix_path.c_str(), connect_tv)
                                 : redisConnectWithTimeout(ep.host.c_str(), ep.port, connect_tv);
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) redisFree(c);
    return false;
  }
  redisSetTimeout(c, to_timeval(settings_.command_timeout));
  auto ok = [&](redisReply* r, bool want_primary) {
    bool good = r != nullptr && r->type != REDIS_REPLY_ERROR;
    if (good && want_primary) {
      good = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
             r->element[0]->type == REDIS_REPLY_STRING &&
             std::string_view(r->element[0]->str, r->element[0]->len) == "master";
    }
    if (r != nullptr) freeReplyObject(r);
    return good;
  };
  bool good = true;
  if (!ep.password.empty()) {
    good = ep.user.empty() ? ok(static_cast<redisReply*>(redisCommand(
                                    c, "AUTH %b", ep.password.data(), ep.password.size())),
                                false)
                           : ok(static_cast<redisReply*>(
                                    redisCommand(c, "AUTH %b %b", ep.user.data(), ep.user.size(),
                                                 ep.password.data(), ep.password.size())),
                                false);
  }
  if (good && ep.db != 0) {
    good = ok(static_cast<redisReply*>(redisCommand(c, "SELECT %d", ep.db)), false);
  }
  if (good && settings_.require_primary) {
    good = ok(static_cast<redisReply*>(redisCommand(c, "ROLE")), true);
  }
  if (!good) {
    redisFree(c);
    return false;
  }
  slot.ctx = c;
  slot.generation = generation_.load(std::memory_order_acquire);
  slot.retry_after_ms = 0;
  return true;
}

std::optional<Result> DirectPool::try_execute(const std::vector<std::string>& commands,
                                              std::size_t hint) {
  const std::size_t n = slots_.size();
  for (std::size_t i = 0; i < n; ++i) {
    Slot& slot = *slots_[(hint + i) % n];
    if (!slot.mu.try_lock()) continue;
    util::MutexLock lock(slot.mu, std::adopt_lock);
    if (slot.ctx != nullptr && slot.generation != generation_.load(std::memory_order_acquire)) {
      close(slot);  // the endpoint changed (a new primary)
    }
    if (slot.ctx == nullptr && !connect(slot)) continue;
    for (const auto& cmd : commands) {
      redisAppendFormattedCommand(slot.ctx, cmd.data(), cmd.size());
    }
    Result result;
    result.replies.reserve(commands.size());
    for (std::size_t k = 0; k < commands.size(); ++k) {
      void* raw = nullptr;
      if (redisGetReply(slot.ctx, &raw) != REDIS_OK || raw == nullptr) {
        const bool timed_out = slot.ctx->err == REDIS_ERR_IO && (errno == EAGAIN);
        result.error = timed_out ? "command timeout" : "connection lost";
        result.replies.clear();
        close(slot);  // a late reply must never answer a later command
        return result;
      }
      auto* r = static_cast<redisReply*>(raw);
      result.replies.push_back(Reply::from_hiredis(r));
      freeReplyObject(r);
    }
    result.ok = true;
    return result;
  }
  return std::nullopt;
}

}  // namespace multicache::l2
