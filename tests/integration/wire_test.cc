// The Redis value format, byte for byte, and what corrupt bytes do.
#include <gtest/gtest.h>
#include <snappy.h>

#include <chrono>

#include "integration/test_types.h"

namespace multicache::test {
namespace {

using namespace std::chrono_literals;

std::string header(std::uint64_t stale_after, std::uint8_t flag) {
  std::string h;
  for (int i = 0; i < 8; ++i) h.push_back(static_cast<char>((stale_after >> (8 * i)) & 0xff));
  h.push_back(static_cast<char>(flag));
  return h;
}

std::uint64_t read_stale_after(const std::string& raw) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t(static_cast<unsigned char>(raw[i])) << (8 * i);
  return v;
}

std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

class WireTest : public ::testing::Test {
 protected:
  RedisServer server_;
  RedisCli cli_{server_};
  std::string prefix_ = unique_prefix();
  Options options() const { return options_for(server_, prefix_); }
};

TEST_F(WireTest, ReadsBytesWrittenByHand) {
  // What a Go instance writes: header (stale-after far ahead, raw) + encoding/json text.
  cli_.cmd({"SET", prefix_ + "go", header(unix_now() + 3600, 0) + R"({"id":9,"name":"gopher"})",
            "PX", "60000"});
  Cache cache(options());
  EXPECT_EQ(cache.get_or_load<User>("go", 60s, []() -> User { throw std::logic_error("no"); }),
            (User{9, "gopher"}));

  // And Snappy-compressed (flag 1, raw block format).
  std::string compressed;
  const std::string json = R"({"id":10,"name":"snappy"})";
  snappy::Compress(json.data(), json.size(), &compressed);
  cli_.cmd({"SET", prefix_ + "gz", header(unix_now() + 3600, 1) + compressed, "PX", "60000"});
  EXPECT_EQ(cache.get<User>("gz"), (User{10, "snappy"}));
  EXPECT_EQ(cache.stats().decode_errors, 0u);
}

TEST_F(WireTest, WritesTheExactLayout) {
  Options o = options();
  o.early_refresh_ratio = 0.5;
  Cache cache(o);
  const std::uint64_t before = unix_now();
  cache.set<User>("u", User{1, "ada"}, 100s);
  const std::uint64_t after = unix_now();
  std::string raw;
  ASSERT_TRUE(cli_.get(prefix_ + "u", &raw));
  ASSERT_GE(raw.size(), 9u);
  const std::uint64_t stale_after = read_stale_after(raw);
  EXPECT_GE(stale_after, before + 50);  // now + ttl * ratio, in Unix seconds
  EXPECT_LE(stale_after, after + 50);
  EXPECT_EQ(raw[8], 0);  // compression off: raw
  EXPECT_EQ(raw.substr(9), R"({"id":1,"name":"ada"})");
}

TEST_F(WireTest, CompressionIsReadByEitherSetting) {
  Options on = options();
  on.compression = true;
  on.compression_min_bytes = 64;
  Options off = options();
  Cache zipped(on);
  Cache plain(off);
  const std::string big(4000, 'a');  // compresses well
  zipped.set<std::string>("big", big, 60s);
  std::string raw;
  ASSERT_TRUE(cli_.get(prefix_ + "big", &raw));
  EXPECT_EQ(raw[8], 1);
  EXPECT_LT(raw.size(), big.size() / 4);
  EXPECT_EQ(plain.get<std::string>("big"), big);

  plain.set<std::string>("big2", big, 60s);
  ASSERT_TRUE(cli_.get(prefix_ + "big2", &raw));
  EXPECT_EQ(raw[8], 0);
  EXPECT_EQ(zipped.get<std::string>("big2"), big);

  // Below compression_min_bytes the compressing instance writes raw.
  zipped.set<std::string>("small", std::string(32, 'a'), 60s);
  ASSERT_TRUE(cli_.get(prefix_ + "small", &raw));
  EXPECT_EQ(raw[8], 0);
}

TEST_F(WireTest, CorruptBytesAreAMissThatReloadsAndOverwrites) {
  Cache cache(options());
  std::string bad_snappy = header(unix_now() + 3600, 1) + "\xff\xff\xff\xff\xff garbage";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"short", "abc"},
      {"empty", ""},
      {"flag", header(unix_now() + 3600, 7) + R"({"id":1,"name":"x"})"},
      {"snappy", bad_snappy},
      {"json", header(unix_now() + 3600, 0) + R"({"id":"not a number")"},
  };
  std::uint64_t expected_errors = 0;
  for (const auto& [key, bytes] : cases) {
    cli_.cmd({"SET", prefix_ + key, bytes, "PX", "60000"});
    int loads = 0;
    const User u = cache.get_or_load<User>(key, 60s, [&] {
      ++loads;
      return User{42, key};
    });
    EXPECT_EQ(u, (User{42, key})) << key;
    EXPECT_EQ(loads, 1) << key;
    EXPECT_EQ(cache.stats().decode_errors, ++expected_errors) << key;
    // Overwritten with a good value that another instance can read.
    Cache fresh(options());
    EXPECT_TRUE(eventually([&] { return fresh.get<User>(key) == User{42, key}; })) << key;
  }
}

}  // namespace
}  // namespace multicache::test
