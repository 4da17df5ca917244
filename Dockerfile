# syntax=docker/dockerfile:1
# The Skirmish dedicated server with the browser client, in a small runtime image.
#
#   docker build -t skirmish .
#   docker run --rm -p 8080:8080 skirmish                       # play at http://localhost:8080/
#   docker run --rm -p 8080:8080 -e SKIRMISH_ADMIN_TOKEN=... skirmish --log-format json
#
# Every setting is also an environment variable (SKIRMISH_*; see `skirmish-server --help`).

# --- build: the server (native) and the client (wasm32 + wasm-bindgen) ---
FROM rust:1-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-unknown-unknown
# wasm-bindgen-cli must be exactly the wasm-bindgen version in Cargo.lock; installed in its own
# layer so source changes do not rebuild it.
COPY Cargo.lock ./
RUN version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p') \
 && cargo install wasm-bindgen-cli --version "$version"
COPY . .
# --strip-debug drops the line tables (most of the binary) but keeps symbols for backtraces.
RUN cargo build --locked --release -p skirmish-server \
 && strip --strip-debug target/release/skirmish-server target/release/skirmish-directory \
 && cargo build --locked --release -p skirmish-client --target wasm32-unknown-unknown \
 && rm -rf assets/pkg \
 && wasm-bindgen --target web --no-typescript --out-dir assets/pkg \
      target/wasm32-unknown-unknown/release/skirmish_client.wasm

# --- runtime: glibc and CA roots only, no shell, not root ---
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/skirmish-server /usr/local/bin/skirmish-server
# The fleet's directory (deploy/agones/directory.yaml runs it from the same image).
COPY --from=build /src/target/release/skirmish-directory /usr/local/bin/skirmish-directory
COPY --from=build /src/assets /srv/skirmish/assets
WORKDIR /srv/skirmish
ENV SKIRMISH_BIND=0.0.0.0:8080
# The image's folders are read-only to the nonroot user: replays go to /tmp unless a volume is
# mounted and SKIRMISH_REPLAY_DIR points at it.
ENV SKIRMISH_REPLAY_DIR=/tmp/replays
EXPOSE 8080
# SIGTERM starts a graceful shutdown (players told, closed with 1001) bounded by --shutdown-grace.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/skirmish-server"]
