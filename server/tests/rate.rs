//! Snapshot rates over real sockets: a client that asks for a low rate in its `Hello` gets fewer
//! snapshots, each complete (its view check holds) and current (no backlog builds up), within the
//! bytes it asked for; the server caps what is asked and gives its default to clients that ask for
//! none.

mod support;

use skirmish_server::client::GameClient;
use skirmish_shared::protocol::buttons::FIRE;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use support::{bounded, TestServer};
use tokio::task::JoinHandle;

const TOKEN: &str = "test-admin-token-0123456789";

/// Flags for a busy room: most of the arena in view, and one address may seat everyone.
const BUSY: [&str; 10] = [
    "--view-radius",
    "1200",
    "--connect-rate-per-ip",
    "1000",
    "--join-rate-per-ip",
    "1000",
    "--max-connections-per-ip",
    "100",
    "--admin-token",
    TOKEN,
];

/// Players that move, flick their aim and fire all the time (30 inputs a second, whatever their
/// own snapshot rate), so every view changes every tick.
struct Crowd {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Crowd {
    async fn join(server: &TestServer, players: usize) -> Crowd {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for i in 0..players {
            let mut client = server.join(&format!("crowd{i}")).await;
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut inputs = tokio::time::interval(Duration::from_millis(33));
                let mut n = i as u32;
                while !stop.load(Relaxed) {
                    tokio::select! {
                        _ = inputs.tick() => {
                            n = n.wrapping_add(1);
                            let dir = ((n / 20) % 9) as i8;
                            let aim = (n.wrapping_mul(997) % 65_536) as u16;
                            if client.send_input(dir % 3 - 1, dir / 3 - 1, aim, FIRE).await.is_err() {
                                return;
                            }
                        }
                        // Reading a message is cancel-safe: a snapshot read is applied before
                        // anything else is awaited.
                        read = client.next_snapshot() => {
                            read.expect("the crowd's views hold");
                        }
                    }
                }
                client.leave().await;
            }));
        }
        Crowd { stop, tasks }
    }

    async fn leave(self) {
        self.stop.store(true, Relaxed);
        for task in self.tasks {
            task.await.expect("crowd task");
        }
    }
}

/// What one measured client read.
#[derive(Debug, Default)]
struct Reading {
    /// Each snapshot's tick, size in bytes, and the room's tick when it was read.
    snapshots: Vec<(u32, u64, u64)>,
}

impl Reading {
    fn mean_gap(&self) -> f64 {
        let first = self.snapshots[0].0;
        let last = self.snapshots[self.snapshots.len() - 1].0;
        f64::from(last - first) / (self.snapshots.len() - 1) as f64
    }

    /// The most ticks the room was ahead of a snapshot when it was read.
    fn largest_lag(&self) -> u64 {
        self.snapshots
            .iter()
            .map(|&(tick, _, room)| room.saturating_sub(u64::from(tick)))
            .max()
            .unwrap_or(0)
    }
}

/// Joins asking for `rate`, reads (and checks, in `next_snapshot`) snapshots until `until` room
/// ticks, and records them, with the room's tick at each (one room: the server's tick count).
fn measure(server: &TestServer, name: &str, rate: u32, until: u64) -> JoinHandle<Reading> {
    let url = server.ws_url();
    let name = name.to_string();
    let ticks = server.metrics.clone();
    tokio::spawn(async move {
        let mut client = GameClient::connect_at_rate(&url, &name, rate)
            .await
            .expect("joins");
        let mut reading = Reading::default();
        loop {
            let before = client.bytes_received();
            let snapshot = client.next_snapshot().await.expect("a complete snapshot");
            let room = ticks.ticks.load(Relaxed);
            let size = client.bytes_received() - before;
            reading.snapshots.push((snapshot.tick.0, size, room));
            if room >= until {
                break;
            }
        }
        client.leave().await;
        reading
    })
}

/// An admin request with the token; the JSON body.
async fn rooms(server: &TestServer) -> serde_json::Value {
    let response = server
        .request(
            "GET",
            "/admin/rooms",
            &[&format!("Authorization: Bearer {TOKEN}")],
            "",
        )
        .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = response.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).expect("JSON")
}

/// The admin API's rooms, once it lists every one of `names`.
async fn listed_when_seated(server: &TestServer, names: &[&str]) -> serde_json::Value {
    support::wait_until(Duration::from_secs(10), "everyone seated", async || {
        let listed = rooms(server).await;
        names.iter().all(|name| rate_of(&listed, name).is_some())
    })
    .await;
    rooms(server).await
}

/// The rate the admin API lists for the player named `name`.
fn rate_of(rooms: &serde_json::Value, name: &str) -> Option<u64> {
    rooms["rooms"][0]["players"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)?["rate"]
        .as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_rate_client_gets_fewer_complete_current_snapshots_within_its_rate() {
    bounded(async {
        let server = TestServer::start(&BUSY).await;
        // Enough players that 2,000 bytes a second holds snapshots back: with 30, protocol 9's
        // smaller snapshots came within 2,000 often enough to space them only 2.4 ticks apart.
        let crowd = Crowd::join(&server, 45).await;
        // Seven seconds from now, in room ticks (the slowest spends three on its Welcome first).
        let until = server.metrics.ticks.load(Relaxed) + 420;
        let rates = [0, 2_000, 1_000];
        let readers: Vec<_> = rates
            .iter()
            .map(|&rate| measure(&server, &format!("r{rate}"), rate, until))
            .collect();
        let listed = listed_when_seated(&server, &["r0", "r2000", "r1000"]).await;
        let mut readings = Vec::new();
        for reader in readers {
            readings.push(reader.await.expect("reader task"));
        }
        crowd.leave().await;
        let gaps: Vec<f64> = readings.iter().map(Reading::mean_gap).collect();
        let counts: Vec<usize> = readings.iter().map(|r| r.snapshots.len()).collect();
        // The default rate holds nothing back; each lower rate spaces snapshots further apart.
        assert!(gaps[0] < 2.5, "gaps {gaps:?}, counts {counts:?}");
        assert!(
            gaps[1] > gaps[0] * 1.3 && gaps[2] > gaps[1] * 1.3,
            "gaps {gaps:?}, counts {counts:?}"
        );
        assert!(counts[2] < counts[1] && counts[1] < counts[0], "{counts:?}");
        for (reading, &rate) in readings.iter().zip(&rates).skip(1) {
            // Within the rate: after the first, a client is sent no more than its rate over the
            // ticks between its first and last snapshot, plus what the budget holds (one snapshot
            // interval's worth), plus a few bytes of the pongs read in between.
            let [(first, ..), middle @ .., (last, ..)] = reading.snapshots.as_slice() else {
                panic!("too few snapshots: {reading:?}");
            };
            let sent: u64 = middle.iter().map(|&(_, size, _)| size).sum();
            let allowed = u64::from(rate) * u64::from(last - first + 2) / 60;
            assert!(
                sent <= allowed + 16 * middle.len() as u64,
                "rate {rate}: {sent} bytes against {allowed}"
            );
            // Current: a snapshot is of the tick it was sent at, so however far apart they come,
            // none is read far behind the room (a backlog would grow without bound).
            assert!(
                reading.largest_lag() <= 30,
                "rate {rate}: {} ticks behind: {reading:?}",
                reading.largest_lag()
            );
        }
        assert!(server.metrics.snapshots_deferred_rate.load(Relaxed) > 0);
        assert_eq!(
            rate_of(&listed, "r2000"),
            Some(2_000),
            "the rate in effect: {listed}"
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rates_are_capped_by_the_maximum_and_zero_gets_the_default() {
    bounded(async {
        let mut flags = BUSY.to_vec();
        flags.extend(["--max-client-rate", "2000", "--default-client-rate", "1500"]);
        let server = TestServer::start(&flags).await;
        // Busy enough that 2,000 bytes a second bites (protocol 8's packed snapshots are about
        // half as large as before, so it takes twice the crowd it did).
        let crowd = Crowd::join(&server, 40).await;
        let until = server.metrics.ticks.load(Relaxed) + 240;
        let greedy = measure(&server, "greedy", 10_000_000, until);
        let silent = measure(&server, "silent", 0, until);
        let modest = measure(&server, "modest", 1_200, until);
        let listed = listed_when_seated(&server, &["greedy", "silent", "modest"]).await;
        assert_eq!(rate_of(&listed, "greedy"), Some(2_000), "capped: {listed}");
        assert_eq!(rate_of(&listed, "silent"), Some(1_500), "the default");
        assert_eq!(rate_of(&listed, "modest"), Some(1_200), "as asked");
        assert_eq!(rate_of(&listed, "crowd0"), Some(1_500), "the default");
        // And the capped client is paced at the maximum, not at what it asked for.
        let greedy = greedy.await.expect("reader");
        let [(first, ..), middle @ .., (last, ..)] = greedy.snapshots.as_slice() else {
            panic!("too few snapshots: {greedy:?}");
        };
        let sent: u64 = middle.iter().map(|&(_, size, _)| size).sum();
        let allowed = 2_000 * u64::from(last - first + 2) / 60;
        assert!(
            sent <= allowed + 16 * middle.len() as u64,
            "{sent} bytes against {allowed}"
        );
        assert!(greedy.mean_gap() > 2.5, "paced: {greedy:?}");
        let _ = silent.await;
        let _ = modest.await;
        crowd.leave().await;
        server.stop().await;
    })
    .await;
}
