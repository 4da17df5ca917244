//! How many play on the whole server: `GET /api/rooms` (its `players` field), polled every few
//! seconds. A server without the endpoint (404), a failed request or an unexpected answer leaves
//! the figure unknown; nothing here can fail the game.

use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Milliseconds between two polls.
const POLL_INTERVAL_MS: f64 = 5_000.0;
/// The lobby endpoint.
const ROOMS_URL: &str = "/api/rooms";

/// The last known player count of the server.
pub struct Population {
    /// Filled in by the request's callbacks; `None` until an answer arrives or when it had no count.
    players: Rc<Cell<Option<u32>>>,
    /// When the last poll was sent (ms, the page's clock).
    last_poll: f64,
    /// A poll in flight (only one at a time).
    pending: Rc<Cell<bool>>,
}

impl Population {
    /// An unknown count, polled at the first [`Population::poll`].
    pub fn new() -> Population {
        Population {
            players: Rc::new(Cell::new(None)),
            last_poll: f64::NEG_INFINITY,
            pending: Rc::new(Cell::new(false)),
        }
    }

    /// The server's player count, if known.
    pub fn players(&self) -> Option<u32> {
        self.players.get()
    }

    /// Sends a request when the last one is old enough and none is in flight.
    pub fn poll(&mut self, now: f64) {
        if now - self.last_poll < POLL_INTERVAL_MS || self.pending.get() {
            return;
        }
        self.last_poll = now;
        let Some(window) = web_sys::window() else {
            return;
        };
        self.pending.set(true);
        let (players, pending) = (self.players.clone(), self.pending.clone());
        let on_response = Closure::once_into_js(move |response: JsValue| -> JsValue {
            match response.dyn_into::<web_sys::Response>() {
                Ok(response) if response.ok() => response.json().map_or(JsValue::NULL, Into::into),
                _ => JsValue::NULL,
            }
        });
        let on_json = Closure::once_into_js(move |json: JsValue| {
            let count = js_sys::Reflect::get(&json, &JsValue::from_str("players"))
                .ok()
                .and_then(|v| v.as_f64())
                .filter(|v| v.is_finite() && *v >= 0.0 && *v <= f64::from(u32::MAX))
                .map(|v| v as u32);
            players.set(count);
            pending.set(false);
        });
        let pending = self.pending.clone();
        let on_error = Closure::once_into_js(move |_: JsValue| pending.set(false));
        let promise: JsValue = window.fetch_with_str(ROOMS_URL).into();
        let chained = chain(&promise, "then", &on_response)
            .and_then(|p| chain(&p, "then", &on_json))
            .and_then(|p| chain(&p, "catch", &on_error));
        if chained.is_none() {
            self.pending.set(false);
        }
    }
}

/// `promise[method](callback)`, the promise it returns.
fn chain(promise: &JsValue, method: &str, callback: &JsValue) -> Option<JsValue> {
    let function = js_sys::Reflect::get(promise, &JsValue::from_str(method))
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    function.call1(promise, callback).ok()
}
