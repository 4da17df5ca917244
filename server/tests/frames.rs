//! The WebSocket frame rules, with hand-made frames over a raw socket on 127.0.0.1:0.

mod support;

use support::raw::{close_code, frame};
use support::{bounded, TestServer};
use tokio::io::AsyncWriteExt;

async fn upgraded(server: &TestServer, extra_headers: &str) -> (tokio::net::TcpStream, String) {
    support::raw::upgraded(server.addr, "/ws", extra_headers).await
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
