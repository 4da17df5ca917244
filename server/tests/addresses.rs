//! What one client address may hold and do, over real sockets on loopback: seats held for an address
//! count against its cap, joins and new connections are rate-limited per address, a clean leave frees
//! a seat at once, forwarded addresses are read from every header line, IPv4-mapped peers are the
//! IPv4 address, and chat limits stay with the seat across reconnects.
//!
//! Several clients are played from 127.0.0.x source addresses, all on loopback.

mod support;

use skirmish_server::client::{ClientError, GameClient};
use skirmish_shared::protocol::{close_code, ClientMsg, EntityId, GameEvent, RefuseReason};
use std::net::IpAddr;
use std::time::Duration;
use support::{bounded, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const TOKEN: &str = "test-admin-token-0123456789";

fn local(last: u8) -> IpAddr {
    [127, 0, 0, last].into()
}

/// Joins from `from`.
async fn join_from(
    server: &TestServer,
    name: &str,
    from: IpAddr,
) -> Result<GameClient, ClientError> {
    GameClient::connect_from(&server.ws_url(), name, None, from).await
}

/// Asserts that a join was refused for its address (4008's `Refused`).
fn assert_address_limit(joined: Result<GameClient, ClientError>, what: &str) {
    match joined {
        Err(ClientError::Refused { reason, .. }) => {
            assert_eq!(reason, RefuseReason::AddressLimit, "{what}")
        }
        Err(e) => panic!("{what}: expected an address refusal, got {e}"),
        Ok(_) => panic!("{what}: expected an address refusal, but it joined"),
    }
}

/// Reads snapshots until `condition` holds for an event, for at most `within`.
async fn wait_for_event(
    client: &mut GameClient,
    within: Duration,
    condition: impl Fn(&GameEvent) -> bool,
) -> bool {
    let found = tokio::time::timeout(within, async {
        loop {
            if client.events().iter().any(&condition) {
                return;
            }
            client.next_snapshot().await.expect("snapshots");
        }
    })
    .await;
    found.is_ok()
}

#[tokio::test]
async fn seats_held_for_an_address_count_against_its_cap() {
    bounded(async {
        let server =
            TestServer::start(&["--max-connections-per-ip", "3", "--reconnect-grace", "60"]).await;
        // One connection at a time: join, then drop without leaving (the seat is held).
        let mut tokens = Vec::new();
        for i in 0..3 {
            let client = join_from(&server, &format!("hog{i}"), local(1))
                .await
                .expect("joins within the cap");
            tokens.push(client.welcome().resume_token);
            client.close().await;
        }
        let fourth = join_from(&server, "hog3", local(1)).await;
        assert_address_limit(fourth, "a 4th seat while 3 are held");
        // Others are unaffected, and a held seat can still be taken back.
        let mut other = join_from(&server, "neighbour", local(2))
            .await
            .expect("another address joins");
        let resumed = GameClient::connect_from(&server.ws_url(), "", Some(tokens[0]), local(1))
            .await
            .expect("a held seat resumes");
        // Leaving frees that seat at once, and with it room under the cap.
        let id = resumed.welcome().player_id;
        resumed.leave().await;
        let left = |e: &GameEvent| matches!(e, GameEvent::PlayerLeft(p) if *p == id);
        assert!(wait_for_event(&mut other, Duration::from_secs(5), left).await);
        let joined = join_from(&server, "hog4", local(1)).await;
        assert!(joined.is_ok(), "the seat freed by leaving is joinable");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_clean_leave_frees_the_seat_at_once() {
    bounded(async {
        let server = TestServer::start(&["--reconnect-grace", "60"]).await;
        let mut observer = server.join("observer").await;
        for how in ["close 1000", "Leave message"] {
            let mut leaver = server.join("leaver").await;
            let id = leaver.welcome().player_id;
            leaver.next_snapshot().await.expect("a snapshot");
            match how {
                "close 1000" => leaver.leave().await,
                _ => leaver.send(&ClientMsg::Leave).await.expect("sent"),
            }
            let left = |e: &GameEvent| matches!(e, GameEvent::PlayerLeft(p) if *p == id);
            assert!(
                wait_for_event(&mut observer, Duration::from_secs(5), left).await,
                "{how}: the seat is freed at once, not held for the 60 s grace"
            );
        }
        // A drop without a clean close is still held (PlayerLeft does not come).
        let dropper = server.join("dropper").await;
        let id = dropper.welcome().player_id;
        drop(dropper);
        let left = |e: &GameEvent| matches!(e, GameEvent::PlayerLeft(p) if *p == id);
        assert!(
            !wait_for_event(&mut observer, Duration::from_millis(500), left).await,
            "a dropped player's seat is held"
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn joins_and_new_connections_are_rate_limited_per_address() {
    bounded(async {
        let server = TestServer::start(&["--max-connections-per-ip", "1000"]).await;
        // Joins: a burst of 16, then 2 a second.
        let mut refused = 0;
        for i in 0..30 {
            match join_from(&server, &format!("j{i}"), local(3)).await {
                Ok(client) => client.leave().await,
                Err(ClientError::Refused { reason, .. }) => {
                    assert_eq!(reason, RefuseReason::AddressLimit);
                    refused += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(refused >= 5, "{refused} of 30 rapid joins refused");
        assert!(
            join_from(&server, "fresh", local(4)).await.is_ok(),
            "another address still joins"
        );
        // Connections: a connect/GET/close loop runs out of its allowance.
        let mut answered = 0;
        for _ in 0..300 {
            if get_from(&server, local(5), "/healthz")
                .await
                .starts_with("HTTP/1.1 200")
            {
                answered += 1;
            }
        }
        assert!(answered < 150, "{answered} of 300 rapid connections served");
        assert!(get_from(&server, local(6), "/healthz")
            .await
            .starts_with("HTTP/1.1 200"));
        server.stop().await;
    })
    .await;
}

/// A GET from a chosen source address; the response, or "" if the connection was refused.
async fn get_from(server: &TestServer, from: IpAddr, path: &str) -> String {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind((from, 0).into()).expect("bind");
    let Ok(mut stream) = socket.connect(server.addr).await else {
        return String::new();
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    response
}

/// A WebSocket upgrade through the "proxy" (this test, on 127.0.0.1) with the given extra header
/// lines; the response's status line.
async fn upgrade_via_proxy(server: &TestServer, headers: &[&str]) -> String {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let mut request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        server.addr
    );
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut head))
        .await
        .expect("an answer within 5 s")
        .unwrap_or(0);
    String::from_utf8_lossy(&head[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

async fn ban_address(server: &TestServer, address: &str) -> String {
    let body = format!("{{\"address\": \"{address}\", \"seconds\": 600}}");
    let auth = format!("Authorization: Bearer {TOKEN}");
    server.request("POST", "/admin/ban", &[&auth], &body).await
}

#[tokio::test]
async fn forwarded_addresses_are_read_from_every_line_and_never_fall_back_to_the_proxy() {
    bounded(async {
        let server =
            TestServer::start(&["--trusted-proxy", "127.0.0.1", "--admin-token", TOKEN]).await;
        let banned = ban_address(&server, "203.0.113.7").await;
        assert!(banned.starts_with("HTTP/1.1 200"), "{banned}");
        // The client wrote its own line; the proxy appended the real one (HAProxy does this).
        let status = upgrade_via_proxy(
            &server,
            &[
                "X-Forwarded-For: 198.51.100.9",
                "X-Forwarded-For: 203.0.113.7",
            ],
        )
        .await;
        assert!(
            status.starts_with("HTTP/1.1 403"),
            "spoofed first line: {status}"
        );
        // Garbage left of the client is the client's own writing: the client is still banned.
        let status = upgrade_via_proxy(&server, &["X-Forwarded-For: garbage, 203.0.113.7"]).await;
        assert!(
            status.starts_with("HTTP/1.1 403"),
            "garbage, client: {status}"
        );
        // A list that cannot be read is refused, never replaced by the proxy's address.
        for bad in [
            "X-Forwarded-For: 203.0.113.7,",
            "X-Forwarded-For: 203.0.113.7, garbage",
            "X-Forwarded-For: ",
            "X-Forwarded-For: 203.0.113.7:99999",
        ] {
            let status = upgrade_via_proxy(&server, &[bad]).await;
            assert!(status.starts_with("HTTP/1.1 400"), "{bad}: {status}");
        }
        // Ports and brackets are read.
        let status = upgrade_via_proxy(&server, &["X-Forwarded-For: 203.0.113.7:4711"]).await;
        assert!(status.starts_with("HTTP/1.1 403"), "ip:port: {status}");
        let status = upgrade_via_proxy(&server, &["X-Forwarded-For: [2001:db8::1]"]).await;
        assert!(status.starts_with("HTTP/1.1 101"), "[v6]: {status}");
        // Another forwarded client is not affected by the ban.
        let status = upgrade_via_proxy(&server, &["X-Forwarded-For: 203.0.113.8"]).await;
        assert!(status.starts_with("HTTP/1.1 101"), "{status}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn ipv4_mapped_peers_are_their_ipv4_address_for_proxies_and_bans() {
    bounded(async {
        // An IPv6 socket on the IPv4-mapped loopback address: every peer is ::ffff:127.0.0.x.
        let server = TestServer::start_on(
            "[::ffff:127.0.0.1]:0",
            &["--trusted-proxy", "127.0.0.2", "--admin-token", TOKEN],
        )
        .await;
        // The trusted proxy is recognised in its mapped form: its client is banned, not it.
        let banned = ban_address(&server, "203.0.113.7").await;
        assert!(banned.starts_with("HTTP/1.1 200"), "{banned}");
        let mut stream = {
            let socket = TcpSocket::new_v4().expect("socket");
            socket.bind((local(2), 0).into()).expect("bind");
            socket
                .connect(([127, 0, 0, 1], server.addr.port()).into())
                .await
                .expect("connect")
        };
        let request = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.7\r\n\
                       Connection: close\r\n\r\n";
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response).await;
        assert!(response.starts_with("HTTP/1.1 403"), "{response}");
        // A ban by player finds the player (its address is 127.0.0.3, not ::ffff:127.0.0.3).
        let url = format!("ws://127.0.0.1:{}/ws", server.addr.port());
        let mut player = GameClient::connect_from(&url, "mapped", None, local(3))
            .await
            .expect("joins");
        let room = player.welcome().room.0;
        let id = player.welcome().player_id.0;
        let auth = format!("Authorization: Bearer {TOKEN}");
        let body = format!("{{\"room\": {room}, \"player\": {id}, \"seconds\": 60}}");
        let response = server.request("POST", "/admin/ban", &[&auth], &body).await;
        assert!(response.contains("\"address\":\"127.0.0.3\""), "{response}");
        assert!(
            response.contains(&format!("\"kicked\":[{id}]")),
            "{response}"
        );
        assert_eq!(
            support::close_code_of(&mut player).await,
            Some(close_code::BANNED)
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_chat_allowance_stays_with_the_seat_across_reconnects() {
    bounded(async {
        let server = TestServer::start(&["--reconnect-grace", "60"]).await;
        let mut observer = server.join("observer").await;
        let mut speaker = server.join("speaker").await;
        let id: EntityId = speaker.welcome().player_id;
        let mut token = speaker.welcome().resume_token;
        // Four connections in a row, each sending a burst of 5 lines (the per-connection burst).
        let mut sent = 0;
        for round in 0..4 {
            for line in 0..5 {
                let text = format!("round {round} line {line}");
                speaker.send(&ClientMsg::Chat { text }).await.expect("chat");
                sent += 1;
            }
            speaker.next_snapshot().await.expect("snapshot");
            speaker.close().await;
            speaker = GameClient::connect_resuming(&server.ws_url(), "", Some(token))
                .await
                .expect("resumes");
            token = speaker.welcome().resume_token;
        }
        // Read what the observer got for a second and a half.
        let _ = tokio::time::timeout(Duration::from_millis(1500), async {
            loop {
                observer.next_snapshot().await.expect("snapshots");
            }
        })
        .await;
        let heard = observer
            .events()
            .iter()
            .filter(|e| matches!(e, GameEvent::Chat { from, .. } if *from == id))
            .count();
        // The seat's burst (5) and what refilled at 0.5 a second while the test ran.
        assert!(heard <= 7, "{heard} of {sent} lines delivered");
        assert!(heard >= 5, "the burst is delivered: {heard}");
        server.stop().await;
    })
    .await;
}
