//! Outgoing messages in WebSocket frames of at most [`FRAGMENT_BYTES`].
//!
//! tungstenite copies each frame it writes into a buffer of its own, and that buffer keeps the
//! capacity of the largest frame it ever held. A join's full snapshot and roster in a 3,000-player
//! room make a 45 KB message: sent whole, every connection would keep 45 KB for its whole life (most
//! of the server's memory at that size). Sent as a fragmented message (RFC 6455 section 5.4), which
//! the browser and every WebSocket library reassemble, the buffer stays at one fragment.

use bytes::Bytes;
use futures_util::{Sink, SinkExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// The largest data frame the server writes; a longer message goes out in fragments of this size.
/// Most snapshots (hundreds of bytes) fit in one.
pub const FRAGMENT_BYTES: usize = 2 * 1024;

/// One binary message on its way out, a frame at a time.
#[derive(Debug)]
pub struct Outgoing {
    /// The message (empty once handed over whole).
    bytes: Bytes,
    /// Its length.
    len: usize,
    /// Bytes handed out in frames so far.
    sent: usize,
    /// Whether the first frame has been handed out (an empty message is one empty frame).
    started: bool,
}

impl Outgoing {
    /// The message `bytes`, none of it sent yet.
    pub fn new(bytes: Bytes) -> Outgoing {
        Outgoing {
            len: bytes.len(),
            bytes,
            sent: 0,
            started: false,
        }
    }

    /// The message's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next frame to write; `None` once every frame has been handed out. A message that fits
    /// in one frame is one plain binary message.
    pub fn next_frame(&mut self) -> Option<Message> {
        let len = self.len;
        if self.started && self.sent >= len {
            return None;
        }
        let first = !self.started;
        self.started = true;
        let end = len.min(self.sent + FRAGMENT_BYTES);
        if first && end == len {
            self.sent = len;
            // Handed over, not cloned: a clone of a `Bytes` made from a `Vec` allocates a shared
            // header, one allocation more per snapshot.
            return Some(Message::Binary(std::mem::take(&mut self.bytes)));
        }
        let part = self.bytes.slice(self.sent..end);
        self.sent = end;
        let opcode = if first {
            OpCode::Data(Data::Binary)
        } else {
            OpCode::Data(Data::Continue)
        };
        Some(Message::Frame(Frame::message(part, opcode, end == len)))
    }

    /// Writes the frames not yet handed out, then flushes.
    pub async fn finish<S>(&mut self, ws: &mut S) -> Result<(), WsError>
    where
        S: Sink<Message, Error = WsError> + Unpin,
    {
        while let Some(frame) = self.next_frame() {
            ws.feed(frame).await?;
        }
        ws.flush().await
    }
}

/// Sends `bytes` as one binary message, in fragments if it is long, and flushes.
pub async fn send<S>(ws: &mut S, bytes: Bytes) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    Outgoing::new(bytes).finish(ws).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frames of `len` bytes: (opcode, final, payload length).
    fn frames(len: usize) -> Vec<(OpCode, bool, usize)> {
        let bytes: Bytes = (0..len).map(|i| i as u8).collect();
        let mut out = Outgoing::new(bytes.clone());
        let mut seen = Vec::new();
        let mut joined = Vec::new();
        while let Some(message) = out.next_frame() {
            match message {
                Message::Binary(whole) => {
                    seen.push((OpCode::Data(Data::Binary), true, whole.len()));
                    joined.extend_from_slice(&whole);
                }
                Message::Frame(frame) => {
                    let header = frame.header();
                    seen.push((header.opcode, header.is_final, frame.payload().len()));
                    joined.extend_from_slice(frame.payload());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(joined, bytes, "the frames join up to the message");
        seen
    }

    #[test]
    fn a_short_message_is_one_frame() {
        let binary = OpCode::Data(Data::Binary);
        assert_eq!(frames(0), vec![(binary, true, 0)]);
        assert_eq!(frames(300), vec![(binary, true, 300)]);
        assert_eq!(frames(FRAGMENT_BYTES), vec![(binary, true, FRAGMENT_BYTES)]);
    }

    /// A 45 KB message and a short one after it reach a tungstenite client whole, in order: the
    /// fragments join up on the other side.
    #[tokio::test]
    async fn a_client_reassembles_the_fragments() {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::protocol::Role;
        use tokio_tungstenite::WebSocketStream;
        let (near, far) = tokio::io::duplex(1024);
        let config = crate::upgrade::websocket_config();
        let mut server = WebSocketStream::from_raw_socket(near, Role::Server, Some(config)).await;
        let mut client = WebSocketStream::from_raw_socket(far, Role::Client, None).await;
        let big: Bytes = (0..45_000u32).map(|i| (i % 251) as u8).collect();
        let sending = async {
            send(&mut server, big.clone()).await.expect("sent");
            send(&mut server, Bytes::from_static(b"next"))
                .await
                .expect("sent");
        };
        let receiving = async {
            let first = client.next().await.expect("a message").expect("valid");
            let second = client.next().await.expect("a message").expect("valid");
            (first, second)
        };
        let ((), (first, second)) = tokio::join!(sending, receiving);
        assert_eq!(first, Message::Binary(big));
        assert_eq!(second, Message::Binary(Bytes::from_static(b"next")));
    }

    #[test]
    fn a_long_message_is_fragmented() {
        let (binary, more) = (OpCode::Data(Data::Binary), OpCode::Data(Data::Continue));
        assert_eq!(
            frames(FRAGMENT_BYTES + 1),
            vec![(binary, false, FRAGMENT_BYTES), (more, true, 1)]
        );
        let big = frames(45_000);
        assert_eq!(big.len(), 45_000usize.div_ceil(FRAGMENT_BYTES));
        assert_eq!(big[0].0, binary);
        assert!(big[1..].iter().all(|f| f.0 == more));
        assert!(big[..big.len() - 1]
            .iter()
            .all(|f| !f.1 && f.2 == FRAGMENT_BYTES));
        assert!(big.last().is_some_and(|f| f.1));
    }
}
