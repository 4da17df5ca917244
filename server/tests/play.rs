//! `/api/play` on a lone server: its own game socket as the client reached it, and which room.

mod support;

use skirmish_server::play::{PlayAnswer, PlayError};
use std::time::Duration;
use support::{bounded, exchange, status_and_body, wait_until, TestServer};

/// The status and JSON body of a GET of `path` with extra header lines.
async fn play(server: &TestServer, path: &str, headers: &[&str]) -> (u16, serde_json::Value) {
    let response = server.request("GET", path, headers, "").await;
    let (status, body) = status_and_body(&response);
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"));
    (status, json)
}

async fn answer(server: &TestServer, path: &str, headers: &[&str]) -> PlayAnswer {
    let (status, json) = play(server, path, headers).await;
    assert_eq!(status, 200, "{path}: {json}");
    serde_json::from_value(json).expect("an answer")
}

async fn refusal(server: &TestServer, path: &str) -> (u16, String) {
    let (status, json) = play(server, path, &[]).await;
    let error: PlayError = serde_json::from_value(json).expect("a refusal");
    (status, error.error)
}

#[tokio::test]
async fn a_lone_server_sends_players_to_itself_and_to_rooms_that_have_a_seat() {
    bounded(async {
        let server = TestServer::start(&["--max-players-per-room", "1", "--max-rooms", "2"]).await;
        // Nothing to watch yet.
        let (status, why) = refusal(&server, "/api/play?watch=").await;
        assert_eq!(status, 404);
        assert!(why.contains("no room is open to watch"), "{why}");
        // No room yet: any room (the lobby opens one). The URL is the host the client asked.
        let first = answer(&server, "/api/play", &[]).await;
        assert_eq!(first.url, "ws://test/ws");
        assert_eq!(first.room, None);
        let ada = server.join("Ada").await;
        let code = ada.welcome().room_code.clone();
        // Ada's room is full (one seat): the next player is offered a new room, not hers.
        assert_eq!(answer(&server, "/api/play", &[]).await.room, None);
        let (status, why) = refusal(&server, &format!("/api/play?room={code}")).await;
        assert_eq!(status, 404);
        assert!(why.contains("is full"), "{why}");
        // A full room can be watched; one that never was cannot.
        let watch = answer(&server, &format!("/api/play?watch={code}"), &[]).await;
        assert_eq!(watch.room.as_deref(), Some(code.as_str()));
        assert_eq!(
            answer(&server, "/api/play?watch=", &[]).await.room,
            Some(code.clone())
        );
        let (status, why) = refusal(&server, "/api/play?room=ZZZZZZ").await;
        assert_eq!(status, 404);
        assert!(why.contains("has ended"), "{why}");
        let (status, why) = refusal(&server, "/api/play?room=nope").await;
        assert_eq!(status, 404);
        assert!(why.contains("not a room code"), "{why}");
        // Bea fills the second room: every room is full and no more may open.
        let bea = server.join("Bea").await;
        let (status, why) = refusal(&server, "/api/play").await;
        assert_eq!(status, 503, "{why}");
        // A friend's room with a seat: Ada leaves hers.
        ada.leave().await;
        let path = format!("/api/play?room={code}");
        wait_until(
            Duration::from_secs(10),
            "a seat in Ada's room",
            async || play(&server, &path, &[]).await.0 == 200,
        )
        .await;
        assert_eq!(
            answer(&server, &path, &[]).await.room.as_deref(),
            Some(code.as_str())
        );
        drop(bea);
    })
    .await;
}

#[tokio::test]
async fn the_socket_url_follows_the_host_and_only_a_trusted_proxy_may_change_it() {
    bounded(async {
        // The test client is 127.0.0.1: trusted in one server, not in the other.
        let trusting = TestServer::start(&["--trusted-proxy", "127.0.0.1"]).await;
        let forwarded = [
            "X-Forwarded-Host: play.example, inner.local",
            "X-Forwarded-Proto: https",
            "X-Forwarded-For: 203.0.113.9",
        ];
        let behind = answer(&trusting, "/api/play", &forwarded).await;
        assert_eq!(behind.url, "wss://play.example/ws");
        let wary = TestServer::start(&[]).await;
        let direct = answer(&wary, "/api/play", &forwarded).await;
        assert_eq!(
            direct.url, "ws://test/ws",
            "an untrusted client's headers are ignored"
        );
        // A host that cannot be one is refused rather than handed out.
        let head = "GET /api/play HTTP/1.1\r\nHost: a/b@c\r\nConnection: close\r\n\r\n";
        let response = exchange(wary.addr, head).await;
        assert_eq!(status_and_body(&response).0, 400, "{response}");
        // Only GET and HEAD.
        let response = wary.request("POST", "/api/play", &[], "").await;
        assert!(response.starts_with("HTTP/1.1 405"), "{response}");
        assert!(
            response.to_ascii_lowercase().contains("allow: get, head"),
            "{response}"
        );
    })
    .await;
}
