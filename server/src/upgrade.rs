//! The WebSocket upgrade: checks a handshake request (RFC 6455 section 4.2.1), answers 101, and hands
//! the connection, once hyper lets go of it, to tokio-tungstenite with the settings given.

use crate::response::{text, Body};
use crate::stream::WriteDeadline;
use crate::tls::Conn;
use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use skirmish_shared::protocol::{MAX_CLIENT_MSG_BYTES, MAX_SERVER_MSG_BYTES};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

/// The byte stream of an upgraded connection.
pub type Socket = TokioIo<Upgraded>;

/// A WebSocket on an upgraded connection.
pub type Ws = WebSocketStream<Socket>;

/// The stream hyper serves: plain or TLS, with a write deadline.
pub type Stream = WriteDeadline<Conn>;

/// Read buffer per WebSocket: one client message at its largest ([`MAX_CLIENT_MSG_BYTES`]; most are
/// tens of bytes). tungstenite zero-fills the buffer it reads into, so all of it stays resident:
/// its 128 KiB default, or even 4 KiB, costs megabytes at thousands of connections for nothing.
const WS_READ_BUFFER: usize = MAX_CLIENT_MSG_BYTES;

/// The WebSocket settings for game connections: small buffers, limits sized to the protocol, and
/// masked client frames required.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_SERVER_MSG_BYTES * 2)
        .max_message_size(Some(MAX_CLIENT_MSG_BYTES))
        .max_frame_size(Some(MAX_CLIENT_MSG_BYTES))
        .accept_unmasked_frames(false)
}

/// Whether a header holds `token` in its comma-separated list (case-insensitive), on any line.
pub fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Whether `key` is a `Sec-WebSocket-Key`: 16 bytes in base64 (24 characters, `==` padded, the last
/// data character carrying no stray bits).
pub fn valid_key(key: &str) -> bool {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = key.as_bytes();
    bytes.len() == 24
        && bytes[22..] == *b"=="
        && bytes[..22].iter().all(|b| ALPHABET.contains(b))
        // 16 bytes are 128 bits; 22 characters carry 132, so the last one's low 4 bits are zero.
        && matches!(bytes[21], b'A' | b'Q' | b'g' | b'w')
}

/// Why a handshake was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Not a WebSocket handshake: not a GET, no `Upgrade: websocket`, or no valid key (400).
    #[error("not a WebSocket handshake")]
    NotWebSocket,
    /// Another WebSocket version than 13 (426, naming the version spoken).
    #[error("WebSocket version 13 only")]
    Version,
}

impl HandshakeError {
    /// The response refusing the handshake.
    pub fn response(self) -> Response<Body> {
        match self {
            HandshakeError::NotWebSocket => text(StatusCode::BAD_REQUEST, &self.to_string()),
            HandshakeError::Version => {
                let mut refusal = text(StatusCode::UPGRADE_REQUIRED, &self.to_string());
                refusal.headers_mut().insert(
                    header::SEC_WEBSOCKET_VERSION,
                    header::HeaderValue::from_static("13"),
                );
                refusal
            }
        }
    }
}

/// Checks a request to upgrade: the `Sec-WebSocket-Accept` value to answer with, or why it is
/// refused.
pub fn check<B>(request: &Request<B>) -> Result<String, HandshakeError> {
    let headers = request.headers();
    let is_upgrade = request.method() == Method::GET
        && has_token(headers, header::CONNECTION, "upgrade")
        && has_token(headers, header::UPGRADE, "websocket");
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|key| valid_key(key));
    let Some(key) = key.filter(|_| is_upgrade) else {
        return Err(HandshakeError::NotWebSocket);
    };
    let version = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok());
    if version.map(str::trim) != Some("13") {
        return Err(HandshakeError::Version);
    }
    Ok(derive_accept_key(key.as_bytes()))
}

/// The 101 answer to a checked handshake, without extensions (no permessage-deflate) or
/// subprotocols.
pub fn switching_protocols(accept: &str) -> Response<Body> {
    let mut response = Response::new(crate::response::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(
        header::UPGRADE,
        header::HeaderValue::from_static("websocket"),
    );
    headers.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(accept) = header::HeaderValue::from_str(accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// Waits for hyper to hand over the connection once the 101 is written, and wraps it with `config`.
/// `None` if the connection ended first.
pub async fn websocket(
    request: Request<hyper::body::Incoming>,
    config: WebSocketConfig,
) -> Option<Ws> {
    let upgraded = hyper::upgrade::on(request).await.ok()?;
    Some(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sixteen_bytes_of_base64() {
        assert!(valid_key("dGhlIHNhbXBsZSBub25jZQ=="), "RFC 6455's example");
        assert!(valid_key("AAAAAAAAAAAAAAAAAAAAAA=="));
        for bad in [
            "",
            "dGhlIHNhbXBsZSBub25jZQ",
            "dGhlIHNhbXBsZSBub25jZR==",
            "dGhlIHNhbXBsZSBub25jZQ=",
            "dGhlIHNhbXBsZSBub25j!Q==",
            "dGhlIHNhbXBsZSBub25jZQ===",
            "AAAAAAAAAAAAAAAAAAAAAAAA",
            "dGhlIHNhbXBsZSBub25jZQ==dGhl",
        ] {
            assert!(!valid_key(bad), "{bad:?}");
        }
    }
}
