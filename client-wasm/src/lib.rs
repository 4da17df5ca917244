//! The Skirmish browser client, compiled to WebAssembly.
//!
//! # Layout
//! - `web` (wasm32 only): socket, input, canvas rendering, HUD, feedback, sound, touch controls,
//!   the landing card and the frame loop.
//! - `board`: the leaderboard's rows (kills, deaths, bots, the own row below the top ten).
//! - `combat`: what the player is told about combat (hit markers, kill feed, death, respawn), as
//!   pure state, tested natively.
//! - `play`: where to connect: the `/api/play` question, its answer, and the route a join keeps
//!   (reconnects to the seat's url, asking again after a refusal), tested natively.
//! - `playback`: a replay being played (clock, speed, seeking from keyframes, kill marks), tested
//!   natively.
//! - `spectate`: the watching camera (free, or following a player) and picking a player by a click,
//!   tested natively.
//! - `screen`: screen geometry (zoom to the interest circle, off-screen arrows), tested natively.
//! - `ui`: the interface's pure logic (label layout, the virtual stick, close reasons in words),
//!   tested natively.
//!
//! The netcode logic (clock, interpolation and its playout clock, prediction) lives in
//! `skirmish_shared::netcode`, so the load-test bots play with the same code; it is re-exported here
//! under its old names.

pub use skirmish_shared::netcode::{clock, interp, playout, predict};
pub mod board;
pub mod combat;
pub mod play;
pub mod playback;
pub mod screen;
pub mod spectate;
pub mod ui;
#[cfg(target_arch = "wasm32")]
mod web;

use skirmish_shared::codec::decode_server;
use skirmish_shared::protocol::ServerMsg;
use wasm_bindgen::prelude::*;

#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// The counts of one decoded snapshot, for JavaScript.
#[wasm_bindgen]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotSummary {
    /// The snapshot's server tick.
    pub tick: u32,
    /// Whether it is a full snapshot (no baseline).
    pub full: bool,
    /// The last input sequence the server applied.
    pub ack_input_seq: u32,
    /// Entities that entered the view.
    pub entered: u32,
    /// Players with changed fields.
    pub updated: u32,
    /// Entities that left the view.
    pub left: u32,
    /// Reliable events carried.
    pub events: u32,
}

/// Decodes one server message that must be a snapshot, with the shared bounded codec.
pub fn summarize_snapshot(bytes: &[u8]) -> Result<SnapshotSummary, String> {
    match decode_server(bytes).map_err(|e| e.to_string())? {
        ServerMsg::Snapshot(s) => Ok(SnapshotSummary {
            tick: s.tick.0,
            full: s.baseline.is_none(),
            ack_input_seq: s.ack_input_seq,
            entered: s.entered.len() as u32,
            updated: s.updated.len() as u32,
            left: s.left.len() as u32,
            events: s.events.len() as u32,
        }),
        _ => Err("not a snapshot".into()),
    }
}

/// JavaScript entry point of [`summarize_snapshot`]; throws on malformed input.
#[wasm_bindgen(js_name = decodeSnapshot)]
pub fn decode_snapshot(bytes: &[u8]) -> Result<SnapshotSummary, JsError> {
    summarize_snapshot(bytes).map_err(|e| JsError::new(&e))
}

/// The protocol version this client speaks.
#[wasm_bindgen(js_name = protocolVersion)]
pub fn protocol_version() -> u16 {
    skirmish_shared::PROTOCOL_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;
    use skirmish_shared::codec::encode_server;
    use skirmish_shared::protocol::{EntityId, Snapshot};
    use skirmish_shared::time::Tick;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn summarizes_a_snapshot_and_rejects_garbage() {
        let snapshot = Snapshot {
            tick: Tick(42),
            baseline: Some(Tick(40)),
            ack_input_seq: 7,
            left: vec![EntityId(1), EntityId(2)],
            ..Snapshot::default()
        };
        let bytes = encode_server(&ServerMsg::Snapshot(snapshot));
        let summary = summarize_snapshot(&bytes).expect("decodes");
        assert_eq!(
            (
                summary.tick,
                summary.full,
                summary.ack_input_seq,
                summary.left
            ),
            (42, false, 7, 2)
        );
        assert!(summarize_snapshot(&bytes[..bytes.len() - 1]).is_err());
        let pong = encode_server(&ServerMsg::Pong {
            nonce: 1,
            tick: Tick(1),
        });
        assert_eq!(summarize_snapshot(&pong), Err("not a snapshot".to_string()));
    }
}
