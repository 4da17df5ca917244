#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests, the client's wasm tests in headless Chromium, and
# the end-to-end test (two Chromium pages playing on a real server). Installs what it needs first
# (idempotent), so it works on a fresh machine with rustup, cargo, node and apt.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_chromium
build_client
ensure_e2e_packages

echo "==> unit, codec, simulation and integration tests"
cargo test --locked --workspace --all-targets

echo "==> client logic in headless Chromium (wasm-bindgen-test)"
(cd client-wasm && CHROMEDRIVER=/usr/bin/chromedriver cargo test --locked --target wasm32-unknown-unknown)

echo "==> end to end: two browsers on a real server"
cargo build --locked --release -p skirmish-server
(cd e2e && node --test)
