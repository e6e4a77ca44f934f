#!/usr/bin/env bash
# The second README command: installs what is missing, builds, and runs every
# test (unit tests, and integration tests against private redis-server
# processes the tests start on free loopback ports).
#
#   scripts/test.sh                    release build in build/
#   scripts/test.sh --sanitize address ASan+UBSan build in build-asan/
#   scripts/test.sh --sanitize thread  TSan build in build-tsan/
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=""
if [ "${1:-}" = "--sanitize" ]; then
  sanitize=${2:?"--sanitize takes address or thread"}
fi
./scripts/install-deps.sh
case "$sanitize" in
  "") export BUILD_DIR=${BUILD_DIR:-build} ;;
  address) export BUILD_DIR=${BUILD_DIR:-build-asan} ;;
  thread) export BUILD_DIR=${BUILD_DIR:-build-tsan} ;;
  *) echo "test.sh: --sanitize takes address or thread" >&2; exit 2 ;;
esac
if [ -n "$sanitize" ]; then
  # Sanitized code runs several times slower: time bounds in tests that catch
  # hangs (not speed) are scaled by this factor.
  export MULTICACHE_TEST_SLOWDOWN=${MULTICACHE_TEST_SLOWDOWN:-4}
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
  ./scripts/build.sh -DMULTICACHE_SANITIZE="$sanitize"
else
  ./scripts/build.sh
fi
ctest --test-dir "$BUILD_DIR" --output-on-failure -j 2
