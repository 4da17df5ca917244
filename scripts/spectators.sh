#!/usr/bin/env bash
# Measures the "Spectators and replays" figures of docs/PERFORMANCE.md (issue 13). Loopback only;
# the game server (and the floor) pinned to SERVER_CPU, the load generator to BOTS_CPU.
#
#   scripts/spectators.sh [SERVER_CPU] [BOTS_CPU] [DURATION_S] [SPECTATORS] [REPLAY_S]
#
# 1. Cost: 64 arena bots in one room, measured alone for DURATION_S (the baseline), then with
#    SPECTATORS spectators watching their room for DURATION_S; then the transport floor serving the
#    bots, and the floor serving SPECTATORS connections one frame of the spectators' mean frame size
#    at the feed rate. Recording is off in this run (--replay-dir ""), so what the spectators add
#    includes encoding the feed. -> target/spectators/cost.{json,html}
# 2. Replay size: 64 arena bots for REPLAY_S seconds with recording on, then the replay file read
#    back. -> target/spectators/replay.json
# Host steal (from /proc/stat) and the load average over each run are printed and written to
# target/spectators/steal.txt. The bots skip building their views (--skip-view-check: a bot decodes
# one snapshot in 16) so that the load generator's one core has room for the spectators; one
# spectator in 50 still decodes, applies and checks every feed frame.
# Environment: OUT (default target/spectators), REPLAY=0 to skip the replay run, NICE=-10 (say) to
# run the server, the floor and the load generator at that niceness on a machine other jobs load.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
server_cpu=${1:-0}
bots_cpu=${2:-1}
duration=${3:-20}
spectators=${4:-1000}
replay_s=${5:-150}
out=${OUT:-target/spectators}
nice=""
[ -n "${NICE:-}" ] && nice="nice -n $NICE"
mkdir -p "$out"
cargo build --locked --release -p skirmish-server -p skirmish-bench --bins --example replay_size
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
: >"$out/steal.txt"

# The all-CPU and per-CPU counters of /proc/stat: "name total steal" per line.
stat_now() {
  awk '/^cpu/ { t = 0; for (i = 2; i <= NF; i++) t += $i; print $1, t, $9 }' /proc/stat
}

# steal_since "BEFORE" LABEL: prints and records steal as a share of each CPU's time since BEFORE.
steal_since() {
  local before=$1 label=$2 line
  line=$(join <(echo "$before" | sort) <(stat_now | sort) |
    awk '{ dt = $4 - $2; ds = $5 - $3; printf "%s %.1f%% ", $1, (dt > 0 ? 100 * ds / dt : 0) }')
  echo "host steal during $label: $line| load average after: $(cut -d' ' -f1-3 /proc/loadavg)" |
    tee -a "$out/steal.txt"
}

# start_server LOG FLAGS...: starts the game server pinned to SERVER_CPU; sets $pid and $addr.
start_server() {
  local log=$1
  shift
  # Everything comes from 127.0.0.1: per-address limits lifted; no fill bots (the bots are the
  # players); room for every spectator.
  # shellcheck disable=SC2086
  $nice taskset -c "$server_cpu" target/release/skirmish-server --bind 127.0.0.1:0 \
    --max-connections-per-ip 10000 --connect-rate-per-ip 100000 --join-rate-per-ip 100000 \
    --fill-bots 0 --max-spectators-per-room $((spectators + 100)) \
    --max-spectators-per-ip $((spectators + 100)) "$@" 2>"$log" &
  pid=$!
  addr=""
  addr=$(server_address "$log")
  [ -n "$addr" ] || { echo "the server did not start:"; cat "$log"; exit 1; }
}

stop_server() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

echo "==> cost: 64 bots, alone then with $spectators spectators, then the floor ($duration s each)"
log=$(mktemp)
start_server "$log" --tick-hz 60 --snapshot-hz 30 --replay-dir ""
before=$(stat_now)
# shellcheck disable=SC2086
$nice taskset -c "$bots_cpu" target/release/skirmish-loadtest --url "ws://$addr/ws" --bots 64 \
  --scenario arena --input-hz 30 --ramp 2 --duration "$duration" --spectators "$spectators" \
  --skip-view-check --floor --floor-cpu "$server_cpu" --quiet \
  --json "$out/cost.json" --html "$out/cost.html" || true
steal_since "$before" "the cost run"
stop_server
rm -f "$log"
sleep 2

if [ "${REPLAY:-1}" != 0 ]; then
echo "==> replay size: 64 bots for $replay_s s, recording"
replays=$(mktemp -d)
log=$(mktemp)
start_server "$log" --tick-hz 60 --snapshot-hz 30 --replay-dir "$replays"
before=$(stat_now)
# shellcheck disable=SC2086
$nice taskset -c "$bots_cpu" target/release/skirmish-loadtest --url "ws://$addr/ws" --bots 64 \
  --scenario arena --input-hz 30 --ramp 2 --duration "$replay_s" --quiet \
  --json "$out/replay-run.json" >/dev/null || true
steal_since "$before" "the replay run"
stop_server
rm -f "$log"
target/release/examples/replay_size "$replays"
target/release/examples/replay_size --json "$replays" >"$out/replay.json"
rm -rf "$replays"
fi

python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
r = json.load(open(os.path.join(out, "cost.json")))
s = r.get("spectators") or {}
f = r.get("spectator_floor") or {}
b = s.get("baseline", {})
print()
print("| figure | value |")
print("|---|---|")
print(f"| spectators watching (room, bots in it) | {s.get('connected')}/{s.get('requested')} ({s.get('room_code')}, {s.get('bots_in_room')}) |")
print(f"| frames per spectator per s (feed Hz; min) | {s.get('frames_per_spectator_per_s', {}).get('mean', 0):.2f} ({s.get('feed_hz_expected', 0):.0f}; {s.get('frames_per_spectator_per_s', {}).get('min', 0):.2f}) |")
print(f"| bytes per spectator per s; per frame | {s.get('bytes_per_spectator_per_s', 0):.0f}; {s.get('bytes_per_frame', 0):.0f} |")
print(f"| frames delivered (sent by the server) | {s.get('frames_delivered')} ({s.get('frames_sent_by_server', 0):.0f}) |")
print(f"| sample frames verified, desyncs, not applied | {s.get('frames_verified')}, {s.get('desyncs')}, {s.get('view_errors')} |")
print(f"| server CPU s/s: bots alone; with spectators | {b.get('cpu_seconds_per_s', 0):.3f}; {s.get('cpu_seconds_per_s', 0):.3f} |")
print(f"| server CPU µs per spectator frame: all; marginal | {s.get('cpu_us_per_spectator_frame', 0):.2f}; {s.get('marginal_cpu_us_per_spectator_frame', 0):.2f} |")
print(f"| server ticks/s: bots alone; with spectators (feed frames/s) | {b.get('ticks_per_s', 0):.1f}; {s.get('ticks_per_s', 0):.1f} ({s.get('feed_frames_per_s', 0):.1f}) |")
print(f"| load generator CPU s/s: with spectators; floor | {s.get('loadgen_cpu_seconds_per_s', 0):.3f}; {f.get('loadgen_cpu_seconds_per_s', 0):.3f} |")
print(f"| floor: connections, frame B, Hz, frames/conn/s | {f.get('connected')}/{f.get('requested')}, {f.get('frame_bytes')}, {f.get('hz', 0):.0f}, {f.get('frames_per_connection_per_s', {}).get('mean', 0):.2f} |")
print(f"| floor CPU s/s; µs per frame | {f.get('cpu_seconds_per_s', 0):.3f}; {f.get('cpu_us_per_frame', 0):.2f} |")
print(f"| cpu_per_spectator_frame_vs_floor (all CPU) | {r.get('cpu_per_spectator_frame_vs_floor') or 0:.2f}x |")
print(f"| marginal_cpu_per_spectator_frame_vs_floor | {r.get('marginal_cpu_per_spectator_frame_vs_floor') or 0:.2f}x |")
print(f"| the same, baseline scaled by ticks ({s.get('marginal_tick_scaled_cpu_us_per_spectator_frame', 0):.2f} µs) | {r.get('marginal_tick_scaled_cpu_per_spectator_frame_vs_floor') or 0:.2f}x |")
print(f"| bots' snapshots: CPU vs floor | {r.get('cpu_per_snapshot_vs_floor') or 0:.2f}x |")
replay = os.path.join(out, "replay.json")
for line in (open(replay) if os.path.exists(replay) else []):
    p = json.loads(line)
    print(f"| replay {os.path.basename(p['path'])}: bytes/min (MB/min) | {p['bytes_per_minute']:.0f} ({p['bytes_per_minute']/1e6:.3f}) over {p['duration_ms']/1000:.1f} s, {p['frames']} frames, {p['keyframes']['frames']} keyframes (mean {p['keyframes']['payload']/max(1,p['keyframes']['frames']):.0f} B), deltas mean {p['deltas']['payload']/max(1,p['deltas']['frames']):.0f} B |")
PY
cat "$out/steal.txt"
