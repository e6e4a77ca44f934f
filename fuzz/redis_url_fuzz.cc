// libFuzzer target: l2::parse_server_url (every URL form) on arbitrary bytes.
//
// std::invalid_argument (documented, message starting "redis_url: ") is the
// only expected failure; any other exception escapes and libFuzzer reports it.
// An accepted URL must give usable endpoints: port in [1, 65535], db >= 0,
// and exactly one of host / unix_path; a sentinel URL names its master.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "l2/redis_url.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace multicache::l2;
  const std::string_view url(reinterpret_cast<const char*>(data), size);
  ServerSpec spec;
  try {
    spec = parse_server_url(url);
  } catch (const std::invalid_argument& e) {
    check(std::string_view(e.what()).starts_with("redis_url: "));
    return 0;
  }
  check(!spec.nodes.empty());
  check(spec.mode == ServerSpec::kind::single || spec.credentials.db >= 0);
  check((spec.mode == ServerSpec::kind::sentinel) == !spec.master_name.empty());
  check(spec.mode == ServerSpec::kind::single || spec.nodes.size() >= 1);
  for (const Endpoint& ep : spec.nodes) {
    check(ep.port >= 1 && ep.port <= 65535);
    check(ep.db >= 0);
    check(ep.host.empty() != ep.unix_path.empty());
    check(ep.is_unix() == !ep.unix_path.empty());
    check(!ep.describe().empty());
  }
  return 0;
}
