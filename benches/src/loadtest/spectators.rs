//! Load-test spectators: connections that watch one room's broadcast feed (`Hello.watch`) beside the
//! bots, or the same number of connections against the transport floor.
//!
//! A spectator sends its `Hello`, then a `Ping` once a second as the browser does (the server closes
//! a spectator that sends nothing for five slow-reader timeouts), and reads every frame. Most count a frame by its first byte (the `Snapshot` tag) and its
//! length, like a cheap client; every [`SpectatorPlan::verify_every`]-th decodes every frame, applies
//! it to a view of the whole room and compares the view with the frame's check, as the browser's
//! spectator mode does, so the run also shows that the feed they are all sent is sound.

use futures_util::{SinkExt, StreamExt};
use skirmish_shared::codec::{decode_server, encode_client};
use skirmish_shared::physics::MoveParams;
use skirmish_shared::protocol::{ClientMsg, Hello, ServerMsg, PROTOCOL_VERSION};
use skirmish_shared::time::TickRate;
use skirmish_shared::view::{Checked, ClientView};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// The first byte of an encoded `ServerMsg::Snapshot` (its variant index as a one-byte varint).
const SNAPSHOT_TAG: u8 = 2;

/// What every spectator of one fleet shares.
#[derive(Debug, Clone)]
pub struct SpectatorPlan {
    /// The game socket URL.
    pub url: String,
    /// The code of the room to watch (`None`: the server's choice, the room with the most players).
    pub room: Option<String>,
    /// Every this many spectators (the first, then every `verify_every`-th) one decodes and applies
    /// every frame and checks its view; the others count frames. 0: none verify (the floor's frames
    /// are padding, not a world).
    pub verify_every: usize,
}

/// One spectator's counters.
#[derive(Debug, Default)]
pub struct SpectatorStats {
    /// Welcomed.
    pub connected: AtomicBool,
    /// Feed frames (snapshots) received.
    pub frames: AtomicU64,
}

/// Counters over all spectators of a fleet.
#[derive(Debug, Default)]
pub struct SpectatorTotals {
    /// Spectators welcomed.
    pub connected: AtomicU64,
    /// Failed connects, refusals and undecodable messages.
    pub errors: AtomicU64,
    /// Connections that ended after the Welcome, before the run stopped.
    pub disconnects: AtomicU64,
    /// Feed frames received.
    pub frames: AtomicU64,
    /// Payload bytes of the feed frames received.
    pub bytes: AtomicU64,
    /// The feed rate the Welcome announced (frames per second).
    pub feed_hz: AtomicU64,
    /// The room code the Welcome named.
    pub room_code: Mutex<Option<String>>,
    /// Frames a verifying spectator applied whose check its view then matched.
    pub verified: AtomicU64,
    /// Frames after which a verifying spectator's view did not match the check.
    pub desyncs: AtomicU64,
    /// Frames that did not apply to a verifying spectator's view.
    pub view_errors: AtomicU64,
    /// Keyframes (full snapshots) among the frames the verifying spectators decoded.
    pub keyframes_seen: AtomicU64,
    /// What went wrong first, for the report.
    pub first_error: Mutex<Option<String>>,
}

impl SpectatorTotals {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(what);
        }
    }

    /// (frames, bytes) received so far.
    pub fn flow(&self) -> (u64, u64) {
        (self.frames.load(Relaxed), self.bytes.load(Relaxed))
    }
}

/// Runs one spectator until `stop` turns true or its connection ends.
async fn spectate(
    plan: Arc<SpectatorPlan>,
    index: usize,
    stats: Arc<SpectatorStats>,
    totals: Arc<SpectatorTotals>,
    mut stop: watch::Receiver<bool>,
) {
    // Small buffers, as for the bots: a thousand spectators share one process.
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let connected = tokio::select! {
        c = tokio_tungstenite::connect_async_with_config(plan.url.as_str(), Some(config), true) => c,
        _ = stop.changed() => return,
    };
    let mut ws = match connected {
        Ok((ws, _)) => ws,
        Err(e) => return totals.error(format!("spectator {index}: connect: {e}")),
    };
    if let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = ws.get_ref() {
        let _ = tcp.set_nodelay(true);
    }
    let hello = ClientMsg::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        name: format!("spectator{index}"),
        resume_token: None,
        rate: 0,
        room: plan.room.clone(),
        watch: true,
    });
    if let Err(e) = ws.send(Message::Binary(encode_client(&hello).into())).await {
        return totals.error(format!("spectator {index}: hello: {e}"));
    }
    let verifies = plan.verify_every > 0 && index % plan.verify_every == 0;
    let mut welcomed = false;
    let mut view: Option<ClientView> = None;
    let mut pings = tokio::time::interval(Duration::from_secs(1));
    let mut nonce = 0u32;
    loop {
        let message = tokio::select! {
            m = ws.next() => m,
            _ = stop.changed() => break,
            _ = pings.tick(), if welcomed => {
                nonce = nonce.wrapping_add(1);
                let ping = ClientMsg::Ping { nonce, acked_tick: 0, proof: 0 };
                if ws.send(Message::Binary(encode_client(&ping).into())).await.is_err() {
                    totals.disconnects.fetch_add(1, Relaxed);
                    return;
                }
                continue;
            }
        };
        let bytes = match message {
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                if welcomed {
                    totals.disconnects.fetch_add(1, Relaxed);
                } else {
                    totals.error(format!("spectator {index}: closed before the Welcome"));
                }
                return;
            }
            Some(Ok(_)) => continue,
        };
        if welcomed && view.is_none() && bytes.first() == Some(&SNAPSHOT_TAG) {
            // A cheap client: the frame counted by its tag and length, not decoded.
            count_frame(&stats, &totals, bytes.len());
            continue;
        }
        match decode_server(&bytes) {
            Ok(ServerMsg::Welcome(welcome)) if !welcomed => {
                welcomed = true;
                stats.connected.store(true, Relaxed);
                totals.connected.fetch_add(1, Relaxed);
                totals
                    .feed_hz
                    .store(u64::from(welcome.snapshot_rate), Relaxed);
                let mut code = totals.room_code.lock().unwrap_or_else(|p| p.into_inner());
                code.get_or_insert_with(|| welcome.room_code.clone());
                drop(code);
                if verifies {
                    // A spectator's view sees the whole room (no viewer, no view radius).
                    view = TickRate::new(welcome.tick_rate).map(|rate| {
                        ClientView::new(Arc::new(welcome.map.clone()), MoveParams::new(rate))
                    });
                }
            }
            Ok(ServerMsg::Snapshot(snapshot)) if welcomed => {
                count_frame(&stats, &totals, bytes.len());
                let Some(view) = view.as_mut() else { continue };
                if snapshot.baseline.is_none() {
                    totals.keyframes_seen.fetch_add(1, Relaxed);
                }
                let checked = view.apply_checked(&snapshot);
                let counter = match checked {
                    Checked::Held => &totals.verified,
                    Checked::Desynced => &totals.desyncs,
                    Checked::Lost => &totals.view_errors,
                };
                counter.fetch_add(1, Relaxed);
                if let Some(reply) = checked.reply(snapshot.tick) {
                    let reply = Message::Binary(encode_client(&reply).into());
                    if ws.send(reply).await.is_err() {
                        totals.disconnects.fetch_add(1, Relaxed);
                        return;
                    }
                }
            }
            Ok(ServerMsg::Refused { reason, detail }) => {
                return totals.error(format!("spectator {index}: refused ({reason:?}): {detail}"));
            }
            Ok(ServerMsg::Pong { .. }) => {}
            Ok(_) => {
                return totals.error(format!("spectator {index}: unexpected message"));
            }
            Err(e) => return totals.error(format!("spectator {index}: undecodable: {e}")),
        }
    }
    let _ = ws.close(None).await;
}

fn count_frame(stats: &SpectatorStats, totals: &SpectatorTotals, len: usize) {
    stats.frames.fetch_add(1, Relaxed);
    totals.frames.fetch_add(1, Relaxed);
    totals.bytes.fetch_add(len as u64, Relaxed);
}

/// A fleet of spectators of one room, started together and stopped together.
pub struct Fleet {
    /// Each spectator's counters, in index order.
    pub stats: Vec<Arc<SpectatorStats>>,
    /// The fleet's counters.
    pub totals: Arc<SpectatorTotals>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Fleet {
    /// Starts `count` spectators per `plan`, their connects spread evenly over `ramp`; returns once
    /// the last has been started.
    pub async fn start(plan: SpectatorPlan, count: usize, ramp: Duration) -> Fleet {
        let plan = Arc::new(plan);
        let totals = Arc::new(SpectatorTotals::default());
        let (stop, stop_rx) = watch::channel(false);
        let stats: Vec<Arc<SpectatorStats>> = (0..count)
            .map(|_| Arc::new(SpectatorStats::default()))
            .collect();
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(count);
        for (index, spectator) in stats.iter().enumerate() {
            tokio::time::sleep_until(started + ramp.mul_f64(index as f64 / count.max(1) as f64))
                .await;
            tasks.push(tokio::spawn(spectate(
                plan.clone(),
                index,
                spectator.clone(),
                totals.clone(),
                stop_rx.clone(),
            )));
        }
        Fleet {
            stats,
            totals,
            stop,
            tasks,
        }
    }

    /// Waits until every spectator has been welcomed or has failed, and every one welcomed has
    /// received a frame (the feed's delay comes first), or until `limit` has passed.
    pub async fn wait_watching(&self, limit: Duration) {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            let settled = self
                .stats
                .iter()
                .filter(|s| s.frames.load(Relaxed) > 0)
                .count() as u64
                + self.totals.errors.load(Relaxed)
                + self.totals.disconnects.load(Relaxed);
            if settled >= self.stats.len() as u64 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Each spectator's frames so far.
    pub fn frames(&self) -> Vec<u64> {
        self.stats.iter().map(|s| s.frames.load(Relaxed)).collect()
    }

    /// Stops every spectator and waits (a few seconds at most) for them to close.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

/// User plus system CPU seconds of this process (the load generator) so far, from `/proc/self/stat`
/// (clock ticks of USER_HZ, 100 on every Linux ABI); 0 where there is no such file.
pub fn own_cpu_seconds() -> f64 {
    let read = || -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The fields after the command name (which may hold spaces) start after the last ')'.
        let rest = stat.get(stat.rfind(')')? + 2..)?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / 100.0)
    };
    read().unwrap_or(0.0)
}

/// Frames per second of each spectator welcomed, between two readings of [`Fleet::frames`] taken
/// `seconds` apart.
pub fn rates(fleet: &Fleet, start: &[u64], end: &[u64], seconds: f64) -> Vec<f64> {
    fleet
        .stats
        .iter()
        .zip(start.iter().zip(end))
        .filter(|(s, _)| s.connected.load(Relaxed))
        .map(|(_, (a, b))| b.saturating_sub(*a) as f64 / seconds.max(1e-9))
        .collect()
}
