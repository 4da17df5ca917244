#!/usr/bin/env bash
# The soak run of issue 5: the release server pinned to one core, bots on the other, for MINUTES
# minutes with churn and malformed traffic. Loopback only. Exits 1 if a budget is missed or the
# server printed a panic.
#
#   scripts/soak.sh [MINUTES] [BOTS] [CHURN_PERCENT_PER_MIN] [MALFORMED_PERCENT]
#
# Defaults: 30 minutes, 200 bots, 5 % churn a minute, 1 % malformed messages.
# Writes target/soak/soak.{json,html} and the server's log target/soak/server.log.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
minutes=${1:-30}
bots=${2:-200}
churn=${3:-5}
malformed=${4:-1}
out=target/soak
mkdir -p "$out"
cargo build --locked --release -p skirmish-server -p skirmish-bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
server_cpu=(taskset -c 0)
bots_cpu=(taskset -c 1)
if [ "$(nproc)" -lt 2 ]; then server_cpu=(); bots_cpu=(); fi

log="$out/server.log"
# Every bot comes from 127.0.0.1, so the per-address cap is raised above the bot count plus the
# connections that are closing while their slot reconnects, and the per-address connect and join
# rates are lifted. --replay-dir "": the server records replays by default; the soak is measured
# without recording (its cost is measured in docs/PERFORMANCE.md, "Spectators and replays"), and a
# load test writes nothing into the repository.
"${server_cpu[@]}" target/release/skirmish-server --bind 127.0.0.1:0 --max-players-per-room 256 \
  --max-connections-per-ip $((bots * 4)) --connect-rate-per-ip 100000 --join-rate-per-ip 100000 --fill-bots 0 \
  --replay-dir "" >/dev/null 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
addr=
addr=$(server_address "$log")
[ -n "$addr" ] || { echo "the server did not start:"; cat "$log"; exit 1; }

status=0
"${bots_cpu[@]}" target/release/skirmish-loadtest --url "ws://$addr/ws" --bots "$bots" \
  --duration $((minutes * 60)) --ramp 5 --scenario arena --input-hz 30 \
  --churn-per-min "$churn" --malformed-percent "$malformed" \
  --min-tick-ratio 0.995 --max-unexpected-closes 0 --max-rss-slope-mb-per-min 0.1 \
  --json "$out/soak.json" --html "$out/soak.html" || status=1
if grep -q "panicked" "$log"; then
  echo "the server panicked:"
  grep -A3 "panicked" "$log"
  status=1
fi
exit $status
