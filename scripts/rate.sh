#!/usr/bin/env bash
# Measures adaptive snapshot rates (docs/PERFORMANCE.md, "Slow links"): arena bots behind the
# load test's simulated bandwidth (--bandwidth-kbps), asking for a rate that fits the link or for none
# (rate 0, the server's default). The server is pinned to one core and the bots to another; one room,
# loopback only.
#
#   scripts/rate.sh [SERVER_CPU] [BOTS_CPU] [DURATION_S]
#
# Writes target/rate/<bots>-<kbps>-<rate>.{json,html} and prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
server_cpu=${1:-0}
bots_cpu=${2:-1}
duration=${3:-20}
out=target/rate
mkdir -p "$out"
cargo build --locked --release -p skirmish-server -p skirmish-bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# run BOTS KBPS RATE [SERVER FLAGS]
run() {
  local bots=$1 kbps=$2 rate=$3 server_flags=${4:-} name log addr
  name="$bots-$kbps-$rate${server_flags:+-long}"
  log=$(mktemp)
  # --replay-dir "": the server records replays by default; these figures are measured without
  # recording (its cost is measured in docs/PERFORMANCE.md, "Spectators and replays"), and a load
  # test writes nothing into the repository.
  # shellcheck disable=SC2086
  taskset -c "$server_cpu" target/release/skirmish-server --bind 127.0.0.1:0 --max-players-per-room 4000 \
    --max-connections-per-ip 10000 --connect-rate-per-ip 100000 --join-rate-per-ip 100000 \
    --tick-hz 60 --snapshot-hz 30 --fill-bots 0 --replay-dir "" $server_flags 2>"$log" &
  local pid=$!
  addr=$(server_address "$log")
  local ramp=$(( bots / 200 + 2 ))
  taskset -c "$bots_cpu" target/release/skirmish-loadtest --url "ws://$addr/ws" --bots "$bots" \
    --duration "$duration" --ramp "$ramp" --quiet --scenario arena --input-hz 30 \
    --bandwidth-kbps "$kbps" --client-rate "$rate" \
    --json "$out/$name.json" --html "$out/$name.html" >/dev/null || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
  sleep 2
}

# Each link unlimited, then limited with rate 0 (the server's default) and with a rate about 90 % of
# the link (room for pongs and framing). 256 kbit/s is far above what a player in a 100-bot arena is
# sent (about 1.7 KB/s); 10 kbit/s is below it, and 32 kbit/s below what one in a 500-bot arena is
# (about 6.3 KB/s). Where rate 0 overruns the link, its row is repeated with a 60 s slow-reader
# timeout ("long"), so that the backlog can be watched growing instead of its bots being dropped.
rows=(
  "100 0 0"
  "100 256 0" "100 256 28000"
  "100 10 0" "100 10 0 --slow-reader-timeout=60" "100 10 1100"
  "500 0 0"
  "500 32 0" "500 32 0 --slow-reader-timeout=60" "500 32 3500"
)
for row in "${rows[@]}"; do
  # shellcheck disable=SC2086
  run $row
done

python3 - "$out" "${rows[@]}" <<'PY'
import json, sys, os
out = sys.argv[1]
print("| bots | link kbit/s | rate asked B/s | slow-reader timeout s | snapshots/s/bot | down B/s/bot | lag p50/p99/max ms | second half p99/max ms | lag trend ms/s | deferred/s/bot | replaced/s/bot | bots dropped | tick p99 ms |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for row in sys.argv[2:]:
    bots, kbps, rate, *flags = row.split()
    name = f"{bots}-{kbps}-{rate}" + ("-long" if flags else "")
    path = os.path.join(out, f"{name}.json")
    if not os.path.exists(path):
        continue
    r = json.load(open(path))
    lag, late = r["snapshot_lag_ms"], r["snapshot_lag_second_half_ms"]
    print(f"| {r['bots_connected']}/{r['bots_requested']} | {kbps if kbps != '0' else 'unlimited'} | {rate} | "
          f"{'60' if flags else '3'} | "
          f"{r['snapshots_per_bot_per_s']['mean']:.1f} | {r['bytes_down_per_bot_per_s']:.0f} | "
          f"{lag['p50']:.0f} / {lag['p99']:.0f} / {lag['max']:.0f} | {late['p99']:.0f} / {late['max']:.0f} | "
          f"{r['lag_slope_ms_per_s']:+.1f} | "
          f"{r['snapshots_deferred_rate_per_bot_per_s']:.1f} | {r['snapshots_skipped_per_bot_per_s']:.1f} | "
          f"{r['disconnects']} | {r['server']['tick_p99_ms']:.2f} |")
PY
