//! The network glue: the question where to play (`GET /api/play`, [`PlayRequest`]) and the game
//! socket (a browser WebSocket whose events are queued for the frame loop). What the answer means
//! is `crate::play`'s.

use crate::play::{Answer, AskFailure, Field, ASK_TIMEOUT_MS};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, BinaryType, CloseEvent, MessageEvent, RequestCache, RequestInit, WebSocket,
};

/// Whether the page is `https:` (its sockets must then be `wss:`).
pub fn secure_page() -> bool {
    web_sys::window()
        .and_then(|w| w.location().protocol().ok())
        .is_some_and(|p| p == "https:")
}

/// What a [`PlayRequest`] came to: the answer, or why there is none.
pub type Asked = Result<Answer, AskFailure>;

/// A `GET /api/play` in flight. It ends within [`ASK_TIMEOUT_MS`] (then it is aborted and counts
/// as [`AskFailure::TimedOut`]); dropping it aborts it.
pub struct PlayRequest {
    /// Filled once, by the answer or by the timer, whichever comes first.
    outcome: Rc<RefCell<Option<Asked>>>,
    controller: Option<AbortController>,
    timer: Option<i32>,
}

impl PlayRequest {
    /// Sends `query` (a path on the page's own origin, as `crate::play::Ask::query` makes it).
    pub fn send(query: &str) -> PlayRequest {
        let outcome = Rc::new(RefCell::new(None));
        let Some(window) = web_sys::window() else {
            *outcome.borrow_mut() = Some(Err(AskFailure::Unreachable));
            return PlayRequest {
                outcome,
                controller: None,
                timer: None,
            };
        };
        let controller = AbortController::new().ok();
        let init = RequestInit::new();
        init.set_method("GET");
        // The answer is where to play now: never from a cache.
        init.set_cache(RequestCache::NoStore);
        if let Some(controller) = &controller {
            init.set_signal(Some(&controller.signal()));
        }
        let promise = window.fetch_with_str_and_init(query, &init);
        let give_up = {
            let (outcome, controller) = (outcome.clone(), controller.clone());
            Closure::once_into_js(move || {
                settle(&outcome, Err(AskFailure::TimedOut));
                if let Some(controller) = controller {
                    controller.abort();
                }
            })
        };
        let timer = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                give_up.unchecked_ref(),
                ASK_TIMEOUT_MS,
            )
            .ok();
        let into = outcome.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let answer = read_answer(promise).await;
            settle(&into, answer.ok_or(AskFailure::Unreachable));
        });
        PlayRequest {
            outcome,
            controller,
            timer,
        }
    }

    /// The outcome, once there is one (taken: later calls give `None`).
    pub fn take(&self) -> Option<Asked> {
        self.outcome.borrow_mut().take()
    }
}

impl Drop for PlayRequest {
    fn drop(&mut self) {
        if let (Some(window), Some(timer)) = (web_sys::window(), self.timer) {
            window.clear_timeout_with_handle(timer);
        }
        if let Some(controller) = &self.controller {
            controller.abort();
        }
    }
}

/// Keeps the first outcome: a late answer after the timer, or the timer after the answer, is dropped.
fn settle(outcome: &RefCell<Option<Asked>>, asked: Asked) {
    let mut outcome = outcome.borrow_mut();
    if outcome.is_none() {
        *outcome = Some(asked);
    }
}

/// The status and JSON fields of a fetch's response; `None` if it failed (the network, an abort).
async fn read_answer(promise: js_sys::Promise) -> Option<Answer> {
    let response: web_sys::Response = JsFuture::from(promise).await.ok()?.dyn_into().ok()?;
    let text = JsFuture::from(response.text().ok()?).await.ok()?;
    let json = text
        .as_string()
        .and_then(|text| js_sys::JSON::parse(&text).ok())
        .filter(|json| json.is_object());
    let field = |key: &str| match &json {
        None => Field::Absent,
        Some(json) => match js_sys::Reflect::get(json, &JsValue::from_str(key)) {
            Ok(value) if value.is_undefined() => Field::Absent,
            Ok(value) if value.is_null() => Field::Null,
            Ok(value) => value.as_string().map_or(Field::Other, Field::Text),
            Err(_) => Field::Absent,
        },
    };
    Some(Answer {
        status: response.status(),
        url: field("url"),
        room: field("room"),
        error: field("error"),
        server: field("server"),
    })
}

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

/// A WebSocket to the game server an answer of `/api/play` named.
pub struct Socket {
    ws: WebSocket,
    events: Rc<RefCell<VecDeque<NetEvent>>>,
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Socket {
    /// Opens a socket to `url` (`ws://` or `wss://`).
    pub fn open(url: &str) -> Result<Socket, JsValue> {
        let ws = WebSocket::new(url)?;
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
