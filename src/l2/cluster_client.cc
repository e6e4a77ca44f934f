#include "l2/cluster_client.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <utility>

#include "l2/blocking_call.h"
#include "l2/direct_pool.h"
#include "l2/pending_result.h"
#include "util/signals.h"

namespace multicache::l2 {

namespace {

constexpr int k_max_redirect_rounds = 5;
constexpr std::chrono::milliseconds k_min_refresh_gap{100};
constexpr std::chrono::milliseconds k_refresh_while_degraded{250};
constexpr std::chrono::seconds k_redirect_target_life{60};

std::string node_name(const Endpoint& ep) { return ep.host + ":" + std::to_string(ep.port); }

bool same_node(const Endpoint& a, const Endpoint& b) {
  return a.host == b.host && a.port == b.port;
}

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

struct ClusterClient::Op {
  Op(std::vector<std::string> cmds, std::size_t aff, Callback on_done)
      : commands(std::move(cmds)), affinity(aff), result(commands.size(), std::move(on_done)) {
    slots.reserve(commands.size());
    for (const auto& c : commands) slots.push_back(slot_of_command(c));
  }
  const std::vector<std::string> commands;  // immutable: read by any thread
  std::vector<int> slots;                   // per command; -1: no key. Immutable.
  const std::size_t affinity;
  PendingResult result;
  std::atomic<int> redirect_rounds{0};
};

ClusterClient::ClusterClient(ClusterSettings settings)
    : settings_(std::move(settings)), loop_(std::make_unique<EventLoop>()) {
  refresher_ = std::thread([this] {
    util::block_sigpipe_in_this_thread();
    refresher_main();
  });
}

ClusterClient::~ClusterClient() { stop(); }

void ClusterClient::stop() {
  if (stopped_.exchange(true)) return;
  {
    util::MutexLock lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (refresher_.joinable()) refresher_.join();
  std::map<std::string, std::shared_ptr<RedisClient>> nodes;
  {
    util::MutexLock lock(mu_);
    nodes.swap(nodes_);
    topo_.reset();
  }
  for (auto& [name, client] : nodes) client->stop();  // fails what is in flight
  loop_->stop();
  util::MutexLock lock(mu_);
  retired_.clear();  // nothing can post to them now
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
    ClientSettings cs{settings_.connection, settings_.pool_size, settings_.pool_size};
    cs.connection.endpoint = with_credentials(ep);
    cs.connection.resolve = nullptr;
    cs.connection.name = "node " + node_name(ep) + " command";
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

std::optional<Endpoint> ClusterClient::next_node() {
  util::MutexLock lock(mu_);
  if (!gave_first_seed_) {  // the first seed first: where the user points it
    gave_first_seed_ = true;
    return with_credentials(settings_.seeds.front());
  }
  const std::vector<Endpoint>& list = topo_ ? topo_->map.primaries : settings_.seeds;
  if (list.empty()) return std::nullopt;
  return with_credentials(list[next_node_++ % list.size()]);
}

void ClusterClient::request_refresh() {
  util::MutexLock lock(mu_);
  refresh_wanted_ = true;
  cv_.notify_all();
}

Result ClusterClient::execute(std::vector<std::string> commands, std::size_t affinity) {
  Result result;
  if (commands.empty()) {
    result.ok = true;
    return result;
  }
  if (stopped_.load(std::memory_order_acquire)) {
    result.error = "client stopped";
    return result;
  }
  // A read about one node: straight to its client (which may use a direct
  // connection); a redirect sends it down the general path below.
  const auto deadline = std::chrono::steady_clock::now() + settings_.connection.command_timeout;
  if (DirectPool::read_only(commands)) {
    if (auto topo = topology()) {
      int owner = -1;
      for (const auto& c : commands) {
        const int slot = slot_of_command(c);
        const int o = slot < 0 ? -1 : topo->map.owner[static_cast<std::size_t>(slot)];
        if (o < 0 || (owner >= 0 && o != owner)) {
          owner = -1;
          break;
        }
        owner = o;
      }
      if (owner >= 0 && topo->clients[static_cast<std::size_t>(owner)] != nullptr) {
        Result r =
            topo->clients[static_cast<std::size_t>(owner)]->execute(commands, affinity, deadline);
        if (!r.ok) request_refresh();
        for (const Reply& x : r.replies) {
          if (x.is_error() && (x.str.starts_with("CLUSTERDOWN") || x.str.starts_with("TRYAGAIN"))) {
            request_refresh();
          }
        }
        bool redirected = false;
        for (const Reply& x : r.replies) {
          Redirect redirect;
          if (!x.is_error() || !parse_redirect(x.str, &redirect)) continue;
          redirected = true;
          redirects_.fetch_add(1, std::memory_order_relaxed);
          if (!redirect.ask) patch_slot(redirect.slot, redirect.node);
        }
        if (!redirected) return r;
        // On to the general path, within what is left of the same deadline.
      }
    }
  }
  auto op = std::make_shared<Op>(std::move(commands), affinity, nullptr);
  std::vector<std::size_t> all(op->commands.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  route(op, all);
  return op->result.wait_until(deadline);
}

void ClusterClient::submit(std::vector<std::string> commands, Callback done, std::size_t affinity) {
  if (commands.empty() || stopped_.load(std::memory_order_acquire)) {
    Result early;
    early.ok = commands.empty();
    if (!early.ok) early.error = "client stopped";
    if (done) done(std::move(early));
    return;
  }
  auto op = std::make_shared<Op>(std::move(commands), affinity, std::move(done));
  std::vector<std::size_t> all(op->commands.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  route(op, all);
}

void ClusterClient::route(const std::shared_ptr<Op>& op, const std::vector<std::size_t>& indexes) {
  auto topo = topology();
  if (!topo || topo->clients.empty()) {
    request_refresh();
    op->result.fail(stopped_.load() ? "client stopped" : "cluster slot map not known yet");
    return;
  }
  const std::size_t n = topo->clients.size();
  std::vector<std::vector<std::size_t>> parts(n);
  int last = -1;
  for (const std::size_t i : indexes) {
    int owner;
    const int slot = op->slots[i];
    if (slot >= 0) {
      owner = topo->map.owner[static_cast<std::size_t>(slot)];
    } else if (last >= 0) {
      owner = last;  // a PUBLISH runs after the write before it
    } else {
      owner = static_cast<int>(op->affinity == k_any ? 0 : op->affinity % n);
    }
    if (owner < 0) {
      request_refresh();
      op->result.fail("no cluster node serves slot " + std::to_string(slot));
      return;
    }
    last = owner;
    parts[static_cast<std::size_t>(owner)].push_back(i);
  }
  for (std::size_t o = 0; o < n; ++o) {
    if (!parts[o].empty()) send(op, topo->clients[o], std::move(parts[o]), false);
  }
}

void ClusterClient::send(const std::shared_ptr<Op>& op, const std::shared_ptr<RedisClient>& client,
                         std::vector<std::size_t> indexes, bool asking) {
  if (client == nullptr) {
    op->result.fail("client stopped");
    return;
  }
  std::vector<std::string> cmds;
  cmds.reserve(indexes.size() * (asking ? 2 : 1));
  for (const std::size_t i : indexes) {
    if (asking) cmds.push_back(format_command({"ASKING"}));
    cmds.push_back(op->commands[i]);
  }
  client->submit(
      std::move(cmds),
      [this, op, indexes = std::move(indexes), asking](Result r) {
        on_replies(op, indexes, asking, std::move(r));
      },
      op->affinity);
}

void ClusterClient::on_replies(const std::shared_ptr<Op>& op,
                               const std::vector<std::size_t>& indexes, bool asking, Result r) {
  if (!r.ok) {
    request_refresh();  // a node that cannot be reached: the map may be stale
    op->result.fail(r.error);
    return;
  }
  std::vector<std::size_t> moved;
  std::vector<std::pair<Endpoint, std::vector<std::size_t>>> asks;
  std::vector<std::pair<std::size_t, Reply>> answered;
  for (std::size_t k = 0; k < indexes.size(); ++k) {
    Reply& reply = r.replies[asking ? 2 * k + 1 : k];
    const std::size_t i = indexes[k];
    Redirect redirect;
    if (reply.is_error() && parse_redirect(reply.str, &redirect)) {
      redirects_.fetch_add(1, std::memory_order_relaxed);
      if (redirect.ask) {
        auto it = std::find_if(asks.begin(), asks.end(),
                               [&](const auto& a) { return same_node(a.first, redirect.node); });
        if (it == asks.end()) it = asks.insert(asks.end(), {redirect.node, {}});
        it->second.push_back(i);
      } else {
        patch_slot(redirect.slot, redirect.node);
        moved.push_back(i);
      }
      continue;
    }
    if (reply.is_error() &&
        (reply.str.starts_with("CLUSTERDOWN") || reply.str.starts_with("TRYAGAIN"))) {
      request_refresh();
    }
    answered.emplace_back(i, std::move(reply));
  }
  if (moved.empty() && asks.empty()) {
    for (auto& [i, reply] : answered) op->result.set(i, std::move(reply));
    return;
  }
  if (op->redirect_rounds.fetch_add(1) >= k_max_redirect_rounds) {
    op->result.fail("too many cluster redirects");
    return;
  }
  // A keyless command (PUBLISH) of this part goes again, after the
  // redirected commands, so it still follows the write it announces.
  std::vector<std::size_t> again;
  for (auto& [i, reply] : answered) {
    if (op->slots[i] < 0) {
      again.push_back(i);
    } else {
      op->result.set(i, std::move(reply));
    }
  }
  if (!moved.empty()) {
    moved.insert(moved.end(), again.begin(), again.end());
    again.clear();
    route(op, moved);
  }
  for (auto& [node, idx] : asks) {
    idx.insert(idx.end(), again.begin(), again.end());
    again.clear();
    std::shared_ptr<RedisClient> client;
    {
      util::MutexLock lock(mu_);
      client = node_client(node);
      named_at_[node_name(node)] = std::chrono::steady_clock::now();
    }
    send(op, client, std::move(idx), true);
  }
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
        // command goes to it.)
        bool reachable = topo_ != nullptr;
        for (std::size_t i = 0; reachable && i < topo_->clients.size(); ++i) {
          reachable = topo_->clients[i] != nullptr && topo_->clients[i]->connected();
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
