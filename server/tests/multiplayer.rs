//! Integration tests over real WebSockets on 127.0.0.1:0, with native clients built on
//! `skirmish-shared`.

mod support;

use skirmish_server::client::{ClientError, GameClient};
use skirmish_shared::map::TILE_SIZE;
use skirmish_shared::protocol::{close_code, ClientMsg, EntityId, GameEvent, RefuseReason};
use std::sync::atomic::Ordering::Relaxed;
use support::{bounded, write_map, TestServer};

/// Reads snapshots until `done` holds for the client, at most `limit` of them.
async fn until(
    client: &mut GameClient,
    limit: usize,
    mut done: impl FnMut(&GameClient) -> bool,
) -> bool {
    for _ in 0..limit {
        client.next_snapshot().await.expect("snapshot");
        if done(client) {
            return true;
        }
    }
    false
}

fn position(client: &GameClient, id: EntityId) -> Option<skirmish_shared::fixed::Pos> {
    let tick = client.view().tick()?;
    client.view().player_position(id, tick)
}

#[tokio::test]
async fn two_players_join_and_each_sees_the_other_move() {
    bounded(async {
        let server = TestServer::start(&["--view-radius", "100000"]).await;
        let mut a = GameClient::connect(&server.ws_url(), "alice")
            .await
            .expect("a joins");
        let mut b = GameClient::connect(&server.ws_url(), "bob")
            .await
            .expect("b joins");
        let (a_id, b_id) = (a.welcome().player_id, b.welcome().player_id);
        assert_ne!(a_id, b_id);
        assert_eq!(
            a.welcome().room,
            b.welcome().room,
            "both seated in the first room"
        );
        assert!(
            until(&mut a, 60, |c| c.view().players().contains_key(&b_id)).await,
            "a sees b"
        );
        assert!(
            until(&mut b, 60, |c| c.view().players().contains_key(&a_id)).await,
            "b sees a"
        );
        // Each moves; the other sees it.
        let a_start = position(&b, a_id).expect("a in b's view");
        let b_start = position(&a, b_id).expect("b in a's view");
        for _ in 0..20 {
            a.send_input(0, 1, 0, 0).await.expect("send");
            b.send_input(0, -1, 0, 0).await.expect("send");
            a.next_snapshot().await.expect("snapshot");
            b.next_snapshot().await.expect("snapshot");
        }
        let a_moved = until(&mut b, 60, |c| {
            position(c, a_id).is_some_and(|p| p.y > a_start.y)
        })
        .await;
        let b_moved = until(&mut a, 60, |c| {
            position(c, b_id).is_some_and(|p| p.y < b_start.y)
        })
        .await;
        assert!(a_moved && b_moved, "each saw the other move");
        // Names arrive with the roster.
        let names: Vec<String> = a
            .events()
            .iter()
            .flat_map(|e| match e {
                GameEvent::Roster(r) => r.iter().map(|p| p.name.clone()).collect(),
                GameEvent::PlayerJoined(p) => vec![p.name.clone()],
                _ => vec![],
            })
            .collect();
        assert!(names.contains(&"bob".to_string()), "{names:?}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn input_sequences_are_acknowledged_in_order() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut client = server.join("acker").await;
        // Like a real client: two inputs (two 60 Hz ticks) per 30 Hz snapshot.
        let mut sent = Vec::new();
        let mut acks = Vec::new();
        for _ in 0..20 {
            sent.push(client.send_input(1, 0, 0, 0).await.expect("send"));
            sent.push(client.send_input(1, 0, 0, 0).await.expect("send"));
            acks.push(
                client
                    .next_snapshot()
                    .await
                    .expect("snapshot")
                    .ack_input_seq,
            );
        }
        let last_seq = *sent.last().expect("sent");
        for _ in 0..100 {
            let ack = client
                .next_snapshot()
                .await
                .expect("snapshot")
                .ack_input_seq;
            acks.push(ack);
            if ack == last_seq {
                break;
            }
        }
        assert_eq!(
            acks.last(),
            Some(&last_seq),
            "every input was applied: {acks:?}"
        );
        assert!(
            acks.windows(2).all(|w| w[0] <= w[1]),
            "acks never go back: {acks:?}"
        );
        assert!(
            acks.iter().all(|a| *a == 0 || sent.contains(a)),
            "acks name sent inputs"
        );
        server.stop().await;
    })
    .await;
}

/// A corridor 60 tiles long with a spawn point at each end.
const CORRIDOR: &str = "\
name: corridor
##############################################################
#S..........................................................S#
##############################################################
";

#[tokio::test]
async fn distant_entities_are_not_sent_until_near_and_deltas_match_a_full_snapshot() {
    bounded(async {
        let map = write_map("corridor", CORRIDOR);
        let view_units = "320"; // 10 tiles
        let server = TestServer::start(&[
            "--map",
            map.to_str().expect("utf-8 path"),
            "--view-radius",
            view_units,
        ])
        .await;
        let mut a = GameClient::connect(&server.ws_url(), "a")
            .await
            .expect("a joins");
        let mut b = GameClient::connect(&server.ws_url(), "b")
            .await
            .expect("b joins");
        let b_id = b.welcome().player_id;
        let radius = i64::from(a.welcome().view_radius);
        let a_id = a.welcome().player_id;
        for _ in 0..10 {
            a.next_snapshot().await.expect("snapshot");
            b.next_snapshot().await.expect("snapshot");
        }
        assert!(
            !a.view().players().contains_key(&b_id),
            "b is 58 tiles away: not sent"
        );
        let a_pos = position(&a, a_id).expect("a sees itself");
        let toward_a: i8 = if position(&b, b_id).expect("b sees itself").x > a_pos.x {
            -1
        } else {
            1
        };
        // b walks toward a; a must receive b exactly when b comes within the radius.
        let mut seen = false;
        for _ in 0..400 {
            b.send_input(toward_a, 0, 0, 0).await.expect("send");
            b.next_snapshot().await.expect("snapshot");
            a.next_snapshot().await.expect("snapshot");
            if let Some(b_pos) = position(&a, b_id) {
                assert!(
                    b_pos.distance_squared(a_pos) <= radius * radius,
                    "sent only when near"
                );
                seen = true;
                break;
            }
        }
        assert!(seen, "b entered a's view");
        // b walks away again and leaves a's view, then stops.
        let mut gone = false;
        for _ in 0..400 {
            b.send_input(-toward_a, 0, 0, 0).await.expect("send");
            b.next_snapshot().await.expect("snapshot");
            a.next_snapshot().await.expect("snapshot");
            if !a.view().players().contains_key(&b_id) {
                gone = true;
                break;
            }
        }
        assert!(gone, "b left a's view");
        b.send_input(0, 0, 0, 0).await.expect("send");
        // Come back into view, then stand still; spawn protection has long ended.
        for _ in 0..60 {
            b.send_input(toward_a, 0, 0, 0).await.expect("send");
            b.next_snapshot().await.expect("snapshot");
            a.next_snapshot().await.expect("snapshot");
        }
        b.send_input(0, 0, 0, 0).await.expect("send");
        for _ in 0..10 {
            b.next_snapshot().await.expect("snapshot");
            a.next_snapshot().await.expect("snapshot");
        }
        // The state rebuilt from deltas equals the state of a full snapshot.
        let from_deltas = (a.view().players().clone(), a.view().projectiles().clone());
        a.send(&ClientMsg::RequestFullSnapshot).await.expect("send");
        let mut full_seen = false;
        for _ in 0..10 {
            let snapshot = a.next_snapshot().await.expect("snapshot");
            if snapshot.baseline.is_none() {
                full_seen = true;
                break;
            }
        }
        assert!(full_seen, "the server sent a full snapshot on request");
        let from_full = (a.view().players().clone(), a.view().projectiles().clone());
        assert_eq!(from_deltas, from_full);
        assert_eq!(
            from_full.0.len(),
            usize::from(
                position(&a, b_id)
                    .is_some_and(|p| p.distance_squared(a_pos) <= radius * radius * 13 / 10)
            ) + 1
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_version_mismatch_is_refused_with_a_reason() {
    bounded(async {
        use futures_util::{SinkExt, StreamExt};
        use skirmish_shared::codec::{decode_server, encode_client};
        use skirmish_shared::protocol::{Hello, ServerMsg};
        use tokio_tungstenite::tungstenite::Message;
        let server = TestServer::start(&[]).await;
        let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url())
            .await
            .expect("connect");
        let hello = ClientMsg::Hello(Hello {
            protocol_version: 999,
            name: "future".into(),
            resume_token: None,
            rate: 0,
            room: None,
            watch: false,
        });
        ws.send(Message::Binary(encode_client(&hello).into()))
            .await
            .expect("send");
        let Some(Ok(Message::Binary(bytes))) = ws.next().await else {
            panic!("expected Refused")
        };
        match decode_server(&bytes).expect("decodes") {
            ServerMsg::Refused { reason, detail } => {
                assert_eq!(
                    reason,
                    RefuseReason::VersionMismatch {
                        server: skirmish_shared::PROTOCOL_VERSION
                    }
                );
                assert!(detail.contains("999"), "{detail}");
            }
            other => panic!("expected Refused, got {other:?}"),
        }
        match ws.next().await {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), close_code::VERSION_MISMATCH)
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn malformed_messages_close_only_the_sender() {
    bounded(async {
        let server = TestServer::start(&["--view-radius", "100000"]).await;
        let mut good = server.join("good").await;
        let mut bad = server.join("bad").await;
        // Truncated input frame (variant 1, then nothing).
        bad.send_raw(vec![1]).await.expect("send");
        assert_eq!(
            support::close_code_of(&mut bad).await,
            Some(close_code::INVALID_PAYLOAD)
        );
        // The good player keeps playing.
        for _ in 0..10 {
            good.send_input(1, 0, 0, 0).await.expect("send");
            good.next_snapshot().await.expect("still served");
        }
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn http_routes_serve_health_metrics_and_the_page() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let get = |path: &'static str| server.get(path);
        let health = get("/healthz").await;
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        let page = get("/").await;
        assert!(
            page.starts_with("HTTP/1.1 200")
                && page.contains("text/html")
                && page.contains("Skirmish")
        );
        assert!(get("/nope").await.starts_with("HTTP/1.1 404"));
        let _client = server.join("counted").await;
        let metrics = get("/metrics").await;
        for series in [
            "skirmish_ticks_total",
            "skirmish_tick_duration_seconds_bucket",
            "skirmish_tick_overruns_total",
            "skirmish_connected_players 1",
            "skirmish_rooms 1",
            "skirmish_bytes_sent_total",
            "skirmish_snapshots_sent_total",
            "skirmish_snapshots_skipped_total",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
        ] {
            assert!(metrics.contains(series), "missing {series}");
        }
        assert!(server.metrics.connected_players.load(Relaxed) == 1);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn players_beyond_a_full_room_get_a_new_room() {
    bounded(async {
        let server = TestServer::start(&["--max-players-per-room", "2"]).await;
        let a = server.join("a").await;
        let b = server.join("b").await;
        let c = server.join("c").await;
        assert_eq!(a.welcome().room, b.welcome().room);
        assert_ne!(a.welcome().room, c.welcome().room);
        assert_eq!(server.metrics.rooms.load(Relaxed), 2);
        let _ = TILE_SIZE;
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_dropped_player_resumes_its_seat_and_a_spent_token_is_refused() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut first = server.join("phoenix").await;
        let id = first.welcome().player_id;
        let token = first.welcome().resume_token;
        first.next_snapshot().await.expect("snapshot");
        first.close().await;
        let mut again = GameClient::connect_resuming(&server.ws_url(), "ignored", Some(token))
            .await
            .expect("the held seat resumes");
        assert_eq!(again.welcome().player_id, id, "the same avatar");
        let snapshot = again.next_snapshot().await.expect("snapshot");
        assert_eq!(snapshot.baseline, None, "a full snapshot after resuming");
        assert!(again.view().players().contains_key(&id));
        match GameClient::connect_resuming(&server.ws_url(), "thief", Some(token)).await {
            Err(ClientError::Refused { reason, .. }) => {
                assert_eq!(reason, RefuseReason::BadResumeToken)
            }
            Ok(_) => panic!("a spent token must be refused"),
            Err(e) => panic!("expected a refusal, got {e}"),
        }
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_second_connection_with_a_live_token_replaces_the_first() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut first = server.join("twin").await;
        let id = first.welcome().player_id;
        let token = first.welcome().resume_token;
        first.next_snapshot().await.expect("snapshot");
        let mut second = GameClient::connect_resuming(&server.ws_url(), "twin", Some(token))
            .await
            .expect("the live seat is taken over");
        assert_eq!(second.welcome().player_id, id);
        assert_eq!(
            support::close_code_of(&mut first).await,
            Some(close_code::REPLACED)
        );
        let snapshot = second
            .next_snapshot()
            .await
            .expect("the new connection plays on");
        assert_eq!(snapshot.baseline, None);
        assert_eq!(server.metrics.connected_players.load(Relaxed), 1);
        server.stop().await;
    })
    .await;
}
