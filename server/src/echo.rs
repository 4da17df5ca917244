//! `/echo` (with `--conformance-echo`): echoes every data message back, through the game socket's own
//! accept path, origin check and WebSocket settings, except that messages and frames may be up to
//! [`ECHO_MESSAGE_LIMIT`]. It exists so the WebSocket stack can be checked with a conformance suite.
//!
//! Large messages make each session costly (a 16 MiB message is held while it is read and again
//! while it is written), so the endpoint is bounded: at most [`ECHO_SESSIONS`] at once, a session
//! that sends nothing for `--join-timeout` is closed, one that stops reading its echoes is dropped
//! by the connection's write deadline, and all are closed (1001) when the server shuts down.

use crate::admission::{request_origin_allowed, ConnectionSlot};
use crate::context::Context;
use crate::response::{text, Body};
use crate::upgrade::{self, websocket_config};
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tracing::Instrument;

/// Largest message and frame on `/echo` (conformance suites send large ones).
pub const ECHO_MESSAGE_LIMIT: usize = 16 << 20;

/// Most `/echo` sessions at once in this process (suites run their cases one at a time).
pub const ECHO_SESSIONS: usize = 4;

static SESSIONS: Semaphore = Semaphore::const_new(ECHO_SESSIONS);

/// Checks the handshake (origin, then WebSocket headers), answers 101 and echoes on the upgraded
/// connection in its own task, which holds the connection's guard.
pub fn serve(
    request: Request<Incoming>,
    ctx: &Arc<Context>,
    guard: Arc<dyn Send + Sync + std::fmt::Debug>,
    slot: Option<ConnectionSlot>,
) -> Response<Body> {
    if !request_origin_allowed(&request, &ctx.config.allowed_origins) {
        return text(StatusCode::FORBIDDEN, "origin not allowed");
    }
    let accept = match upgrade::check(&request) {
        Ok(accept) => accept,
        Err(refusal) => return refusal.response(),
    };
    let Ok(permit) = SESSIONS.try_acquire() else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "too many /echo sessions");
    };
    let settings = websocket_config()
        .max_message_size(Some(ECHO_MESSAGE_LIMIT))
        .max_frame_size(Some(ECHO_MESSAGE_LIMIT))
        .max_write_buffer_size(2 * ECHO_MESSAGE_LIMIT + 1024);
    let idle = ctx.config.join_timeout;
    let mut shutting_down = ctx.shutting_down.clone();
    tokio::spawn(
        async move {
            let _held = (guard, slot, permit);
            if let Some(mut ws) = upgrade::websocket(request, settings).await {
                tokio::select! {
                    _ = echo(&mut ws, idle) => {}
                    _ = async { shutting_down.wait_for(|down| *down).await.is_ok() } => {
                        let going_away = CloseFrame {
                            code: CloseCode::Away,
                            reason: "server shutting down".into(),
                        };
                        let _ = tokio::time::timeout(idle, ws.close(Some(going_away))).await;
                    }
                }
            }
        }
        .in_current_span(),
    );
    upgrade::switching_protocols(&accept)
}

/// Echoes data messages until the peer closes, breaks the protocol, or sends no data message for
/// `idle` (pings do not count: they would keep a session open forever).
async fn echo(ws: &mut upgrade::Ws, idle: Duration) {
    let mut deadline = tokio::time::Instant::now() + idle;
    loop {
        let message = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(_) => break,
            Err(_) => {
                let _ = tokio::time::timeout(idle, ws.close(None)).await;
                return;
            }
        };
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            // Pings are answered and closes completed by tungstenite itself.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => continue,
        };
        deadline = tokio::time::Instant::now() + idle;
        if ws.send(reply).await.is_err() {
            break;
        }
    }
    // Flush a pending close reply, if any.
    let _ = tokio::time::timeout(idle, ws.flush()).await;
}
