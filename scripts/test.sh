#!/usr/bin/env bash
# Runs every check and test: formatting and clippy first (quick, so a slip fails before the long
# tests), then the Rust unit and integration tests, the client's wasm tests in headless Chromium, and
# the end-to-end test (two Chromium pages playing on a real server). Installs what it needs first
# (idempotent), so it works on a fresh machine with rustup, cargo, node and apt.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_lint_components
ensure_wasm_target
echo "==> formatting (cargo fmt --check)"
cargo fmt --all --check
echo "==> lints (clippy, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The browser client's web module only builds for wasm32, so the native run above does not see it.
cargo clippy -p skirmish-client --target wasm32-unknown-unknown --all-targets --locked -- -D warnings

ensure_chromium
build_client
ensure_e2e_packages

echo "==> unit, codec, simulation and integration tests"
cargo test --locked --workspace --all-targets

echo "==> client logic in headless Chromium (wasm-bindgen-test)"
(cd client-wasm && CHROMEDRIVER=/usr/bin/chromedriver cargo test --locked --target wasm32-unknown-unknown)

echo "==> end to end: browsers on real servers (and a fleet behind the directory)"
cargo build --locked --release -p skirmish-server --bins --example agones_standin
(cd e2e && node --test)
