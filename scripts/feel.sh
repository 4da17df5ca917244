#!/usr/bin/env bash
# Measures the netcode as players feel it (issue 11; docs/PERFORMANCE.md, "Feel"): arena bots that
# play through the browser client's own netcode (`skirmish-loadtest --feel`) at 0 ms and at 150 ms
# ±20 ms of round trip (the bots' link conditioner: 65-85 ms each way), with lag compensation at
# the default cap and off. The server is pinned to one core and the bots to another; one room,
# loopback only.
#
#   scripts/feel.sh [SERVER_CPU] [BOTS_CPU] [DURATION_S] [BOTS]
#
# Writes target/feel/<name>.json and prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
server_cpu=${1:-0}
bots_cpu=${2:-1}
duration=${3:-30}
bots=${4:-100}
out=target/feel
mkdir -p "$out"
cargo build --locked --release -p skirmish-server -p skirmish-bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# run NAME LATENCY_MS JITTER_MS REWIND_MS
run() {
  local name=$1 latency=$2 jitter=$3 rewind=$4 log addr
  log=$(mktemp)
  steal_before=$(awk '/^cpu /{print $9}' /proc/stat)
  # --replay-dir "": the server records replays by default; these figures are measured without
  # recording (its cost is measured in docs/PERFORMANCE.md, "Spectators and replays"), and a load
  # test writes nothing into the repository.
  taskset -c "$server_cpu" target/release/skirmish-server --bind 127.0.0.1:0 \
    --max-connections-per-ip 10000 --connect-rate-per-ip 100000 --join-rate-per-ip 100000 \
    --max-rewind-ms "$rewind" --fill-bots 0 --replay-dir "" 2>"$log" &
  local pid=$!
  addr=$(server_address "$log")
  taskset -c "$bots_cpu" target/release/skirmish-loadtest --url "ws://$addr/ws" --bots "$bots" \
    --duration "$duration" --ramp 3 --quiet --scenario arena --feel \
    --latency-ms "$latency" --jitter-ms "$jitter" --json "$out/$name.json" >/dev/null || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
  # CPU time the hypervisor took from this machine during the run (jiffies of 10 ms): runs with
  # much of it show late inputs and underruns that are the host's, not the netcode's.
  echo $(( $(awk '/^cpu /{print $9}' /proc/stat) - steal_before )) >"$out/$name.steal"
}

run zero 0 0 200
run lag150 65 20 200
run lag150-off 65 20 0

echo "| run | host steal s | RTT p50 ms | view lag ms | corrections /bot/10 s | over 4 units | underruns | desyncs | late inputs /bot/min | hit ratio | of which on the fallen | damage ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for name in zero lag150 lag150-off; do
  python3 - "$out/$name.json" "$name" "$(cat "$out/$name.steal")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
f = r["feel"]
fallen = f['shot_hits_on_fallen'] / max(f['shots_fired'], 1)
print(f"| {sys.argv[2]} | {int(sys.argv[3]) / 100:.2f} | {r['rtt_ms']['p50']:.0f} | {f['firing_view_lag_ms']:.0f} | {f['corrections_per_10s']:.2f} | "
      f"{f['snaps_over_4_units']} | {f['underruns']} | {f['desyncs']} | {f['late_inputs_per_bot_per_min']:.2f} | "
      f"{f['hit_ratio']:.3f} | {fallen:.3f} | {f['damage_ratio']:.3f} |")
PY
done
