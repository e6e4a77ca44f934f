#include "l2/sentinel_client.h"

#include "l2/blocking_call.h"
#include "util/signals.h"

namespace multicache::l2 {

namespace {

// SENTINEL get-master-addr-by-name on a connection to a sentinel; nullopt if
// it does not answer or does not know the name.
std::optional<Endpoint> ask_one(BlockingConnection& sentinel, const std::string& name,
                                std::string* why) {
  const std::optional<Reply> r =
      sentinel.command({"SENTINEL", "get-master-addr-by-name", name}, why);
  if (!r) return std::nullopt;
  if (r->type != Reply::kind::array || r->elements.size() != 2 ||
      r->elements[0].type != Reply::kind::string || r->elements[1].type != Reply::kind::string) {
    *why = "the sentinel does not know master \"" + name + "\"";
    return std::nullopt;
  }
  Endpoint ep;
  ep.host = r->elements[0].str;
  try {
    ep.port = std::stoi(r->elements[1].str);
  } catch (const std::exception&) {
    *why = "bad port in the sentinel's answer";
    return std::nullopt;
  }
  return ep;
}

}  // namespace

SentinelClient::SentinelClient(SentinelSettings settings) : settings_(std::move(settings)) {
  {
    // On a thread of the library's own, which ignores SIGPIPE (util/signals.h).
    std::optional<Endpoint> first;
    std::thread([&] {
      util::block_sigpipe_in_this_thread();
      first = ask_sentinels();
    }).join();
    util::MutexLock lock(mu_);
    primary_ = std::move(first);
  }
  ClientSettings cs{settings_.connection, settings_.pool_size, settings_.pool_size, nullptr};
  cs.connection.resolve = [this] { return primary(); };
  cs.connection.require_primary = true;
  if (auto p = primary()) cs.connection.endpoint = *p;
  client_ = std::make_unique<RedisClient>(std::move(cs));
  resolver_ = std::thread([this] {
    util::block_sigpipe_in_this_thread();
    resolver_main();
  });
}

SentinelClient::~SentinelClient() { stop(); }

void SentinelClient::stop() {
  if (stopped_.exchange(true)) return;
  {
    util::MutexLock lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (resolver_.joinable()) resolver_.join();
  client_->stop();
}

std::optional<Endpoint> SentinelClient::primary() const {
  util::MutexLock lock(mu_);
  return primary_;
}

std::optional<Endpoint> SentinelClient::ask_sentinels() {
  std::string why;
  const std::size_t n = settings_.sentinels.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t at = (next_sentinel_ + i) % n;
    // The connection to the sentinel that answered last stays open between
    // polls (a new one every poll_interval was a connection a second or more
    // from every instance to the sentinels).
    if (!sentinel_conn_.is_open() || sentinel_conn_index_ != at) {
      sentinel_conn_index_ = at;
      if (!sentinel_conn_.open(settings_.sentinels[at], settings_.connection.connect_timeout,
                               &why)) {
        continue;
      }
    }
    auto ep = ask_one(sentinel_conn_, settings_.master_name, &why);
    if (!ep) {
      sentinel_conn_.close();  // on to the next sentinel, on a new connection
      continue;
    }
    next_sentinel_ = at;  // stay with the one that answers
    ep->user = settings_.credentials.user;
    ep->password = settings_.credentials.password;
    ep->db = settings_.credentials.db;
    if (unanswered_ && settings_.connection.log) {
      settings_.connection.log(
          false, "redis sentinel: the primary of \"" + settings_.master_name + "\" is known again");
    }
    unanswered_ = false;
    return ep;
  }
  // Once per outage: the resolver asks again every poll_interval.
  if (!unanswered_ && settings_.connection.log) {
    settings_.connection.log(true, "redis sentinel: no sentinel named the primary of \"" +
                                       settings_.master_name + "\": " + why +
                                       " (asking again every " +
                                       std::to_string(settings_.poll_interval.count()) + " ms)");
  }
  unanswered_ = true;
  return std::nullopt;
}

void SentinelClient::resolver_main() {
  while (true) {
    {
      util::MutexLock lock(mu_);
      cv_.wait_until(mu_, std::chrono::steady_clock::now() + settings_.poll_interval,
                     [&]() MC_REQUIRES(mu_) { return stopping_ || resolve_now_; });
      if (stopping_) return;
      resolve_now_ = false;
    }
    auto answer = ask_sentinels();
    if (!answer) continue;
    std::function<void()> notify;
    {
      util::MutexLock lock(mu_);
      if (primary_ && primary_->host == answer->host && primary_->port == answer->port) continue;
      primary_ = std::move(answer);
      notify = on_switch_;
    }
    switches_.fetch_add(1, std::memory_order_relaxed);
    if (settings_.connection.log) {
      settings_.connection.log(false, "redis sentinel: primary of \"" + settings_.master_name +
                                          "\" is now " + primary()->describe());
    }
    last_reset_ms_.store(steady_ms());
    client_->reset_connections();
    if (notify) notify();
  }
}

void SentinelClient::saw_result(const Result& r) {
  bool readonly = false;
  for (const auto& reply : r.replies) {
    readonly = readonly || (reply.is_error() && reply.str.starts_with("READONLY"));
  }
  if (!readonly) return;
  // The primary we talk to was demoted: reconnect (at most every 200 ms)
  // and ask the sentinels now.
  const std::int64_t now = steady_ms();
  std::int64_t last = last_reset_ms_.load();
  if (now - last >= 200 && last_reset_ms_.compare_exchange_strong(last, now)) {
    client_->reset_connections();
  }
  util::MutexLock lock(mu_);
  resolve_now_ = true;
  cv_.notify_all();
}

Result SentinelClient::execute(std::vector<std::string> commands, std::size_t affinity) {
  Result r = client_->execute(std::move(commands), affinity);
  saw_result(r);
  return r;
}

void SentinelClient::submit(std::vector<std::string> commands, Callback done,
                            std::size_t affinity) {
  client_->submit(
      std::move(commands),
      [this, done = std::move(done)](Result r) {
        saw_result(r);
        if (done) done(std::move(r));
      },
      affinity);
}

}  // namespace multicache::l2
