//! How many play on the whole server: `GET /api/rooms` (its `players` field), polled every few
//! seconds. A failed request or an unexpected answer leaves the figure unknown; a 404 (the page came
//! from a fleet's directory, which has no rooms of its own) stops the polling for good, as the
//! card's rooms list does. Nothing here can fail the game.

use super::lobby::{fetch_json, Fetched, ROOMS_PATH};
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// Milliseconds between two polls.
const POLL_INTERVAL_MS: f64 = 5_000.0;

/// The last known player count of the server.
pub struct Population {
    /// Filled in by the request; `None` until an answer arrives or when it had no count.
    players: Rc<Cell<Option<u32>>>,
    /// When the last poll was sent (ms, the page's clock).
    last_poll: f64,
    /// A poll in flight (only one at a time).
    pending: Rc<Cell<bool>>,
    /// The page's origin has no `/api/rooms` (shared with the landing card).
    missing: Rc<Cell<bool>>,
}

impl Population {
    /// An unknown count, polled at the first [`Population::poll`] unless `missing` says the
    /// page's origin has no rooms list.
    pub fn new(missing: Rc<Cell<bool>>) -> Population {
        Population {
            players: Rc::new(Cell::new(None)),
            last_poll: f64::NEG_INFINITY,
            pending: Rc::new(Cell::new(false)),
            missing,
        }
    }

    /// The server's player count, if known.
    pub fn players(&self) -> Option<u32> {
        self.players.get()
    }

    /// Sends a request when the last one is old enough and none is in flight.
    pub fn poll(&mut self, now: f64) {
        if now - self.last_poll < POLL_INTERVAL_MS || self.pending.get() || self.missing.get() {
            return;
        }
        self.last_poll = now;
        self.pending.set(true);
        let (players, pending, missing) = (
            self.players.clone(),
            self.pending.clone(),
            self.missing.clone(),
        );
        wasm_bindgen_futures::spawn_local(async move {
            let count = match fetch_json(ROOMS_PATH).await {
                Fetched::Json(json) => players_in(&json),
                Fetched::Missing => {
                    missing.set(true);
                    None
                }
                Fetched::Failed => None,
            };
            players.set(count);
            pending.set(false);
        });
    }
}

/// The `players` field of the lobby's answer, if it is a count.
fn players_in(json: &JsValue) -> Option<u32> {
    js_sys::Reflect::get(json, &JsValue::from_str("players"))
        .ok()
        .and_then(|v| v.as_f64())
        .filter(|v| v.is_finite() && *v >= 0.0 && *v <= f64::from(u32::MAX))
        .map(|v| v as u32)
}
