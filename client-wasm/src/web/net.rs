//! The game socket: a browser WebSocket whose events are queued for the frame loop.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

/// Something the socket did.
#[derive(Debug)]
pub enum NetEvent {
    /// The connection opened.
    Open,
    /// A binary message arrived.
    Message {
        /// Its bytes.
        bytes: Vec<u8>,
        /// When it arrived (`performance.now()`, ms): round trips and arrival jitter are measured
        /// from here, not from the animation frame that handles it up to a frame later.
        arrived_ms: f64,
    },
    /// The connection closed, with the server's close code and reason.
    Closed {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

/// A WebSocket to `/ws` on the page's own host.
pub struct Socket {
    ws: WebSocket,
    events: Rc<RefCell<VecDeque<NetEvent>>>,
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Socket {
    /// Opens a socket to the page's own host (`wss:` when the page is `https:`).
    pub fn open() -> Result<Socket, JsValue> {
        let location = web_sys::window().ok_or("no window")?.location();
        let scheme = if location.protocol()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        let url = format!("{scheme}://{}/ws", location.host()?);
        let ws = WebSocket::new(&url)?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let events = Rc::new(RefCell::new(VecDeque::new()));
        let on_open = {
            let events = events.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |_| {
                events.borrow_mut().push_back(NetEvent::Open)
            })
        };
        let on_message = {
            let events = events.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
                let Ok(e) = e.dyn_into::<MessageEvent>() else {
                    return;
                };
                if let Ok(buffer) = e.data().dyn_into::<js_sys::ArrayBuffer>() {
                    let arrived_ms = web_sys::window()
                        .and_then(|w| w.performance())
                        .map_or(0.0, |p| p.now());
                    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
                    events
                        .borrow_mut()
                        .push_back(NetEvent::Message { bytes, arrived_ms });
                }
            })
        };
        let on_close = {
            let events = events.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
                let (code, reason) = match e.dyn_into::<CloseEvent>() {
                    Ok(e) => (e.code(), e.reason()),
                    Err(_) => (1006, String::new()),
                };
                events
                    .borrow_mut()
                    .push_back(NetEvent::Closed { code, reason });
            })
        };
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            events,
            _handlers: vec![on_open, on_message, on_close],
        })
    }

    /// Takes the queued events.
    pub fn drain(&self) -> Vec<NetEvent> {
        self.events.borrow_mut().drain(..).collect()
    }

    /// Sends one binary message; `false` if the socket is not open.
    pub fn send(&self, bytes: &[u8]) -> bool {
        self.ws.ready_state() == WebSocket::OPEN && self.ws.send_with_u8_array(bytes).is_ok()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}
