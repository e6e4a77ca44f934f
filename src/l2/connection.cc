// l2/connection.cc — see connection.h for the state machine.
//
// hiredis 0.14 facts this file relies on:
//   - the connect callback must be set after the adapter is attached (it arms
//     the write event that detects the connection);
//   - a failed connect calls onConnect(REDIS_ERR) and frees the context itself,
//     without onDisconnect;
//   - redisAsyncFree runs every pending reply callback with a null reply, every
//     subscribe callback with a null reply, then onDisconnect if it had
//     connected; inside a hiredis callback it only marks the context, so this
//     file frees contexts only from timers and posted tasks.
#include "l2/connection.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>

#include "l2/reply.h"

namespace multicache::l2 {

struct Connection::Pending {
  Connection* conn;
  ReplyFn fn;
  bool tracked;
};

Connection::Connection(EventLoop& loop, ConnectionSettings settings)
    : loop_(loop),
      settings_(std::move(settings)),
      connect_timer_(loop,
                     [this] {
                       if (state_ == state::connecting || state_ == state::handshaking) {
                         lost("connect timeout", true);
                       }
                     }),
      reconnect_timer_(loop,
                       [this] {
                         if (state_ == state::disconnected) connect();
                       }),
      overdue_timer_(loop, [this] { check_overdue(); }),
      fail_timer_(loop, [this] {
        if (ac_ != nullptr && ac_ == failing_ac_) lost(failing_why_, true);
      }) {}

Connection::~Connection() {
  loop_.cancel_after_tasks(this);
  shutdown();
}

std::int64_t Connection::now_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Connection::start() {
  if (state_ == state::disconnected) connect();
}

void Connection::shutdown() {
  if (state_ == state::closed) return;
  state_ = state::closed;
  reconnect_timer_.cancel();
  lost("shutdown", true);
}

void Connection::reset(std::string_view why) {
  if (state_ == state::closed) return;
  if (state_ != state::disconnected) lost(why, true);
  backoff_ = std::chrono::milliseconds(0);
  reconnect_timer_.cancel();
  connect();
}

void Connection::connect() {
  state_ = state::connecting;
  if (settings_.resolve) {
    if (auto ep = settings_.resolve()) settings_.endpoint = std::move(*ep);
  }
  const Endpoint& ep = settings_.endpoint;
  if (!ep.known()) {
    lost("no address yet: no sentinel has named the primary", false);
    return;
  }
  redisAsyncContext* ac = ep.is_unix() ? redisAsyncConnectUnix(ep.unix_path.c_str())
                                       : redisAsyncConnect(ep.host.c_str(), ep.port);
  if (ac == nullptr || ac->err) {
    std::string why = ac != nullptr && ac->errstr != nullptr ? ac->errstr : "out of memory";
    if (ac != nullptr) redisAsyncFree(ac);
    lost("connect failed: " + why, false);
    return;
  }
  ac_ = ac;
  ac->data = this;
  redisLibeventAttach(ac, loop_.base());
  redisAsyncSetDisconnectCallback(ac, &Connection::on_disconnect_cb);
  redisAsyncSetConnectCallback(ac, &Connection::on_connect_cb);
  connect_timer_.arm(settings_.connect_timeout);
}

void Connection::on_connect_cb(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<Connection*>(ac->data);
  if (self == nullptr || self->ac_ != ac) return;
  if (status != REDIS_OK) {
    std::string why = ac->errstr != nullptr ? ac->errstr : "unknown error";
    self->ac_ = nullptr;  // hiredis frees it after this callback
    self->lost("connect failed: " + why, false);
    return;
  }
  // TCP keepalive detects a peer that vanished without closing (a half-open
  // connection) in about 11 s: notably for the subscriber, which only listens.
  if (ac->c.connection_type == REDIS_CONN_TCP) {
    const int fd = ac->c.fd;
    int on = 1, idle = 5, interval = 2, count = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  }
  self->handshake();
}

void Connection::handshake() {
  state_ = state::handshaking;
  const Endpoint& ep = settings_.endpoint;
  std::vector<std::string> cmds;
  if (!ep.password.empty()) {
    cmds.push_back(ep.user.empty() ? format_command({"AUTH", ep.password})
                                   : format_command({"AUTH", ep.user, ep.password}));
  }
  if (ep.db != 0) cmds.push_back(format_command({"SELECT", std::to_string(ep.db)}));
  if (settings_.require_primary) cmds.push_back(format_command({"ROLE"}));
  // Nothing to say: PING, so that a server refusing this client (maxclients,
  // a password it wants) fails the attempt. Any other error (PING renamed or
  // denied by an ACL, LOADING) still means the server talks to us.
  const bool ping = cmds.empty();
  if (ping) cmds.push_back(format_command({"PING"}));
  auto remaining = std::make_shared<std::size_t>(cmds.size());
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    const std::string& cmd = cmds[i];
    const bool is_role = settings_.require_primary && i + 1 == cmds.size();
    auto* p = new Pending{this, nullptr, false};
    p->fn = [this, remaining, is_role, ping, ac = ac_](const redisReply* r) {
      if (ac_ != ac || state_ != state::handshaking) return;
      // ROLE is an @admin command: a user without that right cannot check;
      // READONLY replies (SentinelClient) still catch a demoted primary.
      const bool role_refused = is_role && r != nullptr && r->type == REDIS_REPLY_ERROR &&
                                std::string_view(r->str, r->len).starts_with("NOPERM");
      const bool ping_answered =
          ping && r != nullptr &&
          (r->type != REDIS_REPLY_ERROR ||
           !(std::string_view(r->str, r->len).starts_with("NOAUTH") ||
             std::string_view(r->str, r->len).starts_with("ERR max number of clients")));
      if (ping_answered) {
        if (--*remaining == 0) become_ready();
        return;
      }
      if (!role_refused && (r == nullptr || r->type == REDIS_REPLY_ERROR)) {
        std::string why = r != nullptr ? std::string(r->str, r->len) : "connection lost";
        fail_soon("handshake failed: " + why);  // inside a hiredis callback: not here
        return;
      }
      if (is_role && !role_refused &&
          (r->type != REDIS_REPLY_ARRAY || r->elements == 0 ||
           r->element[0]->type != REDIS_REPLY_STRING ||
           std::string_view(r->element[0]->str, r->element[0]->len) != "master")) {
        fail_soon("not a primary (ROLE); resolving again");
        return;
      }
      if (--*remaining == 0) become_ready();
    };
    if (redisAsyncFormattedCommand(ac_, &Connection::on_reply_cb, p, cmd.data(), cmd.size()) !=
        REDIS_OK) {
      delete p;
      fail_soon("handshake could not be sent");  // inside onConnect: not here
      return;
    }
  }
}

void Connection::fail_soon(std::string why) {
  // A timer owned by this connection: it cannot outlive it, unlike a posted task.
  failing_ac_ = ac_;
  failing_why_ = std::move(why);
  fail_timer_.arm(std::chrono::microseconds(0));
}

void Connection::become_ready() {
  connect_timer_.cancel();
  state_ = state::ready;
  ready_since_us_ = now_us();
  if (ever_ready_) reconnects_.fetch_add(1, std::memory_order_relaxed);
  if (outage_logged_ && settings_.log) {
    settings_.log(false, "redis " + settings_.name + " " + settings_.endpoint.describe() +
                             (ever_ready_ ? ": connected again after " : ": connected after ") +
                             std::to_string(failures_) +
                             (failures_ == 1 ? " failure" : " failures"));
  }
  outage_logged_ = false;
  ever_ready_ = true;
  ready_.store(true, std::memory_order_release);
  if (on_ready_) on_ready_();
}

void Connection::lost(std::string_view why, bool free_context) {
  const bool was_ready = ready_.exchange(false, std::memory_order_acq_rel);
  if (was_ready && now_us() - ready_since_us_ >= k_stable_us) {  // a new outage
    failures_ = 0;
    backoff_ = std::chrono::milliseconds(0);
  }
  connect_timer_.cancel();
  overdue_timer_.cancel();
  fail_timer_.cancel();
  inflight_sent_us_.clear();
  redisAsyncContext* ac = ac_;
  ac_ = nullptr;
  const bool closing = state_ == state::closed;
  if (!closing) state_ = state::disconnected;
  if (free_context && ac != nullptr) redisAsyncFree(ac);  // pending callbacks get null
  // An outage is logged at its first failure, then every k_log_every_failures
  // attempts (about a minute apart at the longest backoff), and when the
  // connection is back: not at every attempt.
  if (!closing && settings_.log && failures_ % k_log_every_failures == 0) {
    std::string line = "redis " + settings_.name + " " + settings_.endpoint.describe() + ": ";
    line += why;
    if (failures_ != 0) line += " (" + std::to_string(failures_ + 1) + " failures in a row)";
    settings_.log(true, line);
    outage_logged_ = true;
  }
  if (!closing) ++failures_;
  if (on_lost_ && !closing) on_lost_(was_ready);
  if (!closing) schedule_reconnect();
}

void Connection::schedule_reconnect() {
  using std::chrono::milliseconds;
  backoff_ = backoff_.count() == 0 ? milliseconds(50) : std::min(backoff_ * 2, milliseconds(2000));
  reconnect_timer_.arm(backoff_);
}

void Connection::on_disconnect_cb(const redisAsyncContext* ac, int) {
  auto* self = static_cast<Connection*>(ac->data);
  if (self == nullptr || self->ac_ != ac) return;  // we freed it ourselves
  std::string why = ac->err != 0 && ac->errstr != nullptr ? ac->errstr : "closed by server";
  self->ac_ = nullptr;  // hiredis frees it after this callback
  self->lost("disconnected: " + why, false);
}

bool Connection::send(std::string_view formatted, ReplyFn fn, bool tracked) {
  if (state_ != state::ready || ac_ == nullptr) return false;
  auto* p = new Pending{this, std::move(fn), tracked};
  if (redisAsyncFormattedCommand(ac_, &Connection::on_reply_cb, p, formatted.data(),
                                 formatted.size()) != REDIS_OK) {
    delete p;
    return false;
  }
  if (tracked) {
    if (inflight_sent_us_.empty()) overdue_timer_.arm(settings_.command_timeout);
    inflight_sent_us_.push_back(now_us());
  }
  // Sent from a posted task: written once every task of this wake-up has
  // queued its commands. Otherwise hiredis writes when the socket is
  // reported writable, a loop turn later.
  if (!flush_queued_) flush_queued_ = loop_.after_tasks(this, &Connection::flush);
  return true;
}

void Connection::flush(void* self) {
  auto* c = static_cast<Connection*>(self);
  c->flush_queued_ = false;
  // A write error disconnects: on_disconnect_cb runs, as from the loop's own write.
  if (c->ac_ != nullptr && c->state_ == state::ready) redisAsyncHandleWrite(c->ac_);
}

bool Connection::send_subscribe(std::string_view formatted, ReplyFn* fn) {
  if (state_ != state::ready || ac_ == nullptr) return false;
  return redisAsyncFormattedCommand(ac_, &Connection::on_subscribe_cb, fn, formatted.data(),
                                    formatted.size()) == REDIS_OK;
}

void Connection::on_reply_cb(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* p = static_cast<Pending*>(privdata);
  Connection* self = p->conn;
  if (p->tracked && self->ac_ == ac && !self->inflight_sent_us_.empty()) {
    self->inflight_sent_us_.pop_front();
  }
  if (p->fn) p->fn(static_cast<const redisReply*>(reply));
  delete p;
}

void Connection::on_subscribe_cb(redisAsyncContext*, void* reply, void* privdata) {
  auto* fn = static_cast<ReplyFn*>(privdata);
  if (fn != nullptr && *fn) (*fn)(static_cast<const redisReply*>(reply));
}

void Connection::check_overdue() {
  if (inflight_sent_us_.empty() || state_ != state::ready) return;
  const std::int64_t timeout_us =
      std::chrono::duration_cast<std::chrono::microseconds>(settings_.command_timeout).count();
  const std::int64_t age = now_us() - inflight_sent_us_.front();
  if (age >= timeout_us) {
    lost("reply overdue by more than the command timeout; dropping the connection", true);
    return;
  }
  overdue_timer_.arm(std::chrono::microseconds(timeout_us - age + 1000));
}

}  // namespace multicache::l2
