// util/hash.h — string hashing for shard selection and hash maps.
//
// XXH3 (Debian's libxxhash, inlined: no link dependency): about half the
// instructions of libstdc++'s std::hash on the ~20-byte keys of a cache, and
// the hash is computed on every lookup.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace multicache::util {

// Transparent hash so maps keyed by std::string can be probed with a string_view.
// Seeded once per process at random, so keys cannot be crafted offline to
// collide in the L1's index (hash values never leave the process).
struct StringHash {
  using is_transparent = void;
  static std::uint64_t seed() noexcept {
    static const std::uint64_t s = []() -> std::uint64_t {
      try {
        std::random_device rd;
        return (std::uint64_t{rd()} << 32) ^ rd();
      } catch (...) {  // no entropy source: any per-process value will do
        return static_cast<std::uint64_t>(
            std::chrono::steady_clock::now().time_since_epoch().count());
      }
    }();
    return s;
  }
  std::size_t operator()(std::string_view s) const noexcept {
    return static_cast<std::size_t>(XXH3_64bits_withSeed(s.data(), s.size(), seed()));
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
