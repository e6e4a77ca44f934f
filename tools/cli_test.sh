#!/usr/bin/env bash
# multicache-bench's command line (ctest, label tool): --help; bad values
# exit 2 naming the option; no way out (a bad trace, a bad URL, a server that
# does not start, Ctrl-C) leaves its throwaway redis-server running or its
# directory behind; --reads runs the mix it is given.
#
#   tools/cli_test.sh path/to/multicache-bench
set -u
bench=${1:?usage: cli_test.sh path/to/multicache-bench}
work=$(mktemp -d)
export TMPDIR=$work # the throwaway server's directory goes here

# The processes running in a directory under $work: the throwaway servers
# (redis-server works in its --dir, and renames itself, so its command line
# does not show the directory).
our_servers() {
  local p
  for p in /proc/[0-9]*; do
    [[ "$(readlink "$p/cwd" 2>/dev/null)" == "$work"/* ]] && echo "${p#/proc/}"
  done
}
trap 'kill -KILL $(our_servers) 2>/dev/null; rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# $1: what ran. No redis-server of ours runs, no server directory is left.
nothing_left() {
  if [ -n "$(our_servers)" ]; then fail "$1: a redis-server is still running"; fi
  if ls "$work" | grep -q multicache-redis; then fail "$1: left $(ls "$work")"; fi
}

# $1: expected exit status; the rest: arguments. Prints stderr.
expect_exit() {
  local want=$1
  shift
  local err rc
  err=$("$bench" "$@" 2>&1 >/dev/null)
  rc=$?
  [ "$rc" -eq "$want" ] || fail "$*: exit $rc, want $want ($err)"
  nothing_left "$*"
  printf '%s' "$err"
}

out=$("$bench" --help) || fail "--help: exit $?"
grep -q -- "--reads R" <<<"$out" || fail "--help printed no usage"

for args in "--keys -1" "--keys 12abc" "--keys 0" "--value-size -1" "--reads nan" \
  "--reads 1.5" "--zipf nan" "--duration inf" "--duration 1e10" "--duration 0" \
  "--threads 0" "--l1-items 0" "--loader-us -5" "--keys"; do
  # shellcheck disable=SC2086 # the options are split on purpose
  err=$(expect_exit 2 $args)
  grep -q -- "${args%% *}" <<<"$err" || fail "$args: the message does not name the option: $err"
done
err=$(expect_exit 2 --bogus)
grep -q "unknown option --bogus" <<<"$err" || fail "--bogus: $err"

: >"$work/empty.trace"
err=$(expect_exit 2 --trace "$work/empty.trace" --duration 1)
grep -q "is empty" <<<"$err" || fail "empty trace: $err"
printf 'abc' >"$work/odd.trace"
err=$(expect_exit 2 --trace "$work/odd.trace" --duration 1)
grep -q "multiple of 8" <<<"$err" || fail "odd trace: $err"
err=$(expect_exit 2 --trace "$work" --duration 1)
grep -q "Is a directory" <<<"$err" || fail "trace directory: $err"
err=$(expect_exit 2 --redis garbage --duration 1)
grep -q "redis_url" <<<"$err" || fail "bad URL: $err"
err=$(MULTICACHE_REDIS_SERVER=/bin/false expect_exit 1 --duration 1)
grep -q "did not start" <<<"$err" || fail "server that does not start: $err"
err=$(expect_exit 1 --redis "redis://:secret@127.0.0.1:1" --duration 1)
grep -q "redis://\*\*\*@127.0.0.1:1 is not reachable" <<<"$err" || fail "unreachable: $err"
if grep -q secret <<<"$err"; then fail "the password is in the message: $err"; fi

# Starts a long run in the background (pid in $pid) and waits for its server.
start_run() {
  "$bench" --keys 1000 --duration 120 --loader-us 0 --json >"$work/out.json" 2>"$work/err" &
  pid=$!
  for _ in $(seq 1 100); do
    [ -n "$(our_servers)" ] && break
    sleep 0.1
  done
  [ -n "$(our_servers)" ] || fail "$1: no server started ($(cat "$work/err"))"
  sleep 1
}

# Ctrl-C (and a closed terminal, SIGHUP): the report of what ran, exit 128 +
# the signal, the server stopped.
for sig in INT:130 HUP:129; do
  start_run "SIG${sig%:*}"
  kill "-${sig%:*}" "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" -eq "${sig#*:}" ] || fail "SIG${sig%:*}: exit $rc, want ${sig#*:} ($(cat "$work/err"))"
  grep -q '"ops_per_s":[1-9]' "$work/out.json" || fail "SIG${sig%:*}: no report: $(cat "$work/out.json")"
  nothing_left "SIG${sig%:*}"
done

# Killed outright (SIGKILL, or a second Ctrl-C): no cleanup runs, but the
# server dies with it (its directory stays behind).
start_run "SIGKILL"
{
  kill -KILL "$pid"
  wait "$pid"
} 2>/dev/null # no "Killed" line
for _ in $(seq 1 50); do
  [ -z "$(our_servers)" ] && break
  sleep 0.1
done
[ -z "$(our_servers)" ] || fail "SIGKILL: a redis-server outlived multicache-bench"
rm -rf "${work:?}"/multicache-redis-* 2>/dev/null

# --simulate --json: one JSON object, a row per size, hit ratios per policy
# (a trace of 4,000 requests over 2 keys: every policy hits all but 2).
perl -e 'print pack("Q<", $_ % 2) for 0 .. 3999' >"$work/two.trace"
out=$("$bench" --simulate --json --trace "$work/two.trace" 2>/dev/null) || fail "--simulate --json: exit $?"
[[ "$out" == '{"rows":['*']}' ]] || fail "--simulate --json: not one object: $out"
[ "$(grep -o '"l1_entries":[0-9]*' <<<"$out" | tr '\n' ' ')" = \
  '"l1_entries":1000 "l1_entries":10000 "l1_entries":100000 ' ] || fail "--simulate --json: rows: $out"
grep -o '"\(clock\|tinylfu\)":[0-9.]*' <<<"$out" | awk -F: '$2 != 99.95 { exit 1 }' ||
  fail "--simulate --json: hit ratios: $out"

# --reads: the fraction asked for, over each thread's operations (it used to
# be rounded to 1 - 1/n: 0.3 ran writes only, 0.6 ran 2/3 reads).
count() { grep -o "\"$1\":{\"count\":[0-9]*" <<<"$2" | grep -o '[0-9]*$'; }
for r in 0.3 0.6 0.95; do
  out=$("$bench" --redis none --keys 1000 --reads $r --duration 0.3 --threads 1 --loader-us 0 \
    --json) || fail "--reads $r: exit $?"
  reads=$(($(count reads_cached "$out") + $(count reads_loaded "$out")))
  writes=$(count writes "$out")
  awk -v r="$reads" -v w="$writes" -v want="$r" \
    'BEGIN { f = r / (r + w); exit !(r + w > 1000 && f > want - 0.001 && f < want + 0.001) }' ||
    fail "--reads $r: $reads reads and $writes writes"
done
# Latency per layer: every read counted under where get_or_load said its
# value came from, and the layers add up to the reads that did not load. With
# 1000 keys through a 100-item L1, Redis serves what L1 evicted.
out=$("$bench" --keys 1000 --l1-items 100 --duration 1 --threads 2 --loader-us 0 --json) ||
  fail "per layer: exit $?"
nothing_left "per layer"
for layer in reads_l1 reads_redis reads_loaded; do
  [ "$(count $layer "$out")" -gt 0 ] || fail "per layer: no $layer: $out"
done
# The reads that said they ran the loader are the library's count of loads
# (no refresh runs in a second: entries turn stale after 48 s).
calls=$(grep -o '"loader_calls":[0-9]*' <<<"$out" | grep -o '[0-9]*$')
[ "$(count reads_loaded "$out")" -eq "$calls" ] || fail "per layer: reads_loaded != loader_calls: $out"
out=$("$bench" --redis none --keys 1000 --l1-items 100 --duration 0.3 --loader-us 0 --json) ||
  fail "per layer, L1-only: exit $?"
[ "$(count reads_redis "$out")" -eq 0 ] || fail "per layer, L1-only: reads from Redis: $out"
echo "cli_test: all passed"
