//! The WebSocket frame rules, with hand-made frames over a raw socket on 127.0.0.1:0.

mod support;

use std::time::Duration;
use support::{bounded, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connects and completes the upgrade; returns the stream and the response head.
async fn upgraded(server: &TestServer, extra_headers: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra_headers}\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.expect("response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (stream, head)
}

/// A client frame: `first` is FIN/RSV/opcode, `len_field` the 7-bit length (with extended length
/// bytes in `extended`), masked with a zero key when `masked`.
fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    if payload.len() < 126 {
        out.push(mask_bit | payload.len() as u8);
    } else {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    if masked {
        out.extend_from_slice(&[0, 0, 0, 0]); // a zero mask leaves the payload as is
    }
    out.extend_from_slice(payload);
    out
}

/// Reads server frames until a close frame and returns its code (`None` if the socket just closed).
async fn close_code(stream: &mut TcpStream) -> Option<u16> {
    let read = async {
        loop {
            let mut header = [0u8; 2];
            stream.read_exact(&mut header).await.ok()?;
            let mut len = u64::from(header[1] & 0x7F);
            if len == 126 {
                let mut ext = [0u8; 2];
                stream.read_exact(&mut ext).await.ok()?;
                len = u64::from(u16::from_be_bytes(ext));
            } else if len == 127 {
                let mut ext = [0u8; 8];
                stream.read_exact(&mut ext).await.ok()?;
                len = u64::from_be_bytes(ext);
            }
            let mut payload = vec![0u8; len as usize];
            stream.read_exact(&mut payload).await.ok()?;
            if header[0] & 0x0F == 0x8 {
                return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the server answers within 5 s")
}

async fn expect_close(server: &TestServer, bytes: Vec<u8>, expected: u16, case: &str) {
    let (mut stream, _) = upgraded(server, "").await;
    stream.write_all(&bytes).await.expect("write");
    assert_eq!(close_code(&mut stream).await, Some(expected), "{case}");
}

#[tokio::test]
async fn frame_rule_violations_close_with_their_codes() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        // An oversized frame is refused from its header alone: no payload is ever sent.
        let mut oversized = vec![0x82, 0x80 | 127];
        oversized.extend_from_slice(&(1u64 << 20).to_be_bytes());
        oversized.extend_from_slice(&[0, 0, 0, 0]);
        expect_close(&server, oversized, 1009, "oversized frame").await;
        expect_close(&server, frame(0x81, b"hello", true), 1003, "text frame").await;
        expect_close(
            &server,
            frame(0x82, &[9, 9, 9], true),
            1007,
            "undecodable message",
        )
        .await;
        expect_close(
            &server,
            frame(0x82, &[0, 0, 2, 104, 105], false),
            1002,
            "unmasked frame",
        )
        .await;
        expect_close(
            &server,
            frame(0xC2, &[3, 1], true),
            1002,
            "reserved bit set",
        )
        .await;
        expect_close(
            &server,
            frame(0x89, &[0u8; 126], true),
            1002,
            "oversized ping",
        )
        .await;
        expect_close(&server, frame(0x09, b"hi", true), 1002, "fragmented ping").await;
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn permessage_deflate_is_never_negotiated() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let (_stream, head) = upgraded(
            &server,
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
        )
        .await;
        assert!(
            !head
                .to_ascii_lowercase()
                .contains("sec-websocket-extensions"),
            "{head}"
        );
        server.stop().await;
    })
    .await;
}
