#!/usr/bin/env bash
# Players that never read (docs/PERFORMANCE.md, "Players that never read"): the release server
# pinned to core 0, and on core 1 the non_readers example opening PLAYERS WebSockets (200 a second)
# that each send a Hello and never read again, sampled every second for SECONDS. Loopback only;
# the run is bounded by SECONDS plus a minute, and the server is stopped however the script ends.
#
#   scripts/non_readers.sh [PLAYERS] [SECONDS] [NAME]
#
# Defaults: 2000 players, 60 seconds, name "new". Writes target/non_readers/NAME.txt (the
# per-second lines and the summary), NAME.json and NAME.server.log.
#
# Another build of the server (an older commit, say) is measured the same way by naming its binary
# and the protocol version it speaks:
#
#   SERVER=/path/to/skirmish-server PROTOCOL=3 scripts/non_readers.sh 2000 60 old
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
players=${1:-2000}
seconds=${2:-60}
name=${3:-new}
out=target/non_readers
mkdir -p "$out"
cargo build --locked --release -p skirmish-server
cargo build --locked --release -p skirmish-bench --example non_readers
server=${SERVER:-target/release/skirmish-server}
tool=(target/release/examples/non_readers --url)
protocol=()
if [ -n "${PROTOCOL:-}" ]; then protocol=(--protocol-version "$PROTOCOL"); fi

# One descriptor per connection in the server and in the tool.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt $((players + 100)) ]; then
  echo "$(ulimit -n) open files allowed; $((players + 100)) needed (ulimit -n 65536)"
  exit 1
fi
server_cpu=(taskset -c 0)
tool_cpu=(taskset -c 1)
if [ "$(nproc)" -lt 2 ]; then server_cpu=(); tool_cpu=(); fi

# Every player comes from 127.0.0.1, so the per-address cap is raised above the player count and, on
# servers that have them, the per-address connect and join rates are lifted.
flags=(--bind 127.0.0.1:0 --max-players-per-room 256
  --max-connections-per-ip $((players > 9000 ? players + 1000 : 10000)))
if "$server" --help | grep -q -- --join-rate-per-ip; then
  flags+=(--connect-rate-per-ip 100000 --join-rate-per-ip 100000)
fi
# Nothing written into the repository: no replays (servers before them have no such flag).
if "$server" --help | grep -q -- --replay-dir; then
  flags+=(--replay-dir "")
fi
# Only the measured players: no fill bots (servers before them have no such flag).
if "$server" --help | grep -q -- --fill-bots; then
  flags+=(--fill-bots 0)
fi

echo "before the server starts: $(grep '^TCP:' /proc/net/sockstat)"
log="$out/$name.server.log"
: >"$log" # exists before the server's shell opens it, so the wait below can read it at once
"${server_cpu[@]}" "$server" "${flags[@]}" >/dev/null 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
addr=
addr=$(server_address "$log")
[ -n "$addr" ] || { echo "the server did not start:"; cat "$log"; exit 1; }

status=0
timeout $((seconds + 60)) "${tool_cpu[@]}" "${tool[@]}" "ws://$addr/ws" --players "$players" \
  --seconds "$seconds" "${protocol[@]}" --json "$out/$name.json" | tee "$out/$name.txt" || status=1
if grep -q "panicked" "$log"; then
  echo "the server panicked:"
  grep -A3 "panicked" "$log"
  status=1
fi
exit $status
