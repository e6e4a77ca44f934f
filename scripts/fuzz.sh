#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang into build-fuzz/ and runs each
# for FUZZ_SECONDS seconds (default 60) on a temporary copy of its seed corpus,
# so the committed corpus never grows. Exits non-zero when any target reports a
# crash, leak, UB, timeout or OOM; reproducers go to build-fuzz/artifacts/<target>/
# (emptied at the start of each run) and logs to build-fuzz/logs/<target>.log.
#
#   scripts/fuzz.sh                     all targets, 60 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh    longer runs
#   scripts/fuzz.sh redis_url_fuzz      only the named target(s)
#
# Reproduce a finding: build-fuzz/fuzz/<target> <crash file>
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

fuzz_seconds=${FUZZ_SECONDS:-60}
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
targets=(envelope_fuzz invalidation_fuzz redis_url_fuzz)
if [ $# -gt 0 ]; then targets=("$@"); fi

# ---- dependencies: the library's build deps, clang and the libFuzzer runtime --
./scripts/install-deps.sh clang libclang-rt-14-dev

# ---- build: only the fuzz targets, two jobs ---------------------------------
build_start=$(date +%s)
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DMULTICACHE_BUILD_FUZZERS=ON \
    -DMULTICACHE_BUILD_TESTS=OFF -DMULTICACHE_BUILD_EXAMPLES=OFF >/dev/null
else
  cmake -S . -B "$build_dir" -DMULTICACHE_BUILD_FUZZERS=ON >/dev/null
fi
cmake --build "$build_dir" -j "${JOBS:-2}" --target "${targets[@]}"
echo "fuzz: build took $(( $(date +%s) - build_start )) s"

# ---- run ---------------------------------------------------------------------
# libFuzzer turns ASan/UBSan reports, leaks, timeouts and OOMs into a non-zero
# exit and writes the input as <artifact_prefix>{crash,leak,timeout,oom}-<sha1>.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

work=$(mktemp -d "${TMPDIR:-/tmp}/multicache-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$build_dir/logs"

failed=()
summaries=()
for target in "${targets[@]}"; do
  name=${target%_fuzz}
  bin="$build_dir/fuzz/$target"
  seeds="fuzz/corpus/$name"
  dict="fuzz/$name.dict"
  log="$build_dir/logs/$target.log"
  artifacts="$root/$build_dir/artifacts/$target"
  corpus="$work/$name"
  rm -rf "$artifacts"  # only this run's findings; copy older ones out first
  mkdir -p "$corpus" "$artifacts"
  if [ -d "$seeds" ]; then cp -R "$seeds/." "$corpus/"; fi
  args=(-max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -malloc_limit_mb=64 -max_len=4096 -timeout=30
        -print_final_stats=1 -artifact_prefix="$artifacts/")
  if [ -f "$dict" ]; then args+=(-dict="$dict"); fi

  echo "== $target: ${fuzz_seconds} s (log: $log)"
  start=$(date +%s)
  rc=0
  "$bin" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - start ))

  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
  if [ -z "$runs" ]; then runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last"); fi

  if [ "$rc" -eq 0 ]; then status=ok; else status="FAILED (exit $rc)"; failed+=("$target"); fi
  line=$(printf '%-18s %s: %s runs in %s s (%s/s), cov %s, ft %s, corpus %s, peak rss %s MB' \
    "$target" "$status" "${runs:-?}" "$secs" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}")
  summaries+=("$line")
  echo "$line"
  if [ "$rc" -ne 0 ]; then
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error:|.*deadly signal|.*Test unit written)' "$log" | head -n 10 || true
    for f in "$artifacts"/*; do
      [ -f "$f" ] || continue
      echo "   reproducer $f ($(wc -c <"$f") bytes): $(head -c 256 "$f" | od -An -v -tx1 | tr -d ' \n')"
    done
  fi
done

echo "== fuzz summary (${fuzz_seconds} s per target)"
printf '%s\n' "${summaries[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (see $build_dir/logs/ and $build_dir/artifacts/)" >&2
  exit 1
fi
echo "fuzz: all targets clean"
