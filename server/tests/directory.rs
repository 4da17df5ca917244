//! The fleet's directory over real sockets on loopback: a stand-in Agones (allocator with mutual TLS,
//! one SDK sidecar per game server, recording and checking every request), two real
//! `skirmish-server` processes reporting to it with `--agones`, and a real `skirmish-directory`.
//! Players ask `/api/play` as the page does and join where it says.

mod support;

use skirmish_server::client::GameClient;
use skirmish_server::play::{PlayAnswer, PlayError};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use support::agones_standin::{self, Fleet, State};
use support::{bounded, exchange, spawn_logged, status_and_body, wait_until, Killed};

/// Seats on each game server: one room of two.
const SERVER_FLAGS: [&str; 4] = ["--max-rooms", "1", "--max-players-per-room", "2"];

/// A game server process reporting to the stand-in as `name`.
struct GameServer {
    name: &'static str,
    process: Killed,
    port: u16,
}

async fn start_game_server(fleet: &Arc<Fleet>, name: &'static str, tag: &str) -> GameServer {
    let sidecar = agones_standin::start_sidecar(fleet.clone(), name).await;
    let mut args = vec![
        "--bind",
        "127.0.0.1:0",
        "--replay-dir",
        "",
        "--agones",
        "--agones-sdk-url",
        &sidecar,
        "--agones-health-interval",
        "0.2",
        "--room-tag",
        tag,
        "--fill-bots",
        "0",
        "--shutdown-grace",
        "2",
        // The test's players do not read their snapshots: on a slow machine they must not be
        // dropped as slow readers (their seats then held), nor held seats let go, mid-test.
        "--slow-reader-timeout",
        "60",
        "--reconnect-grace",
        "120",
    ];
    args.extend_from_slice(&SERVER_FLAGS);
    let (process, addr) = spawn_logged(env!("CARGO_BIN_EXE_skirmish-server"), &args);
    let port = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    // Agones would have given the pod its port; the stand-in is told.
    fleet.set_port(name, port);
    GameServer {
        name,
        process,
        port,
    }
}

/// Starts the directory with the stand-in's certificates (or a stranger's, `trusted: false`), its
/// rate per address high enough for a test's requests.
fn start_directory(allocator: &str, dir: &std::path::Path, trusted: bool) -> (Killed, String) {
    start_directory_with(allocator, dir, trusted, &["--play-rate-per-ip", "1000"])
}

/// [`start_directory`] with `extra` flags.
fn start_directory_with(
    allocator: &str,
    dir: &std::path::Path,
    trusted: bool,
    extra: &[&str],
) -> (Killed, String) {
    let (cert, key) = if trusted {
        ("client.pem", "client-key.pem")
    } else {
        ("stranger.pem", "stranger-key.pem")
    };
    let path = |file: &str| dir.join(file).to_string_lossy().into_owned();
    let args = [
        "--bind".to_string(),
        "127.0.0.1:0".into(),
        "--allocator".into(),
        allocator.into(),
        "--allocator-cert".into(),
        path(cert),
        "--allocator-key".into(),
        path(key),
        "--allocator-ca".into(),
        path("allocator-ca.pem"),
        "--allocator-timeout".into(),
        "3".into(),
        "--game-scheme".into(),
        "ws".into(),
        "--assets".into(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/../assets").into(),
    ];
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    spawn_logged(env!("CARGO_BIN_EXE_skirmish-directory"), &args)
}

/// `METHOD path` on `addr`: the status and body.
async fn request(addr: &str, method: &str, path: &str) -> (u16, String) {
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let response = exchange(addr, &head).await;
    let (status, body) = status_and_body(&response);
    (status, body.to_string())
}

/// `GET path` on `addr`: the status and body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    request(addr, "GET", path).await
}

/// `/api/play` (with `query`) answered 200: where to go.
async fn play(directory: &str, query: &str) -> PlayAnswer {
    let (status, body) = get(directory, &format!("/api/play{query}")).await;
    assert_eq!(status, 200, "/api/play{query}: {body}");
    serde_json::from_str(&body).expect("a play answer")
}

/// `/api/play` (with `query`) refused: the status and the reason.
async fn refused(directory: &str, query: &str) -> (u16, String) {
    let (status, body) = get(directory, &format!("/api/play{query}")).await;
    assert_ne!(status, 200, "/api/play{query} was not refused: {body}");
    let error: PlayError = serde_json::from_str(&body).expect("a JSON reason");
    (status, error.error)
}

/// Joins where `answer` says, as the page would.
async fn join(answer: &PlayAnswer, name: &str) -> GameClient {
    let joined = match answer.room.as_deref() {
        Some(room) => GameClient::connect_to_room(&answer.url, name, room).await,
        None => GameClient::connect(&answer.url, name).await,
    };
    joined.unwrap_or_else(|e| panic!("{name} joins {}: {e}", answer.url))
}

fn port_of(answer: &PlayAnswer) -> u16 {
    answer
        .url
        .trim_end_matches("/ws")
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {}", answer.url))
}

/// Waits until the stand-in shows what `done` checks of game server `name`.
async fn until_server(
    fleet: &Fleet,
    name: &str,
    what: &str,
    done: impl Fn(&agones_standin::GameServer) -> bool,
) {
    wait_until(Duration::from_secs(10), what, async || {
        done(&fleet.server(name))
    })
    .await;
}

/// A stand-in Agones for `names`, its certificates written to a fresh folder: the fleet, the folder
/// (removed when dropped) and the allocator's URL.
async fn stand_in(names: &[&str], label: &str) -> (Arc<Fleet>, TempDir, String) {
    let fleet = Fleet::new("default", "skirmish", names);
    let certificates = agones_standin::certificates();
    let dir =
        TempDir(std::env::temp_dir().join(format!("skirmish-{label}-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    certificates.write_to(&dir.0);
    let allocator = agones_standin::start_allocator(fleet.clone(), &certificates).await;
    (fleet, dir, allocator)
}

/// A folder removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_fills_one_server_then_the_next_and_finds_rooms_by_code() {
    bounded(async {
        let (fleet, dir, allocator) = stand_in(&["gs-a", "gs-b"], "directory").await;
        let a = start_game_server(&fleet, "gs-a", "AA").await;
        let b = start_game_server(&fleet, "gs-b", "BB").await;
        for server in [&a, &b] {
            until_server(&fleet, server.name, "Ready with its tag and seats", |gs| {
                gs.state == State::Ready
                    && gs.lists["players"].capacity == 2
                    && gs.labels.contains_key("agones.dev/sdk-skirmish-tag")
            })
            .await;
        }
        let (_directory, directory) = start_directory(&allocator, &dir.0, true);

        // The first two players fill A (packed: A before B), the third goes to B.
        let first = play(&directory, "").await;
        assert_eq!(port_of(&first), a.port, "{first:?}");
        assert_eq!(first.server.as_deref(), Some("gs-a"));
        let ada = join(&first, "Ada").await;
        let room_a = ada.welcome().room_code.clone();
        assert!(
            room_a.starts_with("AA"),
            "A's rooms carry its tag: {room_a}"
        );
        until_server(&fleet, "gs-a", "Ada in A's lists", |gs| {
            gs.lists["players"].values.len() == 1 && gs.lists["rooms"].values == [room_a.clone()]
        })
        .await;
        let second = play(&directory, "").await;
        assert_eq!(port_of(&second), a.port, "A still has a seat: {second:?}");
        assert_eq!(
            second.room.as_deref(),
            Some(room_a.as_str()),
            "the room with the seat"
        );
        let bea = join(&second, "Bea").await;
        assert_eq!(bea.welcome().room_code, room_a);
        until_server(&fleet, "gs-a", "A full", |gs| {
            gs.lists["players"].values.len() == 2 && gs.lists["full"].values == [room_a.clone()]
        })
        .await;
        let third = play(&directory, "").await;
        assert_eq!(port_of(&third), b.port, "A is full: {third:?}");
        let cal = join(&third, "Cal").await;
        let room_b = cal.welcome().room_code.clone();
        assert!(room_b.starts_with("BB"), "{room_b}");
        until_server(&fleet, "gs-b", "Cal in B's lists", |gs| {
            gs.lists["rooms"].values == [room_b.clone()]
        })
        .await;

        // A friend's link: the code finds its server and room; a full room is refused, as is a
        // room that never was (or has ended), but a full room may be watched.
        let friend = play(&directory, &format!("?room={}", room_b.to_lowercase())).await;
        assert_eq!(
            (port_of(&friend), friend.room.as_deref()),
            (b.port, Some(room_b.as_str()))
        );
        let dan = join(&friend, "Dan").await;
        assert_eq!(dan.welcome().room_code, room_b, "the friend's room");
        dan.leave().await;
        until_server(&fleet, "gs-b", "Dan gone from B's lists", |gs| {
            gs.lists["players"].values.len() == 1
        })
        .await;
        let (status, why) = refused(&directory, &format!("?room={room_a}")).await;
        assert_eq!(status, 404);
        assert!(why.contains("is full"), "{why}");
        let (status, why) = refused(&directory, "?room=AAZZZZ").await;
        assert_eq!(status, 404);
        assert!(why.contains("has ended"), "{why}");
        let (status, why) = refused(&directory, "?room=nope").await;
        assert_eq!(status, 404);
        assert!(why.contains("not a room code"), "{why}");
        let watch = play(&directory, &format!("?watch={room_a}")).await;
        assert_eq!(port_of(&watch), a.port);
        let watcher = GameClient::watch(&watch.url, watch.room.as_deref())
            .await
            .expect("watches the full room");
        assert_eq!(watcher.welcome().room_code, room_a);
        drop(watcher);

        // Bea drops (her seat held for a resume): A is still full, to the directory as to its lobby.
        bea.close().await;
        until_server(
            &fleet,
            "gs-a",
            "Bea's seat held in A's players list",
            |gs| {
                let values = &gs.lists["players"].values;
                values.len() == 2 && values.iter().any(|v| v.contains("-seat-"))
            },
        )
        .await;
        let next = play(&directory, "").await;
        assert_eq!(
            port_of(&next),
            b.port,
            "a held seat is not a free one: {next:?}"
        );

        // Ada leaves (for good: a dropped player's seat would be held for a resume): A has a seat
        // again. Then A gets SIGTERM: Agones' Shutdown, never handed out.
        ada.leave().await;
        until_server(&fleet, "gs-a", "Ada gone from A's lists", |gs| {
            gs.lists["players"].values.len() == 1 && gs.lists["full"].values.is_empty()
        })
        .await;
        let status = Command::new("kill")
            .args(["-TERM", &a.process.0.id().to_string()])
            .stdout(Stdio::null())
            .status()
            .expect("kill runs");
        assert!(status.success());
        until_server(&fleet, "gs-a", "A in Shutdown", |gs| {
            gs.state == State::Shutdown
        })
        .await;
        for _ in 0..3 {
            let next = play(&directory, "").await;
            assert_eq!(
                port_of(&next),
                b.port,
                "a shut-down server is not handed out: {next:?}"
            );
        }
        let (status, why) = refused(&directory, &format!("?room={room_a}")).await;
        assert_eq!(status, 404, "A's room is gone with A: {why}");
        drop(cal);

        // The allocator down: a clear 503; back up, the directory works again.
        fleet.set_allocator_down(true);
        let (status, why) = refused(&directory, "").await;
        assert_eq!(status, 503);
        assert!(why.contains("cannot reach the Agones allocator"), "{why}");
        fleet.set_allocator_down(false);
        let back = play(&directory, "").await;
        assert_eq!(port_of(&back), b.port);

        // Every request either side received is one a real Agones would take.
        assert_eq!(fleet.violations(), Vec::<String>::new());
        let requests = fleet.requests();
        let allocations = requests.iter().filter(|r| r.to == "allocator").count();
        assert!(
            allocations >= 12,
            "{allocations} allocation requests recorded"
        );
        assert!(
            requests
                .iter()
                .any(|r| r.to == "gs-a" && r.path == "/shutdown"),
            "A told Agones it was shutting down"
        );
        assert!(
            requests.iter().any(|r| r.to == "gs-a"
                && r.path == "/v1beta1/lists/players"
                && r.method == "PATCH"),
            "A kept its players list"
        );
        drop(b);
    })
    .await;
}

#[tokio::test]
async fn a_directory_without_a_trusted_certificate_is_refused_by_the_allocator() {
    bounded(async {
        let (fleet, dir, allocator) = stand_in(&["gs-a"], "stranger").await;
        fleet.set_port("gs-a", 1);
        fleet.allocate_now("gs-a"); // Allocated with seats free: a trusted directory gets it
        let (_directory, directory) = start_directory(&allocator, &dir.0, false);
        let (status, why) = refused(&directory, "").await;
        assert_eq!(status, 503, "{why}");
        assert!(why.contains("cannot reach the Agones allocator"), "{why}");
        assert!(
            fleet.requests().is_empty(),
            "no request got past mutual TLS: {:?}",
            fleet.requests()
        );
    })
    .await;
}

#[tokio::test]
async fn the_page_and_health_are_served_and_per_server_lists_are_not() {
    bounded(async {
        let (_fleet, dir, allocator) = stand_in(&["gs-a"], "pages").await;
        let (_directory, directory) = start_directory(&allocator, &dir.0, true);
        let (status, page) = get(&directory, "/").await;
        assert_eq!(status, 200);
        assert!(
            page.contains("<html") || page.contains("<!doctype"),
            "{page:.200}"
        );
        assert_eq!(get(&directory, "/healthz").await.0, 200);
        for path in ["/api/rooms", "/api/replays"] {
            let (status, body) = get(&directory, path).await;
            assert_eq!(status, 404, "{path}");
            assert!(body.contains("each game server"), "{body}");
        }
    })
    .await;
}

#[tokio::test]
async fn play_requests_are_limited_per_address_and_are_get_only() {
    bounded(async {
        let (fleet, dir, allocator) = stand_in(&["gs-a"], "limits").await;
        fleet.set_port("gs-a", 1);
        fleet.allocate_now("gs-a"); // Allocated with no room open: each ?watch= allocates it, then 404
        let (_directory, directory) =
            start_directory_with(&allocator, &dir.0, true, &["--play-rate-per-ip", "1"]);
        // A burst of five seconds' worth, then 429 with a reason.
        let mut statuses = Vec::new();
        for _ in 0..7 {
            statuses.push(get(&directory, "/api/play?watch=").await.0);
        }
        assert_eq!(&statuses[..5], &[404; 5], "{statuses:?}");
        assert_eq!(statuses[6], 429, "{statuses:?}");
        let (status, why) = refused(&directory, "?watch=").await;
        assert_eq!(status, 429);
        assert!(why.contains("too many requests"), "{why}");
        let allocations = fleet
            .requests()
            .iter()
            .filter(|r| r.to == "allocator")
            .count();
        assert!(allocations <= 6, "{allocations} allocations for 8 requests");
        // HEAD would allocate without anyone to play: refused.
        let (status, body) = request(&directory, "HEAD", "/api/play").await;
        assert_eq!(status, 405, "{body}");
    })
    .await;
}

#[tokio::test]
async fn watching_any_room_of_a_fleet_with_none_open_is_a_404() {
    bounded(async {
        let (fleet, dir, allocator) = stand_in(&["gs-a"], "watch").await;
        fleet.set_port("gs-a", 1);
        fleet.allocate_now("gs-a"); // Allocated, but no room open
        let (_directory, directory) = start_directory(&allocator, &dir.0, true);
        let (status, why) = refused(&directory, "?watch=").await;
        assert_eq!(status, 404);
        assert!(why.contains("no room is open to watch"), "{why}");
        assert_eq!(fleet.violations(), Vec::<String>::new());
    })
    .await;
}
