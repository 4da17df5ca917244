#!/usr/bin/env bash
# Measures the capacity table of docs/PERFORMANCE.md: the game server pinned to one core, the bots
# (and, for the floor comparison, the bare transport floor) pinned as given. Loopback only.
#
#   scripts/capacity.sh [SERVER_CPU] [BOTS_CPU] [DURATION_S]
#
# Environment: NICE=-10 (say) runs the server, the bots and the floor at that niceness on a machine
# other jobs load; ROWS="everyone:1000 arena:1000" (say) measures only those rows.
#
# Writes target/capacity/<scenario>-<bots>.{json,html} and prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
server_cpu=${1:-0}
bots_cpu=${2:-1}
duration=${3:-20}
out=target/capacity
mkdir -p "$out"
nice=""
[ -n "${NICE:-}" ] && nice="nice -n $NICE"
cargo build --locked --release -p skirmish-server -p skirmish-bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# run NAME BOTS "SERVER FLAGS" "LOADTEST FLAGS"
run() {
  local name=$1 bots=$2 server_flags=$3 bot_flags=$4 log addr
  log=$(mktemp)
  # --replay-dir "": the server records replays by default; these figures are measured without
  # recording (its cost is measured in docs/PERFORMANCE.md, "Spectators and replays"), and a load
  # test writes nothing into the repository.
  # shellcheck disable=SC2086
  $nice taskset -c "$server_cpu" target/release/skirmish-server --bind 127.0.0.1:0 --max-players-per-room 4000 \
    --max-connections-per-ip 10000 --connect-rate-per-ip 100000 --join-rate-per-ip 100000 \
    --fill-bots 0 --replay-dir "" $server_flags 2>"$log" &
  local pid=$!
  addr=$(server_address "$log")
  local ramp=$(( bots / 200 + 2 ))
  # From 2,000 bots on, one core of bots cannot also rebuild and check every bot's view of every
  # snapshot (it falls behind and the server rightly drops its bots as slow readers): there, bots
  # decode one snapshot in 16 in full and recognize the others by their first byte.
  local check=""
  [ "$bots" -ge 2000 ] && check="--skip-view-check"
  # shellcheck disable=SC2086
  $nice taskset -c "$bots_cpu" target/release/skirmish-loadtest --url "ws://$addr/ws" --bots "$bots" \
    --duration "$duration" --ramp "$ramp" --floor --floor-cpu "$server_cpu" --quiet \
    --json "$out/$name-$bots.json" --html "$out/$name-$bots.html" $check $bot_flags >/dev/null || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
  sleep 2
}

wanted() {
  [ -z "${ROWS:-}" ] || [[ " $ROWS " == *" $1:$2 "* ]]
}
for bots in 100 500 1000 2000; do
  wanted arena "$bots" || continue
  run arena "$bots" "--tick-hz 60 --snapshot-hz 30" "--scenario arena --input-hz 30"
done
for bots in 100 500 1000 2000 3000; do
  wanted everyone "$bots" || continue
  run everyone "$bots" "--tick-hz 60 --snapshot-hz 20 --view-radius 5000" "--scenario drift --input-hz 20"
done

python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
print("| scenario | bots | server CPU s/s (floor) | CPU µs/snapshot (floor) | vs floor | down B/s/player | tick p50/p99 ms | ticks/s | delivery | RSS MB |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name in ("arena", "everyone"):
    for bots in (100, 500, 1000, 2000, 3000):
        path = os.path.join(out, f"{name}-{bots}.json")
        if not os.path.exists(path):
            continue
        r = json.load(open(path))
        s = r["server"]; f = (r.get("floor") or {}).get("server", {})
        ratio = r.get("cpu_per_snapshot_vs_floor") or 0
        print(f"| {name} | {r['bots_connected']}/{r['bots_requested']} | {s['cpu_seconds_per_s']:.3f} ({f.get('cpu_seconds_per_s', 0):.3f}) | "
              f"{s['cpu_us_per_delivered_snapshot']:.1f} ({f.get('cpu_us_per_delivered_snapshot', 0):.1f}) | {ratio:.2f}x | "
              f"{r['bytes_down_per_bot_per_s']:.0f} | {s['tick_p50_ms']:.2f} / {s['tick_p99_ms']:.2f} | {s['ticks_per_s']:.1f} | "
              f"{r['delivery']*100:.2f}% | {s['rss_mb']:.1f} |")
PY
