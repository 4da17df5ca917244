//! The Skirmish dedicated server: HTTP and WebSocket on one port, a lobby that seats players in rooms,
//! and rooms that each run a fixed-tick simulation and send every player snapshots of what it can see.
//!
//! # Layout
//! - [`config`]: flags and the validated [`config::ServerConfig`].
//! - [`admin`]: the operator API under `/admin` (rooms, kicks, bans, broadcasts); [`secret`]: its
//!   token, kept out of logs and compared in constant time.
//! - [`agones`]: lifecycle and the `players`, `rooms` and `full` lists, reported to the Agones SDK
//!   sidecar (`--agones`); [`http_client`]: the small HTTP/1.1 client it and the directory use.
//! - [`play`]: `/api/play`, where the page should connect; [`directory`]: `skirmish-directory`, which
//!   answers it for an Agones fleet through the allocator.
//! - [`address`]: client addresses in canonical form, the keys caps and bans count by, and the
//!   client behind a trusted proxy.
//! - [`admission`]: per-address caps and rates (connections, seats, joins, chat) and the WebSocket
//!   origin allowlist.
//! - [`server`]: the listeners (caps, bans, socket options) serving HTTP with hyper; [`http`]: request
//!   routing and static files; [`upgrade`]: the WebSocket handshake; [`stream`]: the write deadline;
//!   [`tls`]: https and wss with rustls; [`context`]: what every connection task shares.
//! - [`echo`]: the `/echo` endpoint for WebSocket conformance suites (`--conformance-echo`).
//! - [`ending`]: close frames and refusals for connections that will not play.
//! - [`session`]: one player's connection: handshake, reader (decode, validate, rate-limit), writer.
//! - [`limits`]: per-connection rate limits, applied before decoding.
//! - [`link`]: the bounded meeting point of a session and its room; [`inputs`]: a player's input
//!   buffer and the rule that applies each input at the tick it is stamped for.
//! - [`rate`]: the snapshot byte rate a client may ask for, and the per-seat budget that paces it.
//! - [`lobby`]: seats players in rooms, opening rooms as needed.
//! - [`room`]: the room task: fixed-step loop, events, snapshot delivery.
//! - [`feed`]: a room's broadcast feed as spectators take it; [`spectate`]: a spectator's
//!   connection; [`recorder`]: replay files, their retention and the listing `/api/replays` serves.
//! - [`world`]: the pure simulation of one room (movement, combat, scores).
//! - [`bot`]: fill bots' brains, which play through the same inputs as players.
//! - [`snapshot`]: interest management, delta encoding, encode-once frames.
//! - [`grid`]: the uniform spatial grid behind interest and hit tests.
//! - [`metrics`]: counters and the Prometheus rendering; [`logging`]: text or JSON log lines;
//!   [`throttle`]: lines a peer could repeat, kept to one every few seconds; [`signals`]: SIGTERM
//!   and SIGINT.
//! - [`client`]: a native client for bots and tests, speaking the real protocol.

pub mod address;
pub mod admin;
pub mod admission;
pub mod agones;
pub mod assets;
pub mod bot;
pub mod client;
pub mod config;
pub mod context;
pub mod directory;
pub mod echo;
pub mod ending;
pub mod feed;
pub mod fragment;
pub mod grid;
pub mod http;
pub mod http_client;
pub mod inputs;
pub mod limits;
pub mod link;
pub mod lobby;
pub mod logging;
pub mod metrics;
pub mod play;
pub mod rate;
pub mod recorder;
pub mod response;
pub mod room;
pub mod secret;
pub mod server;
pub mod session;
pub mod signals;
pub mod snapshot;
pub mod spectate;
pub mod stream;
pub mod throttle;
pub mod tls;
pub mod upgrade;
pub mod world;

pub use config::{Args, ServerConfig};
pub use server::Server;
