// l2/redis_url: parsing Options::redis_url.
#include "l2/redis_url.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace multicache::l2 {
namespace {

TEST(RedisUrl, HostOnly) {
  const Endpoint ep = parse_redis_url("redis://host");
  EXPECT_EQ(ep.host, "host");
  EXPECT_EQ(ep.port, 6379);
  EXPECT_EQ(ep.db, 0);
  EXPECT_EQ(ep.user, "");
  EXPECT_EQ(ep.password, "");
  EXPECT_FALSE(ep.is_unix());
  EXPECT_EQ(ep.describe(), "host:6379");
}

TEST(RedisUrl, HostAndPort) {
  const Endpoint ep = parse_redis_url("redis://host:6380");
  EXPECT_EQ(ep.host, "host");
  EXPECT_EQ(ep.port, 6380);
  EXPECT_EQ(ep.db, 0);
}

TEST(RedisUrl, PasswordOnlyWithColon) {
  const Endpoint ep = parse_redis_url("redis://:pass@host");
  EXPECT_EQ(ep.user, "");
  EXPECT_EQ(ep.password, "pass");
  EXPECT_EQ(ep.host, "host");
  EXPECT_EQ(ep.port, 6379);
}

TEST(RedisUrl, UserPasswordPortDb) {
  const Endpoint ep = parse_redis_url("redis://user:pass@host:1/3");
  EXPECT_EQ(ep.user, "user");
  EXPECT_EQ(ep.password, "pass");
  EXPECT_EQ(ep.host, "host");
  EXPECT_EQ(ep.port, 1);
  EXPECT_EQ(ep.db, 3);
  EXPECT_EQ(ep.describe(), "host:1");  // no credentials
}

TEST(RedisUrl, BarePassword) {
  const Endpoint ep = parse_redis_url("redis://secret@host");
  EXPECT_EQ(ep.user, "");
  EXPECT_EQ(ep.password, "secret");
  EXPECT_EQ(ep.host, "host");
}

TEST(RedisUrl, PercentEncodedCredentials) {
  Endpoint ep = parse_redis_url("redis://:p%40ss@host");
  EXPECT_EQ(ep.password, "p@ss");
  EXPECT_EQ(ep.host, "host");
  ep = parse_redis_url("redis://us%3Ar:a%2fb%3a%25@host:7");
  EXPECT_EQ(ep.user, "us:r");
  EXPECT_EQ(ep.password, "a/b:%");
  EXPECT_EQ(ep.port, 7);
}

TEST(RedisUrl, LiteralAtAndColonInPassword) {
  const Endpoint ep = parse_redis_url("redis://user:p@ss:w@host:6390/1");
  EXPECT_EQ(ep.user, "user");
  EXPECT_EQ(ep.password, "p@ss:w");
  EXPECT_EQ(ep.host, "host");
  EXPECT_EQ(ep.port, 6390);
  EXPECT_EQ(ep.db, 1);
}

TEST(RedisUrl, Ipv6) {
  Endpoint ep = parse_redis_url("redis://[::1]:6379");
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.port, 6379);
  EXPECT_EQ(ep.describe(), "[::1]:6379");
  ep = parse_redis_url("redis://[fe80::1]/2");
  EXPECT_EQ(ep.host, "fe80::1");
  EXPECT_EQ(ep.port, 6379);
  EXPECT_EQ(ep.db, 2);
}

TEST(RedisUrl, TrailingSlashMeansDbZero) {
  const Endpoint ep = parse_redis_url("redis://host:6380/");
  EXPECT_EQ(ep.port, 6380);
  EXPECT_EQ(ep.db, 0);
}

TEST(RedisUrl, UnixSocket) {
  Endpoint ep = parse_redis_url("unix:///tmp/r.sock");
  EXPECT_TRUE(ep.is_unix());
  EXPECT_EQ(ep.unix_path, "/tmp/r.sock");
  EXPECT_EQ(ep.host, "");
  EXPECT_EQ(ep.db, 0);
  EXPECT_EQ(ep.describe(), "unix:/tmp/r.sock");

  ep = parse_redis_url("unix:///tmp/r.sock?db=2");
  EXPECT_TRUE(ep.is_unix());
  EXPECT_EQ(ep.unix_path, "/tmp/r.sock");
  EXPECT_EQ(ep.db, 2);
}

// Expects std::invalid_argument starting with "redis_url"; returns what().
std::string parse_error(const std::string& url) {
  try {
    (void)parse_redis_url(url);
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.starts_with("redis_url")) << what;
    return what;
  } catch (...) {
    ADD_FAILURE() << "wrong exception type for " << url;
    return {};
  }
  ADD_FAILURE() << "no exception for " << url;
  return {};
}

TEST(RedisUrl, Invalid) {
  const std::vector<std::string> bad = {
      "",
      "redis://",
      "redis://:6379",
      "redis:///0",
      "redis://user:pass@",
      "redis://host:0",
      "redis://host:70000",
      "redis://host:65536",
      "redis://host:-1",
      "redis://host:abc",
      "redis://host:63a",
      "redis://host:",
      "redis://host/x",
      "redis://host/-1",
      "redis://host/1/2",
      "http://host",
      "host:6379",
      "unix://relative",
      "unix://",
      "unix:///tmp/r.sock?db=x",
      "unix:///tmp/r.sock?foo=1",
      "redis://[::1",
      "redis://[::1]x",
      "redis://[::1]:",
      "redis://[]:6379",
      "redis://:%zz@host",
      "redis://:%4@host",
      "redis://:%@host",
      "redis://%g0:pw@host",
  };
  for (const auto& url : bad) {
    SCOPED_TRACE(url);
    parse_error(url);
  }
}

TEST(RedisUrl, TlsIsRejectedWithAnExplanation) {
  const std::string what = parse_error("rediss://host:6380");
  EXPECT_NE(what.find("TLS"), std::string::npos) << what;
}

TEST(RedisUrl, PortAndDbMessages) {
  EXPECT_NE(parse_error("redis://host:70000").find("port"), std::string::npos);
  EXPECT_NE(parse_error("redis://host:0").find("port"), std::string::npos);
  EXPECT_NE(parse_error("redis://host/x").find("db"), std::string::npos);
  // A unix socket URL with another parameter after db=N is told so (it said
  // "db must be an integer").
  EXPECT_NE(parse_error("unix:///s.sock?db=3&x=1").find("only the query db=N"), std::string::npos);
}

TEST(RedisUrl, ErrorMessagesNeverContainThePassword) {
  const std::string pw = "hunter2secret";
  const std::vector<std::string> bad = {
      "redis://user:" + pw + "@host:70000",
      "redis://user:" + pw + "@host:abc",
      "redis://user:" + pw + "@host:",
      "redis://user:" + pw + "@host/x",
      "redis://user:" + pw + "@",
      "redis://:" + pw + "%zz@host",
      "redis://:" + pw + "%4@host",
      "redis://" + pw + "@[::1",
      "rediss://user:" + pw + "@host",
      "http://user:" + pw + "@host",
      "user:" + pw + "@host",
  };
  for (const auto& url : bad) {
    SCOPED_TRACE(url);
    const std::string what = parse_error(url);
    EXPECT_EQ(what.find(pw), std::string::npos) << what;
    EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;
  }
}

TEST(RedisUrl, PasswordNotLeakedWhenCredentialsPrecedeTheScheme) {
  // A mistyped URL whose only "://" comes after the credentials: the part
  // before "://" is not a scheme and must not be echoed.
  for (const std::string url : {"user:hunter2@redis://host", "hunter2@host://x"}) {
    SCOPED_TRACE(url);
    const std::string what = parse_error(url);
    EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace multicache::l2
