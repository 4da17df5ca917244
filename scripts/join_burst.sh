#!/usr/bin/env bash
# Measures issue 14's join burst: IN arena bots join and settle, then JOIN more join within
# BURST_S seconds while the first play on. Reports, apart: the bots already in (their delivery
# during the burst window and in the seconds after), the server's tick p50/p99 during the burst
# (its /metrics tick histogram), joins completed per second (Hello sent -> Welcome received, with
# p50/p99 latency), and failures and refusals. The server is pinned to SERVER_CPU and the load
# generator (one thread: the bots already in and the newcomers) to BOTS_CPU; loopback only.
#
#   scripts/join_burst.sh [SERVER_CPU] [BOTS_CPU]
#
# Environment: IN (default 1000), JOIN (1000), BURST_S (2), DURATION (10: the window, burst
# included), OUT (target/join_burst), NICE=-10 (say) to run the server and the load generator at
# that niceness on a machine other jobs load (the report's CPU figures show when they were starved:
# a saturated server or load generator is near 1.0 s/s). Two rows: rooms of the server's default size (64: the lobby
# opens rooms as they fill, as deployed), and one room holding everyone (as capacity.sh's arena).
# The load generator's own CPU over the burst window is in the report: near 1.0 s/s, it (not the
# server) limits how fast the joins are made. The bots skip building their views
# (--skip-view-check; one snapshot in 16 is decoded) to leave that one core room for the
# handshakes; delivery is counted by every snapshot's tick either way.
# Writes $OUT/<row>.{json,html} and prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
# CPU pressure (the share of time runnable tasks waited for a CPU) before and after each row.
pressure() { head -1 /proc/pressure/cpu 2>/dev/null || true; }
server_cpu=${1:-0}
bots_cpu=${2:-1}
in=${IN:-1000}
join=${JOIN:-1000}
burst_s=${BURST_S:-2}
duration=${DURATION:-10}
out=${OUT:-target/join_burst}
nice=""
[ -n "${NICE:-}" ] && nice="nice -n $NICE"
mkdir -p "$out"
cargo build --locked --release -p skirmish-server -p skirmish-bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# run NAME "SERVER FLAGS"
run() {
  local name=$1 server_flags=$2 log addr
  log=$(mktemp)
  # Every bot comes from 127.0.0.1: the per-address caps and rates are lifted. No fill bots (the
  # bots are the players), and no replays: the figures are measured without recording (its cost
  # is in docs/PERFORMANCE.md, "Spectators and replays"), and a load test writes nothing into
  # the repository.
  # shellcheck disable=SC2086
  $nice taskset -c "$server_cpu" target/release/skirmish-server --bind 127.0.0.1:0 \
    --max-connections-per-ip 10000 --connect-rate-per-ip 100000 --join-rate-per-ip 100000 \
    --fill-bots 0 --replay-dir "" --tick-hz 60 --snapshot-hz 30 $server_flags 2>"$log" &
  local pid=$!
  addr=$(server_address "$log")
  if [ -z "$addr" ]; then
    echo "the server did not start:"; cat "$log"; kill "$pid" 2>/dev/null || true; exit 1
  fi
  local ramp=$(( in / 200 + 2 ))
  # shellcheck disable=SC2086
  $nice taskset -c "$bots_cpu" target/release/skirmish-loadtest --url "ws://$addr/ws" --bots "$in" \
    --duration "$duration" --ramp "$ramp" --scenario arena --input-hz 30 --skip-view-check \
    --join-burst "$join" --join-burst-seconds "$burst_s" --quiet \
    --json "$out/$name.json" --html "$out/$name.html" >"$out/$name.txt" || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
  sleep 2
}

for row in rooms64 one-room; do
  flags=""
  [ "$row" = one-room ] && flags="--max-players-per-room 4000"
  echo "$row: CPU pressure before: $(pressure)" >&2
  run "$row" "$flags"
  echo "$row: CPU pressure after: $(pressure)" >&2
done

python3 - "$out" rooms64 one-room <<'PY'
import json, os, sys
out = sys.argv[1]
print("| rooms | in | joined/asked (failed, refused) | joins/s (peak s) | Hellos over s | join ms p50 / p99 | first snapshot ms p99 | incumbents' delivery: burst / after | tick p50 / p99 ms in burst (p99 after) | ticks/s (after) | server CPU s/s (after) | load generator CPU s/s (after) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for name in sys.argv[2:]:
    path = os.path.join(out, f"{name}.json")
    if not os.path.exists(path):
        continue
    r = json.load(open(path))
    b = r.get("join_burst") or {}
    if not b:
        continue
    print(f"| {name} | {b['incumbents']} | {b['joined']}/{b['requested']} ({b['failed']}, {b['refused']}) | "
          f"{b['joins_per_s']:.0f} ({b['joins_per_s_peak']:.0f}) | {b['hello_span_s']:.2f} | "
          f"{b['join_ms']['p50']:.1f} / {b['join_ms']['p99']:.1f} | {b['first_snapshot_ms']['p99']:.1f} | "
          f"{b['incumbent_delivery']*100:.2f}% / {b['incumbent_delivery_after']*100:.2f}% | "
          f"{b['tick_p50_ms']:.2f} / {b['tick_p99_ms']:.2f} ({b['tick_p99_after_ms']:.2f}) | "
          f"{b['ticks_per_s']:.0f} ({b['ticks_per_s_after']:.0f}) | "
          f"{b['cpu_seconds_per_s']:.3f} ({b['cpu_seconds_per_s_after']:.3f}) | "
          f"{b['loadgen_cpu_seconds_per_s']:.3f} ({b['loadgen_cpu_seconds_per_s_after']:.3f}) |")
PY
