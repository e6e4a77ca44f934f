// The cache on a real 3-primary Redis Cluster: routing, invalidation across
// nodes, resharding and a primary failover under load.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "cluster/load.h"
#include "l2/cluster_slots.h"
#include "support/redis_cluster.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

Options cluster_options(const std::string& url, const std::string& prefix) {
  return quiet_options(url, prefix, 2s);
}

// Entries turn stale after a quarter of their ttl: 500 ms of 2 s.
Options refreshing_options(const std::string& url, const std::string& prefix) {
  Options o = cluster_options(url, prefix);
  o.early_refresh_ratio = 0.25;
  return o;
}

std::vector<std::string> make_keys(int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back("key:" + std::to_string(i));
  return keys;
}

// The distinct slots of `keys` that node 0 serves at the start (the first
// third of the slots), in the keys' order.
std::vector<int> node0_slots_of(const std::vector<std::string>& keys, const std::string& prefix) {
  std::vector<int> slots;
  for (const auto& k : keys) {
    const int s = l2::slot_of(prefix + k);
    if (s < l2::k_slot_count / 3 && std::find(slots.begin(), slots.end(), s) == slots.end()) {
      slots.push_back(s);
    }
  }
  return slots;
}

// Which node of `cluster` holds each key now (by the cluster's own answer).
class Owners {
 public:
  Owners(RedisCluster& cluster, std::string prefix)
      : cluster_(cluster), prefix_(std::move(prefix)) {}
  std::size_t of(const std::string& key) {
    return static_cast<std::size_t>(cluster_.owner_of(l2::slot_of(prefix_ + key)));
  }
  l2::Reply cmd(std::size_t node, const std::vector<std::string>& args) {
    auto& cli = clis_[node];
    if (!cli) cli = std::make_unique<RedisCli>(cluster_.node(node));
    return cli->cmd(args);
  }

 private:
  RedisCluster& cluster_;
  std::string prefix_;
  std::map<std::size_t, std::unique_ptr<RedisCli>> clis_;
};

TEST(Cluster, EveryKeyLivesOnItsSlotsPrimary) {
  RedisCluster cluster;
  const std::string prefix = unique_prefix();
  Cache cache(cluster_options(cluster.url(), prefix));
  ASSERT_TRUE(cache.redis_connected());
  const auto keys = make_keys(3000);
  for (const auto& k : keys) {
    ASSERT_EQ(cache.get_or_load<std::string>(k, 60s, [&] { return value_of(k); }), value_of(k));
  }
  EXPECT_EQ(cache.stats().loads, keys.size());

  Owners owners(cluster, prefix);
  std::vector<std::size_t> per_node(3, 0);
  for (const auto& k : keys) {
    const std::size_t node = owners.of(k);
    ASSERT_LT(node, 3u);
    ASSERT_TRUE(eventually([&] {
      return owners.cmd(node, {"EXISTS", prefix + k}).integer == 1;
    })) << k;
    ++per_node[node];
  }
  for (std::size_t n = 0; n < 3; ++n) EXPECT_GT(per_node[n], 800u) << "node " << n;

  // A second instance reads all of them from the cluster, loader untouched.
  Cache other(cluster_options(cluster.url({2}), prefix));
  for (const auto& k : keys) {
    ASSERT_EQ(other.get_or_load<std::string>(
                  k, 60s, []() -> std::string { throw std::logic_error("must not load"); }),
              value_of(k));
  }
  EXPECT_EQ(other.stats().l2_hits, keys.size());

  // Batches split by slot and come back in order.
  std::vector<std::string> batch(keys.begin(), keys.begin() + 500);
  batch.push_back("missing:1");
  auto many = other.get_or_load_many<std::string>(batch, 60s, [](std::span<const std::string> ks) {
    std::unordered_map<std::string, std::string> out;
    for (const auto& k : ks) out[k] = "loaded-" + k;
    return out;
  });
  ASSERT_EQ(many.size(), batch.size());
  for (std::size_t i = 0; i < 500; ++i) EXPECT_EQ(many[batch[i]], value_of(batch[i]));
  EXPECT_EQ(many["missing:1"], "loaded-missing:1");

  // remove() deletes on the right node.
  for (int i = 0; i < 100; ++i) other.remove(keys[static_cast<std::size_t>(i)]);
  for (int i = 0; i < 100; ++i) {
    const auto& k = keys[static_cast<std::size_t>(i)];
    EXPECT_EQ(owners.cmd(owners.of(k), {"EXISTS", prefix + k}).integer, 0) << k;
  }
  EXPECT_EQ(cache.stats().redis_errors, 0u);
  EXPECT_EQ(other.stats().redis_errors, 0u);
}

TEST(Cluster, NotFoundMarkerSharesTheKeysSlot) {
  RedisCluster cluster;
  const std::string prefix = unique_prefix();
  Cache cache(cluster_options(cluster.url(), prefix));
  int loads = 0;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 50; ++i) {
      const auto v =
          cache.get_or_load<std::optional<std::string>>("absent:" + std::to_string(i), 60s, [&] {
            ++loads;
            return std::optional<std::string>();
          });
      EXPECT_FALSE(v.has_value());
    }
  }
  EXPECT_EQ(loads, 50);
  Owners owners(cluster, prefix);
  for (int i = 0; i < 50; ++i) {
    const std::string key = "absent:" + std::to_string(i);
    const int slot = l2::slot_of(prefix + key);
    const std::string marker = "{" + l2::slot_tag(slot) + "}" + prefix + "\x01neg\x01" + key;
    EXPECT_EQ(l2::slot_of(marker), slot);
    ASSERT_TRUE(eventually([&] {
      return owners.cmd(owners.of(key), {"EXISTS", marker}).integer == 1;
    })) << key;
  }
  // A second instance sees the markers: no loads.
  Cache other(cluster_options(cluster.url(), prefix));
  for (int i = 0; i < 50; ++i) {
    EXPECT_FALSE(other
                     .get_or_load<std::optional<std::string>>(
                         "absent:" + std::to_string(i), 60s,
                         []() -> std::optional<std::string> { throw std::logic_error("no"); })
                     .has_value());
  }
  EXPECT_EQ(other.stats().negative_hits, 50u);
  EXPECT_EQ(cache.stats().redis_errors + other.stats().redis_errors, 0u);
}

// A refresh that finds nothing replaces the value with its marker in one
// EVAL over both keys (k_compare_and_mark): they share a slot, so the
// cluster runs it on the key's node.
TEST(Cluster, ARefreshThatFindsNothingLeavesTheMarkerOnTheKeysNode) {
  RedisCluster cluster;
  const std::string prefix = unique_prefix();
  Cache cache(refreshing_options(cluster.url(), prefix));
  using Opt = std::optional<std::string>;
  std::vector<std::string> keys;
  for (int i = 0; i < 20; ++i) keys.push_back("gone:" + std::to_string(i));
  for (const auto& k : keys) cache.get_or_load<Opt>(k, 2s, [] { return Opt("v1"); });
  std::this_thread::sleep_for(600ms);
  for (const auto& k : keys) EXPECT_EQ(cache.get_or_load<Opt>(k, 2s, [] { return Opt(); }), "v1");
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == keys.size(); }));
  Cache other(cluster_options(cluster.url(), prefix));
  for (const auto& k : keys) {
    EXPECT_FALSE(
        other.get_or_load<Opt>(k, 60s, []() -> Opt { throw std::logic_error("no"); }).has_value())
        << k;
  }
  EXPECT_EQ(other.stats().negative_hits, keys.size());
  EXPECT_EQ(cache.stats().redis_errors + other.stats().redis_errors, 0u);
}

// A batch call's refresh of stale keys on every node: one loader call, one
// read pipeline and one pipeline of compare-and-set scripts, each split by
// node, every key's script run on its own node.
TEST(Cluster, ABatchRefreshesItsStaleKeysOnEveryNode) {
  RedisCluster cluster;
  const std::string prefix = unique_prefix();
  Cache cache(refreshing_options(cluster.url(), prefix));
  const std::vector<std::string> keys = make_keys(30);
  std::set<int> nodes;
  for (const auto& k : keys) nodes.insert(cluster.owner_of(l2::slot_of(prefix + k)));
  ASSERT_EQ(nodes.size(), 3u);
  std::atomic<int> calls{0};
  auto loader = [&calls](const std::vector<std::string>& ks) {
    const std::string v = "v" + std::to_string(++calls);
    std::unordered_map<std::string, std::string> out;
    for (const auto& k : ks) out[k] = v;
    return out;
  };
  cache.get_or_load_many<std::string>(keys, 2s, loader);
  std::this_thread::sleep_for(600ms);
  const auto got = cache.get_or_load_many<std::string>(keys, 2s, loader);
  for (const auto& k : keys) EXPECT_EQ(got.at(k), "v1") << k;  // stale, at once
  ASSERT_TRUE(eventually([&] { return cache.stats().refreshes_ok == keys.size(); }));
  EXPECT_EQ(calls.load(), 2);
  Cache other(cluster_options(cluster.url(), prefix));
  for (const auto& k : keys) EXPECT_EQ(other.get<std::string>(k), "v2") << k;
  EXPECT_EQ(cache.stats().invalidations_sent, keys.size());
  EXPECT_EQ(cache.stats().redis_errors + other.stats().redis_errors, 0u);
}

// The first seed is down: discovery asks the next one, and the subscriber,
// which tries the first seed first, moves on to a live node.
TEST(Cluster, ADeadFirstSeedIsSkipped) {
  RedisCluster cluster;
  const std::string prefix = unique_prefix();
  int dead_port = 0;
  {
    RedisServer gone;  // a port that nobody listens on once this is gone
    dead_port = gone.port();
  }
  const std::string url = "redis-cluster://127.0.0.1:" + std::to_string(dead_port) + "," +
                          cluster.url().substr(std::string("redis-cluster://").size());
  Cache a(cluster_options(url, prefix));
  Cache b(cluster_options(cluster.url(), prefix));
  ASSERT_TRUE(eventually([&] { return a.redis_connected(); }, 10s));
  a.get_or_load<std::string>("k", 60s, [] { return std::string("old"); });
  b.set<std::string>("k", "new", 60s);
  EXPECT_TRUE(eventually([&] { return a.get<std::string>("k") == "new"; }, 10s));
  EXPECT_EQ(b.stats().redis_errors, 0u);
}

TEST(Cluster, InvalidationCrossesNodes) {
  RedisCluster cluster;
  const std::string prefix = unique_prefix();
  Cache a(cluster_options(cluster.url({0}), prefix));
  Cache b(cluster_options(cluster.url({2}), prefix));
  ASSERT_TRUE(a.redis_connected());
  ASSERT_TRUE(b.redis_connected());
  // Each subscriber is attached to its own first seed: different nodes.
  const std::string channel = prefix + "sync";
  auto subscribers = [&](std::size_t node) {
    return cluster.cmd(node, {"PUBSUB", "NUMSUB", channel}).elements.at(1).integer;
  };
  EXPECT_EQ(subscribers(0), 1);
  EXPECT_EQ(subscribers(1), 0);
  EXPECT_EQ(subscribers(2), 1);

  for (int i = 0; i < 30; ++i) {
    const std::string k = "k" + std::to_string(i);
    a.get_or_load<std::string>(k, 60s, [] { return std::string("old"); });
    b.get_or_load<std::string>(k, 60s, [] { return std::string("old"); });
  }
  for (int i = 0; i < 30; ++i) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_EQ(b.get<std::string>(k), "old");
    a.set<std::string>(k, "new", 60s);
    EXPECT_TRUE(eventually([&] { return b.get<std::string>(k) == "new"; })) << k;
    b.remove(k);
    EXPECT_TRUE(eventually([&] { return !a.get<std::string>(k).has_value(); })) << k;
  }
  EXPECT_GE(b.stats().invalidations_received, 30u);
  EXPECT_GE(a.stats().invalidations_received, 30u);
}

TEST(Cluster, ReshardingUnderLoadIsInvisibleToCallers) {
  RedisCluster cluster;
  const std::string prefix = unique_prefix();
  Cache cache(cluster_options(cluster.url(), prefix));
  Cache other(cluster_options(cluster.url({1}), prefix));
  const auto keys = make_keys(2000);
  // The slots of node 0 that hold our keys: those are moved to node 1.
  std::vector<int> slots = node0_slots_of(keys, prefix);
  ASSERT_GT(slots.size(), 100u);
  slots.resize(100);
  for (const auto& k : keys) cache.set<std::string>(k, value_of(k), 60s);
  {
    Load load(cache, keys);
    Load load2(other, keys, 2);
    for (const int s : slots) {
      cluster.move_slot(s, 1, [] { std::this_thread::sleep_for(5ms); });
    }
    std::this_thread::sleep_for(300ms);
    load.stop();
    load2.stop();
    EXPECT_GT(load.ops(), 1000u);
    EXPECT_EQ(load.read_exceptions() + load2.read_exceptions(), 0u);
    EXPECT_EQ(load.write_errors() + load2.write_errors(), 0u);
    EXPECT_EQ(load.wrong_values() + load2.wrong_values(), 0u);
  }
  for (const int s : slots) ASSERT_EQ(cluster.owner_of(s), 1);
  const Stats st = cache.stats();
  EXPECT_EQ(st.redis_errors, 0u);
  EXPECT_GT(st.redis_redirects + other.stats().redis_redirects, 0u);
  // Writes to moved keys land on their new node.
  Owners owners(cluster, prefix);
  int moved_keys = 0;
  for (const auto& k : keys) {
    const int s = l2::slot_of(prefix + k);
    if (std::find(slots.begin(), slots.end(), s) == slots.end()) continue;
    cache.set<std::string>(k, "after", 60s);
    EXPECT_TRUE(owners.cmd(1, {"GET", prefix + k}).str.ends_with("after")) << k;  // enveloped
    ++moved_keys;
  }
  EXPECT_GT(moved_keys, 0);
}

// A new, empty primary appears only in CLUSTER SLOTS once its first slot
// is moved to it; until then it is reached by ASK alone.
TEST(Cluster, ReshardingOntoANewEmptyPrimary) {
  RedisCluster cluster;
  const std::string prefix = unique_prefix();
  Cache cache(cluster_options(cluster.url(), prefix));
  const auto keys = make_keys(2000);
  for (const auto& k : keys) cache.set<std::string>(k, value_of(k), 60s);
  const std::size_t fresh = cluster.add_empty_primary();
  std::vector<int> slots = node0_slots_of(keys, prefix);
  slots.resize(20);
  {
    Load load(cache, keys);
    for (const int s : slots) {
      cluster.move_slot(s, fresh, [] { std::this_thread::sleep_for(50ms); });
    }
    std::this_thread::sleep_for(200ms);
    load.stop();
    EXPECT_EQ(load.read_exceptions(), 0u);
    EXPECT_EQ(load.write_errors(), 0u);
    EXPECT_EQ(load.wrong_values(), 0u);
  }
  EXPECT_EQ(cache.stats().redis_errors, 0u);
  EXPECT_GT(cache.stats().redis_redirects, 0u);
  for (const int s : slots) EXPECT_EQ(cluster.owner_of(s), static_cast<int>(fresh));
}

// A subscriber whose node leaves the cluster but keeps running (what
// `redis-cli --cluster del-node` does: every other node FORGETs it, then it is
// CLUSTER RESET) moves to a node still in the cluster, where invalidations
// reach it again. It used to stay, and serve its L1 copies for their TTL.
TEST(Cluster, ASubscriberWhoseNodeLeavesTheClusterMoves) {
  RedisCluster cluster;
  const std::size_t leaving = cluster.add_empty_primary();
  const std::string prefix = unique_prefix();
  Cache a(cluster_options(cluster.url({leaving, 0}), prefix));  // subscribes on `leaving`
  Cache b(cluster_options(cluster.url({1}), prefix));
  ASSERT_TRUE(a.redis_connected());
  ASSERT_TRUE(b.redis_connected());
  const std::string channel = prefix + "sync";
  ASSERT_EQ(cluster.cmd(leaving, {"PUBSUB", "NUMSUB", channel}).elements.at(1).integer, 1);
  EXPECT_EQ(a.get_or_load<std::string>("k", 60s, [] { return std::string("old"); }), "old");
  for (std::size_t i = 0; i < leaving; ++i) {
    ASSERT_EQ(cluster.cmd(i, {"CLUSTER", "FORGET", cluster.node_id(leaving)}).str, "OK");
  }
  ASSERT_EQ(cluster.cmd(leaving, {"CLUSTER", "RESET", "SOFT"}).str, "OK");
  b.set<std::string>("k", "new", 60s);
  // Within a topology refresh (5 s) or so; the move clears a's L1.
  EXPECT_TRUE(eventually([&] { return a.get<std::string>("k") == "new"; }, 20s));
  EXPECT_EQ(cluster.cmd(leaving, {"PUBSUB", "NUMSUB", channel}).elements.at(1).integer, 0);
}

// 90 keys stored over a 3-primary cluster, and those of them node 1 holds.
struct StoredBatch {
  std::string prefix = unique_prefix();
  std::vector<std::string> keys = make_keys(90);
  std::set<std::string> on_node_1;
};
StoredBatch store_batch(RedisCluster& cluster) {
  StoredBatch b;
  Cache writer(cluster_options(cluster.url(), b.prefix));
  for (const auto& k : b.keys) {
    writer.set<std::string>(k, "stored-" + k, 60s);
    if (cluster.owner_of(l2::slot_of(b.prefix + k)) == 1) b.on_node_1.insert(k);
  }
  return b;
}

// A get_or_load_many of every key on `reader` with node 1 out of reach: the
// loader is asked for node 1's keys only; the others come from Redis.
void expect_batch_loads_only_node_1(Cache& reader, const StoredBatch& b) {
  std::set<std::string> asked;
  const auto got =
      reader.get_or_load_many<std::string>(b.keys, 60s, [&](std::span<const std::string> ks) {
        std::unordered_map<std::string, std::string> out;
        for (const auto& k : ks) {
          asked.insert(k);
          out[k] = "loaded-" + k;
        }
        return out;
      });
  EXPECT_EQ(asked, b.on_node_1);
  ASSERT_EQ(got.size(), b.keys.size());
  for (const auto& k : b.keys) {
    EXPECT_EQ(got.at(k), (b.on_node_1.contains(k) ? "loaded-" : "stored-") + k) << k;
  }
  EXPECT_EQ(reader.stats().l2_hits, b.keys.size() - b.on_node_1.size());
}

// One primary down (before the cluster notices): a batch over every slot
// loses only that node's keys. Failing the whole pipeline when one node's
// part failed sent every key of the batch to the loader (and wrote none back).
TEST(Cluster, ABatchLosesOnlyTheKeysOfANodeThatIsDown) {
  RedisCluster cluster({.primaries = 3, .node_timeout_ms = 30000});
  const StoredBatch b = store_batch(cluster);
  ASSERT_GT(b.on_node_1.size(), 10u);
  ASSERT_LT(b.on_node_1.size(), 60u);
  cluster.node(1).kill();
  Cache reader(cluster_options(cluster.url({0, 2}), b.prefix));
  expect_batch_loads_only_node_1(reader, b);
}

// One primary frozen (SIGSTOP: connected, never answering): the batch waits
// its command_timeout, then keeps what the other nodes answered. Waiting
// for every part sent every key of the batch to the loader.
TEST(Cluster, ABatchLosesOnlyTheKeysOfAFrozenNode) {
  RedisCluster cluster({.primaries = 3, .node_timeout_ms = 30000});
  const StoredBatch b = store_batch(cluster);
  ASSERT_GT(b.on_node_1.size(), 10u);
  ASSERT_LT(b.on_node_1.size(), 60u);
  Cache reader(cluster_options(cluster.url(), b.prefix));
  ASSERT_TRUE(eventually([&] { return reader.redis_connected(); }, 10s));
  cluster.node(1).pause();
  expect_batch_loads_only_node_1(reader, b);
  cluster.node(1).resume();
  // The frozen node's keys were not written back: their reads failed.
  Cache after(cluster_options(cluster.url(), b.prefix));
  ASSERT_TRUE(eventually([&] { return after.redis_connected(); }, 10s));
  for (const auto& k : b.on_node_1) EXPECT_EQ(after.get<std::string>(k), "stored-" + k) << k;
}

TEST(Cluster, PrimaryFailoverRecovers) {
  RedisCluster cluster({.primaries = 3, .replicas = 1, .node_timeout_ms = 1000});
  const std::string prefix = unique_prefix();
  // a's subscriber is on node 1, the primary that dies.
  Cache a(cluster_options(cluster.url({1, 0}), prefix));
  Cache b(cluster_options(cluster.url({2}), prefix));
  const auto keys = make_keys(1000);
  {
    Load load(a, keys);
    std::this_thread::sleep_for(300ms);
    cluster.node(1).kill();
    ASSERT_TRUE(cluster.wait_healthy(30s)) << "the replica was not promoted";
    std::this_thread::sleep_for(1s);
    const std::uint64_t before = load.ops();
    std::this_thread::sleep_for(500ms);
    load.stop();
    EXPECT_GT(load.ops(), before);
    EXPECT_EQ(load.read_exceptions(), 0u);
    EXPECT_EQ(load.wrong_values(), 0u);
  }
  // Writes to node 1's former slots land on the promoted replica (node 4).
  Owners owners(cluster, prefix);
  int checked = 0;
  for (const auto& k : keys) {
    const int s = l2::slot_of(prefix + k);
    if (s < l2::k_slot_count / 3 || s >= 2 * l2::k_slot_count / 3) continue;
    ASSERT_EQ(owners.of(k), 4u);
    ASSERT_TRUE(eventually([&] {
      try {
        a.set<std::string>(k, "after", 60s);
        return owners.cmd(4, {"GET", prefix + k}).str.ends_with("after");  // enveloped
      } catch (const RedisError&) {
        return false;
      }
    })) << k;
    if (++checked == 50) break;
  }
  EXPECT_EQ(checked, 50);
  // a's subscriber moved to a live node: b's writes reach it.
  ASSERT_TRUE(eventually([&] { return a.redis_connected(); }, 10s));
  for (int i = 0; i < 20; ++i) {
    const std::string k = "sub" + std::to_string(i);
    a.get_or_load<std::string>(k, 60s, [] { return std::string("old"); });
    b.set<std::string>(k, "new", 60s);
    EXPECT_TRUE(eventually([&] { return a.get<std::string>(k) == "new"; })) << k;
  }
}

}  // namespace
}  // namespace multicache::test
