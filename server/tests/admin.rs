//! The admin API over real sockets: authentication, listing rooms, broadcasts, kicks and bans.

mod support;

use futures_util::{SinkExt, StreamExt};
use skirmish_server::client::GameClient;
use skirmish_shared::codec::encode_client;
use skirmish_shared::protocol::{close_code, ClientMsg, GameEvent, Hello, PROTOCOL_VERSION};
use support::{bounded, close_code_of, notices_until_close, TestServer};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "test-admin-token-0123456789";

fn auth() -> String {
    format!("Authorization: Bearer {TOKEN}")
}

/// An admin request with the right token.
async fn admin(server: &TestServer, method: &str, path: &str, body: &str) -> String {
    server.request(method, path, &[&auth()], body).await
}

/// The JSON body of a response, after checking its status line.
fn json(response: &str, status: &str) -> serde_json::Value {
    assert!(
        response.starts_with(&format!("HTTP/1.1 {status}")),
        "expected {status}: {response}"
    );
    let body = response.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).expect("a JSON body")
}

#[tokio::test]
async fn without_a_token_there_is_no_admin_api() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let response = admin(&server, "GET", "/admin/rooms", "").await;
        assert!(response.starts_with("HTTP/1.1 404"), "{response}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn requests_need_the_bearer_token() {
    bounded(async {
        let server = TestServer::start(&["--admin-token", TOKEN]).await;
        for headers in [
            vec![],
            vec!["Authorization: Bearer wrong-token-0123456789"],
            vec!["Authorization: Basic dGVzdA=="],
            vec!["Authorization: Bearer test-admin-token-012345678"],
        ] {
            let response = server.request("GET", "/admin/rooms", &headers, "").await;
            assert!(
                response.starts_with("HTTP/1.1 401"),
                "{headers:?}: {response}"
            );
            assert!(response
                .to_ascii_lowercase()
                .contains("www-authenticate: bearer"));
        }
        let body = json(&admin(&server, "GET", "/admin/rooms", "").await, "200");
        assert_eq!(body["rooms"], serde_json::json!([]));
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn rooms_broadcasts_and_kicks() {
    bounded(async {
        let server = TestServer::start(&["--admin-token", TOKEN]).await;
        let mut ada = server.join("Ada").await;
        let mut bob = server.join("Bob").await;
        ada.next_snapshot().await.expect("a snapshot");
        let body = json(&admin(&server, "GET", "/admin/rooms", "").await, "200");
        let rooms = body["rooms"].as_array().expect("rooms");
        assert_eq!(rooms.len(), 1);
        let players = rooms[0]["players"].as_array().expect("players");
        let names: Vec<&str> = players.iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["Ada", "Bob"]);
        assert!(players
            .iter()
            .all(|p| p["address"] == "127.0.0.1" && p["held"] == false));

        // A broadcast reaches everyone as a Notice, sanitized.
        let body = json(
            &admin(
                &server,
                "POST",
                "/admin/broadcast",
                r#"{"text":"restart at noon\u0007"}"#,
            )
            .await,
            "200",
        );
        assert_eq!(body["rooms"], 1);
        for client in [&mut ada, &mut bob] {
            let notice = loop {
                client.next_snapshot().await.expect("snapshots");
                let found = client.events().iter().find_map(|e| match e {
                    GameEvent::Notice(text) => Some(text.clone()),
                    _ => None,
                });
                if let Some(text) = found {
                    break text;
                }
            };
            assert_eq!(notice, "restart at noon");
        }

        // A kick closes only that player (4006) and frees its seat.
        let bob_id = bob.welcome().player_id.0;
        let room = bob.welcome().room.0;
        let body = json(
            &admin(
                &server,
                "POST",
                "/admin/kick",
                &format!(r#"{{"room":{room},"player":{bob_id}}}"#),
            )
            .await,
            "200",
        );
        assert_eq!(body["kicked"], serde_json::json!([bob_id]));
        assert_eq!(close_code_of(&mut bob).await, Some(close_code::KICKED));
        ada.next_snapshot().await.expect("Ada plays on");
        let body = json(&admin(&server, "GET", "/admin/rooms", "").await, "200");
        assert_eq!(
            body["rooms"][0]["players"].as_array().map(Vec::len),
            Some(1)
        );

        // Unknown players, bad bodies and wrong methods are refused with reasons.
        let missing = admin(&server, "POST", "/admin/kick", r#"{"room":1,"player":999}"#).await;
        assert!(json(&missing, "404")["error"].as_str().is_some());
        // Player ids are per room: the same id in another room is someone else.
        let elsewhere = admin(
            &server,
            "POST",
            "/admin/kick",
            &format!(
                r#"{{"room":{},"player":{}}}"#,
                room + 1,
                ada.welcome().player_id.0
            ),
        )
        .await;
        assert!(elsewhere.starts_with("HTTP/1.1 404"), "{elsewhere}");
        for body in [
            r#"{"room":1,"player":"x"}"#,
            r#"{"room":1,"player":1,"extra":2}"#,
            r#"{"player":1}"#,
            "not json",
        ] {
            let response = admin(&server, "POST", "/admin/kick", body).await;
            assert!(json(&response, "400")["error"].as_str().is_some(), "{body}");
        }
        let wrong = admin(&server, "GET", "/admin/kick", "").await;
        assert!(wrong.starts_with("HTTP/1.1 405"), "{wrong}");
        let empty = admin(&server, "POST", "/admin/broadcast", r#"{"text":"  "}"#).await;
        assert!(empty.starts_with("HTTP/1.1 400"), "{empty}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_ban_closes_the_player_and_refuses_its_address() {
    bounded(async {
        let server = TestServer::start(&["--admin-token", TOKEN]).await;
        let mut ada = server.join("Ada").await;
        ada.next_snapshot().await.expect("a snapshot");
        let bad = admin(
            &server,
            "POST",
            "/admin/ban",
            r#"{"address":"192.0.2.9","seconds":-1}"#,
        )
        .await;
        assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
        let both = admin(
            &server,
            "POST",
            "/admin/ban",
            r#"{"address":"192.0.2.9","player":2,"seconds":5}"#,
        )
        .await;
        assert!(both.starts_with("HTTP/1.1 400"), "{both}");
        // An address nobody plays from: listed, nobody kicked.
        let body = json(
            &admin(
                &server,
                "POST",
                "/admin/ban",
                r#"{"address":"192.0.2.9","seconds":60}"#,
            )
            .await,
            "200",
        );
        assert_eq!(body["kicked"], serde_json::json!([]));
        let bans = json(&admin(&server, "GET", "/admin/bans", "").await, "200");
        assert_eq!(bans["bans"][0]["address"], "192.0.2.9");

        // A connection upgraded before the ban, still to send its Hello.
        let (mut waiting, _) = tokio_tungstenite::connect_async(server.ws_url())
            .await
            .expect("upgrades");

        // Banning Ada (by player) bans 127.0.0.1: she is closed with 4007 ...
        let (room, id) = (ada.welcome().room.0, ada.welcome().player_id.0);
        let body = json(
            &admin(
                &server,
                "POST",
                "/admin/ban",
                &format!(r#"{{"room":{room},"player":{id},"seconds":60}}"#),
            )
            .await,
            "200",
        );
        assert_eq!(body["address"], "127.0.0.1");
        assert_eq!(body["kicked"], serde_json::json!([id]));
        let (_, code) = notices_until_close(&mut ada).await;
        assert_eq!(code, Some(close_code::BANNED));
        // ... connections from it are refused at accept ...
        assert!(GameClient::connect(&server.ws_url(), "Ada again")
            .await
            .is_err());
        // ... and the one that was waiting is closed when its Hello comes.
        let hello = ClientMsg::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            name: "Waiting".into(),
            resume_token: None,
            rate: 0,
            room: None,
            watch: false,
        });
        waiting
            .send(Message::Binary(encode_client(&hello).into()))
            .await
            .expect("sent");
        let code = loop {
            match waiting.next().await {
                Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                other => panic!("expected a close, got {other:?}"),
            }
        };
        assert_eq!(code, Some(close_code::BANNED));
        server.stop().await;
    })
    .await;
}
