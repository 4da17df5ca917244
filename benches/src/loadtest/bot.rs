//! One load-test bot: a real WebSocket, the real protocol, scripted play, and a link conditioner.

use super::stats::{BotStats, Totals};
use crate::scenario::Dice;
use futures_util::{SinkExt, StreamExt};
use skirmish_shared::codec::{decode_server, encode_client};
use skirmish_shared::protocol::{
    buttons, ClientMsg, Hello, InputFrame, ServerMsg, PROTOCOL_VERSION,
};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Every this many snapshots a bot decodes in full (checking the bytes are a valid message); the
/// others are recognized by their first byte, so the harness is not the bottleneck at thousands of
/// bots.
const FULL_DECODE_EVERY: u64 = 16;

/// The first byte of an encoded `ServerMsg::Snapshot` (its variant index as a one-byte varint).
const SNAPSHOT_TAG: u8 = 2;

/// How bots play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Move, aim, fire and chat like players.
    Arena,
    /// No firing: a new direction from the 8 axes or standing still every 0.5-2 s.
    Drift,
}

/// What every bot shares.
#[derive(Debug, Clone)]
pub struct BotPlan {
    /// The game socket URL.
    pub url: String,
    /// How bots play.
    pub scenario: Scenario,
    /// Inputs per second.
    pub input_hz: u32,
    /// Added one-way latency, ms.
    pub latency_ms: u64,
    /// Added one-way jitter (uniform 0..jitter), ms.
    pub jitter_ms: u64,
}

/// A queue that releases messages after the conditioner's delay, never reordering them (TCP is
/// ordered, so jitter only stretches gaps).
struct DelayLine<T> {
    queue: VecDeque<(Instant, T)>,
    last_due: Instant,
    latency: Duration,
    jitter_ms: u64,
}

impl<T> DelayLine<T> {
    fn new(latency_ms: u64, jitter_ms: u64) -> DelayLine<T> {
        DelayLine {
            queue: VecDeque::new(),
            last_due: Instant::now(),
            latency: Duration::from_millis(latency_ms),
            jitter_ms,
        }
    }

    fn push(&mut self, item: T, dice: &mut Dice) {
        let jitter = Duration::from_millis(if self.jitter_ms == 0 {
            0
        } else {
            dice.roll(self.jitter_ms + 1)
        });
        let due = (Instant::now() + self.latency + jitter).max(self.last_due);
        self.last_due = due;
        self.queue.push_back((due, item));
    }

    fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|(due, _)| *due)
    }

    fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.queue.front().is_some_and(|(due, _)| *due <= now) {
            self.queue.pop_front().map(|(_, item)| item)
        } else {
            None
        }
    }

    fn is_immediate(&self) -> bool {
        self.latency.is_zero() && self.jitter_ms == 0
    }
}

/// Scripted play: the next input, from the bot's current intent.
struct Script {
    scenario: Scenario,
    dir: (i8, i8),
    next_turn: Instant,
    aim: u16,
    next_aim: Instant,
    firing: bool,
    next_fire_change: Instant,
    next_chat: Instant,
    seq: u32,
}

impl Script {
    fn new(scenario: Scenario, dice: &mut Dice) -> Script {
        let now = Instant::now();
        Script {
            scenario,
            dir: (0, 0),
            next_turn: now,
            aim: dice.roll(65_536) as u16,
            next_aim: now,
            firing: false,
            next_fire_change: now,
            next_chat: now + Duration::from_millis(5_000 + dice.roll(30_000)),
            seq: 0,
        }
    }

    fn input(&mut self, dice: &mut Dice) -> InputFrame {
        let now = Instant::now();
        if now >= self.next_turn {
            // One of the 8 directions or standing still.
            let choice = dice.roll(9) as i8;
            self.dir = (choice % 3 - 1, choice / 3 - 1);
            self.next_turn = now + Duration::from_millis(500 + dice.roll(1_500));
        }
        let mut fire = false;
        if self.scenario == Scenario::Arena {
            if now >= self.next_aim {
                // Players flick the aim to a new target and hold it a while.
                self.aim = dice.roll(65_536) as u16;
                self.next_aim = now + Duration::from_millis(300 + dice.roll(1_200));
            }
            if now >= self.next_fire_change {
                self.firing = dice.roll(10) < 3;
                self.next_fire_change = now + Duration::from_millis(400 + dice.roll(1_600));
            }
            fire = self.firing;
        }
        self.seq += 1;
        InputFrame {
            seq: self.seq,
            move_x: self.dir.0,
            move_y: self.dir.1,
            aim: self.aim,
            buttons: if fire { buttons::FIRE } else { 0 },
        }
    }

    fn chat(&mut self, dice: &mut Dice) -> Option<String> {
        let now = Instant::now();
        if self.scenario != Scenario::Arena || now < self.next_chat {
            return None;
        }
        self.next_chat = now + Duration::from_millis(20_000 + dice.roll(20_000));
        const LINES: [&str; 4] = ["gg", "nice shot", "over here!", "regrouping"];
        Some(LINES[dice.roll(LINES.len() as u64) as usize].to_string())
    }
}

/// Runs one bot until `stop` turns true. Counts into `stats` and `totals`.
pub async fn run(
    index: usize,
    plan: Arc<BotPlan>,
    stats: Arc<BotStats>,
    totals: Arc<Totals>,
    mut stop: watch::Receiver<bool>,
) {
    let mut dice = Dice::new(0x5EED ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    // Small buffers: thousands of bots share one process (tungstenite's default is 128 KiB each).
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let connected = tokio::select! {
        c = tokio_tungstenite::connect_async_with_config(plan.url.as_str(), Some(config), true) => c,
        _ = stop.changed() => return,
    };
    let mut ws = match connected {
        Ok((ws, _)) => ws,
        Err(_) => {
            totals.errors.fetch_add(1, Relaxed);
            return;
        }
    };
    if let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = ws.get_ref() {
        let _ = tcp.set_nodelay(true);
    }
    let hello = ClientMsg::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        name: format!("bot{index}"),
        resume_token: None,
    });
    if ws
        .send(Message::Binary(encode_client(&hello).into()))
        .await
        .is_err()
    {
        totals.errors.fetch_add(1, Relaxed);
        return;
    }
    let started = Instant::now();
    let mut script = Script::new(plan.scenario, &mut dice);
    let mut outgoing: DelayLine<Vec<u8>> = DelayLine::new(plan.latency_ms, plan.jitter_ms);
    let mut incoming: DelayLine<(Vec<u8>, Instant)> =
        DelayLine::new(plan.latency_ms, plan.jitter_ms);
    let period = Duration::from_secs_f64(1.0 / f64::from(plan.input_hz.max(1)));
    // Spread bots' input ticks so they do not all send at once.
    let mut next_input =
        Instant::now() + Duration::from_micros(dice.roll(period.as_micros() as u64));
    let mut next_ping = Instant::now() + Duration::from_millis(dice.roll(1_000));
    let mut welcomed = false;
    loop {
        let wake = [
            Some(next_input),
            Some(next_ping),
            outgoing.next_due(),
            incoming.next_due(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(next_input);
        tokio::select! {
            _ = stop.changed() => break,
            message = ws.next() => {
                let bytes = match message {
                    Some(Ok(Message::Binary(bytes))) => bytes,
                    Some(Ok(Message::Close(_))) | None => {
                        totals.disconnects.fetch_add(1, Relaxed);
                        return;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) => {
                        totals.disconnects.fetch_add(1, Relaxed);
                        return;
                    }
                };
                stats.bytes_down.fetch_add(bytes.len() as u64, Relaxed);
                totals.bytes_down.fetch_add(bytes.len() as u64, Relaxed);
                if incoming.is_immediate() {
                    welcomed |= handle(&bytes, Instant::now(), started, &stats, &totals);
                } else {
                    incoming.push((bytes.to_vec(), Instant::now()), &mut dice);
                }
            }
            _ = sleep_until(wake) => {}
        }
        let now = Instant::now();
        while let Some((bytes, _arrived)) = incoming.pop_due(now) {
            welcomed |= handle(&bytes, now, started, &stats, &totals);
        }
        if !welcomed {
            next_input = now + period;
            continue;
        }
        if now >= next_input {
            next_input += period;
            if next_input < now {
                next_input = now + period;
            }
            let input = ClientMsg::Input(script.input(&mut dice));
            outgoing.push(encode_client(&input), &mut dice);
            if let Some(text) = script.chat(&mut dice) {
                outgoing.push(encode_client(&ClientMsg::Chat { text }), &mut dice);
            }
        }
        if now >= next_ping {
            next_ping = now + Duration::from_secs(1);
            // Microseconds since the bot started (wraps after 71 minutes; RTTs are far shorter).
            let nonce = (now - started).as_micros() as u32;
            outgoing.push(encode_client(&ClientMsg::Ping { nonce }), &mut dice);
        }
        while let Some(bytes) = outgoing.pop_due(Instant::now()) {
            stats.bytes_up.fetch_add(bytes.len() as u64, Relaxed);
            totals.bytes_up.fetch_add(bytes.len() as u64, Relaxed);
            if ws.feed(Message::Binary(bytes.into())).await.is_err() {
                totals.disconnects.fetch_add(1, Relaxed);
                return;
            }
        }
        if ws.flush().await.is_err() {
            totals.disconnects.fetch_add(1, Relaxed);
            return;
        }
    }
    let _ = ws.close(None).await;
}

/// Handles one server message; returns whether it was the `Welcome`.
fn handle(bytes: &[u8], now: Instant, started: Instant, stats: &BotStats, totals: &Totals) -> bool {
    if bytes.first() == Some(&SNAPSHOT_TAG)
        && stats.snapshots.load(Relaxed) % FULL_DECODE_EVERY != 0
    {
        stats.snapshots.fetch_add(1, Relaxed);
        totals.snapshots.fetch_add(1, Relaxed);
        return false;
    }
    match decode_server(bytes) {
        Ok(ServerMsg::Snapshot(_)) => {
            stats.snapshots.fetch_add(1, Relaxed);
            totals.snapshots.fetch_add(1, Relaxed);
            false
        }
        Ok(ServerMsg::Pong { nonce, .. }) => {
            let sent_us = (now - started).as_micros() as u32;
            totals.record_rtt(f64::from(sent_us.wrapping_sub(nonce)) / 1e3);
            false
        }
        Ok(ServerMsg::Welcome(welcome)) => {
            stats.connected.store(true, Relaxed);
            totals.connected.fetch_add(1, Relaxed);
            totals
                .snapshot_hz
                .store(u64::from(welcome.snapshot_rate), Relaxed);
            true
        }
        Ok(ServerMsg::Refused { .. }) | Err(_) => {
            totals.errors.fetch_add(1, Relaxed);
            false
        }
    }
}
