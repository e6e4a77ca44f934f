#include "l2/cluster_client.h"

#include <algorithm>
#include <utility>

#include "l2/direct_pool.h"
#include "l2/pending_result.h"
#include "util/signals.h"

namespace multicache::l2 {

namespace {

constexpr int k_max_redirect_rounds = 5;

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

Result ClusterClient::execute(std::vector<std::string> commands, std::size_t affinity) {
  if (auto early = answer_without_sending(commands, stopped_.load(std::memory_order_acquire))) {
    return *early;
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
        if (!r.ok && r.error != k_breaker_open) request_refresh();
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
  // Partial: the replies of the nodes that answered in time stand, so a
  // batch read loses only a stalled node's keys.
  return op->result.wait_until(deadline, settings_.connection.spin_wait, /*partial=*/true);
}

void ClusterClient::submit(std::vector<std::string> commands, Callback done, std::size_t affinity) {
  if (auto early = answer_without_sending(commands, stopped_.load(std::memory_order_acquire))) {
    if (done) done(std::move(*early));
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
    // A node that cannot be reached: the map may be stale (its breaker's
    // rejections say nothing new).
    if (r.error != k_breaker_open) request_refresh();
    // Only this node's commands fail: the other nodes' replies still count
    // (a batch read over many slots loses only the slots of the node down).
    op->result.fail_some(indexes, r.error);
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

}  // namespace multicache::l2
