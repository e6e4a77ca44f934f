#include "l2/redis_url.h"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace multicache::l2 {

namespace {

[[noreturn]] void fail(std::string_view why, std::string_view url) {
  // Never echo credentials: name the scheme only, and only when it looks like one.
  std::string_view scheme = url.substr(0, url.find("://"));
  const bool looks_like_scheme =
      scheme.size() < url.size() && !scheme.empty() && scheme.size() <= 16 &&
      scheme.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789+.-") == std::string_view::npos;
  std::string msg = "redis_url: " + std::string(why);
  if (looks_like_scheme) msg += " (in \"" + std::string(scheme) + "://...\")";
  throw std::invalid_argument(msg);
}

int parse_int(std::string_view s, int lo, int hi, std::string_view what, std::string_view url) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) {
    fail(std::string(what) + " must be an integer in [" + std::to_string(lo) + ", " +
             std::to_string(hi) + "]",
         url);
  }
  return v;
}

std::string percent_decode(std::string_view s, std::string_view url) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) fail("truncated %-escape", url);
    auto hex = [&](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      fail("bad %-escape", url);
    };
    out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
    i += 2;
  }
  return out;
}

// host[:port] or [ipv6][:port] into ep->host and ep->port.
void parse_host_port(std::string_view hostport, int default_port, std::string_view url,
                     Endpoint* ep) {
  ep->port = default_port;
  std::string_view port;
  if (hostport.starts_with('[')) {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) fail("unclosed [ in IPv6 host", url);
    ep->host = std::string(hostport.substr(1, close - 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') fail("expected :port after ]", url);
      port = after.substr(1);
      if (port.empty()) fail("empty port", url);
    }
  } else {
    auto colon = hostport.find(':');
    ep->host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
      if (port.empty()) fail("empty port", url);
    }
  }
  if (ep->host.empty()) fail("missing host", url);
  if (ep->host.find_first_of(" \t\r\n/?#@") != std::string::npos)
    fail("bad character in host", url);
  if (!port.empty()) ep->port = parse_int(port, 1, 65535, "port", url);
}

// [user:password@] or [password@] in front of the hosts.
std::string_view take_credentials(std::string_view rest, std::string_view url, Endpoint* ep) {
  auto at = rest.rfind('@');
  if (at == std::string_view::npos) return rest;
  std::string_view cred = rest.substr(0, at);
  auto colon = cred.find(':');
  if (colon == std::string_view::npos) {
    ep->password = percent_decode(cred, url);  // scheme://secret@host: a bare password
  } else {
    ep->user = percent_decode(cred.substr(0, colon), url);
    ep->password = percent_decode(cred.substr(colon + 1), url);
  }
  return rest.substr(at + 1);
}

}  // namespace

std::string Endpoint::describe() const {
  if (is_unix()) return "unix:" + unix_path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Endpoint parse_redis_url(std::string_view url) {
  Endpoint ep;
  constexpr std::string_view k_redis = "redis://";
  constexpr std::string_view k_unix = "unix://";
  if (url.starts_with("rediss://")) {
    fail("TLS (rediss://) is not supported: hiredis 0.14 has no TLS; use a TLS proxy", url);
  }
  if (url.starts_with(k_unix)) {
    std::string_view rest = url.substr(k_unix.size());
    std::string_view query;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    if (rest.empty() || rest.front() != '/') fail("unix:// needs an absolute socket path", url);
    ep.unix_path = std::string(rest);
    if (!query.empty()) {
      if (!query.starts_with("db=") || query.find('&') != std::string_view::npos) {
        fail("unix:// accepts only the query db=N", url);
      }
      ep.db = parse_int(query.substr(3), 0, 1 << 20, "db", url);
    }
    return ep;
  }
  if (!url.starts_with(k_redis)) {
    fail("scheme must be redis://, unix://, redis-cluster:// or redis-sentinel://", url);
  }
  std::string_view rest = url.substr(k_redis.size());

  rest = take_credentials(rest, url, &ep);
  std::string_view hostport = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) ep.db = parse_int(db, 0, 1 << 20, "db", url);
  }
  parse_host_port(hostport, 6379, url, &ep);
  return ep;
}

ServerSpec parse_server_url(std::string_view url) {
  constexpr std::string_view k_cluster = "redis-cluster://";
  constexpr std::string_view k_sentinel = "redis-sentinel://";
  ServerSpec spec;
  const bool cluster = url.starts_with(k_cluster);
  const bool sentinel = url.starts_with(k_sentinel);
  if (!cluster && !sentinel) {
    spec.nodes.push_back(parse_redis_url(url));
    return spec;
  }
  spec.mode = cluster ? ServerSpec::kind::cluster : ServerSpec::kind::sentinel;
  std::string_view rest = url.substr(cluster ? k_cluster.size() : k_sentinel.size());
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  Endpoint creds;
  rest = take_credentials(rest, url, &creds);
  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  while (!query.empty()) {
    const std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    if (pair.starts_with("db=") && sentinel) {
      creds.db = parse_int(pair.substr(3), 0, 1 << 20, "db", url);
    } else if (pair.starts_with("sentinel_password=") && sentinel) {
      spec.sentinel_password = percent_decode(pair.substr(18), url);
    } else {
      fail(sentinel ? "redis-sentinel:// accepts only the queries db=N and sentinel_password=..."
                    : "redis-cluster:// accepts no query",
           url);
    }
  }
  if (cluster && !path.empty())
    fail("redis-cluster:// has no database path (cluster uses db 0)", url);
  if (sentinel) {
    if (path.empty()) fail("redis-sentinel:// needs the master name: .../mymaster", url);
    spec.master_name = percent_decode(path, url);
  }
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view one = rest.substr(0, comma);
    if (one.empty()) fail("empty host in the host list", url);
    Endpoint ep = creds;
    parse_host_port(one, sentinel ? 26379 : 6379, url, &ep);
    if (sentinel) {  // the sentinels' own credentials, not the data nodes'
      ep.user.clear();
      ep.password = spec.sentinel_password;
      ep.db = 0;
    }
    spec.nodes.push_back(std::move(ep));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  spec.credentials = creds;
  return spec;
}

}  // namespace multicache::l2
