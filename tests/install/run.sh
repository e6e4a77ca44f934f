#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds and runs a consumer
# with find_package(multicache) and another with pkg-config.
#   run.sh <build-dir> <source-dir>
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/include/multicache/multicache.hpp"
test -f "$tmp/prefix/lib/cmake/multicache/multicacheConfig.cmake" ||
  test -f "$tmp"/prefix/lib/*/cmake/multicache/multicacheConfig.cmake

cmake -S "$src/tests/install/consumer" -B "$tmp/cmake-consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cmake-consumer" >/dev/null
"$tmp/cmake-consumer/consumer"

pc_dir=$(dirname "$(find "$tmp/prefix" -name multicache.pc | head -n1)")
# Plain --libs, as the README says (the library is static: it must list
# the dependencies without --static).
flags=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs multicache)
# shellcheck disable=SC2086
c++ "$src/tests/install/consumer/main.cc" -o "$tmp/pc-consumer" $flags
"$tmp/pc-consumer"
echo "install: cmake and pkg-config consumers built and ran"
