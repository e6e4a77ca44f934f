// support/redis_cluster.h — a private Redis Cluster, and a private
// Sentinel-managed primary/replica set, for one test.
//
// RedisCluster starts `primaries` cluster-enabled redis-servers (plus
// `replicas` per primary) on free loopback ports, joins them with CLUSTER
// MEET, spreads the 16384 slots evenly over the primaries with
// CLUSTER ADDSLOTSRANGE, attaches replicas with CLUSTER REPLICATE, and waits
// until every node reports cluster_state:ok. It can move a slot the way
// `redis-cli --cluster reshard` does (IMPORTING/MIGRATING, MIGRATE, SETSLOT
// NODE), and reports who serves a slot.
//
// RedisSentinelSet starts a primary, one replica and three sentinels
// monitoring them as "mymaster" (quorum 2, down-after 1 s).
//
// Not thread-safe: drive them from one test thread. Destructors kill all.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/redis_server.h"

namespace multicache::test {

struct RedisClusterOptions {
  int primaries = 3;
  int replicas = 0;  // per primary
  // A node drops and reopens its bus link to a peer that has not answered a
  // ping for half of this, and a PUBLISH broadcast while a link is down is
  // lost. 5 s keeps the links up through the stalls of a loaded 2-core
  // machine running sanitizer builds; tests that wait for a failover set it
  // low themselves.
  int node_timeout_ms = 5000;
};

class RedisCluster {
 public:
  explicit RedisCluster(RedisClusterOptions options = {});

  // redis-cluster://127.0.0.1:p,... with the given nodes as seeds (default: all primaries).
  std::string url(std::vector<std::size_t> seeds = {}) const;
  std::size_t size() const { return nodes_.size(); }
  RedisServer& node(std::size_t i) { return *nodes_[i]; }
  const std::string& node_id(std::size_t i) const { return ids_[i]; }
  l2::Reply cmd(std::size_t node, const std::vector<std::string>& args);

  // Index of the node serving `slot`, asked of a running node (-1: none).
  int owner_of(int slot);
  // Every running node reports cluster_state:ok and agrees on who owns
  // every slot; false if that does not happen within limit.
  bool wait_healthy(std::chrono::milliseconds limit);
  // Starts one more cluster node and has it meet the others; it serves no
  // slot until one is moved to it. Returns its index.
  std::size_t add_empty_primary();
  // Moves `slot` to node `to`. between() runs once the slot is MIGRATING
  // and half of its keys have moved (so the keys are split between nodes).
  void move_slot(int slot, std::size_t to, const std::function<void()>& between = {});

 private:
  RedisClusterOptions options_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::vector<std::string> ids_;
};

class RedisSentinelSet {
 public:
  RedisSentinelSet();
  // redis-sentinel://127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/mymaster
  std::string url() const;
  RedisServer& server(std::size_t i) { return *servers_[i]; }  // 0: first primary, 1: replica
  RedisServer& sentinel(std::size_t i) { return *sentinels_[i]; }
  // Index (0 or 1) of the server the sentinels name as primary, or -1.
  int primary_index();
  // SENTINEL FAILOVER mymaster, then waits until the sentinels name the
  // other server and it answers ROLE as a primary.
  bool failover(std::chrono::milliseconds limit);

 private:
  std::vector<std::unique_ptr<RedisServer>> servers_;
  std::vector<std::unique_ptr<RedisServer>> sentinels_;
};

}  // namespace multicache::test
