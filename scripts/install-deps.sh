#!/usr/bin/env bash
# Installs the Debian 12 packages MultiCache needs to build, test and run its
# demo, plus any package names given as arguments (other scripts pass their
# own extras). Idempotent: does nothing when everything is present. Needs root
# (or sudo).
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config make
  libhiredis-dev libevent-dev libsnappy-dev nlohmann-json3-dev libcpp-httplib-dev libxxhash-dev
  libgtest-dev libbenchmark-dev
  redis-server redis-tools
  prometheus curl procps
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package starts a system redis-server where systemd runs; tests and the
# demo start their own on free ports and never use it.
echo "install-deps: done"
