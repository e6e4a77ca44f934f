#include "support/redis_cluster.h"

#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "l2/cluster_slots.h"

namespace multicache::test {

namespace {

bool info_has(const l2::Reply& r, const std::string& line) {
  return r.type == l2::Reply::kind::string && r.str.find(line) != std::string::npos;
}

void check(const l2::Reply& r, const std::string& what) {
  if (r.is_error()) throw std::runtime_error(what + ": " + r.str);
}

// True when CLUSTER NODES lists `count` nodes and this node's link to each
// is up (field 8, link-state). A PUBLISH is broadcast over those links only:
// one sent before a link is up never reaches that node's subscribers.
bool links_up(const l2::Reply& nodes, std::size_t count) {
  if (nodes.type != l2::Reply::kind::string) return false;
  std::istringstream lines(nodes.str);
  std::string line;
  std::size_t seen = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::vector<std::string> f(8);
    for (auto& x : f) fields >> x;
    if (f[7] != "connected") return false;
    ++seen;
  }
  return seen == count;
}

}  // namespace

RedisCluster::RedisCluster(RedisClusterOptions options) : options_(options) {
  const int total = options_.primaries * (1 + options_.replicas);
  for (int i = 0; i < total; ++i) {
    RedisServerOptions o;
    o.cluster = true;
    o.cluster_node_timeout_ms = options_.node_timeout_ms;
    nodes_.push_back(std::make_unique<RedisServer>(o));
    ids_.push_back(cmd(static_cast<std::size_t>(i), {"CLUSTER", "MYID"}).str);
  }
  for (int i = 1; i < total; ++i) {
    check(cmd(0, {"CLUSTER", "MEET", "127.0.0.1", std::to_string(nodes_[i]->port())}), "MEET");
  }
  for (int p = 0; p < options_.primaries; ++p) {
    const int first = l2::k_slot_count * p / options_.primaries;
    const int last = l2::k_slot_count * (p + 1) / options_.primaries - 1;
    check(cmd(static_cast<std::size_t>(p),
              {"CLUSTER", "ADDSLOTSRANGE", std::to_string(first), std::to_string(last)}),
          "ADDSLOTSRANGE");
  }
  // Every node must know every other before a replica can name its primary.
  const bool met = eventually(
      [&] {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
          if (!info_has(cmd(i, {"CLUSTER", "INFO"}),
                        "cluster_known_nodes:" + std::to_string(total))) {
            return false;
          }
        }
        return true;
      },
      std::chrono::seconds(20));
  if (!met) throw std::runtime_error("cluster nodes did not meet");
  for (int p = 0; p < options_.primaries; ++p) {
    for (int r = 0; r < options_.replicas; ++r) {
      const std::size_t replica =
          static_cast<std::size_t>(options_.primaries + p * options_.replicas + r);
      // The replica may not have heard of the primary's id yet: retry.
      const bool attached = eventually(
          [&] {
            return !cmd(replica, {"CLUSTER", "REPLICATE", ids_[static_cast<std::size_t>(p)]})
                        .is_error();
          },
          std::chrono::seconds(10));
      if (!attached) throw std::runtime_error("CLUSTER REPLICATE failed");
    }
  }
  if (!wait_healthy(std::chrono::seconds(30))) throw std::runtime_error("cluster not healthy");
  const bool linked = eventually(
      [&] {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
          if (!links_up(cmd(i, {"CLUSTER", "NODES"}), nodes_.size())) return false;
        }
        return true;
      },
      std::chrono::seconds(20));
  if (!linked) throw std::runtime_error("cluster bus links did not come up");
  for (std::size_t i = static_cast<std::size_t>(options_.primaries); i < nodes_.size(); ++i) {
    const bool synced = eventually(
        [&] {
          return info_has(cmd(i, {"INFO", "replication"}), "master_link_status:up");
        },
        std::chrono::seconds(20));
    if (!synced) throw std::runtime_error("cluster replica did not sync");
  }
}

std::string RedisCluster::url(std::vector<std::size_t> seeds) const {
  if (seeds.empty()) {
    for (int p = 0; p < options_.primaries; ++p) seeds.push_back(static_cast<std::size_t>(p));
  }
  std::string u = "redis-cluster://";
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    if (i != 0) u += ",";
    u += "127.0.0.1:" + std::to_string(nodes_[seeds[i]]->port());
  }
  return u;
}

l2::Reply RedisCluster::cmd(std::size_t node, const std::vector<std::string>& args) {
  RedisCli cli(*nodes_[node]);
  return cli.cmd(args);
}

int RedisCluster::owner_of(int slot) {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]->running()) continue;
    try {
      const l2::SlotMap map = l2::parse_cluster_slots(cmd(i, {"CLUSTER", "SLOTS"}), "127.0.0.1");
      const int owner = map.owner[static_cast<std::size_t>(slot)];
      if (owner < 0) return -1;
      for (std::size_t j = 0; j < nodes_.size(); ++j) {
        if (nodes_[j]->port() == map.primaries[static_cast<std::size_t>(owner)].port) {
          return static_cast<int>(j);
        }
      }
      return -1;
    } catch (const std::exception&) {
      continue;
    }
  }
  return -1;
}

bool RedisCluster::wait_healthy(std::chrono::milliseconds limit) {
  return eventually(
      [&] {
        std::string first;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
          if (!nodes_[i]->running()) continue;
          try {
            if (!info_has(cmd(i, {"CLUSTER", "INFO"}), "cluster_state:ok")) return false;
            const l2::SlotMap map =
                l2::parse_cluster_slots(cmd(i, {"CLUSTER", "SLOTS"}), "127.0.0.1");
            if (!map.complete()) return false;
            std::string view;
            for (const auto o : map.owner) {
              view += std::to_string(map.primaries[static_cast<std::size_t>(o)].port) + ",";
            }
            if (first.empty()) first = view;
            if (view != first) return false;
            // A primary killed and not yet failed over still owns slots: it
            // must be a live node.
            for (const auto& p : map.primaries) {
              bool live = false;
              for (const auto& n : nodes_) live = live || (n->running() && n->port() == p.port);
              if (!live) return false;
            }
          } catch (const std::exception&) {
            return false;
          }
        }
        return true;
      },
      limit);
}

std::size_t RedisCluster::add_empty_primary() {
  RedisServerOptions o;
  o.cluster = true;
  o.cluster_node_timeout_ms = options_.node_timeout_ms;
  nodes_.push_back(std::make_unique<RedisServer>(o));
  const std::size_t added = nodes_.size() - 1;
  ids_.push_back(cmd(added, {"CLUSTER", "MYID"}).str);
  check(cmd(0, {"CLUSTER", "MEET", "127.0.0.1", std::to_string(nodes_[added]->port())}), "MEET");
  const std::string known = "cluster_known_nodes:" + std::to_string(nodes_.size());
  const bool met = eventually(
      [&] {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
          if (nodes_[i]->running() && !info_has(cmd(i, {"CLUSTER", "INFO"}), known)) return false;
        }
        return true;
      },
      std::chrono::seconds(20));
  if (!met) throw std::runtime_error("the new node did not meet the cluster");
  if (!wait_healthy(std::chrono::seconds(20))) throw std::runtime_error("cluster not healthy");
  return added;
}

void RedisCluster::move_slot(int slot, std::size_t to, const std::function<void()>& between) {
  const int from_index = owner_of(slot);
  if (from_index < 0) throw std::runtime_error("move_slot: no owner");
  const auto from = static_cast<std::size_t>(from_index);
  if (from == to) return;
  const std::string s = std::to_string(slot);
  check(cmd(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", ids_[from]}), "IMPORTING");
  check(cmd(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", ids_[to]}), "MIGRATING");
  auto migrate = [&](std::size_t batch) {
    const l2::Reply keys = cmd(from, {"CLUSTER", "GETKEYSINSLOT", s, std::to_string(batch)});
    if (keys.elements.empty()) return false;
    std::vector<std::string> args = {"MIGRATE", "127.0.0.1", std::to_string(nodes_[to]->port()),
                                     "",        "0",         "5000",
                                     "REPLACE", "KEYS"};
    for (const auto& k : keys.elements) args.push_back(k.str);
    check(cmd(from, args), "MIGRATE");
    return true;
  };
  if (between) {
    const l2::Reply count = cmd(from, {"CLUSTER", "COUNTKEYSINSLOT", s});
    if (count.integer > 1) migrate(static_cast<std::size_t>(count.integer / 2));
    between();
  }
  while (migrate(100)) {
  }
  // The new owner first, then the old one, then the rest (as redis-cli does).
  check(cmd(to, {"CLUSTER", "SETSLOT", s, "NODE", ids_[to]}), "SETSLOT NODE");
  check(cmd(from, {"CLUSTER", "SETSLOT", s, "NODE", ids_[to]}), "SETSLOT NODE");
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (i != to && i != from && nodes_[i]->running()) {
      (void)cmd(i, {"CLUSTER", "SETSLOT", s, "NODE", ids_[to]});
    }
  }
}

RedisSentinelSet::RedisSentinelSet() {
  servers_.push_back(std::make_unique<RedisServer>());
  RedisServerOptions replica;
  replica.extra_args = {"--replicaof", "127.0.0.1", std::to_string(servers_[0]->port())};
  servers_.push_back(std::make_unique<RedisServer>(replica));
  const bool synced = eventually(
      [&] {
        RedisCli cli(*servers_[1]);
        const l2::Reply r = cli.cmd({"INFO", "replication"});
        return info_has(r, "master_link_status:up");
      },
      std::chrono::seconds(20));
  if (!synced) throw std::runtime_error("sentinel set: replica did not sync");
  for (int i = 0; i < 3; ++i) {
    RedisServerOptions o;
    o.sentinel = true;
    o.sentinel_config = "sentinel monitor mymaster 127.0.0.1 " +
                        std::to_string(servers_[0]->port()) +
                        " 2\n"
                        "sentinel down-after-milliseconds mymaster 1000\n"
                        "sentinel failover-timeout mymaster 5000\n"
                        "sentinel parallel-syncs mymaster 1\n";
    sentinels_.push_back(std::make_unique<RedisServer>(o));
  }
  // Sentinels find the replica and each other through the primary.
  const bool ready = eventually(
      [&] {
        for (auto& s : sentinels_) {
          RedisCli cli(*s);
          const l2::Reply r = cli.cmd({"SENTINEL", "MASTER", "mymaster"});
          bool ok = false;
          for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
            if (r.elements[i].str == "num-slaves" && r.elements[i + 1].str != "1") return false;
            if (r.elements[i].str == "num-other-sentinels" && r.elements[i + 1].str != "2") {
              return false;
            }
            ok = ok || r.elements[i].str == "num-other-sentinels";
          }
          if (!ok) return false;
        }
        return true;
      },
      std::chrono::seconds(30));
  if (!ready) throw std::runtime_error("sentinels did not discover each other");
}

std::string RedisSentinelSet::url() const {
  std::string u = "redis-sentinel://";
  for (std::size_t i = 0; i < sentinels_.size(); ++i) {
    if (i != 0) u += ",";
    u += "127.0.0.1:" + std::to_string(sentinels_[i]->port());
  }
  return u + "/mymaster";
}

int RedisSentinelSet::primary_index() {
  for (auto& s : sentinels_) {
    if (!s->running()) continue;
    RedisCli cli(*s);
    const l2::Reply r = cli.cmd({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"});
    if (r.elements.size() != 2) continue;
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      if (r.elements[1].str == std::to_string(servers_[i]->port())) return static_cast<int>(i);
    }
  }
  return -1;
}

bool RedisSentinelSet::failover(std::chrono::milliseconds limit) {
  const int before = primary_index();
  if (before < 0) return false;
  const auto other = static_cast<std::size_t>(1 - before);
  const bool started = eventually(
      [&] {
        RedisCli cli(*sentinels_[0]);
        return !cli.cmd({"SENTINEL", "FAILOVER", "mymaster"}).is_error();
      },
      std::chrono::seconds(10));
  if (!started) return false;
  return eventually(
      [&] {
        if (primary_index() != static_cast<int>(other)) return false;
        RedisCli cli(*servers_[other]);
        const l2::Reply role = cli.cmd({"ROLE"});
        return !role.elements.empty() && role.elements[0].str == "master";
      },
      limit);
}

}  // namespace multicache::test
