#!/usr/bin/env bash
# Builds and starts the server (serving the page at /, the game socket at /ws). Extra arguments go to
# skirmish-server, for example: scripts/run.sh --bind 0.0.0.0:8080 --tick-hz 60
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --locked --release -p skirmish-server -- "$@"
