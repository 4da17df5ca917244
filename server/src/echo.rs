//! `/echo` (with `--conformance-echo`): echoes every data message back, through the game socket's own
//! accept path, origin check and WebSocket settings, except that messages and frames may be up to
//! [`ECHO_MESSAGE_LIMIT`]. It exists so the WebSocket stack can be checked with a conformance suite.

use crate::admission::origin_allowed;
use crate::config::ServerConfig;
use crate::http;
use crate::server::{accept_websocket, websocket_config};
use crate::tls::Conn;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// Largest message and frame on `/echo` (conformance suites send large ones).
pub const ECHO_MESSAGE_LIMIT: usize = 16 << 20;

/// Upgrades and echoes until the peer closes or breaks the protocol.
pub async fn serve(
    mut stream: Conn,
    request: &http::Request,
    leftover: Vec<u8>,
    config: &ServerConfig,
) {
    if !origin_allowed(
        request.header("origin"),
        request.header("host"),
        &config.allowed_origins,
    ) {
        let _ = http::respond_error(&mut stream, "403 Forbidden").await;
        return;
    }
    let settings = websocket_config()
        .max_message_size(Some(ECHO_MESSAGE_LIMIT))
        .max_frame_size(Some(ECHO_MESSAGE_LIMIT))
        .max_write_buffer_size(2 * ECHO_MESSAGE_LIMIT + 1024);
    let Some(mut ws) = accept_websocket(stream, request, leftover, settings).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            // Pings are answered and closes completed by tungstenite itself.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => continue,
        };
        if ws.send(reply).await.is_err() {
            break;
        }
    }
    // Flush a pending close reply, if any.
    let _ = ws.flush().await;
}
