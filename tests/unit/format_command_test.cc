// format_command writes RESP by hand; hiredis's own formatter is the oracle
// (every integration test then sends its output to a real redis-server).
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <string>
#include <vector>

#include "l2/reply.h"

namespace multicache::l2 {
namespace {

std::string hiredis_format(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  const int n =
      redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
  std::string out(cmd, static_cast<std::size_t>(n));
  redisFreeCommand(cmd);
  return out;
}

TEST(FormatCommand, WritesWhatHiredisWrites) {
  EXPECT_EQ(format_command({"GET", "k"}), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  const std::string binary("a\0b\r\n$*", 8);
  const std::vector<std::vector<std::string>> cases = {
      {"PING"},
      {"SET", "", ""},
      {"SET", binary, std::string(9, 'x')},
      {"SET", std::string(10, 'x'), std::string(99, 'y'), std::string(100, 'z')},
      {"SET", "k", std::string(1000000, 'v')},
      {"MSET", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"},
  };
  for (const auto& c : cases) {
    std::string got;
    switch (c.size()) {
      case 1:
        got = format_command({c[0]});
        break;
      case 3:
        got = format_command({c[0], c[1], c[2]});
        break;
      case 4:
        got = format_command({c[0], c[1], c[2], c[3]});
        break;
      default:
        got = format_command(
            {c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]});
    }
    EXPECT_EQ(got, hiredis_format(c)) << c[0] << " with " << c.size() << " arguments";
  }
}

TEST(FormatCommand, KeyCommandJoinsPrefixAndKey) {
  const std::string binary("a\0b\r\n$*", 8);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""},
      {"mc:", ""},
      {"", "k"},
      {"mc:", "user:42"},
      {binary, binary},
      {std::string(5, 'p'), std::string(5, 'k')},
      {"x", std::string(100000, 'k')},
  };
  for (const auto& [prefix, key] : cases) {
    EXPECT_EQ(format_key_command("GET", prefix, key), hiredis_format({"GET", prefix + key}))
        << prefix.size() << "-byte prefix, " << key.size() << "-byte key";
  }
}

}  // namespace
}  // namespace multicache::l2
