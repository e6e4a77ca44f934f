// options_internal.h — option parsing shared by validation and construction.
#pragma once

#include <string>
#include <utility>

namespace multicache {

// "host:port" (host may be [ipv6]) -> {host, port}; throws
// std::invalid_argument("metrics_listen: ...").
std::pair<std::string, int> parse_listen_address(const std::string& address);

}  // namespace multicache
