// l2/redis_url.h — parsing Options::redis_url.
//
//   redis://[[user]:password@]host[:port][/db]    host may be [ipv6]
//   unix:///path/to/socket[?db=N]
//   redis-cluster://[[user]:password@]host[:port],host[:port],...   (seed nodes; db 0)
//   redis-sentinel://[[user]:password@]host[:port],...,host[:port]/master_name
//                    [?db=N&sentinel_password=...]
// Cluster ports default to 6379, sentinel ports to 26379. In a sentinel URL
// the user and password are the data nodes'; the sentinels use
// sentinel_password (none by default).
// user and password may be percent-encoded. Throws std::invalid_argument
// whose message starts with "redis_url: ".
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace multicache::l2 {

struct Endpoint {
  std::string host;  // empty for a unix socket
  int port = 6379;
  std::string unix_path;  // non-empty for a unix socket
  std::string user;       // empty: AUTH with password only (or no AUTH)
  std::string password;   // empty: no AUTH
  int db = 0;

  bool is_unix() const { return !unix_path.empty(); }
  // Somewhere to connect to: not the empty endpoint a sentinel-managed
  // client starts with while no sentinel has named the primary.
  bool known() const { return is_unix() || !host.empty(); }
  // host:port or the socket path, without credentials; for log lines.
  std::string describe() const;
};

Endpoint parse_redis_url(std::string_view url);  // redis:// and unix:// only

// Any of the forms above.
struct ServerSpec {
  enum class kind { single, cluster, sentinel };
  kind mode = kind::single;
  std::vector<Endpoint> nodes;  // single: the server; cluster: seeds; sentinel: the sentinels
  Endpoint credentials;         // cluster/sentinel: user, password, db for the data nodes
  std::string master_name;      // sentinel
  std::string sentinel_password;
};
ServerSpec parse_server_url(std::string_view url);

}  // namespace multicache::l2
