#include "l2/direct_pool.h"

#include <hiredis/hiredis.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <iterator>
#include <thread>

#include "l2/blocking_call.h"
#include "l2/reply_reader.h"
#include "util/one_shot_event.h"

namespace multicache::l2 {

using steady = std::chrono::steady_clock;

// One caller's pipeline, from its try_execute() to its answer.
struct DirectPool::Waiter {
  using state = wait_state;
  // Its commands: a leader's are read from its caller's vector (the caller
  // is in try_execute until its round ends); a caller that queues joins them
  // into out first, as it may return (deadline) while its round is sent.
  const std::vector<std::string>* commands = nullptr;
  std::string out;        // joined (queued callers only)
  std::size_t count = 0;  // how many
  steady::time_point deadline;
  state st = state::queued;  // its slot's mu
  // done or declined: set by its round's leader in run_round (before it
  // publishes it as st under the slot's mu), read by that leader.
  state verdict = state::declined;
  Result result;             // written by its round's leader before st becomes done
  util::OneShotEvent event;  // set once st is lead, done or declined
};

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
    for (;;) {
      std::deque<WaiterPtr> queued;
      bool closed = false;
      {
        util::MutexLock lock(s->mu);
        s->closed = true;  // no new rounds; a round in progress ends by its deadline
        if (!s->leading) {
          close(*s);
          queued.swap(s->queue);
          for (auto& w : queued) w->st = wait_state::declined;
          closed = true;
        }
      }
      for (auto& w : queued) w->event.set();
      if (closed) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

std::size_t DirectPool::queued() const {
  std::size_t n = 0;
  for (auto& s : slots_) {
    util::MutexLock lock(s->mu);
    n += s->queue.size();
  }
  return n;
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

enum class outcome { ok, timeout, closed };

// The most a thread's wire buffer keeps between rounds (a batch read of many
// keys may need more; such a buffer is let go at the thread's next round).
constexpr std::size_t k_kept_wire = 64 * 1024;

// A pipeline's commands, back to back, as they go on the wire.
std::string joined(const std::vector<std::string>& commands) {
  std::size_t size = 0;
  for (const auto& cmd : commands) size += cmd.size();
  std::string out;
  out.reserve(size);
  for (const auto& cmd : commands) out += cmd;
  return out;
}

std::chrono::milliseconds left(steady::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
}

// Sends the formatted pipeline `out` (MSG_NOSIGNAL: a dead peer is an
// error, not SIGPIPE) and reads `count` replies, all before deadline. A reply already in
// hiredis's buffer is taken without a syscall; before a read that may block,
// the socket's receive timeout is set to what is left of the deadline when
// that differs from its current setting (*timeout_ms) by more than a
// millisecond, so the common call, which starts with a full budget, costs no
// setsockopt.
outcome round_trip(redisContext* c, std::string_view out, std::size_t count,
                   steady::time_point deadline, std::vector<Reply>* replies,
                   std::int64_t* timeout_ms) {
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
  const std::size_t base = replies->size();
  const ReplyTarget target(c->reader, replies);  // the reader appends each reply to *replies
  std::size_t k = 0;
  // Only the replies the reader completed count; a partial last one goes.
  const auto fail = [&](outcome o) {
    replies->resize(base + k);
    return o;
  };
  for (; k < count; ++k) {
    void* raw = nullptr;
    if (redisReaderGetReply(c->reader, &raw) != REDIS_OK) return fail(outcome::closed);
    if (raw == nullptr) {
      const auto remaining = left(deadline);
      if (remaining.count() <= 0) return fail(outcome::timeout);
      if (remaining.count() + 1 < *timeout_ms || remaining.count() > *timeout_ms + 1) {
        redisSetTimeout(c, to_timeval(remaining));
        *timeout_ms = remaining.count();
      }
      if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
        const bool timed_out = c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
        return fail(timed_out ? outcome::timeout : outcome::closed);
      }
    }
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
  if (budget.count() <= 0 || !ep.known()) return false;
  redisContext* c = ep.is_unix()
                        ? redisConnectUnixWithTimeout(ep.unix_path.c_str(), to_timeval(budget))
                        : redisConnectWithTimeout(ep.host.c_str(), ep.port, to_timeval(budget));
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) redisFree(c);
    return false;
  }
  build_replies_in_place(c->reader);  // round_trip reads through a ReplyTarget
  std::vector<std::string> handshake;
  if (!ep.password.empty()) {
    handshake.push_back(ep.user.empty() ? format_command({"AUTH", ep.password})
                                        : format_command({"AUTH", ep.user, ep.password}));
  }
  if (ep.db != 0) handshake.push_back(format_command({"SELECT", std::to_string(ep.db)}));
  if (settings_.require_primary) handshake.push_back(format_command({"ROLE"}));
  std::vector<Reply> replies;
  std::int64_t timeout_ms = INT64_MAX;  // none set on the socket yet
  bool good = handshake.empty() || round_trip(c, joined(handshake), handshake.size(), deadline,
                                              &replies, &timeout_ms) == outcome::ok;
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
  if (n == 0 || commands.empty()) return std::nullopt;
  auto me = std::make_shared<Waiter>();
  me->commands = &commands;
  me->count = commands.size();
  me->deadline = deadline;
  // Each thread starts from a connection of its own (the threads spread
  // evenly over them), so callers that overlap keep meeting on the same one.
  static std::atomic<std::size_t> threads_seen{0};
  thread_local const std::size_t thread_slot = threads_seen.fetch_add(1, std::memory_order_relaxed);
  const std::size_t first = hint == CommandClient::k_any ? thread_slot : hint;
  // An idle connection: lead a round on it.
  for (std::size_t i = 0; i < n; ++i) {
    Slot& slot = *slots_[(first + i) % n];
    bool mine = false;
    {
      util::MutexLock lock(slot.mu);
      if (slot.closed) return std::nullopt;
      if (!slot.leading) mine = slot.leading = true;
    }
    if (mine) return lead(slot, me);
  }
  // All busy: join the next round of the first one tried.
  me->out = joined(commands);
  Slot& slot = *slots_[first % n];
  bool mine = false;
  {
    util::MutexLock lock(slot.mu);
    if (slot.closed) return std::nullopt;
    if (slot.leading) {
      slot.queue.push_back(me);
    } else {
      mine = slot.leading = true;  // its round ended meanwhile
    }
  }
  return mine ? lead(slot, me) : follow(slot, me);
}

std::optional<Result> DirectPool::follow(Slot& slot, const WaiterPtr& me) {
  const bool woken = me->event.wait_until(me->deadline, settings_.spin_wait);
  wait_state st;
  WaiterPtr next;
  {
    util::MutexLock lock(slot.mu);
    st = me->st;
    if (!woken && st == wait_state::queued) {
      slot.queue.erase(std::find(slot.queue.begin(), slot.queue.end(), me));
    } else if (!woken && st == wait_state::lead) {
      next = pass_lead(slot);  // the lead came with the deadline: hand it on
    }
  }
  if (next) next->event.set();
  if (st == wait_state::done) return std::move(me->result);
  if (st == wait_state::lead && woken) return lead(slot, me);
  if (st == wait_state::declined && left(me->deadline).count() > 0) return std::nullopt;
  Result timed_out;  // still queued, or sent in a round that is not over
  timed_out.error = "command timeout";
  return timed_out;
}

std::optional<Result> DirectPool::lead(Slot& slot, const WaiterPtr& me) {
  // The calling thread's own buffer (a thread leads one round at a time):
  // kept between its rounds, so a round allocates no vector.
  thread_local std::vector<WaiterPtr> buffer;
  std::vector<WaiterPtr>& round = buffer;
  struct Release {  // the round's waiters are let go however lead() ends
    std::vector<WaiterPtr>& r;
    ~Release() { r.clear(); }
  } release{round};
  round.push_back(me);
  {
    util::MutexLock lock(slot.mu);
    if (slot.closed) {  // the lead was handed on as close_all() began
      slot.leading = false;
      return std::nullopt;
    }
    for (auto& w : slot.queue) {
      w->st = wait_state::taken;
      round.push_back(std::move(w));
    }
    slot.queue.clear();
  }
  rounds_.fetch_add(1, std::memory_order_relaxed);
  combined_.fetch_add(round.size() - 1, std::memory_order_relaxed);
  run_round(slot, round);
  WaiterPtr next;
  {
    util::MutexLock lock(slot.mu);
    for (std::size_t k = 1; k < round.size(); ++k) round[k]->st = round[k]->verdict;
    next = pass_lead(slot);
  }
  // The next round first: its leader writes while this one's callers wake.
  if (next) next->event.set();
  for (std::size_t k = 1; k < round.size(); ++k) round[k]->event.set();
  if (me->verdict == wait_state::declined) return std::nullopt;
  return std::move(me->result);
}

DirectPool::WaiterPtr DirectPool::pass_lead(Slot& slot) {
  if (slot.closed || slot.queue.empty()) {
    slot.leading = false;
    return nullptr;
  }
  WaiterPtr next = std::move(slot.queue.front());
  slot.queue.pop_front();
  next->st = wait_state::lead;
  return next;
}

void DirectPool::run_round(Slot& slot, const std::vector<WaiterPtr>& round) {
  using state = wait_state;
  for (const auto& w : round) w->verdict = state::declined;
  Waiter& leader = *round[0];
  if (slot.ctx != nullptr && slot.generation != generation_.load(std::memory_order_acquire)) {
    close(slot);  // the endpoint changed (a new primary)
  }
  const bool fresh = slot.ctx == nullptr;
  // At most one connect per round, within the leader's deadline; if it fails
  // fast the loop takes the reads, if it ran out of time so does the leader.
  if (fresh && !connect(slot, leader.deadline)) {
    if (left(leader.deadline).count() <= 0) {
      leader.result.error = "command timeout";
      leader.verdict = state::done;
    }
    return;
  }
  // The round's commands as they go on the wire, in the calling thread's
  // buffer: kept between its rounds (up to k_kept_wire bytes), so a round
  // allocates no string.
  thread_local std::string wire;
  wire.clear();
  if (wire.capacity() > k_kept_wire) wire.shrink_to_fit();
  std::size_t count = 0;
  for (const auto& w : round) {
    count += w->count;
    if (!w->out.empty()) {
      wire += w->out;  // joined when it queued
    } else {
      for (const auto& cmd : *w->commands) wire += cmd;  // the leader's own, never queued
    }
  }
  std::vector<Reply> replies;
  replies.reserve(count);
  const outcome o = round_trip(slot.ctx, wire, count, leader.deadline, &replies, &slot.timeout_ms);
  std::size_t at = 0;
  for (std::size_t k = 0; k < round.size() && at + round[k]->count <= replies.size(); ++k) {
    Result& r = round[k]->result;
    r.ok = true;
    if (round.size() == 1) {
      r.replies = std::move(replies);  // a lone caller's: all of them, no copy
    } else {
      r.replies.assign(std::make_move_iterator(replies.begin() + static_cast<std::ptrdiff_t>(at)),
                       std::make_move_iterator(replies.begin() +
                                               static_cast<std::ptrdiff_t>(at + round[k]->count)));
    }
    at += round[k]->count;
    round[k]->verdict = state::done;
  }
  if (o == outcome::ok) return;
  close(slot);  // a late reply must never answer a later command
  // The others of the round that are not answered go to the loop (declined).
  // The leader: an idle connection the server closed (CLIENT KILL, its idle
  // timeout) is safe to repeat on the loop; a timeout or a loss mid-read is
  // its answer.
  if (leader.verdict != state::done && !(o == outcome::closed && !fresh && replies.empty())) {
    leader.result.error = o == outcome::timeout ? "command timeout" : "connection lost";
    leader.verdict = state::done;
  }
}

}  // namespace multicache::l2
