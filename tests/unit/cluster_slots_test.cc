// l2/cluster_slots and the cluster/sentinel URL forms.
#include "l2/cluster_slots.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "l2/redis_url.h"

namespace multicache::l2 {
namespace {

TEST(ClusterSlots, Crc16IsXmodem) {
  EXPECT_EQ(crc16("123456789"), 0x31C3);  // the check value in Redis's cluster spec
  EXPECT_EQ(crc16(""), 0);
}

TEST(ClusterSlots, KnownSlots) {
  // Values Redis itself gives (CLUSTER KEYSLOT).
  EXPECT_EQ(slot_of("foo"), 12182);
  EXPECT_EQ(slot_of("bar"), 5061);
  EXPECT_EQ(slot_of("hello"), 866);
}

TEST(ClusterSlots, HashTags) {
  EXPECT_EQ(slot_of("{user1000}.following"), slot_of("{user1000}.followers"));
  EXPECT_EQ(slot_of("{user1000}.following"), slot_of("user1000"));
  // Only the first {...}; an empty tag hashes the whole key.
  EXPECT_EQ(slot_of("foo{}{bar}"), crc16("foo{}{bar}") % 16384);
  EXPECT_EQ(slot_of("foo{{bar}}zap"), slot_of("{bar"));
  EXPECT_EQ(slot_of("foo{bar}{zap}"), slot_of("bar"));
  EXPECT_EQ(slot_of("no-close{tag"), crc16("no-close{tag") % 16384);
}

TEST(ClusterSlots, EverySlotHasATagThatHashesToIt) {
  for (int s = 0; s < k_slot_count; ++s) {
    ASSERT_EQ(slot_of(slot_tag(s)), s);
    ASSERT_EQ(slot_of("{" + slot_tag(s) + "}anything"), s);
    ASSERT_LE(slot_tag(s).size(), 6u);
  }
}

TEST(ClusterSlots, CommandKeys) {
  EXPECT_EQ(slot_of_command(format_command({"GET", "foo"})), slot_of("foo"));
  EXPECT_EQ(slot_of_command(format_command({"set", "bar", "v", "PXAT", "1"})), slot_of("bar"));
  EXPECT_EQ(slot_of_command(format_command({"EVAL", "return 1", "1", "k{t}", "a"})), slot_of("t"));
  EXPECT_EQ(slot_of_command(format_command({"EVAL", "return 1", "0"})), -1);
  EXPECT_EQ(slot_of_command(format_command({"PUBLISH", "channel", "msg"})), -1);
  EXPECT_EQ(slot_of_command(format_command({"PING"})), -1);
  EXPECT_EQ(slot_of_command(format_command({"ASKING"})), -1);
  const std::string binary("a\0\r\nb", 5);
  EXPECT_EQ(slot_of_command(format_command({"GET", binary})), slot_of(binary));
  EXPECT_EQ(slot_of_command("garbage"), -1);
  EXPECT_EQ(slot_of_command("*2\r\n$3\r\nGET\r\n$10\r\nshort\r\n"), -1);
}

TEST(ClusterSlots, Redirects) {
  Redirect r;
  ASSERT_TRUE(parse_redirect("MOVED 3999 127.0.0.1:6381", &r));
  EXPECT_FALSE(r.ask);
  EXPECT_EQ(r.slot, 3999);
  EXPECT_EQ(r.node.host, "127.0.0.1");
  EXPECT_EQ(r.node.port, 6381);
  ASSERT_TRUE(parse_redirect("ASK 1 ::1:7000", &r));
  EXPECT_TRUE(r.ask);
  EXPECT_EQ(r.node.host, "::1");
  EXPECT_EQ(r.node.port, 7000);
  for (const char* bad : {"ERR x", "MOVED", "MOVED 3999", "MOVED x 1.2.3.4:5", "MOVED 16384 h:1",
                          "MOVED 1 h:0", "MOVED 1 h", "ASK 1 h:99999", "READONLY You can't"}) {
    EXPECT_FALSE(parse_redirect(bad, &r)) << bad;
  }
}

Reply integer(std::int64_t v) {
  Reply r;
  r.type = Reply::kind::integer;
  r.integer = v;
  return r;
}
Reply string(std::string s) {
  Reply r;
  r.type = Reply::kind::string;
  r.str = std::move(s);
  return r;
}
Reply array(std::vector<Reply> e) {
  Reply r;
  r.type = Reply::kind::array;
  r.elements = std::move(e);
  return r;
}

TEST(ClusterSlots, ParsesClusterSlots) {
  const Reply reply = array({
      array({integer(0), integer(5460), array({string("10.0.0.1"), integer(7000), string("id1")}),
             array({string("10.0.0.4"), integer(7003), string("id4")})}),
      array({integer(5461), integer(16383), array({string(""), integer(7001), string("id2")})}),
  });
  const SlotMap map = parse_cluster_slots(reply, "seed-host");
  ASSERT_EQ(map.primaries.size(), 2u);
  EXPECT_EQ(map.primaries[0].host, "10.0.0.1");
  EXPECT_EQ(map.primaries[1].host, "seed-host");  // a node that does not know its address
  EXPECT_EQ(map.owner[0], 0);
  EXPECT_EQ(map.owner[5460], 0);
  EXPECT_EQ(map.owner[5461], 1);
  EXPECT_EQ(map.owner[16383], 1);
  EXPECT_TRUE(map.complete());

  const Reply partial = array({array({integer(0), integer(10), array({string("h"), integer(1)})})});
  EXPECT_FALSE(parse_cluster_slots(partial, "s").complete());
  for (const Reply& bad :
       {string("x"), array({array({integer(0)})}),
        array({array({integer(5), integer(1), array({string("h"), integer(1)})})}),
        array({array({integer(0), integer(16384), array({string("h"), integer(1)})})})}) {
    EXPECT_THROW(parse_cluster_slots(bad, "s"), std::runtime_error);
  }
}

TEST(ServerUrl, SingleServerForms) {
  const ServerSpec spec = parse_server_url("redis://:pw@host:6380/2");
  EXPECT_EQ(spec.mode, ServerSpec::kind::single);
  ASSERT_EQ(spec.nodes.size(), 1u);
  EXPECT_EQ(spec.nodes[0].port, 6380);
  EXPECT_EQ(spec.nodes[0].db, 2);
  EXPECT_EQ(parse_server_url("unix:///tmp/r.sock").nodes[0].unix_path, "/tmp/r.sock");
}

TEST(ServerUrl, Cluster) {
  const ServerSpec spec = parse_server_url("redis-cluster://u:p%40ss@h1:7000,h2,[::1]:7002");
  EXPECT_EQ(spec.mode, ServerSpec::kind::cluster);
  ASSERT_EQ(spec.nodes.size(), 3u);
  EXPECT_EQ(spec.nodes[0].host, "h1");
  EXPECT_EQ(spec.nodes[0].port, 7000);
  EXPECT_EQ(spec.nodes[1].port, 6379);
  EXPECT_EQ(spec.nodes[2].host, "::1");
  for (const auto& n : spec.nodes) {
    EXPECT_EQ(n.user, "u");
    EXPECT_EQ(n.password, "p@ss");
  }
}

TEST(ServerUrl, Sentinel) {
  const ServerSpec spec =
      parse_server_url("redis-sentinel://:data@s1,s2:26380/my%20master?db=3&sentinel_password=sp");
  EXPECT_EQ(spec.mode, ServerSpec::kind::sentinel);
  EXPECT_EQ(spec.master_name, "my master");
  ASSERT_EQ(spec.nodes.size(), 2u);
  EXPECT_EQ(spec.nodes[0].port, 26379);
  EXPECT_EQ(spec.nodes[1].port, 26380);
  EXPECT_EQ(spec.nodes[0].password, "sp");  // the sentinels' own password
  EXPECT_EQ(spec.credentials.password, "data");
  EXPECT_EQ(spec.credentials.db, 3);
  EXPECT_EQ(parse_server_url("redis-sentinel://s/m").nodes[0].password, "");
}

TEST(ServerUrl, InvalidForms) {
  for (const char* bad :
       {"redis-cluster://", "redis-cluster://h1,,h2", "redis-cluster://h1,", "redis-cluster://h:0",
        "redis-cluster://h/1", "redis-cluster://h?db=1", "redis-sentinel://s1,s2",
        "redis-sentinel://s1/", "redis-sentinel://s1/m?x=1", "redis-sentinel://s1/m?db=x",
        "redis-sentinel://:pw@/m"}) {
    SCOPED_TRACE(bad);
    try {
      (void)parse_server_url(bad);
      ADD_FAILURE() << "accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_TRUE(std::string(e.what()).starts_with("redis_url: ")) << e.what();
      EXPECT_EQ(std::string(e.what()).find("pw"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace multicache::l2
