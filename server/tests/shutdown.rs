//! Graceful shutdown of the real binary on SIGTERM: new connections refused at once, players told
//! (a notice in a last snapshot) and closed with 1001, exit status 0 within the grace period.

mod support;

use skirmish_server::client::GameClient;
use skirmish_server::room::SHUTDOWN_NOTICE;
use skirmish_shared::protocol::close_code;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{bounded, notices_until_close, spawn_logged, wait_until, Killed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Starts the binary with `args`; returns it and its address.
fn start(args: &[&str]) -> (Killed, String) {
    let mut all = vec!["--bind", "127.0.0.1:0", "--replay-dir", ""];
    all.extend_from_slice(args);
    spawn_logged(env!("CARGO_BIN_EXE_skirmish-server"), &all)
}

/// The server's `skirmish_open_connections` gauge, read over HTTP: it counts this request too.
async fn open_connections(addr: &str) -> u64 {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("reads");
    response
        .lines()
        .find_map(|line| line.strip_prefix("skirmish_open_connections "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|value| value as u64)
        .unwrap_or_else(|| panic!("no open connections gauge in {response}"))
}

/// Waits until the server has accepted (and so counted) `open` connections besides the request
/// asking: a connection it has not accepted yet would not hold up its shutdown.
/// A token for the admin API, whose requests have bodies.
const ADMIN_TOKEN: &str = "shutdown-test-token-0123456789";

/// Sends an admin request head announcing a body that never comes: a request in flight.
async fn request_without_its_body(addr: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let head = format!(
        "POST /admin/broadcast HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 64\r\n\r\n{{\"text\":"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream
}

async fn until_accepted(addr: &str, open: u64) {
    wait_until(
        Duration::from_secs(5),
        "the connection to be accepted",
        async || open_connections(addr).await > open,
    )
    .await;
}

/// Waits until the server refuses connections: it has taken the first signal.
async fn until_refusing(addr: &str) {
    wait_until(
        Duration::from_secs(5),
        "the server to stop listening",
        async || tokio::net::TcpStream::connect(addr).await.is_err(),
    )
    .await;
}

#[tokio::test]
async fn sigterm_tells_players_closes_them_and_exits_cleanly() {
    bounded(async {
        let grace = 10;
        let (mut server, addr) = start(&[
            "--shutdown-grace",
            &grace.to_string(),
            "--handshake-timeout",
            "2",
            "--admin-token",
            ADMIN_TOKEN,
        ]);
        let url = format!("ws://{addr}/ws");
        // One on the slowest rate, whose budget is in debt after each snapshot: it is told too.
        // (It joins first: its first snapshot waits seconds for its Welcome to cross its link,
        // and players that read nothing that long would be dropped as slow readers.)
        let mut slow = GameClient::connect_at_rate(&url, "Cy", 1_000)
            .await
            .expect("joins");
        slow.next_snapshot().await.expect("a snapshot");
        let mut players = vec![slow];
        for name in ["Ada", "Bob"] {
            let mut client = GameClient::connect(&url, name).await.expect("joins");
            client.next_snapshot().await.expect("a snapshot");
            players.push(client);
        }
        // A request whose body never comes keeps the server in its grace period (until the 2 s
        // deadline), so we can watch it refuse connections. (An idle keep-alive connection is
        // closed at once.)
        let _in_flight = request_without_its_body(&addr).await;
        until_accepted(&addr, 4).await; // the three players and the request in flight

        let status = Command::new("kill")
            .args(["-TERM", &server.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let signalled = Instant::now();

        for client in &mut players {
            let (notices, code) = notices_until_close(client).await;
            assert_eq!(code, Some(close_code::GOING_AWAY));
            assert_eq!(notices, [SHUTDOWN_NOTICE]);
        }
        // New connections are refused while the server is still finishing.
        let refused = loop {
            match tokio::net::TcpStream::connect(&addr).await {
                Err(e) => break e,
                Ok(_) => {
                    assert!(
                        signalled.elapsed() < Duration::from_secs(1),
                        "still accepting"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(
            server.0.try_wait().expect("status").is_none(),
            "the server waits for the request in flight"
        );
        let status = loop {
            if let Some(status) = server.0.try_wait().expect("status") {
                break status;
            }
            assert!(
                signalled.elapsed() < Duration::from_secs(grace + 2),
                "exits within the grace"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(status.code(), Some(0));
    })
    .await;
}

#[tokio::test]
async fn the_grace_period_bounds_shutdown() {
    bounded(async {
        // A request whose body never comes would hold the server for the 30 s deadline; the 1 s
        // grace cuts it short.
        let (mut server, addr) = start(&[
            "--shutdown-grace",
            "1",
            "--handshake-timeout",
            "30",
            "--admin-token",
            ADMIN_TOKEN,
        ]);
        let _in_flight = request_without_its_body(&addr).await;
        until_accepted(&addr, 1).await;
        let status = Command::new("kill")
            .args(["-INT", &server.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let signalled = Instant::now();
        let status = loop {
            if let Some(status) = server.0.try_wait().expect("status") {
                break status;
            }
            assert!(
                signalled.elapsed() < Duration::from_secs(5),
                "exits after the grace"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(status.code(), Some(0));
        assert!(signalled.elapsed() >= Duration::from_millis(900));
    })
    .await;
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    bounded(async {
        // A request in flight would hold a graceful shutdown for its 30 s deadline.
        let (mut server, addr) = start(&[
            "--shutdown-grace",
            "30",
            "--handshake-timeout",
            "30",
            "--admin-token",
            ADMIN_TOKEN,
        ]);
        let _in_flight = request_without_its_body(&addr).await;
        until_accepted(&addr, 1).await;
        let pid = server.0.id().to_string();
        let interrupt = || {
            let status = Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .expect("kill runs");
            assert!(status.success());
        };
        interrupt();
        // Signals sent close together may be delivered as one: let the server take the first (it
        // stops listening) before sending the second.
        until_refusing(&addr).await;
        assert!(
            server.0.try_wait().expect("status").is_none(),
            "the request in flight holds the graceful shutdown"
        );
        interrupt();
        let status = server.exit_status(Duration::from_secs(5)).await;
        assert_eq!(status.code(), Some(1), "forced exit");
    })
    .await;
}
