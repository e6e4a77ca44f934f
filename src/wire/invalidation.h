// wire/invalidation.h — the Pub/Sub invalidation message.
//
//   {"key":"<user key>","origin":"<instance id>"}
//
// Go instances send {"key":"..."} and ignore unknown fields. JSON strings hold
// Unicode text, so a key that is not valid UTF-8 is also sent byte-exact as
// "key_hex" (lower-case hex); "key" then carries the lossy U+FFFD form that
// Go's encoding/json would produce. A parser prefers "key_hex" when present.
// A message without "origin" comes from a foreign instance and is always applied.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace multicache::wire {

// Larger messages are rejected unparsed.
inline constexpr std::size_t k_max_invalidation_bytes = 1 << 20;

struct Invalidation {
  std::string key;
  std::string origin;  // empty when the sender gave none
};

std::string encode_invalidation(std::string_view key, std::string_view origin);

// nullopt for anything malformed: not JSON, not an object, no string "key",
// bad hex, oversized. Never throws.
std::optional<Invalidation> parse_invalidation(std::string_view message);

}  // namespace multicache::wire
