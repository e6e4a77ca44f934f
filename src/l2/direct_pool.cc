#include "l2/direct_pool.h"

#include <hiredis/hiredis.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>

#include "l2/blocking_call.h"

namespace multicache::l2 {

namespace {

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

DirectPool::~DirectPool() { close_all(); }

void DirectPool::close_all() {
  for (auto& s : slots_) {
    util::MutexLock lock(s->mu);
    close(*s);
    s->retry_after_ms = INT64_MAX;  // no more connects
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

namespace {

using steady = std::chrono::steady_clock;

enum class outcome { ok, timeout, closed };

std::chrono::milliseconds left(steady::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
}

// Sends the commands (MSG_NOSIGNAL: a dead peer is an error, not SIGPIPE)
// and reads one reply per command, all before deadline. A reply already in
// hiredis's buffer is taken without a syscall; before a read that may block,
// the socket's receive timeout is set to what is left of the deadline when
// that differs from its current setting (*timeout_ms) by more than a
// millisecond, so the common call, which starts with a full budget, costs no
// setsockopt.
outcome round_trip(redisContext* c, const std::vector<std::string>& commands,
                   steady::time_point deadline, std::vector<Reply>* replies,
                   std::int64_t* timeout_ms) {
  std::string out;
  for (const auto& cmd : commands) out += cmd;
  std::size_t sent = 0;
  while (sent < out.size()) {
    if (left(deadline).count() <= 0) return outcome::timeout;
    const ssize_t n = ::send(c->fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? outcome::timeout : outcome::closed;
    }
    sent += static_cast<std::size_t>(n);
  }
  for (std::size_t k = 0; k < commands.size(); ++k) {
    void* raw = nullptr;
    if (redisReaderGetReply(c->reader, &raw) != REDIS_OK) return outcome::closed;
    if (raw == nullptr) {
      const auto remaining = left(deadline);
      if (remaining.count() <= 0) return outcome::timeout;
      if (remaining.count() + 1 < *timeout_ms || remaining.count() > *timeout_ms + 1) {
        redisSetTimeout(c, to_timeval(remaining));
        *timeout_ms = remaining.count();
      }
      if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
        const bool timed_out = c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
        return timed_out ? outcome::timeout : outcome::closed;
      }
    }
    auto* r = static_cast<redisReply*>(raw);
    replies->push_back(Reply::from_hiredis(r));
    freeReplyObject(r);
  }
  return outcome::ok;
}

}  // namespace

bool DirectPool::connect(Slot& slot, steady::time_point deadline) {
  const std::int64_t now = steady_ms();
  if (now < slot.retry_after_ms) return false;
  slot.retry_after_ms = now + 1000;  // until this attempt succeeds
  // The generation first: a reset() from here on makes this connection old.
  const std::uint64_t generation = generation_.load(std::memory_order_acquire);
  Endpoint ep = settings_.endpoint;
  if (settings_.resolve) {
    if (auto r = settings_.resolve()) ep = std::move(*r);
  }
  const auto budget = std::min(settings_.connect_timeout, left(deadline));
  if (budget.count() <= 0) return false;
  redisContext* c = ep.is_unix()
                        ? redisConnectUnixWithTimeout(ep.unix_path.c_str(), to_timeval(budget))
                        : redisConnectWithTimeout(ep.host.c_str(), ep.port, to_timeval(budget));
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) redisFree(c);
    return false;
  }
  std::vector<std::string> handshake;
  if (!ep.password.empty()) {
    handshake.push_back(ep.user.empty() ? format_command({"AUTH", ep.password})
                                        : format_command({"AUTH", ep.user, ep.password}));
  }
  if (ep.db != 0) handshake.push_back(format_command({"SELECT", std::to_string(ep.db)}));
  if (settings_.require_primary) handshake.push_back(format_command({"ROLE"}));
  std::vector<Reply> replies;
  std::int64_t timeout_ms = INT64_MAX;  // none set on the socket yet
  bool good =
      handshake.empty() || round_trip(c, handshake, deadline, &replies, &timeout_ms) == outcome::ok;
  for (std::size_t i = 0; good && i < replies.size(); ++i) {
    const Reply& r = replies[i];
    const bool is_role = settings_.require_primary && i + 1 == replies.size();
    if (is_role) {  // NOPERM: not allowed to check (see ConnectionSettings)
      good = (r.is_error() && r.str.starts_with("NOPERM")) ||
             (r.type == Reply::kind::array && !r.elements.empty() && r.elements[0].str == "master");
    } else {
      good = !r.is_error();
    }
  }
  if (!good) {
    redisFree(c);
    return false;
  }
  redisSetTimeout(c, to_timeval(settings_.command_timeout));  // round_trip lowers it as needed
  slot.timeout_ms = settings_.command_timeout.count();
  slot.ctx = c;
  slot.generation = generation;
  slot.retry_after_ms = 0;
  return true;
}

std::optional<Result> DirectPool::try_execute(const std::vector<std::string>& commands,
                                              std::size_t hint, steady::time_point deadline) {
  const std::size_t n = slots_.size();
  for (std::size_t i = 0; i < n; ++i) {
    Slot& slot = *slots_[(hint + i) % n];
    if (!slot.mu.try_lock()) continue;
    util::MutexLock lock(slot.mu, std::adopt_lock);
    if (slot.ctx != nullptr && slot.generation != generation_.load(std::memory_order_acquire)) {
      close(slot);  // the endpoint changed (a new primary)
    }
    const bool fresh = slot.ctx == nullptr;
    // At most one connect per call, within the caller's deadline; if it
    // fails fast the loop takes the read, if it ran out of time so does the call.
    if (fresh && !connect(slot, deadline)) {
      if (left(deadline).count() > 0) return std::nullopt;
      Result timed_out;  // the connect used the caller's whole budget
      timed_out.error = "command timeout";
      return timed_out;
    }
    Result result;
    result.replies.reserve(commands.size());
    const outcome o = round_trip(slot.ctx, commands, deadline, &result.replies, &slot.timeout_ms);
    if (o == outcome::ok) {
      result.ok = true;
      return result;
    }
    close(slot);  // a late reply must never answer a later command
    // An idle connection the server closed (CLIENT KILL, its idle timeout):
    // the read is safe to repeat, so the loop takes it.
    if (o == outcome::closed && !fresh && result.replies.empty()) return std::nullopt;
    result.replies.clear();
    result.error = o == outcome::timeout ? "command timeout" : "connection lost";
    return result;
  }
  return std::nullopt;
}

}  // namespace multicache::l2
