//! The `/echo` conformance endpoint and raw-frame cases of the WebSocket stack behind the game socket.

mod support;

use support::raw::{
    close_code, frame, read_frame, upgraded, BINARY, CLOSE, CONTINUATION, FIN, PING, PONG, TEXT,
};
use support::{bounded, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn the_echo_endpoint_is_off_by_default() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
        stream
            .write_all(b"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            .await
            .expect("write");
        // The connection is kept alive after the answer: read the status line, not to the end.
        let mut head = [0u8; 64];
        let n = stream.read(&mut head).await.expect("read");
        let response = String::from_utf8_lossy(&head[..n]);
        assert!(response.starts_with("HTTP/1.1 404"), "{response}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn fragments_pings_large_messages_and_the_close_handshake() {
    bounded(async {
        let server = TestServer::start(&["--conformance-echo"]).await;
        let (mut ws, _) = upgraded(server.addr, "/echo", "").await;
        // A text message in three fragments, with a ping between them, comes back whole after the pong.
        ws.write_all(&frame(TEXT, b"Hel", true))
            .await
            .expect("write");
        ws.write_all(&frame(FIN | PING, b"abc", true))
            .await
            .expect("write");
        ws.write_all(&frame(CONTINUATION, b"lo, ", true))
            .await
            .expect("write");
        ws.write_all(&frame(FIN | CONTINUATION, "wörld".as_bytes(), true))
            .await
            .expect("write");
        assert_eq!(read_frame(&mut ws).await, Some((PONG, b"abc".to_vec())));
        assert_eq!(
            read_frame(&mut ws).await,
            Some((TEXT, "Hello, wörld".as_bytes().to_vec()))
        );
        // A 1 MiB binary message passes here (the game socket's limit is 1 KiB).
        let big: Vec<u8> = (0..1u32 << 20).map(|i| i as u8).collect();
        ws.write_all(&frame(FIN | BINARY, &big, true))
            .await
            .expect("write");
        assert_eq!(read_frame(&mut ws).await, Some((BINARY, big)));
        // The close handshake: the server answers with the same code.
        let mut close = 1000u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"bye");
        ws.write_all(&frame(FIN | CLOSE, &close, true))
            .await
            .expect("write");
        assert_eq!(close_code(&mut ws).await, Some(1000));
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn protocol_violations_fail_the_connection() {
    bounded(async {
        let server = TestServer::start(&["--conformance-echo"]).await;
        // Invalid UTF-8 in a close reason.
        let (mut ws, _) = upgraded(server.addr, "/echo", "").await;
        let mut close = 1000u16.to_be_bytes().to_vec();
        close.extend_from_slice(&[0xFF, 0xFE]);
        ws.write_all(&frame(FIN | CLOSE, &close, true))
            .await
            .expect("write");
        let code = close_code(&mut ws).await;
        assert!(
            matches!(code, None | Some(1002) | Some(1007)),
            "not a clean 1000: {code:?}"
        );
        // Invalid UTF-8 in a text message.
        let (mut ws, _) = upgraded(server.addr, "/echo", "").await;
        ws.write_all(&frame(FIN | TEXT, &[0xC3, 0x28], true))
            .await
            .expect("write");
        let code = close_code(&mut ws).await;
        assert!(matches!(code, None | Some(1007)), "{code:?}");
        // A continuation with nothing to continue.
        let (mut ws, _) = upgraded(server.addr, "/echo", "").await;
        ws.write_all(&frame(FIN | CONTINUATION, b"x", true))
            .await
            .expect("write");
        let code = close_code(&mut ws).await;
        assert!(matches!(code, None | Some(1002)), "{code:?}");
        // A close frame with a one-byte payload.
        let (mut ws, _) = upgraded(server.addr, "/echo", "").await;
        ws.write_all(&frame(FIN | CLOSE, &[3], true))
            .await
            .expect("write");
        let code = close_code(&mut ws).await;
        assert!(matches!(code, None | Some(1002)), "{code:?}");
        server.stop().await;
    })
    .await;
}
