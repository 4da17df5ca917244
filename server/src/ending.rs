//! How a connection that will not (or no longer) play ends: close frames, refusals, and the close
//! code for a WebSocket error. Shared by player sessions and spectators.

use crate::link::Disconnect;
use crate::metrics::Metrics;
use crate::upgrade::Ws;
use futures_util::SinkExt;
use skirmish_shared::codec::encode_server;
use skirmish_shared::protocol::{close_code, RefuseReason, ServerMsg};
use std::time::Duration;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Time allowed to send a close frame before the connection is dropped.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// A close frame with `code` and `reason`.
pub(crate) fn close_message(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

/// Sends a close frame, bounded in time, and drops the socket (a session that never joined).
pub(crate) async fn close(mut ws: Ws, metrics: &Metrics, code: u16, reason: &str) {
    metrics.count_disconnect(code);
    let _ = timeout(CLOSE_TIMEOUT, ws.send(close_message(code, reason))).await;
}

/// Sends `Refused` and closes.
pub(crate) async fn refuse(
    mut ws: Ws,
    metrics: &Metrics,
    reason: RefuseReason,
    code: u16,
    detail: String,
) {
    tracing::info!(code, %detail, "refused");
    let refused = encode_server(&ServerMsg::Refused {
        reason,
        detail: detail.clone(),
    });
    let _ = timeout(CLOSE_TIMEOUT, ws.send(Message::Binary(refused.into()))).await;
    close(ws, metrics, code, &detail).await;
}

/// The close code for a WebSocket-level read error.
pub(crate) fn close_code_for(error: &WsError) -> Disconnect {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    match error {
        // The connection dropped rather than misbehaved: the seat may be resumed.
        WsError::Io(_)
        | WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Disconnect::CLIENT_CLOSED
        }
        WsError::Capacity(_) => Disconnect {
            code: close_code::MESSAGE_TOO_BIG,
            reason: "message too big",
        },
        WsError::Utf8(_) => Disconnect {
            code: close_code::INVALID_PAYLOAD,
            reason: "invalid UTF-8",
        },
        _ => Disconnect {
            code: close_code::PROTOCOL_ERROR,
            reason: "protocol error",
        },
    }
}

/// How a session that did not join ends.
pub(crate) enum NotJoined {
    /// Close with this code and reason.
    Close(Disconnect),
    /// Send `Refused`, then close with `code` and `detail`.
    Refuse {
        /// Why, as the client's code reads it.
        reason: RefuseReason,
        /// The close code.
        code: u16,
        /// Why, for people (logged, and sent in `Refused` and the close frame).
        detail: String,
    },
    /// The client has gone: nothing more is sent.
    Gone,
}

/// Ends a session that did not join, counting its close code.
pub(crate) async fn end_before_joining(ws: Ws, metrics: &Metrics, ending: NotJoined) {
    match ending {
        NotJoined::Close(reason) => close(ws, metrics, reason.code, reason.reason).await,
        NotJoined::Refuse {
            reason,
            code,
            detail,
        } => refuse(ws, metrics, reason, code, detail).await,
        NotJoined::Gone => metrics.count_disconnect(close_code::NORMAL),
    }
}
