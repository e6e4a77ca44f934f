// l2/sentinel_client.h — commands to the primary that Redis Sentinel names.
//
// A resolver thread asks the sentinels (in turn, until one answers)
// SENTINEL get-master-addr-by-name every poll_interval. Connections resolve
// the primary's address before every connect attempt and check ROLE in their
// handshake, so a connection never settles on a replica. When the answer
// changes (a failover), every connection is dropped and reconnects to the new
// primary, and on_switch runs (the cache resets its subscriber). A READONLY
// error (the old primary, demoted) triggers the same reconnect at once and a
// new question to the sentinels.
//
// Thread-safety: every public member from any thread; mu_ guards the
// primary's address. Ownership: owns the RedisClient and the resolver thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "l2/blocking_call.h"
#include "l2/command_client.h"
#include "l2/redis_client.h"
#include "util/mutex.h"

namespace multicache::l2 {

struct SentinelSettings {
  std::vector<Endpoint> sentinels;  // with the sentinels' password
  std::string master_name;
  Endpoint credentials;           // user, password and db of the data nodes
  ConnectionSettings connection;  // timeouts and log; the endpoint is resolved
  int pool_size = 2;
  std::chrono::milliseconds poll_interval{250};
};

class SentinelClient final : public CommandClient {
 public:
  // Asks the sentinels once before it returns (at most the connect timeout
  // per sentinel), so the first connections go to the right place.
  explicit SentinelClient(SentinelSettings settings);
  ~SentinelClient() override;
  SentinelClient(const SentinelClient&) = delete;
  SentinelClient& operator=(const SentinelClient&) = delete;

  Result execute(std::vector<std::string> commands, std::size_t affinity = k_any) override;
  void submit(std::vector<std::string> commands, Callback done,
              std::size_t affinity = k_any) override;
  bool connected() const override { return client_->connected(); }
  bool wait_connected(std::chrono::milliseconds limit) const override {
    return client_->wait_connected(limit);
  }
  std::uint64_t reconnects() const override { return client_->reconnects(); }
  ReadRounds read_rounds() const override { return client_->read_rounds(); }
  EventLoop& loop() override { return client_->loop(); }
  void stop() override;

  // The primary's address with the data nodes' credentials, once known.
  std::optional<Endpoint> primary() const;
  // fn runs on the resolver thread after each failover it sees.
  void on_switch(std::function<void()> fn) {
    util::MutexLock lock(mu_);
    on_switch_ = std::move(fn);
  }
  std::uint64_t switches() const { return switches_.load(std::memory_order_relaxed); }

 private:
  std::optional<Endpoint> ask_sentinels();
  void resolver_main();
  void saw_result(const Result& r);

  SentinelSettings settings_;
  mutable util::Mutex mu_;
  util::CondVar cv_;
  std::optional<Endpoint> primary_ MC_GUARDED_BY(mu_);
  bool stopping_ MC_GUARDED_BY(mu_) = false;
  bool resolve_now_ MC_GUARDED_BY(mu_) = false;
  std::size_t next_sentinel_ = 0;  // resolver thread (and the constructor before it)
  // No sentinel named the primary at the last ask: the outage was logged once
  // (not at every poll). Resolver thread (and the constructor before it).
  bool unanswered_ = false;
  // The connection to sentinels[sentinel_conn_index_], kept open between
  // polls. Resolver thread (and the constructor before it).
  BlockingConnection sentinel_conn_;
  std::size_t sentinel_conn_index_ = 0;
  std::function<void()> on_switch_ MC_GUARDED_BY(mu_);
  std::atomic<std::int64_t> last_reset_ms_{0};
  std::atomic<std::uint64_t> switches_{0};
  std::atomic<bool> stopped_{false};
  std::unique_ptr<RedisClient> client_;
  std::thread resolver_;
};

}  // namespace multicache::l2
