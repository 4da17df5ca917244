//! Everything the Skirmish server and its clients must agree on, bit for bit.
//!
//! This crate compiles natively and to `wasm32-unknown-unknown`: it holds data and pure functions only
//! (no sockets, no clocks, no threads), so the browser client, native bots and the server share one copy.
//!
//! # Layout
//! - [`time`]: [`Tick`] and [`TickRate`]; time is counted in simulation ticks, never in float seconds.
//! - [`fixed`]: quantization of positions (1/16 unit) and angles (16 bits), integer trigonometry.
//! - [`map`]: the map format (`assets/maps/*.map`) and tile queries.
//! - [`physics`]: the deterministic movement and collision step for players and projectiles.
//! - [`protocol`]: every message on the wire ([`ClientMsg`], [`ServerMsg`]) and the protocol version.
//! - [`codec`]: bounded binary encoding and decoding of those messages.
//! - [`view`]: a client's reconstruction of the world from snapshots (used by the browser, bots and tests).
//! - [`replay`]: the replay file format (a room's broadcast feed, recorded), its reader and a cursor
//!   that plays and seeks it.
//! - [`text`]: sanitizing names and chat.
//! - [`netcode`]: a client's clock, interpolation, and prediction of its avatar and its own shots (the
//!   browser client and bots).

pub mod codec;
pub mod fixed;
pub mod map;
pub mod netcode;
pub mod physics;
pub mod protocol;
pub mod replay;
pub mod text;
pub mod time;
pub mod view;

pub use codec::{decode_client, decode_server, encode_client, encode_server, CodecError};
pub use map::Map;
pub use protocol::{ClientMsg, EntityId, InputFrame, ServerMsg, Snapshot, PROTOCOL_VERSION};
pub use time::{Tick, TickRate};
