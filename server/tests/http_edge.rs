//! The HTTP edge over real sockets: keep-alive and its deadlines, the request head limit, the
//! WebSocket key check, static files (validators, precompressed variants, cache lifetimes), the admin
//! listener, and the bounds on `/echo`.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use support::{bounded, wait_until, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "http-edge-test-token-0123456789";

/// A response read off a keep-alive connection: the head (lower-cased) and the body.
struct Answer {
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn status(&self) -> u16 {
        self.head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            (n.trim() == name).then(|| v.trim())
        })
    }
}

/// Sends `request` and reads one response (head, then `content-length` bytes of body).
async fn exchange(stream: &mut TcpStream, request: &str) -> Answer {
    stream.write_all(request.as_bytes()).await.expect("write");
    read_answer(stream).await
}

async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("an answer within 5 s")
            .expect("read");
        assert_eq!(
            n,
            1,
            "closed before the head ended: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let mut answer = Answer {
        head,
        body: Vec::new(),
    };
    let length: usize = answer
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    answer.body = vec![0; length];
    stream.read_exact(&mut answer.body).await.expect("body");
    answer
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n")
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(within, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn connections_are_kept_alive_and_closed_when_idle() {
    bounded(async {
        let server = TestServer::start(&["--handshake-timeout", "0.5"]).await;
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        for _ in 0..3 {
            let answer = exchange(&mut stream, &get("/healthz", "")).await;
            assert_eq!(answer.status(), 200, "{}", answer.head);
            assert_eq!(answer.body, b"ok\n");
        }
        // Idle after its answers: closed by the head deadline, not held open.
        assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn request_heads_over_8_kib_are_refused_with_431() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        // About 9.2 KB of head, in headers each well under the limit.
        let filler: String = (0..23)
            .map(|i| format!("X-Filler-{i:02}: {}\r\n", "a".repeat(384)))
            .collect();
        let answer = exchange(&mut stream, &get("/healthz", &filler)).await;
        assert_eq!(answer.status(), 431, "{}", answer.head);
        // A head of ordinary size is fine.
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        let filler: String = (0..8)
            .map(|i| format!("X-Filler-{i:02}: {}\r\n", "a".repeat(384)))
            .collect();
        assert_eq!(
            exchange(&mut stream, &get("/healthz", &filler))
                .await
                .status(),
            200
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn websocket_keys_must_be_sixteen_bytes_of_base64() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        for (key, expected) in [
            ("dGhlIHNhbXBsZSBub25jZQ==", 101),
            ("AAAAAAAAAAAAAAAAAAAAAAAA", 400),
            ("dGhlIHNhbXBsZSBub25jZR==", 400),
            ("not base64 at all!!!!!==", 400),
            ("c2hvcnQ=", 400),
        ] {
            let mut stream = TcpStream::connect(server.addr).await.expect("connect");
            let upgrade = format!(
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n\
                 Sec-WebSocket-Version: 13\r\n"
            );
            let answer = exchange(&mut stream, &get("/ws", &upgrade)).await;
            assert_eq!(answer.status(), expected, "{key}: {}", answer.head);
        }
        server.stop().await;
    })
    .await;
}

/// An assets folder with a page, a content-hashed script and its precompressed variants (marked so
/// the test can tell which was served).
fn assets() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("skirmish-http-edge-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("pkg")).expect("dir");
    std::fs::write(dir.join("index.html"), "<html>page</html>").expect("index");
    std::fs::write(dir.join(".secret"), "hidden").expect("dotfile");
    std::fs::create_dir_all(dir.join("sub")).expect("sub");
    std::fs::write(dir.join("sub/.env"), "hidden").expect("dotfile");
    let outside =
        std::env::temp_dir().join(format!("skirmish-http-edge-outside-{}", std::process::id()));
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("private.txt"), "outside the folder").expect("outside file");
    let _ = std::os::unix::fs::symlink(&outside, dir.join("link"));
    let script = dir.join("pkg/app.0123456789abcdef.js");
    std::fs::write(&script, "plain").expect("script");
    std::fs::write(script.with_extension("js.gz"), "gzip variant").expect("gz");
    std::fs::write(script.with_extension("js.br"), "brotli variant").expect("br");
    dir
}

#[tokio::test]
async fn static_files_have_validators_variants_and_cache_lifetimes() {
    bounded(async {
        let dir = assets();
        let map = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/maps/arena.map");
        let assets = dir.to_str().expect("utf-8");
        let server = TestServer::start(&["--assets", assets, "--map", map]).await;
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        let page = exchange(&mut stream, &get("/", "")).await;
        assert_eq!(page.status(), 200, "{}", page.head);
        assert_eq!(page.body, b"<html>page</html>");
        assert_eq!(
            page.header("cache-control"),
            Some("no-cache"),
            "revalidated"
        );
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
        let etag = page.header("etag").expect("an etag").to_string();
        assert!(page.header("last-modified").is_some());
        // Revalidation on the same connection: 304 without a body.
        let again = exchange(
            &mut stream,
            &get("/", &format!("If-None-Match: {etag}\r\n")),
        )
        .await;
        assert_eq!(again.status(), 304, "{}", again.head);
        assert!(again.body.is_empty());
        // The variant the client accepts, the best first; the hashed name is cached for good.
        let path = "/pkg/app.0123456789abcdef.js";
        for (accept, body, encoding) in [
            ("gzip, deflate, br", &b"brotli variant"[..], Some("br")),
            ("gzip", b"gzip variant", Some("gzip")),
            ("identity", b"plain", None),
        ] {
            let answer = exchange(
                &mut stream,
                &get(path, &format!("Accept-Encoding: {accept}\r\n")),
            )
            .await;
            assert_eq!(answer.status(), 200, "{accept}: {}", answer.head);
            assert_eq!(answer.body, body, "{accept}");
            assert_eq!(answer.header("content-encoding"), encoding, "{accept}");
            assert_eq!(answer.header("vary"), Some("accept-encoding"));
            assert_eq!(
                answer.header("cache-control"),
                Some("public, max-age=31536000, immutable")
            );
            assert!(answer
                .header("content-type")
                .is_some_and(|t| t.contains("javascript")));
        }
        for hidden in [
            "/.secret",
            "/%2esecret",
            "/%2Esecret",
            "/sub/%2eenv",
            "/pkg/../.secret",
            "/link/private.txt",
            "/index.html/x",
            "/nope.js",
        ] {
            let answer = exchange(&mut stream, &get(hidden, "")).await;
            assert_eq!(answer.status(), 404, "{hidden}: {}", answer.head);
            assert!(!String::from_utf8_lossy(&answer.body).contains("hidden"));
            assert!(!String::from_utf8_lossy(&answer.body).contains("outside"));
        }
        let post = exchange(
            &mut stream,
            "POST /index.html HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert_eq!(post.status(), 405);
        server.stop().await;
        let _ = std::fs::remove_dir_all(dir);
    })
    .await;
}

async fn status_of(addr: SocketAddr, request: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    exchange(&mut stream, request).await.status()
}

#[tokio::test]
async fn the_admin_listener_takes_admin_and_metrics_off_the_public_port() {
    bounded(async {
        let auth = format!("Authorization: Bearer {TOKEN}\r\n");
        // Without --admin-bind, the public port serves both.
        let server = TestServer::start(&["--admin-token", TOKEN]).await;
        assert_eq!(status_of(server.addr, &get("/metrics", "")).await, 200);
        assert_eq!(
            status_of(server.addr, &get("/admin/rooms", &auth)).await,
            200
        );
        server.stop().await;
        let server =
            TestServer::start(&["--admin-token", TOKEN, "--admin-bind", "127.0.0.1:0"]).await;
        let admin = server.admin.expect("an admin listener");
        assert_ne!(admin, server.addr);
        assert_eq!(status_of(server.addr, &get("/metrics", "")).await, 404);
        assert_eq!(
            status_of(server.addr, &get("/admin/rooms", &auth)).await,
            404
        );
        assert_eq!(status_of(server.addr, &get("/healthz", "")).await, 200);
        assert_eq!(status_of(admin, &get("/metrics", "")).await, 200);
        assert_eq!(status_of(admin, &get("/admin/rooms", &auth)).await, 200);
        assert_eq!(status_of(admin, &get("/admin/rooms", "")).await, 401);
        assert_eq!(status_of(admin, &get("/healthz", "")).await, 200);
        assert_eq!(status_of(admin, &get("/", "")).await, 404, "no page there");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_admin_body_that_never_comes_is_timed_out() {
    bounded(async {
        let server =
            TestServer::start(&["--admin-token", TOKEN, "--handshake-timeout", "0.3"]).await;
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        let head = format!(
            "POST /admin/broadcast HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Length: 64\r\n\r\n{{\"te"
        );
        let answer = exchange(&mut stream, &head).await;
        assert_eq!(answer.status(), 408, "{}", answer.head);
        server.stop().await;
    })
    .await;
}

/// Upgrades to `/echo`; the stream after the 101.
async fn echo_socket(server: &TestServer) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let answer = exchange(&mut stream, &get("/echo", upgrade)).await;
    assert_eq!(answer.status(), 101, "{}", answer.head);
    stream
}

#[tokio::test]
async fn echo_sessions_that_idle_or_never_read_are_dropped() {
    bounded(async {
        let server = TestServer::start(&[
            "--conformance-echo",
            "--join-timeout",
            "0.3",
            "--handshake-timeout",
            "0.3",
            "--slow-reader-timeout",
            "0.3",
        ])
        .await;
        // Silent: closed by the idle deadline.
        let mut silent = echo_socket(&server).await;
        let mut close = [0u8; 2];
        let read =
            tokio::time::timeout(Duration::from_secs(5), silent.read_exact(&mut close)).await;
        assert_eq!(
            read.ok().and_then(Result::ok).map(|_| close[0]),
            Some(0x88),
            "a close frame"
        );
        // Pings are not data: a session that only pings is closed by the idle deadline too.
        let mut pinger = echo_socket(&server).await;
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            let mut buf = [0u8; 64];
            loop {
                // A masked empty ping every 50 ms.
                if pinger.write_all(&[0x89, 0x80, 0, 0, 0, 0]).await.is_err() {
                    return;
                }
                match tokio::time::timeout(Duration::from_millis(50), pinger.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    // Pongs, then the close frame (0x88): answered, then closed.
                    Ok(Ok(n)) if buf[..n].contains(&0x88) => return,
                    _ => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a pinging session is closed when idle");
        // Sends 4 MiB and never reads the echo: dropped by the write deadline, its memory freed.
        let mut hog = echo_socket(&server).await;
        let payload = vec![0u8; 4 << 20];
        let mut frame = vec![0x82, 0xFF];
        frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(&payload);
        hog.write_all(&frame).await.expect("sent");
        let metrics = server.metrics.clone();
        wait_until(
            Duration::from_secs(10),
            "the non-reading echo client to be dropped",
            async || metrics.open_connections.load(Relaxed) == 0,
        )
        .await;
        drop((silent, hog, pinger));
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn failed_admin_logins_are_limited_per_address() {
    bounded(async {
        let server = TestServer::start(&["--admin-token", TOKEN]).await;
        let wrong = "Authorization: Bearer wrong-token-0123456789\r\n";
        let mut statuses = Vec::new();
        for _ in 0..10 {
            statuses.push(status_of(server.addr, &get("/admin/rooms", wrong)).await);
        }
        assert_eq!(&statuses[..5], &[401; 5], "a few tries: {statuses:?}");
        assert!(
            statuses[5..].iter().all(|s| *s == 429),
            "then none: {statuses:?}"
        );
        // Only that address is held back, and not from its right token.
        let right = format!("Authorization: Bearer {TOKEN}\r\n");
        assert_eq!(
            status_of(server.addr, &get("/admin/rooms", &right)).await,
            200
        );
        let mut other = {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket.bind(([127, 0, 0, 2], 0).into()).expect("bind");
            socket.connect(server.addr).await.expect("connect")
        };
        assert_eq!(
            exchange(&mut other, &get("/admin/rooms", wrong))
                .await
                .status(),
            401
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_flood_of_websocket_pings_is_closed_like_any_flood() {
    bounded(async {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let server = TestServer::start(&[]).await;
        let mut flooder = support::silent_player(&server, "pinger", None).await;
        let mut observer = server.join("observer").await;
        for _ in 0..400 {
            if flooder
                .send(Message::Ping(Vec::new().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        // The server closes it (1008); the close frame may be lost to a reset, as the server stops
        // reading with pings still queued, so the verdict is read from its counters.
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(_)) = flooder.next().await {}
        })
        .await;
        assert!(ended.is_ok(), "the flooder's connection ended within 5 s");
        assert!(
            server.metrics.rate_limited.load(Relaxed) > 0,
            "pings were over the limit"
        );
        assert_eq!(
            server.metrics.protocol_errors.load(Relaxed),
            1,
            "closed for it"
        );
        // The observer plays on.
        observer.next_snapshot().await.expect("snapshots continue");
        server.stop().await;
    })
    .await;
}
