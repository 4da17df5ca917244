#!/usr/bin/env bash
# Runs every test of the workspace. Installs what it needs first (idempotent), so it works on a
# fresh machine with only rustup and cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "==> installing the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

echo "==> the browser client builds for wasm32"
cargo build --locked -p skirmish-client --target wasm32-unknown-unknown

echo "==> unit, codec, simulation and integration tests"
cargo test --locked --workspace --all-targets
