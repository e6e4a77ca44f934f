// libFuzzer target: wire::parse_invalidation on arbitrary bytes.
//
// Parsing must never throw, crash, leak or hit UB. When the message parses,
// encode_invalidation(key, origin) must parse back to the same key (byte-exact,
// also for keys that are not UTF-8 and travel as "key_hex") and origin.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "wire/invalidation.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace multicache::wire;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto parsed = parse_invalidation(input);
  if (!parsed) return 0;

  const std::string encoded = encode_invalidation(parsed->key, parsed->origin);
  const auto again = parse_invalidation(encoded);
  check(again.has_value());
  check(again->key == parsed->key);
  check(again->origin == parsed->origin);
  return 0;
}
