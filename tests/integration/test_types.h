// integration/test_types.h — value types and helpers shared by the integration tests.
#pragma once

#include <gtest/gtest.h>

#include <multicache/multicache.hpp>
#include <string>
#include <vector>

#include "support/redis_server.h"

namespace multicache::test {

struct User {
  int id = 0;
  std::string name;
  bool operator==(const User&) const = default;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(User, id, name)
};

// Options for a cache on `server`, with a prefix and channel unique to the test.
inline Options options_for(const RedisServer& server, const std::string& prefix) {
  Options o;
  o.redis_url = server.url();
  o.key_prefix = prefix;
  o.pubsub_channel = prefix + "sync";
  o.log = [](log_level, std::string_view) {};  // tests assert on stats, not on stderr
  return o;
}

// A fixture with a private redis-server and a key prefix and channel of its
// own; options() are the cache options for them.
class RedisTest : public ::testing::Test {
 protected:
  RedisServer server_;
  std::string prefix_ = unique_prefix();
  Options options() const { return options_for(server_, prefix_); }
};

}  // namespace multicache::test
