// The circuit breaker on a real 3-primary Redis Cluster: one per node, so a
// frozen primary is skipped at once while the other primaries still serve.
#include <gtest/gtest.h>

#include <set>

#include "cluster/load.h"
#include "l2/cluster_slots.h"
#include "support/redis_cluster.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

TEST(ClusterBreaker, AFrozenPrimaryOpensOnlyItsOwnBreaker) {
  RedisCluster cluster({.primaries = 3, .node_timeout_ms = 30000});
  const std::string prefix = unique_prefix();
  // The breakers read the cache's clock: their open time passes only when
  // the test says so, however slow the build.
  auto clock = std::make_shared<ManualClock>();
  Options o = quiet_options(cluster.url(), prefix, slack(1s));
  o.circuit_breaker = true;
  o.circuit_breaker_max_failures = 3;
  o.circuit_breaker_open_timeout = 5s;
  o.clock = clock;
  Cache writer(quiet_options(cluster.url(), prefix, 2s));
  std::vector<std::string> on_node_1, elsewhere;
  for (int i = 0; i < 60; ++i) {
    const std::string k = "key:" + std::to_string(i);
    writer.set<std::string>(k, "stored-" + k, 60s);
    (cluster.owner_of(l2::slot_of(prefix + k)) == 1 ? on_node_1 : elsewhere).push_back(k);
  }
  // A key of node 1 the reader reads only once node 1 is back.
  std::string probe;
  for (int i = 0; probe.empty(); ++i) {
    const std::string k = "probe:" + std::to_string(i);
    if (cluster.owner_of(l2::slot_of(prefix + k)) == 1) probe = k;
  }
  writer.set<std::string>(probe, "stored-probe", 60s);
  ASSERT_GE(on_node_1.size(), 5u);
  ASSERT_GE(elsewhere.size(), 5u);
  Cache reader(o);
  Cache setter(o);
  ASSERT_TRUE(eventually([&] { return reader.redis_connected() && setter.redis_connected(); }));

  cluster.node(1).pause();
  // Writes (sent through the node client's event loop): three time out, then
  // node 1's breaker opens and the next write is turned away unsent.
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_THROW(setter.set<std::string>(on_node_1[i], "new", 60s), RedisError);
  }
  ASSERT_TRUE(eventually([&] { return setter.stats().breaker_open; }));
  EXPECT_THROW(setter.set<std::string>(on_node_1[3], "new", 60s), RedisError);
  EXPECT_EQ(setter.stats().breaker_rejections, 1u);
  setter.set<std::string>(elsewhere[0], "stored-" + elsewhere[0], 60s);  // other primaries: fine

  // Reads (on the node's blocking connections): the same.
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(reader.get<std::string>(on_node_1[i]), std::nullopt);
  }
  EXPECT_TRUE(reader.stats().breaker_open);
  EXPECT_EQ(reader.stats().breaker_rejections, 0u);
  const std::uint64_t redis_errors = reader.stats().redis_errors;
  // Node 1's other keys are not sent: the loader answers them at once.
  for (std::size_t i = 3; i < on_node_1.size(); ++i) {
    const std::string& k = on_node_1[i];
    EXPECT_EQ(reader.get_or_load<std::string>(k, 60s, [&] { return "loaded-" + k; }),
              "loaded-" + k);
  }
  EXPECT_EQ(reader.stats().breaker_rejections, on_node_1.size() - 3);
  // The other primaries' keys still come from Redis. (With one breaker for
  // the whole cluster they went to the loader, every one of them.)
  for (const auto& k : elsewhere) {
    read_source from = read_source::loader;
    EXPECT_EQ(reader.get_or_load<std::string>(
                  k, 60s, [&] { return "loaded-" + k; }, &from),
              "stored-" + k)
        << k;
    EXPECT_EQ(from, read_source::redis) << k;
  }
  // A batch over every node loads only the keys of node 1 it has no copy of
  // (the keys loaded above, and those read from Redis, are in L1).
  std::vector<std::string> all = on_node_1;
  all.insert(all.end(), elsewhere.begin(), elsewhere.end());
  std::set<std::string> asked;
  reader.get_or_load_many<std::string>(all, 60s, [&](const std::vector<std::string>& ks) {
    std::unordered_map<std::string, std::string> out;
    for (const auto& k : ks) {
      asked.insert(k);
      out[k] = "loaded-" + k;
    }
    return out;
  });
  EXPECT_EQ(asked, (std::set<std::string>{on_node_1[0], on_node_1[1], on_node_1[2]}));
  EXPECT_EQ(reader.stats().breaker_rejections, on_node_1.size() - 3 + 1);
  EXPECT_EQ(reader.stats().redis_errors, redis_errors);  // rejections are not errors

  // Node 1 back: once the open time has passed, one probe goes through,
  // succeeds and closes its breaker.
  cluster.node(1).resume();
  clock->advance(6s);
  EXPECT_EQ(reader.get<std::string>(probe), "stored-probe");
  EXPECT_FALSE(reader.stats().breaker_open);
  EXPECT_EQ(reader.stats().breaker_transitions, 3u);  // closed -> open -> half-open -> closed
  EXPECT_EQ(reader.get<std::string>(elsewhere[1]), "stored-" + elsewhere[1]);
}

}  // namespace
}  // namespace multicache::test
