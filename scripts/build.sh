#!/usr/bin/env bash
# Configures and builds into BUILD_DIR (default: build). Extra arguments go to
# cmake's configure step, e.g. -DMULTICACHE_SANITIZE=address. BUILD_TARGET
# builds only that target (and what it needs).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$@"
else
  cmake -S . -B "$build_dir" "$@" >/dev/null
fi
# Two jobs: the machines this targets have two cores, and g++ needs ~1 GiB each.
cmake --build "$build_dir" -j "${JOBS:-2}" ${BUILD_TARGET:+--target "$BUILD_TARGET"}
