#!/usr/bin/env bash
# The first README command: installs what is missing, builds, and runs the
# quick start. Uses $MULTICACHE_REDIS_URL when set; otherwise starts a
# throwaway redis-server on a free loopback port if one is installed, and
# otherwise runs L1-only (and says so).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# Only the example and the library: the tests and benchmarks are test.sh's.
BUILD_TARGET=quickstart ./scripts/build.sh >/dev/null
echo "demo: built build/examples/quickstart"

url=${MULTICACHE_REDIS_URL:-}
redis_pid=""
tmp=""
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  [ -n "$tmp" ] && rm -rf "$tmp"
  return 0
}
trap cleanup EXIT
if [ -z "$url" ] && command -v redis-server >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
         shuf -i 20000-60000 -n 1)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
    --logfile "$tmp/redis.log" &
  redis_pid=$!
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  url="redis://127.0.0.1:$port"
  echo "demo: started a throwaway redis-server on 127.0.0.1:$port"
elif [ -z "$url" ]; then
  echo "demo: redis-server is not installed: running L1-only"
fi
./build/examples/quickstart "$url"
