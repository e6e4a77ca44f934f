// l2/redis_url.h — parsing Options::redis_url.
//
//   redis://[[user]:password@]host[:port][/db]    host may be [ipv6]
//   unix:///path/to/socket[?db=N]
// user and password may be percent-encoded. Throws std::invalid_argument
// whose message starts with "redis_url: ".
#pragma once

#include <string>
#include <string_view>

namespace multicache::l2 {

struct Endpoint {
  std::string host;  // empty for a unix socket
  int port = 6379;
  std::string unix_path;  // non-empty for a unix socket
  std::string user;       // empty: AUTH with password only (or no AUTH)
  std::string password;   // empty: no AUTH
  int db = 0;

  bool is_unix() const { return !unix_path.empty(); }
  // host:port or the socket path, without credentials; for log lines.
  std::string describe() const;
};

Endpoint parse_redis_url(std::string_view url);

}  // namespace multicache::l2
