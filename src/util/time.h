// util/time.h — duration arithmetic that cannot overflow.
//
// Every duration the cache accepts (ttl, the Options' durations) is at most
// k_max_duration_ms, so deadlines (a clock reading plus up to two such
// durations, in ns) stay far below INT64_MAX. Values that come from outside
// (Redis PTTL, the stale-after header) go through the clamping helpers.
#pragma once

#include <algorithm>
#include <cstdint>

namespace multicache::util {

// 100 years.
inline constexpr std::int64_t k_max_duration_ms = 100LL * 365 * 24 * 3600 * 1000;

// ms -> ns, clamped to [0, k_max_duration_ms].
inline std::int64_t ms_to_ns(std::int64_t ms) {
  return std::clamp<std::int64_t>(ms, 0, k_max_duration_ms) * 1'000'000;
}

// The second after s (saturating): when Unix second s is over.
inline std::uint64_t end_of_second(std::uint64_t s) { return s == UINT64_MAX ? s : s + 1; }

// Nanoseconds from wall_ns (Unix ns) until second stale_after_s, clamped to
// [0, cap_ns]: 0 when already past.
inline std::int64_t ns_until_second(std::uint64_t stale_after_s, std::int64_t wall_ns,
                                    std::int64_t cap_ns) {
  const auto wall_s = static_cast<std::uint64_t>(wall_ns / 1'000'000'000);
  if (stale_after_s <= wall_s) return 0;
  const std::uint64_t diff_s = stale_after_s - wall_s;
  if (diff_s > static_cast<std::uint64_t>(cap_ns / 1'000'000'000) + 1) return cap_ns;
  const std::int64_t ns =
      static_cast<std::int64_t>(diff_s) * 1'000'000'000 - wall_ns % 1'000'000'000;
  return std::clamp<std::int64_t>(ns, 0, cap_ns);
}

}  // namespace multicache::util
