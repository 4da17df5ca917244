//! Who may connect, over real sockets on 127.0.0.1:0: the origin allowlist answers 403 before any
//! upgrade, and the per-address cap refuses connections at accept.

mod support;

use std::time::Duration;
use support::{bounded, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends a WebSocket upgrade request with `origin` and returns the response's status line.
async fn handshake(server: &TestServer, origin: Option<&str>) -> String {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut head))
        .await
        .expect("an answer within 5 s")
        .expect("read");
    String::from_utf8_lossy(&head[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn foreign_null_and_lookalike_origins_get_403_before_any_upgrade() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let own = format!("http://{}", server.addr);
        assert!(
            handshake(&server, Some(&own))
                .await
                .starts_with("HTTP/1.1 101"),
            "own origin"
        );
        assert!(
            handshake(&server, None).await.starts_with("HTTP/1.1 101"),
            "no Origin: not a browser"
        );
        let lookalike = format!("http://{}.evil.example", server.addr);
        for origin in [
            "http://evil.example",
            "null",
            lookalike.as_str(),
            "https://localhost.evil",
        ] {
            let status = handshake(&server, Some(origin)).await;
            assert!(status.starts_with("HTTP/1.1 403"), "{origin}: {status}");
        }
        server.stop().await;
        let server = TestServer::start(&["--allowed-origin", "https://play.example"]).await;
        assert!(handshake(&server, Some("https://play.example"))
            .await
            .starts_with("HTTP/1.1 101"));
        let own = format!("http://{}", server.addr);
        assert!(
            handshake(&server, Some(&own))
                .await
                .starts_with("HTTP/1.1 403"),
            "the list replaces the default"
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn connections_beyond_the_per_address_cap_are_refused_at_accept() {
    bounded(async {
        let server = TestServer::start(&["--max-connections-per-ip", "3"]).await;
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(TcpStream::connect(server.addr).await.expect("connect"));
        }
        // The fourth is accepted by the kernel and closed by the server without a byte.
        let mut fourth = TcpStream::connect(server.addr).await.expect("connect");
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), fourth.read(&mut byte))
            .await
            .expect("closed at once, not left hanging");
        assert!(matches!(read, Ok(0) | Err(_)), "refused: {read:?}");
        // A held connection is served normally.
        held[0]
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut response = String::new();
        held[0].read_to_string(&mut response).await.expect("read");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        // Once it has closed, its slot is free again.
        let mut served = false;
        for _ in 0..50 {
            let mut next = TcpStream::connect(server.addr).await.expect("connect");
            if next
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .await
                .is_ok()
            {
                let mut response = String::new();
                let _ = next.read_to_string(&mut response).await;
                if response.starts_with("HTTP/1.1 200") {
                    served = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(served, "a freed slot admits a new connection");
        drop(held);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn silent_connections_are_ended_by_the_handshake_and_join_deadlines() {
    bounded(async {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let server =
            TestServer::start(&["--handshake-timeout", "0.3", "--join-timeout", "0.3"]).await;
        // No request head at all: the connection is closed, not left open.
        let mut idle = TcpStream::connect(server.addr).await.expect("connect");
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut byte))
            .await
            .expect("closed by the handshake deadline");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        // Upgraded but no Hello: closed with 4004.
        let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url())
            .await
            .expect("upgrade");
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("closed by the join deadline");
        match frame {
            Some(Ok(Message::Close(Some(close)))) => {
                assert_eq!(
                    u16::from(close.code),
                    skirmish_shared::protocol::close_code::JOIN_TIMEOUT
                )
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_capped() {
    bounded(async {
        let server = TestServer::start(&["--trusted-proxy", "127.0.0.1", "--max-connections-per-ip", "2"]).await;
        let open = |forwarded: &'static str| {
            let addr = server.addr;
            async move {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                let request = format!(
                    "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                     X-Forwarded-For: {forwarded}\r\n\r\n"
                );
                stream.write_all(request.as_bytes()).await.expect("write");
                let mut head = vec![0u8; 256];
                let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut head))
                    .await
                    .expect("answered")
                    .expect("read");
                let status = String::from_utf8_lossy(&head[..n]).lines().next().unwrap_or_default().to_string();
                (stream, status)
            }
        };
        let (_a, first) = open("203.0.113.7").await;
        let (_b, second) = open("198.51.100.1, 203.0.113.7").await;
        let (_c, third) = open("203.0.113.7").await;
        let (_d, other) = open("203.0.113.8").await;
        assert!(first.starts_with("HTTP/1.1 101") && second.starts_with("HTTP/1.1 101"), "{first} / {second}");
        assert!(third.starts_with("HTTP/1.1 429"), "the third from one client is refused: {third}");
        assert!(other.starts_with("HTTP/1.1 101"), "another client behind the proxy is not: {other}");
        server.stop().await;
        // Without the proxy trusted, the header is ignored and the socket address is capped at accept.
        let server = TestServer::start(&["--max-connections-per-ip", "2"]).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(TcpStream::connect(server.addr).await.expect("connect"));
        }
        let mut refused = TcpStream::connect(server.addr).await.expect("connect");
        let _ = refused
            .write_all(b"GET /healthz HTTP/1.1\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n")
            .await;
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), refused.read(&mut byte)).await.expect("closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        drop(held);
        server.stop().await;
    })
    .await;
}
