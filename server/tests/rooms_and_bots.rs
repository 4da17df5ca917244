//! Room codes, fill bots, the lobby's `/api/rooms`, hit events and chat-limit notices, over real
//! sockets on 127.0.0.1:0.

mod support;

use skirmish_server::client::{ClientError, GameClient};
use skirmish_server::lobby::LobbySummary;
use skirmish_server::room::CHAT_TOO_FAST_NOTICE;
use skirmish_shared::fixed::Pos;
use skirmish_shared::protocol::{
    buttons, ClientMsg, EntityId, GameEvent, RefuseReason, ROOM_CODE_CHARS,
};
use std::collections::{BTreeMap, BTreeSet};
use support::{bounded, write_map, TestServer};

/// The roster entries (id to whether a bot) a client has been told of, joins and leaves applied.
fn roster(events: &[GameEvent]) -> BTreeMap<EntityId, bool> {
    let mut roster = BTreeMap::new();
    for event in events {
        match event {
            GameEvent::Roster(entries) => {
                roster = entries.iter().map(|e| (e.id, e.bot)).collect();
            }
            GameEvent::PlayerJoined(entry) => {
                roster.insert(entry.id, entry.bot);
            }
            GameEvent::PlayerLeft(id) => {
                roster.remove(id);
            }
            _ => {}
        }
    }
    roster
}

fn bots_in(events: &[GameEvent]) -> BTreeSet<EntityId> {
    roster(events)
        .into_iter()
        .filter_map(|(id, bot)| bot.then_some(id))
        .collect()
}

/// Reads one snapshot on each client (so none is dropped as a slow reader).
async fn pump(clients: &mut [&mut GameClient]) {
    for client in clients.iter_mut() {
        client.next_snapshot().await.expect("snapshot");
    }
}

/// `GET /api/rooms`, parsed, with its head checked.
async fn lobby(server: &TestServer) -> LobbySummary {
    let response = server.get("/api/rooms").await;
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    serde_json::from_str(body).expect("JSON")
}

#[tokio::test]
async fn a_lone_player_fights_bots_that_make_way_for_friends() {
    bounded(async {
        let server = TestServer::start(&[
            "--fill-bots",
            "4",
            "--max-players-per-room",
            "4",
            "--view-radius",
            "100000",
        ])
        .await;
        let mut alone = server.join("alone").await;
        let code = alone.welcome().room_code.clone();
        assert_eq!(code.len(), ROOM_CODE_CHARS, "a room code: {code:?}");
        // The roster comes with the first snapshot: three bots.
        alone.next_snapshot().await.expect("snapshot");
        let bots = bots_in(alone.events());
        assert_eq!(bots.len(), 3, "{:?}", alone.events());
        let names: Vec<String> = alone
            .events()
            .iter()
            .flat_map(|e| match e {
                GameEvent::Roster(r) => r.clone(),
                _ => Vec::new(),
            })
            .filter(|e| e.bot)
            .map(|e| e.name)
            .collect();
        assert!(names.iter().all(|n| n.starts_with("Bot ")), "{names:?}");
        let summary = lobby(&server).await;
        assert_eq!(summary.players, 4);
        assert_eq!(summary.rooms.len(), 1);
        let room = &summary.rooms[0];
        assert_eq!(
            (
                room.code.as_str(),
                room.humans,
                room.bots,
                room.players,
                room.capacity
            ),
            (code.as_str(), 1, 3, 4, 4)
        );
        // The bots move and fight: positions change, projectiles fly, hit points drop.
        let mut first_seen: BTreeMap<EntityId, Pos> = BTreeMap::new();
        let (mut moved, mut shots, mut hurt) = (BTreeSet::new(), false, false);
        for _ in 0..900 {
            alone.next_snapshot().await.expect("snapshot");
            let view = alone.view();
            let tick = view.tick().expect("a tick");
            for id in &bots {
                if let Some(pos) = view.player_position(*id, tick) {
                    let start = *first_seen.entry(*id).or_insert(pos);
                    if start != pos {
                        moved.insert(*id);
                    }
                }
            }
            shots |= !view.projectiles().is_empty();
            hurt |= view.players().values().any(|p| p.hp < 100);
            if moved.len() == bots.len() && shots && hurt {
                break;
            }
        }
        assert_eq!(moved, bots, "every bot moved");
        assert!(shots, "the bots fired");
        assert!(hurt, "somebody was hit");
        // Three friends join by code: each takes a bot's seat, none is refused.
        let mut friends = Vec::new();
        for name in ["bea", "cy", "di"] {
            let mut friend =
                GameClient::connect_to_room(&server.ws_url(), name, &code.to_lowercase())
                    .await
                    .expect("a human is never refused for a bot's seat");
            assert_eq!(friend.welcome().room, alone.welcome().room);
            friend.next_snapshot().await.expect("snapshot");
            friends.push(friend);
        }
        for _ in 0..300 {
            let mut clients: Vec<&mut GameClient> = friends.iter_mut().collect();
            clients.push(&mut alone);
            pump(&mut clients).await;
            if bots_in(alone.events()).is_empty() {
                break;
            }
        }
        let left: BTreeSet<EntityId> = alone
            .events()
            .iter()
            .filter_map(|e| match e {
                GameEvent::PlayerLeft(id) => Some(*id),
                _ => None,
            })
            .collect();
        assert!(bots.is_subset(&left), "every bot left: {left:?}");
        assert_eq!(roster(alone.events()).len(), 4, "four humans");
        let summary = lobby(&server).await;
        assert_eq!(
            (summary.rooms[0].humans, summary.rooms[0].bots),
            (4, 0),
            "{summary:?}"
        );
        // The room is full of humans now: by code, a fifth is refused.
        match GameClient::connect_to_room(&server.ws_url(), "eve", &code).await {
            Err(ClientError::Refused { reason, detail }) => {
                assert_eq!(reason, RefuseReason::RoomFull);
                assert!(detail.contains(&code), "{detail}");
            }
            Err(e) => panic!("expected RoomFull, got {e}"),
            Ok(_) => panic!("expected RoomFull, got a seat"),
        }
        let metrics = server.get("/metrics").await;
        assert!(metrics.contains("skirmish_bots 0"), "{metrics}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn codes_join_friends_and_unknown_codes_are_refused() {
    bounded(async {
        let server = TestServer::start(&["--max-players-per-room", "2"]).await;
        let a = server.join("a").await;
        let b = server.join("b").await;
        let c = server.join("c").await;
        assert_eq!(a.welcome().room, b.welcome().room);
        assert_ne!(a.welcome().room, c.welcome().room, "a full room: a new one");
        assert_ne!(a.welcome().room_code, c.welcome().room_code);
        // By code, into c's room (which has a free seat), typed sloppily.
        let typed = format!(" {}-", c.welcome().room_code.to_lowercase());
        let d = GameClient::connect_to_room(&server.ws_url(), "d", &typed)
            .await
            .expect("joins c's room");
        assert_eq!(d.welcome().room, c.welcome().room);
        assert_eq!(d.welcome().room_code, c.welcome().room_code);
        // A code no room has, and text that is no code at all.
        let unused = ["AAAAA", "BBBBB"]
            .into_iter()
            .find(|code| *code != a.welcome().room_code && *code != c.welcome().room_code)
            .expect("an unused code");
        for asked in [unused, "not a code!"] {
            match GameClient::connect_to_room(&server.ws_url(), "e", asked).await {
                Err(ClientError::Refused { reason, detail }) => {
                    assert_eq!(reason, RefuseReason::NoSuchRoom, "{asked}");
                    assert!(detail.contains("no open room"), "{detail}");
                }
                Err(e) => panic!("expected NoSuchRoom, got {e}"),
                Ok(_) => panic!("expected NoSuchRoom for {asked:?}, got a seat"),
            }
        }
        let summary = lobby(&server).await;
        assert_eq!(summary.players, 4);
        assert_eq!(summary.rooms.len(), 2);
        assert!(summary
            .rooms
            .iter()
            .all(|r| r.humans == 2 && r.bots == 0 && r.capacity == 2));
        // Only GET and HEAD.
        let post = server.request("POST", "/api/rooms", &[], "").await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        drop((a, b, c, d));
        server.stop().await;
    })
    .await;
}

/// A corridor with a spawn point at each end: two players face each other along it.
const CORRIDOR: &str = "\
############
#S........S#
############
";

#[tokio::test]
async fn a_shooter_is_told_of_each_hit() {
    bounded(async {
        let map = write_map("hits", CORRIDOR);
        let map = map.to_str().expect("utf-8 path");
        let server = TestServer::start(&["--map", map, "--view-radius", "100000"]).await;
        let mut shooter = server.join("shooter").await;
        let mut target = server.join("target").await;
        let target_id = target.welcome().player_id;
        let shooter_id = shooter.welcome().player_id;
        let mut hit = None;
        for _ in 0..300 {
            pump(&mut [&mut shooter, &mut target]).await;
            let tick = shooter.view().tick().expect("tick");
            let (Some(me), Some(them)) = (
                shooter.view().player_position(shooter_id, tick),
                shooter.view().player_position(target_id, tick),
            ) else {
                continue;
            };
            let aim = if them.x > me.x { 0 } else { 32_768 };
            shooter
                .send_input(0, 0, aim, buttons::FIRE)
                .await
                .expect("send");
            hit = shooter.events().iter().find_map(|e| match e {
                GameEvent::Hit { victim, hp } => Some((*victim, *hp)),
                _ => None,
            });
            if hit.is_some() {
                break;
            }
        }
        assert_eq!(hit, Some((target_id, 75)), "the shooter's first hit marker");
        assert!(
            !target
                .events()
                .iter()
                .any(|e| matches!(e, GameEvent::Hit { .. })),
            "hits are the shooter's alone"
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_player_chatting_too_fast_is_told_once() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut chatty = server.join("chatty").await;
        // A seat may say 5 lines in a burst: the other 3 are dropped, with one notice.
        for n in 0..8 {
            let text = format!("line {n}");
            chatty.send(&ClientMsg::Chat { text }).await.expect("send");
        }
        let mut notices = 0;
        let mut lines = 0;
        for _ in 0..60 {
            chatty.next_snapshot().await.expect("snapshot");
            notices = 0;
            lines = 0;
            for event in chatty.events().iter() {
                match event {
                    GameEvent::Notice(text) if text == CHAT_TOO_FAST_NOTICE => notices += 1,
                    GameEvent::Chat { .. } => lines += 1,
                    _ => {}
                }
            }
            if notices > 0 && lines == 5 {
                break;
            }
        }
        // A few snapshots more: no second notice for the same burst.
        for _ in 0..10 {
            chatty.next_snapshot().await.expect("snapshot");
        }
        let later = chatty
            .events()
            .iter()
            .filter(|e| matches!(e, GameEvent::Notice(t) if t == CHAT_TOO_FAST_NOTICE))
            .count();
        assert_eq!((lines, notices, later), (5, 1, 1));
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_favicon_is_no_content_when_the_assets_have_none() {
    bounded(async {
        let empty = std::env::temp_dir().join(format!("skirmish-no-icon-{}", std::process::id()));
        std::fs::create_dir_all(&empty).expect("temp dir");
        std::fs::write(empty.join("index.html"), "<!doctype html>").expect("page");
        let assets = empty.to_str().expect("utf-8 path");
        let map = write_map("icon", CORRIDOR);
        let server =
            TestServer::start(&["--assets", assets, "--map", map.to_str().expect("utf-8")]).await;
        let response = server.get("/favicon.ico").await;
        assert!(response.starts_with("HTTP/1.1 204"), "{response}");
        std::fs::write(empty.join("favicon.ico"), b"\x00\x00\x01\x00").expect("icon");
        let response = server.get("/favicon.ico").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        server.stop().await;
    })
    .await;
}
