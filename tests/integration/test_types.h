// integration/test_types.h — value types and helpers shared by the integration tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <multicache/multicache.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/redis_server.h"

namespace multicache::test {

struct User {
  int id = 0;
  std::string name;
  bool operator==(const User&) const = default;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(User, id, name)
};

// A value whose L1 accounting (Codec::size_of, called just before a value
// goes into L1: by a fill, or by set() after its Redis write) runs
// g_size_of_hook with the value, so a test can hold a store at that point,
// or make it throw (as a user's size_of may). Tests reset the hook.
struct Hooked {
  std::string v;
  bool operator==(const Hooked&) const = default;
};
inline std::function<void(const Hooked&)> g_size_of_hook;

}  // namespace multicache::test

template <>
struct multicache::Codec<multicache::test::Hooked> {
  static std::string encode(const test::Hooked& h) { return h.v; }
  static test::Hooked decode(std::string_view b) { return {std::string(b)}; }
  static std::size_t size_of(const test::Hooked& h) {
    if (test::g_size_of_hook) test::g_size_of_hook(h);
    return h.v.size();
  }
};

namespace multicache::test {

// A move-only type with a codec is not cacheable (a hit returns a copy): the
// concept says so, rather than a hard error inside the library.
struct MoveOnly {
  std::unique_ptr<int> p;
};
}  // namespace multicache::test
template <>
struct multicache::Codec<multicache::test::MoveOnly> {
  static std::string encode(const test::MoveOnly&) { return {}; }
  static test::MoveOnly decode(std::string_view) { return {}; }
};
static_assert(multicache::codable<multicache::test::MoveOnly>);
static_assert(!multicache::cacheable<multicache::test::MoveOnly>);
static_assert(multicache::cacheable<multicache::test::User>);
static_assert(multicache::cacheable<std::optional<std::string>>);

namespace multicache::test {

// Options for a cache on `server`, with a prefix and channel unique to the test.
inline Options options_for(const RedisServer& server, const std::string& prefix) {
  Options o;
  o.redis_url = server.url();
  o.key_prefix = prefix;
  o.pubsub_channel = prefix + "sync";
  o.log = [](log_level, std::string_view) {};  // tests assert on stats, not on stderr
  return o;
}

// How many times the server has run `command` (lower case; INFO commandstats).
inline long long command_calls(RedisCli& cli, const std::string& command) {
  const std::string info = cli.cmd({"INFO", "commandstats"}).str;
  const std::string mark = "cmdstat_" + command + ":calls=";
  const auto at = info.find(mark);
  return at == std::string::npos ? 0 : std::stoll(info.substr(at + mark.size()));
}

// Runs child(p, go) in n forked processes (p = 0..n-1). Each sets up what it
// needs, then calls go(), which returns once every process had 300 ms to
// get there, so that they all start together; child's result is its exit
// status, which the test expects to be true.
inline void in_processes(int n,
                         const std::function<bool(int, const std::function<void()>&)>& child) {
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  std::vector<pid_t> children;
  for (int p = 0; p < n; ++p) {
    const pid_t pid = fork();
    if (pid < 0) {
      ADD_FAILURE() << "fork failed";
      break;  // the children forked so far still start and are waited for
    }
    if (pid == 0) {
      close(go[1]);
      bool ok = false;
      try {
        ok = child(p, [&] {
          char c;
          (void)!read(go[0], &c, 1);  // returns when the parent closes its end
        });
      } catch (...) {  // never back into gtest in the child
      }
      _exit(ok ? 0 : 1);
    }
    children.push_back(pid);
  }
  close(go[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let every child connect
  close(go[1]);                                                 // go
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
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
