//! Spectators and replays over real sockets on 127.0.0.1:0: watching without a seat, the delay,
//! what a spectator may not do, `/api/replays`, and a recording that survives `kill -9`.

mod support;

use skirmish_server::client::{ClientError, GameClient};
use skirmish_server::recorder::ReplayList;
use skirmish_shared::protocol::{ClientMsg, EntityId, GameEvent, RefuseReason, SPECTATOR_ID};
use skirmish_shared::replay::{Replay, ReplayCursor, MAGIC};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use support::{bounded, silent_spectator, spawn_logged, wait_until, TestServer};
use tokio::time::Instant;

/// A player that moves back and forth and reads its snapshots in the background; the newest tick
/// it read, and whether it was ever told of a chat line from the spectator's id.
fn keep_playing(mut client: GameClient, newest: Arc<AtomicU32>, heard_spectator: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut n = 0u32;
        loop {
            n += 1;
            let x = if (n / 40) % 2 == 0 { 1 } else { -1 };
            if client.send_input(x, 0, 0, 0).await.is_err() {
                return;
            }
            match client.next_snapshot().await {
                Ok(snapshot) => newest.fetch_max(snapshot.tick.0, Relaxed),
                Err(_) => return,
            };
            let from_spectator = client
                .events()
                .drain(..)
                .any(|e| matches!(e, GameEvent::Chat { from, .. } if from == SPECTATOR_ID));
            if from_spectator {
                heard_spectator.store(true, Relaxed);
            }
        }
    });
}

fn refusal(result: Result<GameClient, ClientError>) -> RefuseReason {
    match result {
        Err(ClientError::Refused { reason, .. }) => reason,
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, got a Welcome"),
    }
}

#[tokio::test]
async fn a_spectator_takes_no_seat_sees_everyone_late_and_cannot_play() {
    bounded(async {
        let server = TestServer::start(&[
            "--max-players-per-room",
            "2",
            "--max-rooms",
            "1",
            "--spectator-delay-ms",
            "1000",
            "--max-spectators-per-room",
            "2",
        ])
        .await;
        let url = server.ws_url();
        let mut ada = server.join("ada").await;
        let bob = server.join("bob").await;
        let code = ada.welcome().room_code.clone();
        let (ada_id, bob_id) = (ada.welcome().player_id, bob.welcome().player_id);
        // The room is full for players...
        let full = GameClient::connect_to_room(&url, "cy", &code).await;
        assert_eq!(refusal(full), RefuseReason::RoomFull);
        // ...but admits spectators, up to their cap, by code or as the busiest room.
        let asked = Instant::now();
        let mut watcher = GameClient::watch(&url, Some(&code.to_lowercase()))
            .await
            .expect("watches a full room");
        let welcome = watcher.welcome().clone();
        assert!(watcher.is_spectator());
        assert_eq!(welcome.player_id, SPECTATOR_ID);
        assert_eq!(welcome.spectator_delay_ms, Some(1000));
        assert_eq!(welcome.snapshot_rate, 20);
        assert_eq!(welcome.room_code, code);
        let second = GameClient::watch(&url, None).await.expect("the busiest room");
        assert_eq!(second.welcome().room_code, code);
        let third = GameClient::watch(&url, Some(&code)).await;
        assert_eq!(refusal(third), RefuseReason::SpectatorsFull);
        let nowhere = GameClient::watch(&url, Some("ZZZZZ")).await;
        assert_eq!(refusal(nowhere), RefuseReason::NoSuchRoom);
        drop(second);

        ada.send(&ClientMsg::Chat {
            text: "hello watchers".into(),
        })
        .await
        .expect("chat");
        let ada_newest = Arc::new(AtomicU32::new(0));
        let heard = Arc::new(AtomicBool::new(false));
        keep_playing(ada, ada_newest.clone(), heard.clone());
        keep_playing(bob, Arc::new(AtomicU32::new(0)), heard.clone());

        // The first frame comes no sooner than the delay, and shows the room a second ago.
        let first = watcher.next_snapshot().await.expect("a frame");
        assert!(
            asked.elapsed() >= Duration::from_millis(900),
            "{:?}",
            asked.elapsed()
        );
        assert_eq!(first.baseline, None, "the feed starts with a keyframe");
        let behind = ada_newest.load(Relaxed).saturating_sub(first.tick.0);
        assert!(behind >= 30, "a player is {behind} ticks ahead of the spectator");
        // Both players, though neither is the spectator; and they move.
        assert!(watcher.view().players().contains_key(&ada_id));
        assert!(watcher.view().players().contains_key(&bob_id));
        assert!(!watcher.view().players().contains_key(&SPECTATOR_ID));
        let at = |w: &GameClient, id: EntityId| {
            let tick = w.view().tick().expect("a tick");
            w.view().player_position(id, tick).expect("in view")
        };
        let before = at(&watcher, ada_id);
        for _ in 0..30 {
            watcher.next_snapshot().await.expect("frames keep coming");
        }
        assert_ne!(at(&watcher, ada_id), before, "the spectator sees ada move");
        let chat = watcher
            .events()
            .iter()
            .any(|e| matches!(e, GameEvent::Chat { from, text } if *from == ada_id && text == "hello watchers"));
        assert!(chat, "a spectator reads the room's chat");

        // A spectator's inputs and chat are rejected; the connection is kept.
        watcher
            .send(&ClientMsg::Chat {
                text: "psst, behind you".into(),
            })
            .await
            .expect("sent");
        watcher.send_input(1, 0, 0, 1).await.expect("sent");
        wait_until(Duration::from_secs(5), "both rejected", async || {
            server.metrics.spectator_messages_rejected.load(Relaxed) == 2
        })
        .await;
        for _ in 0..10 {
            watcher.next_snapshot().await.expect("still watching");
        }
        assert!(!heard.load(Relaxed), "players never hear a spectator");
        // Asking for a full snapshot starts the spectator over from the last keyframe.
        watcher.reset_view();
        watcher
            .send(&ClientMsg::RequestFullSnapshot)
            .await
            .expect("sent");
        let restarted = loop {
            let frame = watcher.next_snapshot().await;
            match frame {
                Ok(s) if s.baseline.is_none() => break s,
                Ok(_) => continue,
                Err(e) => panic!("{e}"),
            }
        };
        assert!(restarted.tick.0 >= first.tick.0);
        for _ in 0..5 {
            watcher.next_snapshot().await.expect("the deltas after it apply");
        }
        assert_eq!(server.metrics.spectators.load(Relaxed), 1);
        watcher.leave().await;
        wait_until(Duration::from_secs(5), "the spectator left", async || {
            server.metrics.spectators.load(Relaxed) == 0
        })
        .await;
        assert!(server.metrics.spectator_frames_sent.load(Relaxed) >= 40);
        server.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spectator_that_stops_reading_is_closed_and_the_others_watch_on() {
    bounded(async {
        let server = TestServer::start(&[
            "--fill-bots",
            "8",
            "--spectator-delay-ms",
            "0",
            "--slow-reader-timeout",
            "1",
            "--socket-send-buffer",
            "4096",
        ])
        .await;
        let ada = server.join("ada").await;
        let code = ada.welcome().room_code.clone();
        keep_playing(ada, Arc::default(), Arc::default());
        let stalled = silent_spectator(&server, &code, Some(2048)).await;
        let mut watcher = GameClient::watch(&server.ws_url(), Some(&code))
            .await
            .expect("watches");
        // The watcher's frames keep coming and chain, while the stalled one's socket fills and
        // after it is closed.
        let mut frames = 0;
        while server.metrics.slow_reader_kicks.load(Relaxed) == 0 {
            tokio::time::timeout(Duration::from_secs(2), watcher.next_snapshot())
                .await
                .expect("never left waiting")
                .expect("every frame applies");
            frames += 1;
            assert!(frames < 20 * 30, "the stalled spectator was never closed");
        }
        wait_until(Duration::from_secs(5), "one spectator left", async || {
            server.metrics.spectators.load(Relaxed) == 1
        })
        .await;
        for _ in 0..20 {
            watcher.next_snapshot().await.expect("still watching");
        }
        assert!(server.metrics.disconnects("too_slow") >= 1);
        drop(stalled);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_spectator_that_never_pings_is_closed_and_one_address_cannot_take_every_place() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    bounded(async {
        let server =
            TestServer::start(&["--slow-reader-timeout", "0.4", "--spectator-delay-ms", "0"]).await;
        let ada = server.join("ada").await;
        let code = ada.welcome().room_code.clone();
        // Reads everything, says nothing: closed after five slow-reader timeouts (2 s).
        let mut mute = silent_spectator(&server, &code, None).await;
        let started = Instant::now();
        let code_seen = loop {
            match tokio::time::timeout(Duration::from_secs(10), mute.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        };
        assert_eq!(code_seen, Some(4003));
        assert!(started.elapsed() >= Duration::from_millis(1900));
        // Eight spectators from one address; the ninth is refused, the address's own limit.
        let url = server.ws_url();
        let mut eight = Vec::new();
        for _ in 0..8 {
            eight.push(GameClient::watch(&url, Some(&code)).await.expect("a place"));
        }
        let ninth = GameClient::watch(&url, Some(&code)).await;
        assert_eq!(refusal(ninth), RefuseReason::AddressLimit);
        drop(eight);
        drop(ada);
        server.stop().await;
    })
    .await;
}

/// A GET of `path` with extra header lines: the status line, the head and the body bytes.
async fn get_bytes(server: &TestServer, path: &str, headers: &[&str]) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    (head, response[split + 4..].to_vec())
}

async fn listed(server: &TestServer) -> ReplayList {
    let (head, body) = get_bytes(server, "/api/replays", &[]).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    serde_json::from_slice(&body).expect("JSON")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("skirmish-replays-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Plays every frame of a replay's bytes; returns how many.
fn play(bytes: Vec<u8>) -> usize {
    let replay = Replay::parse(bytes).expect("a replay");
    let mut cursor = ReplayCursor::new(&replay);
    let mut frames = 0;
    while let Some(step) = cursor.step(&replay) {
        step.expect("every frame plays and holds its check");
        frames += 1;
    }
    frames
}

#[tokio::test]
async fn replays_are_listed_served_in_ranges_and_play() {
    bounded(async {
        let dir = temp_dir("api");
        let dir_flag = dir.to_string_lossy().to_string();
        let server = TestServer::start(&[
            "--replay-dir",
            &dir_flag,
            "--fill-bots",
            "4",
            // Recordings are as late as spectators.
            "--spectator-delay-ms",
            "200",
            "--replay-min-seconds",
            "0",
        ])
        .await;
        let mut ada = server.join("ada").await;
        let code = ada.welcome().room_code.clone();
        for _ in 0..60 {
            ada.send_input(1, 0, 0, 1).await.expect("input");
            ada.next_snapshot().await.expect("snapshot");
        }
        wait_until(Duration::from_secs(5), "a listed recording", async || {
            listed(&server)
                .await
                .replays
                .iter()
                .any(|r| r.duration_ms >= 1000)
        })
        .await;
        let list = listed(&server).await;
        assert_eq!(list.replays.len(), 1, "{list:?}");
        let info = &list.replays[0];
        assert!(info.recording);
        assert_eq!(info.room, code);
        assert!(
            info.id.contains(&code) && info.id.ends_with("-1"),
            "{}",
            info.id
        );
        assert!(
            info.players.contains(&"ada".to_string()),
            "{:?}",
            info.players
        );
        assert_eq!(
            info.players.len(),
            4,
            "ada and three bots: {:?}",
            info.players
        );
        // The file, whole and by range.
        let path = format!("/api/replays/{}", info.id);
        let (head, body) = get_bytes(&server, &path, &[]).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(
            head.contains("content-type: application/octet-stream"),
            "{head}"
        );
        assert!(play(body.clone()) >= 20);
        let (head, magic) = get_bytes(&server, &path, &["Range: bytes=0-15"]).await;
        assert!(head.starts_with("http/1.1 206"), "{head}");
        assert_eq!(magic, MAGIC);
        for bad in [
            "/api/replays/nope",
            "/api/replays/..%2F..%2Fetc%2Fpasswd",
            "/api/replays/",
        ] {
            let (head, body) = get_bytes(&server, bad, &[]).await;
            assert!(head.starts_with("http/1.1 404"), "{bad}: {head}");
            assert!(
                String::from_utf8_lossy(&body).contains("no such replay"),
                "{bad}"
            );
        }
        ada.leave().await;
        server.stop().await;
        // Finished: a summary beside it, and the listing says it is no longer recording.
        let again = TestServer::start(&["--replay-dir", &dir_flag]).await;
        let list = listed(&again).await;
        assert_eq!(list.replays.len(), 1);
        assert!(!list.replays[0].recording);
        assert!(list.replays[0].duration_ms >= 1000);
        assert!(dir.join(format!("{}.json", list.replays[0].id)).is_file());
        again.stop().await;
        // A room that lasts less than --replay-min-seconds leaves no replay.
        let short =
            TestServer::start(&["--replay-dir", &dir_flag, "--replay-min-seconds", "30"]).await;
        let mut bob = short.join("bob").await;
        for _ in 0..30 {
            bob.next_snapshot().await.expect("snapshot");
        }
        bob.leave().await;
        short.stop().await;
        let again = TestServer::start(&["--replay-dir", &dir_flag]).await;
        let ids: Vec<String> = listed(&again)
            .await
            .replays
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(
            ids,
            [list.replays[0].id.clone()],
            "the short one was deleted"
        );
        again.stop().await;
        let off = TestServer::start(&[]).await;
        assert!(
            listed(&off).await.replays.is_empty(),
            "recording off: none listed"
        );
        let (head, _) = get_bytes(&off, &path, &[]).await;
        assert!(head.starts_with("http/1.1 404"), "{head}");
        off.stop().await;
        let _ = std::fs::remove_dir_all(dir);
    })
    .await;
}

#[tokio::test]
async fn a_recording_cut_by_kill_9_plays_up_to_its_last_frame_and_retention_deletes_the_oldest() {
    bounded(async {
        let dir = temp_dir("crash");
        let dir_flag = dir.to_string_lossy().to_string();
        let flag = dir_flag.clone();
        let (mut child, addr) = tokio::task::spawn_blocking(move || {
            spawn_logged(
                env!("CARGO_BIN_EXE_skirmish-server"),
                &[
                    "--bind",
                    "127.0.0.1:0",
                    "--fill-bots",
                    "6",
                    "--spectator-delay-ms",
                    "200",
                    "--replay-dir",
                    &flag,
                ],
            )
        })
        .await
        .expect("started");
        let mut ada = GameClient::connect(&format!("ws://{addr}/ws"), "ada")
            .await
            .expect("joins");
        for _ in 0..75 {
            ada.send_input(0, 1, 0, 1).await.expect("input");
            ada.next_snapshot().await.expect("snapshot");
        }
        child.0.kill().expect("SIGKILL");
        child.exit_status(Duration::from_secs(5)).await;
        let files: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(files.len(), 1, "one file, no summary: {files:?}");
        let bytes = std::fs::read(&files[0]).expect("read");
        assert!(play(bytes) >= 20, "the cut recording plays");
        // A server started on the folder lists it, from the file itself.
        let server = TestServer::start(&["--replay-dir", &dir_flag]).await;
        let list = listed(&server).await;
        assert_eq!(list.replays.len(), 1);
        let crashed = list.replays[0].clone();
        assert!(
            !crashed.recording && crashed.duration_ms >= 1000,
            "{crashed:?}"
        );
        assert!(crashed.players.contains(&"ada".to_string()));
        server.stop().await;
        // Kept to one replay: the next recording deletes the crashed one.
        let server =
            TestServer::start(&["--replay-dir", &dir_flag, "--replay-retention", "1,1GB"]).await;
        let mut bob = server.join("bob").await;
        bob.next_snapshot().await.expect("snapshot");
        wait_until(
            Duration::from_secs(5),
            "the old replay deleted",
            async || {
                let list = listed(&server).await;
                list.replays.len() == 1 && list.replays[0].id != crashed.id
            },
        )
        .await;
        assert!(!dir.join(format!("{}.skreplay", crashed.id)).exists());
        assert_eq!(server.metrics.replays_deleted.load(Relaxed), 1);
        bob.leave().await;
        server.stop().await;
        let _ = std::fs::remove_dir_all(dir);
    })
    .await;
}
