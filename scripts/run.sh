#!/usr/bin/env bash
# Builds the browser client and starts the server that serves it (the page at /, the socket at /ws).
# Extra arguments go to skirmish-server, for example: scripts/run.sh --bind 0.0.0.0:8080
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
build_client
exec cargo run --locked --release -p skirmish-server -- "$@"
