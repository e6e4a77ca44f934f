// l2/cluster_topology.cc — ClusterClient's view of the cluster: the slot
// map and its refresher thread, the node clients, and what the subscriber
// and health checks ask of them. Routing and redirects are in
// cluster_client.cc.
#include <algorithm>

#include "l2/blocking_call.h"
#include "l2/cluster_client.h"

namespace multicache::l2 {

namespace {

constexpr std::chrono::milliseconds k_min_refresh_gap{100};
constexpr std::chrono::milliseconds k_refresh_while_degraded{250};
constexpr std::chrono::seconds k_redirect_target_life{60};

// One blocking CLUSTER SLOTS against ep (AUTH first when it has a password).
std::optional<SlotMap> ask_slots(const Endpoint& ep, std::chrono::milliseconds timeout,
                                 std::string* why) {
  const std::optional<Reply> r = blocking_command(ep, timeout, {"CLUSTER", "SLOTS"}, why);
  if (!r) return std::nullopt;
  try {
    return parse_cluster_slots(*r, ep.host);
  } catch (const std::exception& e) {
    *why = e.what();
    return std::nullopt;
  }
}

}  // namespace

std::string ClusterClient::node_name(const Endpoint& ep) {
  return ep.host + ":" + std::to_string(ep.port);
}

bool ClusterClient::same_node(const Endpoint& a, const Endpoint& b) {
  return a.host == b.host && a.port == b.port;
}

Endpoint ClusterClient::with_credentials(Endpoint ep) const {
  const Endpoint& creds = settings_.seeds.front();
  ep.user = creds.user;
  ep.password = creds.password;
  ep.db = 0;
  return ep;
}

std::shared_ptr<const ClusterClient::Topology> ClusterClient::topology() const {
  util::MutexLock lock(mu_);
  return topo_;
}

std::shared_ptr<RedisClient> ClusterClient::node_client(const Endpoint& ep) {
  if (stopping_) return nullptr;
  auto& client = nodes_[node_name(ep)];
  if (!client) {
    ClientSettings cs{settings_.connection, settings_.pool_size, settings_.pool_size, nullptr};
    cs.connection.endpoint = with_credentials(ep);
    cs.connection.resolve = nullptr;
    cs.connection.name = "node " + node_name(ep) + " command";
    if (settings_.make_breaker) cs.breaker = settings_.make_breaker(node_name(ep));
    client = std::make_shared<RedisClient>(std::move(cs), loop_.get());
  }
  return client;
}

bool ClusterClient::connected() const {
  auto topo = topology();
  if (!topo) return false;
  for (const auto& c : topo->clients) {
    if (c == nullptr || !c->connected()) return false;
  }
  return true;
}

bool ClusterClient::wait_connected(std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!topology() && !first_refresh_done_.load() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  auto topo = topology();
  if (!topo) return false;
  for (const auto& c : topo->clients) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (c != nullptr) c->wait_connected(std::max(left, std::chrono::milliseconds(0)));
  }
  return connected();
}

std::uint64_t ClusterClient::reconnects() const {
  util::MutexLock lock(mu_);
  std::uint64_t n = 0;
  for (const auto& [name, client] : nodes_) n += client->reconnects();
  return n;
}

CommandClient::ReadRounds ClusterClient::read_rounds() const {
  util::MutexLock lock(mu_);
  ReadRounds sum;
  auto add = [&sum](const RedisClient& c) {
    const ReadRounds r = c.read_rounds();
    sum.rounds += r.rounds;
    sum.combined += r.combined;
  };
  for (const auto& [name, client] : nodes_) add(*client);
  for (const auto& client : retired_) add(*client);
  return sum;
}

resilience::breaker_state ClusterClient::breaker_state() const {
  using resilience::breaker_state;
  util::MutexLock lock(mu_);
  breaker_state worst = breaker_state::closed;
  for (const auto& [name, client] : nodes_) {
    const breaker_state s = client->breaker_state();
    if (s == breaker_state::open) return s;
    if (s == breaker_state::half_open) worst = s;
  }
  return worst;
}

std::optional<Endpoint> ClusterClient::next_node() {
  util::MutexLock lock(mu_);
  if (!gave_first_seed_) {  // the first seed first: where the user points it
    gave_first_seed_ = true;
    subscriber_node_ = with_credentials(settings_.seeds.front());
    return subscriber_node_;
  }
  const std::vector<Endpoint>& list = topo_ ? topo_->map.primaries : settings_.seeds;
  if (list.empty()) return std::nullopt;
  subscriber_node_ = with_credentials(list[next_node_++ % list.size()]);
  return subscriber_node_;
}

void ClusterClient::check_subscriber_node() {
  std::optional<Endpoint> node;
  {
    util::MutexLock lock(mu_);
    if (!on_subscriber_node_gone_) return;  // nobody to move yet: ask again next time
    node = subscriber_node_;
  }
  // After the map is in (a dead or frozen node delays nothing but this): a
  // node that left the cluster knows no slot; an empty primary that is still
  // a member lists everyone's. No answer: the subscriber's own connection
  // fails and moves it.
  std::string why;
  const std::optional<SlotMap> map =
      node ? ask_slots(with_credentials(*node), settings_.connection.connect_timeout, &why)
           : std::nullopt;
  if (!map || !map->primaries.empty()) return;
  std::function<void()> fn;
  {
    util::MutexLock lock(mu_);
    if (!subscriber_node_ || !same_node(*subscriber_node_, *node)) return;  // moved meanwhile
    subscriber_node_.reset();  // named again by the next next_node()
    fn = on_subscriber_node_gone_;
  }
  if (settings_.connection.log) {
    settings_.connection.log(true,
                             "redis cluster: the subscriber's node serves no slot and knows no "
                             "other node (it left the cluster); moving the subscriber");
  }
  if (fn) fn();
}

void ClusterClient::request_refresh() {
  util::MutexLock lock(mu_);
  refresh_wanted_ = true;
  cv_.notify_all();
}

void ClusterClient::patch_slot(int slot, const Endpoint& node) {
  request_refresh();
  util::MutexLock lock(mu_);
  if (!topo_ || stopping_) return;
  named_at_[node_name(node)] = std::chrono::steady_clock::now();
  auto topo = std::make_shared<Topology>(*topo_);
  std::size_t index = 0;
  while (index < topo->map.primaries.size() && !same_node(topo->map.primaries[index], node)) {
    ++index;
  }
  if (index == topo->map.primaries.size()) {
    Endpoint bare;
    bare.host = node.host;
    bare.port = node.port;
    topo->map.primaries.push_back(bare);
    topo->clients.push_back(node_client(bare));
  }
  topo->map.owner[static_cast<std::size_t>(slot)] = static_cast<std::int16_t>(index);
  topo_ = std::move(topo);
}

void ClusterClient::refresher_main() {
  using clock = std::chrono::steady_clock;
  auto last = clock::now() - k_min_refresh_gap;
  while (true) {
    {
      util::MutexLock lock(mu_);
      while (!stopping_ && !refresh_wanted_) {
        // A primary we cannot reach may have failed over: look again soon.
        // (Checked every k_refresh_while_degraded: a node can die while no
        // command goes to it. One whose breaker is not closed counts as out
        // of reach: its frozen connections may still look up.)
        bool reachable = topo_ != nullptr;
        for (std::size_t i = 0; reachable && i < topo_->clients.size(); ++i) {
          reachable = topo_->clients[i] != nullptr && topo_->clients[i]->connected() &&
                      topo_->clients[i]->breaker_state() == resilience::breaker_state::closed;
        }
        const auto now = clock::now();
        const auto due = last + (reachable ? settings_.refresh_interval : k_refresh_while_degraded);
        if (now >= due) break;
        cv_.wait_until(mu_, std::min(due, now + k_refresh_while_degraded),
                       [&]() MC_REQUIRES(mu_) { return stopping_ || refresh_wanted_; });
      }
      // At most one refresh per k_min_refresh_gap, however many ask.
      cv_.wait_until(mu_, last + k_min_refresh_gap, [&]() MC_REQUIRES(mu_) { return stopping_; });
      if (stopping_) return;
      refresh_wanted_ = false;
    }
    last = clock::now();
    if (!refresh_once()) request_refresh();  // keep trying, k_min_refresh_gap apart
  }
}

bool ClusterClient::refresh_once() {
  // Ask the primaries we can reach first, then the rest, then the seeds.
  std::vector<Endpoint> candidates;
  std::vector<Endpoint> unreachable;
  if (auto topo = topology()) {
    for (std::size_t i = 0; i < topo->map.primaries.size(); ++i) {
      auto& list = topo->clients[i] && topo->clients[i]->connected() ? candidates : unreachable;
      list.push_back(topo->map.primaries[i]);
    }
  }
  candidates.insert(candidates.end(), unreachable.begin(), unreachable.end());
  candidates.insert(candidates.end(), settings_.seeds.begin(), settings_.seeds.end());
  std::string why;
  for (const auto& node : candidates) {
    std::optional<SlotMap> map =
        ask_slots(with_credentials(node), settings_.connection.connect_timeout, &why);
    if (!map || map->primaries.empty()) continue;
    std::vector<std::shared_ptr<RedisClient>> dropped;
    {
      util::MutexLock lock(mu_);
      if (stopping_) return true;
      auto topo = std::make_shared<Topology>();
      topo->map = std::move(*map);
      for (const auto& p : topo->map.primaries) topo->clients.push_back(node_client(p));
      // A node that serves no slot stays while it is still making its first
      // connect or a redirect named it in the last k_redirect_target_life (a
      // new primary that owns no slot yet is reached by ASK alone); else it
      // goes (a failed-over primary, a node removed from the cluster).
      const auto now = std::chrono::steady_clock::now();
      for (auto it = nodes_.begin(); it != nodes_.end();) {
        const bool serves =
            std::any_of(topo->map.primaries.begin(), topo->map.primaries.end(),
                        [&](const Endpoint& p) { return node_name(p) == it->first; });
        const auto named = named_at_.find(it->first);
        const bool named_lately =
            named != named_at_.end() && now - named->second < k_redirect_target_life;
        if (serves || named_lately || it->second->starting()) {
          ++it;
        } else {
          named_at_.erase(it->first);
          dropped.push_back(std::move(it->second));
          it = nodes_.erase(it);
        }
      }
      topo_ = std::move(topo);
    }
    // Stopped, but kept until stop(): a caller holding an older topology may
    // still post to one of them, and the loop must find it alive.
    for (auto& c : dropped) c->stop();
    {
      util::MutexLock lock(mu_);
      for (auto& c : dropped) retired_.push_back(std::move(c));
    }
    refreshes_.fetch_add(1, std::memory_order_relaxed);
    first_refresh_done_.store(true);
    refresh_failing_ = false;
    check_subscriber_node();
    return true;
  }
  first_refresh_done_.store(true);
  if (!refresh_failing_ && settings_.connection.log) {  // once per outage, not every retry
    refresh_failing_ = true;
    settings_.connection.log(true, "redis cluster: no node answered CLUSTER SLOTS: " + why);
  }
  return false;
}

}  // namespace multicache::l2
