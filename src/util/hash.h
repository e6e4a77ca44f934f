// util/hash.h — string hashing for shard selection and hash maps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace multicache::util {

// Transparent hash so maps keyed by std::string can be probed with a string_view.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

// Spreads a hash's bits so both the shard index (high bits) and the table
// inside a shard (low bits) see well-mixed values.
inline std::uint64_t mix_hash(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

}  // namespace multicache::util
