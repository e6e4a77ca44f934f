// l2/cluster_client.h — commands to a Redis Cluster, routed by hash slot.
//
// The slot map comes from CLUSTER SLOTS, asked of the seed nodes (then of
// the known primaries) by a refresher thread: at start, every
// refresh_interval (every 250 ms while a primary cannot be reached or its
// breaker is not closed), and soon after anything suggests the map is stale
// (a MOVED, a node that cannot be reached, CLUSTERDOWN; not a breaker's
// rejection). Each primary gets a RedisClient (pool_size
// connections) on one shared event loop.
//
// A pipeline is split by node: each command goes to the primary of its
// key's slot, and a command without a key (PUBLISH) goes with the keyed
// command before it, so it runs after that command on the same connection.
// The parts run in parallel and the replies come back in the caller's order.
// Redirects are followed inside the caller's deadline: MOVED patches the map
// and re-sends; ASK re-sends once to the named node behind ASKING (a node met
// this way gets a client at once, and its commands wait for its first
// connect); a keyless command of a redirected part is sent again after the
// redirected commands. At most 5 redirect rounds per pipeline. A node that
// serves no slot keeps its client while it is connecting or for 60 s after
// a redirect named it; dropped clients are stopped and freed in stop().
//
// Routing and redirects: cluster_client.cc; the slot map, the refresher and
// the node clients: cluster_topology.cc.
//
// Thread-safety: every public member from any thread. mu_ guards the
// topology and the node table; the refresher never holds mu_ during I/O.
// Ownership: owns the loop, the node clients and the refresher thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "l2/cluster_slots.h"
#include "l2/command_client.h"
#include "l2/redis_client.h"
#include "util/mutex.h"

namespace multicache::l2 {

struct ClusterSettings {
  std::vector<Endpoint> seeds;    // with the data nodes' credentials
  ConnectionSettings connection;  // timeouts and log; the endpoint is per node
  int pool_size = 2;              // connections per primary
  std::chrono::milliseconds refresh_interval{5000};
  // When set, called once per node client ("host:port") for the breaker that
  // guards that node alone (ClientSettings::breaker): a node that stops
  // answering is skipped at once while its breaker is open, and the other
  // nodes' commands go on. Its part of a pipeline then fails with
  // k_breaker_open, as a node down would (without asking for a refresh of
  // the slot map; while a breaker is not closed the map is refreshed as
  // often as while a primary cannot be reached). Runs under mu_: it must not
  // call into this client.
  std::function<std::shared_ptr<resilience::CircuitBreaker>(const std::string& node)> make_breaker;
};

class ClusterClient final : public CommandClient {
 public:
  explicit ClusterClient(ClusterSettings settings);
  ~ClusterClient() override;
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  Result execute(std::vector<std::string> commands, std::size_t affinity = k_any) override;
  void submit(std::vector<std::string> commands, Callback done,
              std::size_t affinity = k_any) override;
  // The slot map is known and every primary in it has a ready connection.
  bool connected() const override;
  bool wait_connected(std::chrono::milliseconds limit) const override;
  std::uint64_t reconnects() const override;
  ReadRounds read_rounds() const override;  // over every node, dropped ones included
  resilience::breaker_state breaker_state() const override;  // the worst of the current nodes
  EventLoop& loop() override { return *loop_; }
  void stop() override;

  // Where the subscriber attaches next: the first seed the first time, then
  // the known primaries (or the seeds) in turn, so a subscriber whose node
  // died moves to another.
  std::optional<Endpoint> next_node();
  // fn runs (on the refresher thread; keep it quick) when the node next_node()
  // last named answers CLUSTER SLOTS with no slots at all: it left the
  // cluster (del-node resets it) but still runs, so a subscriber there would
  // hear no more invalidations. Asked after each successful refresh.
  void on_subscriber_node_gone(std::function<void()> fn) {
    util::MutexLock lock(mu_);
    on_subscriber_node_gone_ = std::move(fn);
  }
  void request_refresh();
  std::uint64_t redirects() const override { return redirects_.load(std::memory_order_relaxed); }
  std::uint64_t refreshes() const { return refreshes_.load(std::memory_order_relaxed); }

 private:
  struct Op;
  struct Topology {
    SlotMap map;
    std::vector<std::shared_ptr<RedisClient>> clients;  // parallel to map.primaries
  };

  std::shared_ptr<const Topology> topology() const;
  std::shared_ptr<RedisClient> node_client(const Endpoint& ep) MC_REQUIRES(mu_);
  void route(const std::shared_ptr<Op>& op, const std::vector<std::size_t>& indexes);
  void send(const std::shared_ptr<Op>& op, const std::shared_ptr<RedisClient>& client,
            std::vector<std::size_t> indexes, bool asking);
  void on_replies(const std::shared_ptr<Op>& op, const std::vector<std::size_t>& indexes,
                  bool asking, Result r);
  void patch_slot(int slot, const Endpoint& node);
  void refresher_main();
  bool refresh_once();
  // Refresher thread, after a refresh: runs on_subscriber_node_gone_ if the
  // subscriber's node left the cluster.
  void check_subscriber_node();
  Endpoint with_credentials(Endpoint ep) const;
  static std::string node_name(const Endpoint& ep);  // "host:port"
  static bool same_node(const Endpoint& a, const Endpoint& b);

  ClusterSettings settings_;
  std::unique_ptr<EventLoop> loop_;
  mutable util::Mutex mu_;
  util::CondVar cv_;
  std::shared_ptr<const Topology> topo_ MC_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<RedisClient>> nodes_ MC_GUARDED_BY(mu_);  // "host:port"
  std::size_t next_node_ MC_GUARDED_BY(mu_) = 1;  // after the first seed
  bool gave_first_seed_ MC_GUARDED_BY(mu_) = false;
  std::optional<Endpoint> subscriber_node_ MC_GUARDED_BY(mu_);  // next_node()'s last answer
  std::function<void()> on_subscriber_node_gone_ MC_GUARDED_BY(mu_);
  // When a redirect last named each node (see refresh_once).
  std::map<std::string, std::chrono::steady_clock::time_point> named_at_ MC_GUARDED_BY(mu_);
  // Node clients dropped from nodes_: stopped, freed in stop() after the loop.
  std::vector<std::shared_ptr<RedisClient>> retired_ MC_GUARDED_BY(mu_);
  bool refresh_wanted_ MC_GUARDED_BY(mu_) = true;
  bool stopping_ MC_GUARDED_BY(mu_) = false;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> first_refresh_done_{false};
  std::atomic<std::uint64_t> redirects_{0};
  std::atomic<std::uint64_t> refreshes_{0};
  bool refresh_failing_ = false;  // refresher thread only
  std::thread refresher_;
};

}  // namespace multicache::l2
