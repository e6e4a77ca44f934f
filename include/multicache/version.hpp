// multicache/version.hpp — the library version.
#pragma once

#define MULTICACHE_VERSION_MAJOR 0
#define MULTICACHE_VERSION_MINOR 1
#define MULTICACHE_VERSION_PATCH 0

namespace multicache {
inline constexpr const char* version = "0.1.0";
}  // namespace multicache
