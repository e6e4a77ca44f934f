#!/usr/bin/env bash
# Builds the benchmarks (Release, build-bench/) and runs them, printing the
# tables the README quotes. Each table comes from one run, side by side with
# its baseline, so ratios are meaningful on a noisy machine.
#   scripts/bench.sh            all suites
#   MIN_TIME=2 scripts/bench.sh longer runs
#   REPS=5 scripts/bench.sh     more repetitions of the L1 and Caffeine rows (3)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh python3-minimal
BUILD_DIR=build-bench BUILD_TYPE=Release ./scripts/build.sh -DMULTICACHE_BUILD_BENCH=ON \
  -DMULTICACHE_BUILD_TESTS=OFF -DMULTICACHE_BUILD_EXAMPLES=OFF >/dev/null
min_time=${MIN_TIME:-1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Runs one Google Benchmark binary, its JSON into $1. Its stderr is kept, and
# shown with the exit code if it fails, so that a failed suite never ends
# this script (set -e) without a word.
bench_json() {
  local json=$1 rc=0
  shift
  "$@" --benchmark_format=json >"$json" 2>"$json.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "bench.sh: $* exited with status $rc; the end of its stderr:" >&2
    tail -n 20 "$json.err" >&2
    exit "$rc"
  fi
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo
# L1 rows: medians of interleaved repetitions (2-thread figures move by
# +-30% from one run to the next on a shared 2-core VM).
reps=${REPS:-3}
bench_json "$out/l1.json" build-bench/bench/l1_bench --benchmark_min_time="$min_time" \
  --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true
# Caffeine (Java) on the same workload, right after l1_bench: optional, never
# a dependency. Debian: apt-get install default-jre-headless libcaffeine-java
# (or scripts/install-deps.sh default-jre-headless libcaffeine-java).
caffeine_jar=/usr/share/java/caffeine.jar
caffeine_note="" caffeine_version=""
: >"$out/caffeine.txt"
if ! command -v java >/dev/null 2>&1 || [ ! -f "$caffeine_jar" ]; then
  caffeine_note="Caffeine rows skipped: no java or no $caffeine_jar (apt-get install default-jre-headless libcaffeine-java)"
elif ! (for _ in $(seq "$reps"); do  # as many runs as l1_bench's repetitions
  java -cp "$caffeine_jar" bench/caffeine/CaffeineBench.java "$min_time" || exit 1
done) >"$out/caffeine.txt" 2>"$out/caffeine.err"; then
  caffeine_note="Caffeine rows skipped: bench/caffeine/CaffeineBench.java failed: $(head -n1 "$out/caffeine.err")"
  : >"$out/caffeine.txt"  # no rows from the runs that did finish: all or none
else  # Debian's caffeine.jar links to caffeine-<version>.jar
  caffeine_version=$(basename "$(readlink -f "$caffeine_jar")" .jar | sed -n 's/^caffeine-//p')
fi
export caffeine_note caffeine_version reps
bench_json "$out/compression.json" build-bench/bench/compression_bench \
  --benchmark_min_time="$min_time"
python3 - "$out/l1.json" "$out/compression.json" "$out/caffeine.txt" <<'PY'
import json, os, statistics, sys
sys.path.insert(0, "scripts")
from bench_tables import fmt as f, rate_rows, rates
rate = rates(sys.argv[1])
print(f"L1 hit throughput, Mops/s total (100k keys, 100-byte values, Zipf 0.99; medians of {os.environ['reps']} interleaved repetitions, Caffeine: of as many runs):")
print()
print("| what | 1 thread | 2 threads | vs mutex-LRU, 2 threads |")
print("|---|---|---|---|")
labels = [("BM_multicache_string", "`get_or_load<std::string>`"),
          ("BM_multicache_string_metrics", "the same with `metrics = true`"),
          ("BM_multicache_user", "`get_or_load<User>` (decoded object, no JSON parse)"),
          ("BM_multicache_shared", "`get_or_load_shared<User>` (no copy)"),
          ("BM_multicache_visit", "`visit_or_load<std::string>` (reader on the cached object: no copy, no shared count)"),
          ("BM_multicache_visit_user", "`visit_or_load<User>`"),
          ("BM_baseline_mutex_lru", "baseline: mutex + list + map LRU (the Go library's design)"),
          ("BM_limit_unordered_map", "limit: unsynchronized `unordered_map::find`"),
          ("BM_limit_unordered_map_copy", "limit: the same `find`, then the value copied out")]
rate_rows(rate, labels, "BM_baseline_mutex_lru")
# Caffeine lines: "caffeine_get threads=1 items_per_second=6.57e+06", one per case and run.
runs = {}
for line in open(sys.argv[3]):
    if not line.startswith("caffeine_"): continue
    name, *fields = line.split()
    kv = dict(x.split("=", 1) for x in fields)
    runs.setdefault((name, int(kv["threads"])), []).append(float(kv["items_per_second"]) / 1e6)
for k, v in runs.items(): rate[k] = statistics.median(v)
caffeine = " ".join(filter(None, ["Caffeine", os.environ.get("caffeine_version")]))
rate_rows(rate, [("caffeine_get", "`get(key, loader)`"), ("caffeine_get_if_present", "`getIfPresent(key)`"),
                 ("caffeine_get_ttl", "`get(key, loader)` with `expireAfterWrite(1h)`, keys equal but not identical")],
          "BM_baseline_mutex_lru", label_format=f"baseline: {caffeine} {{}} (Java)", skip_missing=True)
print()
cg1, cg2 = rate.get(("caffeine_get", 1)), rate.get(("caffeine_get", 2))
ct1, ct2 = rate.get(("caffeine_get_ttl", 1)), rate.get(("caffeine_get_ttl", 2))
if cg1 or cg2:
    print("Against Caffeine, same run (plain: size bound only, probed with the stored key objects;")
    print("TTL: expireAfterWrite(1h) like every MultiCache entry, keys equal but not identical):")
    print()
    print("| ours / Caffeine | plain, 1 thread | plain, 2 threads | TTL, 1 thread | TTL, 2 threads |")
    print("|---|---|---|---|---|")
    for key, label in [("BM_multicache_string", "`get_or_load<std::string>`"),
                       ("BM_multicache_shared", "`get_or_load_shared<User>`"),
                       ("BM_multicache_visit", "`visit_or_load<std::string>`"),
                       ("BM_multicache_visit_user", "`visit_or_load<User>`")]:
        r1, r2 = rate.get((key, 1)), rate.get((key, 2))
        q = lambda a, b: f"{a / b:.2f}×" if a and b else "–"
        print(f"| {label} | {q(r1, cg1)} | {q(r2, cg2)} | {q(r1, ct1)} | {q(r2, ct2)} |")
    print()
else:
    print(os.environ.get("caffeine_note") or "Caffeine rows skipped: no output from bench/caffeine/CaffeineBench.java")
    print()
print("Issue 7's workload as stated, 95% reads: every 20th operation of a thread writes the key it drew")
print("(a 100-byte value), the others read it (hits); Mops/s total:")
print()
print("| what | 1 thread | 2 threads | vs mutex-LRU, 2 threads |")
print("|---|---|---|---|")
rate_rows(rate, [("BM_mixed_multicache_string", "`get_or_load<std::string>` and `set<std::string>` (L1-only)"),
                 ("BM_mixed_baseline_mutex_lru", "baseline: mutex + list + map LRU, `get` and `put`"),
                 ("caffeine_mixed_ttl", f"baseline: {caffeine} `get(key, loader)` and `put`, `expireAfterWrite(1h)` (Java)")],
          "BM_mixed_baseline_mutex_lru", skip_missing=True)
print()
print("4 KiB values (10k keys, Zipf 0.99), the caller reading one byte of each, Mops/s total:")
print()
print("| accessor | 1 thread | 2 threads | vs copying, 2 threads |")
print("|---|---|---|---|")
rate_rows(rate, [("BM_large_copy", "`get_or_load<std::string>` (copies 4 KiB)"),
                 ("BM_large_shared", "`get_or_load_shared<std::string>`"),
                 ("BM_large_visit", "`visit_or_load<std::string>`")], "BM_large_copy")
print()
comp = json.load(open(sys.argv[2]))["benchmarks"]
row = {}
for b in comp:
    row[b["name"]] = b
print("Snappy compression (stored bytes include the 9-byte header; times per value):")
print()
print("| payload | raw bytes | stored with compression | saved | encode raw / snappy | decode raw / snappy |")
print("|---|---|---|---|---|---|")
for big, label in [(0, "200-byte JSON object"), (1, "JSON array of 1,000 users")]:
    raw = row[f"BM_encode/big:{big}/snappy:0"]
    zs = row[f"BM_encode/big:{big}/snappy:1"]
    dr = row[f"BM_decode/big:{big}/snappy:0"]
    dz = row[f"BM_decode/big:{big}/snappy:1"]
    us = lambda b: f"{b['real_time'] / 1000:.2f} µs" if b["time_unit"] == "ns" else f"{b['real_time']} {b['time_unit']}"
    print(f"| {label} | {int(raw['stored_bytes'])} | {int(zs['stored_bytes'])} (Snappy alone: {int(zs['snappy_bytes'])}) | {zs['saved_pct']:.1f}% | {us(raw)} / {us(zs)} | {us(dr)} / {us(dz)} |")
PY
bench_json "$out/batch.json" build-bench/bench/batch_bench --benchmark_min_time="$min_time"
python3 - "$out/batch.json" <<'PY'
import json, sys
b = {x["name"].split("/")[0]: x for x in json.load(open(sys.argv[1]))["benchmarks"]}
batch, single = b["BM_batch_100_keys"], b["BM_single_100_keys"]
print()
print("100 keys served by Redis (L1 kept empty):")
print()
print("| how | time for 100 keys | Redis round trips | ratio |")
print("|---|---|---|---|")
print(f"| 100 × `get_or_load` | {single['real_time']:.0f} µs | 100 | 1.00× |")
print(f"| one `get_or_load_many` | {batch['real_time']:.0f} µs | 1 | {single['real_time'] / batch['real_time']:.1f}× faster |")
PY
bench_json "$out/ladder.json" build-bench/bench/l1_ladder_bench --benchmark_min_time="$min_time" \
  --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true
python3 - "$out/ladder.json" <<'PY'
import json, os, sys
sys.path.insert(0, "scripts")
from bench_tables import rate_rows, rates
rate = rates(sys.argv[1])
print()
print(f"Where an L1 hit's time goes (l1_ladder_bench: the same read of a cached 100-byte string through more and more of the cache; Mops/s, medians of {os.environ['reps']} interleaved repetitions):")
print()
print("| rung | 1 thread | 2 threads | vs the index alone, 2 threads |")
print("|---|---|---|---|")
rate_rows(rate, [("BM_rung1_index", "the index and entries alone (no lock, no clock, no sketch)"),
                 ("BM_rung2_index_locked", "+ the shard's shared lock"),
                 ("BM_rung3_l1_find_visit", "`L1Cache::find_visit` at a fixed time (+ reference bit, deadlines, sketch)"),
                 ("BM_rung3_l1_find_visit_clock_policy", "the same with `l1_policy` clock (no sketch)"),
                 ("BM_rung3_clock<coarse_time>", "the same, time read per hit as the cache reads it (coarse)"),
                 ("BM_rung3_clock<exact_time>", "the same, time read per hit from `steady_clock` (before)"),
                 ("BM_rung4_cache_visit", "`Cache::visit_or_load<std::string>` (the whole hit)")], "BM_rung1_index")
lag = [b for b in json.load(open(sys.argv[1]))["benchmarks"]
       if b["run_name"].startswith("BM_coarse_clock_lag") and b.get("aggregate_name", "median") == "median"]
if lag:
    print()
    print(f"The coarse clock's lag behind steady_clock over the run: {lag[0]['min_lag_us']:.0f}-{lag[0]['max_lag_us']:.0f} µs"
          f" (the bound a hit relies on, SystemClock::max_lag(): {lag[0]['bound_us']:.0f} µs)")
PY
echo
build-bench/bench/invalidation_latency "" "${ROUNDS:-2000}"
bench_json "$out/l2.json" build-bench/bench/l2_bench --benchmark_min_time="$min_time" \
  --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
python3 - "$out/l2.json" <<'PY'
import json, sys
m = {}
for x in json.load(open(sys.argv[1]))["benchmarks"]:
    if x.get("aggregate_name") != "median": continue
    m[(x["run_name"].split("/")[0], x["threads"])] = x
# A row whose runs failed (a read that missed: SkipWithError) has no median:
# it prints as "–" instead of ending the script.
raw, hit1 = m.get(("BM_raw_hiredis_get", 1)), m.get(("BM_multicache_l2_hit", 1))
print()
print("L2 hit (L1 miss, Redis hit: GET + PTTL), 200-byte values, medians of 5 interleaved repetitions;")
print("the last column is the process's (all threads') context switches and CPU time per read:")
print()
print("| what | multicache | baseline | ratio | switches, CPU µs per read: multicache / baseline |")
print("|---|---|---|---|---|")
cost = lambda x: f"{x['cs_per_op']:.2f}, {x['cpu_us_per_op']:.1f}" if x and "cs_per_op" in x else "–"
us = lambda x: f"{x['real_time']:.1f} µs" if x else "–"
kops = lambda x: f"{x['items_per_second'] / 1e3:.1f} kops/s" if x else "–"
ratio = lambda a, b, key: f"{a[key] / b[key]:.2f}×" if a and b else "–"
print(f"| 1 thread, latency | {us(hit1)} | raw blocking hiredis GET: {us(raw)} | {ratio(hit1, raw, 'real_time')} the latency | {cost(hit1)} / {cost(raw)} |")
for t in (4, 16, 64, 256):
    pool = m.get(("BM_blocking_pool_2", t))
    for name, how in (("BM_multicache_l2_hit", "pool_size 2, `redis_spin_wait` 0"), ("BM_multicache_l2_hit_spin", "pool_size 2, `redis_spin_wait` 100 µs: the default")):
        hit = m.get((name, t))
        print(f"| {t} threads, throughput | {kops(hit)} ({how}) | blocking pool of 2 connections: {kops(pool)} | {ratio(hit, pool, 'items_per_second')} the throughput | {cost(hit)} / {cost(pool)} |")
l1 = lambda x: f"{100 * x['l1_hit_fraction']:.1f}%" if x and "l1_hit_fraction" in x else "–"
for t in (16, 64):
    hit, pool = m.get(("BM_multicache_l2_hit_wide", t)), m.get(("BM_blocking_pool_2_wide", t))
    print(f"| {t} threads, 100k keys read uniformly through a 1024-item L1 | {kops(hit)} (default spin; L1 answered {l1(hit)}) | the pool, same keys: {kops(pool)} | {ratio(hit, pool, 'items_per_second')} the throughput | {cost(hit)} / {cost(pool)} |")
PY
bench_json "$out/cluster.json" build-bench/bench/cluster_bench --benchmark_min_time="$min_time" \
  --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true
python3 - "$out/cluster.json" <<'PY'
import json, sys
rate = {}
for x in json.load(open(sys.argv[1]))["benchmarks"]:
    if x.get("aggregate_name") != "median": continue
    parts = x["run_name"].split("/")
    rate[(parts[0], parts[1], x["threads"])] = x["items_per_second"] / 1e3
print()
print("One redis-server vs a 3-primary Redis Cluster on this machine (L2-bound traffic, kops/s, medians of 3):")
print()
print("| operation | threads | one server | 3-primary cluster | cluster / one |")
print("|---|---|---|---|---|")
for op, label in (("BM_l2_read", "L2 read (`get`, L1 of 1 item)"), ("BM_write", "`set` (SET PXAT + PUBLISH)")):
    for t in (1, 16):
        one, cl = rate[(op, "0", t)], rate[(op, "1", t)]
        print(f"| {label} | {t} | {one:.1f} | {cl:.1f} | {cl / one:.2f}× |")
PY
echo
echo "Loader protection: N threads on one cold key (loader sleeps 20 ms), 20 rounds each:"
echo
build-bench/bench/stampede_latency "" 20 20
