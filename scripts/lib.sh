# Shared set-up steps for the scripts; each is idempotent. Source it, do not run it.

# rustfmt and clippy, for the format and lint checks.
ensure_lint_components() {
  local installed
  installed=$(rustup component list --installed)
  for component in rustfmt clippy; do
    if ! grep -q "^$component" <<<"$installed"; then
      echo "==> installing the $component component"
      rustup component add "$component"
    fi
  done
}

# The wasm32 target for the browser client.
ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    echo "==> installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# wasm-bindgen's CLI at exactly the version of the wasm-bindgen crate in Cargo.lock.
ensure_wasm_bindgen() {
  local want
  want=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    echo "==> installing wasm-bindgen-cli $want (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

# Debian's Chromium and ChromeDriver, for the browser tests.
ensure_chromium() {
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "==> installing chromium and chromium-driver"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver
  fi
}

# The end-to-end test's npm packages (playwright-core only; it drives /usr/bin/chromium).
ensure_e2e_packages() {
  if [ ! -d e2e/node_modules/playwright-core ]; then
    echo "==> installing the end-to-end test's npm packages"
    (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# Debian's brotli, to write the bundle's .br variants.
ensure_brotli() {
  if ! command -v brotli >/dev/null; then
    echo "==> installing brotli"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq brotli
  fi
}

# Builds the browser bundle into assets/pkg (served by the server at /pkg/).
build_client() {
  ensure_wasm_target
  ensure_wasm_bindgen
  ensure_brotli
  echo "==> building the browser client"
  cargo build --locked --release -p skirmish-client --target wasm32-unknown-unknown
  rm -rf assets/pkg
  # Without the function-name section (165 KB of the module, 30 KB brotli): browsers then name wasm
  # frames by index in stack traces; panic messages keep their file and line.
  wasm-bindgen --target web --no-typescript --remove-name-section --out-dir assets/pkg \
    target/wasm32-unknown-unknown/release/skirmish_client.wasm
  name_bundle_by_content assets/pkg
}

# Renames the bundle after its content (browsers may then cache it for good), leaves a small
# skirmish_client.js that the page imports and revalidates, and writes gzip and brotli variants
# beside each file for the server to choose from by Accept-Encoding.
name_bundle_by_content() {
  local pkg=$1 wasm js file
  wasm=$(sha256sum "$pkg/skirmish_client_bg.wasm" | cut -c1-16)
  mv "$pkg/skirmish_client_bg.wasm" "$pkg/skirmish_client_bg.$wasm.wasm"
  sed -i "s/skirmish_client_bg\.wasm/skirmish_client_bg.$wasm.wasm/g" "$pkg/skirmish_client.js"
  js=$(sha256sum "$pkg/skirmish_client.js" | cut -c1-16)
  mv "$pkg/skirmish_client.js" "$pkg/skirmish_client.$js.js"
  printf 'export * from "./skirmish_client.%s.js";\nexport { default } from "./skirmish_client.%s.js";\n' \
    "$js" "$js" >"$pkg/skirmish_client.js"
  for file in "$pkg"/*.js "$pkg"/*.wasm; do
    gzip -9 -k -f "$file"
    brotli -q 11 -k -f "$file"
  done
}

# The HOST:PORT a server started with --bind 127.0.0.1:0 listens on, read from its log's startup
# line (waits up to 10 s; prints nothing if the line never comes).
server_address() {
  local log=$1 addr=
  for _ in $(seq 1 100); do
    addr=$(sed -n 's#.*listening on http://\([0-9.:]*\)/.*#\1#p' "$log")
    [ -n "$addr" ] && break
    sleep 0.1
  done
  echo "$addr"
}
