//! One load-test bot: a real WebSocket, the real protocol, scripted play, and a link conditioner.

use super::feel::FeelClient;
use super::malformed::Kind;
use super::stats::{BotStats, Totals};
use crate::scenario::Dice;
use futures_util::{SinkExt, StreamExt};
use skirmish_shared::codec::{decode_server, encode_client, peek_snapshot_ack};
use skirmish_shared::netcode::clock::{InputClock, TickClock};
use skirmish_shared::physics::{Dir, MoveParams};
use skirmish_shared::protocol::{
    buttons, ClientMsg, EntityId, Hello, InputFrame, ResumeToken, ServerMsg, PROTOCOL_VERSION,
};
use skirmish_shared::time::{Tick, TickRate};
use skirmish_shared::view::ClientView;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;

/// Without view verification (`--skip-view-check`), every this many snapshots a bot decodes in full
/// (checking the bytes are a valid message); the others are recognized by their first byte, so the
/// harness is not the bottleneck at thousands of bots. With it (the default), every snapshot is
/// decoded and applied to the bot's view, and the view checked against the snapshot's check.
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
    /// Percent of sent messages replaced by a malformed one (see [`Kind`]).
    pub malformed_percent: f64,
    /// Send inputs unstamped (`Tick(0)`: applied in arrival order, one per tick) instead of stamped
    /// with their server tick by the browser client's input clock.
    pub unstamped: bool,
    /// Whether bots build their view from every snapshot and verify each snapshot's check.
    pub verify_views: bool,
    /// Whether bots play through the browser client's netcode (see [`FeelClient`]): one input a
    /// tick, predicted, aimed and fired at other players as interpolation draws them.
    pub feel: bool,
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
            ..InputFrame::default()
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

/// A bot's clocks, as the browser client keeps them: its estimate of the server's tick (from its
/// pings' pongs and its snapshots, after the link conditioner) and the input clock it stamps inputs
/// by, ahead of that estimate by half the round trip plus the learned margin.
struct Clocks {
    server: TickClock,
    inputs: InputClock,
    /// Server ticks from one of the bot's inputs to the next (the tick rate over `--input-hz`).
    stride: u32,
    /// The input tick the bot sends its next input for.
    next: u32,
}

impl Clocks {
    fn new(tick_hz: u16, input_hz: u32) -> Clocks {
        let stride = (f64::from(tick_hz) / f64::from(input_hz.max(1))).round();
        Clocks {
            server: TickClock::new(tick_hz),
            inputs: InputClock::new(tick_hz),
            stride: (stride as u32).max(1),
            next: 0,
        }
    }

    /// The ticks to send inputs for now (at most one a stride; after the input clock jumped back,
    /// counting starts again from where it is).
    fn due(&mut self, now_ms: f64) -> Option<u32> {
        let mut send = None;
        for tick in self.inputs.advance(now_ms, &self.server) {
            if tick >= self.next || self.next - tick > self.stride {
                send = Some(tick);
                self.next = tick.saturating_add(self.stride);
            }
        }
        send
    }
}

/// Milliseconds from `started` to `now`, the time base of a bot's clocks.
fn ms_since(started: Instant, now: Instant) -> f64 {
    now.saturating_duration_since(started).as_secs_f64() * 1000.0
}

/// A seat a bot can take back: its resume token and its entity.
pub type Seat = (ResumeToken, EntityId);

/// What ended one connection of a bot.
#[derive(Debug)]
pub enum Exit {
    /// The run is over.
    Stopped,
    /// Left on the churn signal; `resume` is the seat to take back when the bot chose to.
    Churned {
        /// The seat to resume, if any.
        resume: Option<Seat>,
    },
    /// The server closed the connection after a malformed message (with the right code or not; see
    /// the totals).
    Kicked,
    /// Lost without cause, refused, or never joined.
    Lost,
}

/// How a churned bot leaves.
#[derive(Debug, Clone, Copy)]
enum Leave {
    /// A close handshake; a new player takes the slot.
    Clean,
    /// The TCP connection just goes away; a new player takes the slot (the old seat expires).
    Vanish,
    /// The TCP connection goes away and the same player comes back with its resume token.
    VanishAndResume,
}

/// Seconds a fatal malformed message may go unanswered before it counts as not closed.
const KICK_DEADLINE: Duration = Duration::from_secs(3);

/// Counts a bot as live from its Welcome until it is dropped.
struct Live<'a>(&'a Totals, bool);

impl Live<'_> {
    fn arm(&mut self) {
        if !self.1 {
            self.1 = true;
            self.0.live.fetch_add(1, Relaxed);
        }
    }
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.live.fetch_sub(1, Relaxed);
        }
    }
}

/// What a bot needs besides the shared plan and counters.
pub struct BotRun {
    /// Unique over the run (names and dice seeds come from it).
    pub index: usize,
    /// The bot's slot's counters.
    pub stats: Arc<BotStats>,
    /// Turns true when the run ends.
    pub stop: watch::Receiver<bool>,
    /// Notified when this slot's player should leave (churn).
    pub leave: Arc<Notify>,
    /// A seat to resume instead of joining as a new player.
    pub resume: Option<Seat>,
}

/// Runs one bot connection until `stop` turns true, the bot leaves, or the connection ends. Counts
/// into `run.stats` and `totals`.
pub async fn run(plan: Arc<BotPlan>, totals: Arc<Totals>, run: BotRun) -> Exit {
    let BotRun {
        index,
        stats,
        mut stop,
        leave,
        resume,
    } = run;
    let mut dice = Dice::new(0x5EED ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    // Small buffers: thousands of bots share one process (tungstenite's default is 128 KiB each).
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let connected = tokio::select! {
        c = tokio_tungstenite::connect_async_with_config(plan.url.as_str(), Some(config), true) => c,
        _ = stop.changed() => return Exit::Stopped,
    };
    let mut ws = match connected {
        Ok((ws, _)) => ws,
        Err(_) => {
            totals.errors.fetch_add(1, Relaxed);
            return Exit::Lost;
        }
    };
    if let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = ws.get_ref() {
        let _ = tcp.set_nodelay(true);
    }
    let hello = ClientMsg::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        name: format!("bot{index}"),
        resume_token: resume.map(|(token, _)| token),
        rate: 0,
    });
    if ws
        .send(Message::Binary(encode_client(&hello).into()))
        .await
        .is_err()
    {
        totals.errors.fetch_add(1, Relaxed);
        return Exit::Lost;
    }
    let started = Instant::now();
    let mut live = Live(&totals, false);
    let mut script = Script::new(plan.scenario, &mut dice);
    let mut outgoing: DelayLine<Message> = DelayLine::new(plan.latency_ms, plan.jitter_ms);
    let mut incoming: DelayLine<(Vec<u8>, Instant)> =
        DelayLine::new(plan.latency_ms, plan.jitter_ms);
    let period = Duration::from_secs_f64(1.0 / f64::from(plan.input_hz.max(1)));
    // Spread bots' input ticks so they do not all send at once.
    let mut next_input =
        Instant::now() + Duration::from_micros(dice.roll(period.as_micros() as u64));
    let mut next_ping = Instant::now() + Duration::from_millis(dice.roll(1_000));
    let mut seat: Option<Seat> = None;
    // Created at the Welcome, which says the tick rate.
    let mut clocks: Option<Clocks> = None;
    // The bot's view of the world, rebuilt from every snapshot when verifying (feel bots keep
    // theirs in their client).
    let mut view: Option<ClientView> = None;
    // A feel bot's client, created at the Welcome.
    let mut feel: Option<FeelClient> = None;
    // Messages the bot owes the server after handling snapshots (a desync report, say).
    let mut replies: Vec<ClientMsg> = Vec::new();
    // The newest snapshot received (tick and proof), acknowledged in each ping (the server drops
    // players whose acknowledgements stop).
    let mut newest = (0u32, 0u8);
    // A fatal malformed message sent and the close code it must bring, with when it was sent.
    let mut kick: Option<(Kind, u16, Instant)> = None;
    // Malformed messages per million sent.
    let malformed_ppm = (plan.malformed_percent * 10_000.0).round() as u64;
    loop {
        let wake = [
            Some(next_input),
            Some(next_ping),
            outgoing.next_due(),
            incoming.next_due(),
            kick.map(|(_, _, sent)| sent + KICK_DEADLINE),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(next_input);
        tokio::select! {
            _ = stop.changed() => break,
            _ = leave.notified(), if seat.is_some() && kick.is_none() => {
                return depart(ws, seat, &mut dice).await;
            }
            message = ws.next() => {
                let bytes = match message {
                    Some(Ok(Message::Binary(bytes))) => bytes,
                    Some(Ok(Message::Close(frame))) => {
                        return closed(frame.map(|f| u16::from(f.code)), kick, &totals);
                    }
                    None | Some(Err(_)) => return closed(None, kick, &totals),
                    Some(Ok(_)) => continue,
                };
                stats.bytes_down.fetch_add(bytes.len() as u64, Relaxed);
                totals.bytes_down.fetch_add(bytes.len() as u64, Relaxed);
                if incoming.is_immediate() {
                    let now = Instant::now();
                    newest = newest_ack(newest, &bytes, &mut clocks, ms_since(started, now));
                    let mut client = Client { view: &mut view, feel: &mut feel, replies: &mut replies, plan: &plan };
                    let received = handle(&bytes, now, started, &stats, &totals, &mut client);
                    if let Some(tick_hz) = received.tick_hz {
                        clocks = Some(Clocks::new(tick_hz, plan.input_hz));
                        next_ping = now; // a round trip for the input clock at once
                    }
                    received.pong(&mut clocks, ms_since(started, now));
                    welcome(received.seat, resume, &mut seat, &mut live, &totals);
                } else {
                    incoming.push((bytes.to_vec(), Instant::now()), &mut dice);
                }
            }
            _ = sleep_until(wake) => {}
        }
        let now = Instant::now();
        while let Some((bytes, _arrived)) = incoming.pop_due(now) {
            newest = newest_ack(newest, &bytes, &mut clocks, ms_since(started, now));
            let mut client = Client {
                view: &mut view,
                feel: &mut feel,
                replies: &mut replies,
                plan: &plan,
            };
            let received = handle(&bytes, now, started, &stats, &totals, &mut client);
            if let Some(tick_hz) = received.tick_hz {
                clocks = Some(Clocks::new(tick_hz, plan.input_hz));
                next_ping = now; // a round trip for the input clock at once
            }
            received.pong(&mut clocks, ms_since(started, now));
            welcome(received.seat, resume, &mut seat, &mut live, &totals);
        }
        if let Some((kind, _, sent)) = kick {
            if now >= sent + KICK_DEADLINE {
                totals.malformed_not_closed.fetch_add(1, Relaxed);
                eprintln!("bot{index}: {kind:?} was not closed within {KICK_DEADLINE:?}");
                return Exit::Lost;
            }
        }
        let mut due: Vec<ClientMsg> = std::mem::take(&mut replies);
        if seat.is_none() || kick.is_some() {
            next_input = now + period;
        } else if let Some(feel) = feel.as_mut() {
            // A feel bot: the browser's netcode runs a frame, sending an input for every tick due.
            let scripted = script.input(&mut dice);
            let dir = Dir::from_axes(scripted.move_x, scripted.move_y).unwrap_or(Dir::Still);
            let before = feel.figures();
            for input in feel.frame(ms_since(started, now), dir) {
                due.push(ClientMsg::Input(input));
            }
            totals.feel.add(&before, &feel.figures());
            // The malformed kinds build on the last sequence number sent.
            script.seq = feel.last_seq();
            let wait_ms = feel.ms_until_next().unwrap_or(5.0).clamp(0.5, 100.0);
            next_input = now + Duration::from_secs_f64(wait_ms / 1000.0);
        } else if let (false, Some(clocks)) = (plan.unstamped, clocks.as_mut()) {
            // Stamped: an input for each of the bot's ticks as the input clock reaches it (none
            // until the first pong gives the clock a round trip), woken when the next is due.
            if let Some(tick) = clocks.due(ms_since(started, now)) {
                let mut input = script.input(&mut dice);
                input.tick = Tick(tick);
                due.push(ClientMsg::Input(input));
                if let Some(text) = script.chat(&mut dice) {
                    due.push(ClientMsg::Chat { text });
                }
            }
            let wait_ms = clocks
                .inputs
                .ms_until_next()
                .unwrap_or(5.0)
                .clamp(0.5, 100.0);
            next_input = now + Duration::from_secs_f64(wait_ms / 1000.0);
        } else if plan.unstamped && now >= next_input {
            next_input += period;
            if next_input < now {
                next_input = now + period;
            }
            due.push(ClientMsg::Input(script.input(&mut dice)));
            if let Some(text) = script.chat(&mut dice) {
                due.push(ClientMsg::Chat { text });
            }
        }
        if now >= next_ping && kick.is_none() {
            next_ping = now + Duration::from_secs(1);
            // Microseconds since the bot started (wraps after 71 minutes; RTTs are far shorter).
            let nonce = (now - started).as_micros() as u32;
            let (acked_tick, proof) = newest;
            due.push(ClientMsg::Ping {
                nonce,
                acked_tick,
                proof,
            });
        }
        for message in due {
            if kick.is_some() {
                break; // nothing after a fatal message, so its close is its own
            }
            // Only once an input is through, so the sequence rules have something to hold to.
            if script.seq > 1 && malformed_ppm > 0 && dice.roll(1_000_000) < malformed_ppm {
                let kind = Kind::draw(&mut dice);
                totals.malformed_sent[kind as usize].fetch_add(1, Relaxed);
                outgoing.push(kind.message(script.seq, &mut dice), &mut dice);
                // The deadline runs from when the message leaves the conditioner and allows for
                // the close to come back through it.
                let conditioner = Duration::from_millis(2 * (plan.latency_ms + plan.jitter_ms));
                kick = kind
                    .expected_close()
                    .map(|code| (kind, code, now + conditioner));
            } else {
                outgoing.push(binary(&message), &mut dice);
            }
        }
        while let Some(message) = outgoing.pop_due(Instant::now()) {
            stats.bytes_up.fetch_add(message.len() as u64, Relaxed);
            totals.bytes_up.fetch_add(message.len() as u64, Relaxed);
            totals.messages_up.fetch_add(1, Relaxed);
            if ws.feed(message).await.is_err() {
                return closed(None, kick, &totals);
            }
        }
        if ws.flush().await.is_err() {
            return closed(None, kick, &totals);
        }
    }
    let _ = ws.close(None).await;
    Exit::Stopped
}

/// A client message as a binary frame.
fn binary(message: &ClientMsg) -> Message {
    Message::Binary(encode_client(message).into())
}

/// Records a Welcome (if `welcomed` is one): the bot is live and holds a seat.
fn welcome(
    welcomed: Option<Seat>,
    resume: Option<Seat>,
    seat: &mut Option<Seat>,
    live: &mut Live<'_>,
    totals: &Totals,
) {
    let Some(new) = welcomed else { return };
    if let Some((_, old)) = resume {
        let counter = if new.1 == old {
            &totals.resumed
        } else {
            &totals.resume_lost
        };
        counter.fetch_add(1, Relaxed);
    }
    *seat = Some(new);
    live.arm();
}

/// Accounts for a connection the server ended (with `code` when it sent a close frame).
fn closed(code: Option<u16>, kick: Option<(Kind, u16, Instant)>, totals: &Totals) -> Exit {
    match kick {
        Some((_, expected, _)) if code == Some(expected) => {
            totals.malformed_closed.fetch_add(1, Relaxed);
            Exit::Kicked
        }
        Some((kind, expected, _)) => {
            totals.malformed_wrong_close.fetch_add(1, Relaxed);
            eprintln!("{kind:?}: expected close {expected}, got {code:?}");
            Exit::Kicked
        }
        None => {
            totals.disconnects.fetch_add(1, Relaxed);
            Exit::Lost
        }
    }
}

/// Leaves on the churn signal, one of three ways.
async fn depart(mut ws: BotSocket, seat: Option<Seat>, dice: &mut Dice) -> Exit {
    let leave = [Leave::Clean, Leave::Vanish, Leave::VanishAndResume][dice.roll(3) as usize];
    match leave {
        Leave::Clean => {
            // Code 1000 frees the seat at once.
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: "leaving".into(),
            };
            let _ = ws.close(Some(frame)).await;
            // Wait (briefly) for the server's side of the handshake.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(Ok(_)) = ws.next().await {}
            })
            .await;
            Exit::Churned { resume: None }
        }
        Leave::Vanish => Exit::Churned { resume: None },
        Leave::VanishAndResume => Exit::Churned { resume: seat },
    }
}

/// The bot's socket.
type BotSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The newer of `newest` and the tick and proof of `bytes`, if they are a snapshot (which the
/// server clock also hears of, arrived at `now_ms`).
fn newest_ack(
    newest: (u32, u8),
    bytes: &[u8],
    clocks: &mut Option<Clocks>,
    now_ms: f64,
) -> (u32, u8) {
    match peek_snapshot_ack(bytes) {
        Some((tick, proof)) => {
            if let Some(clocks) = clocks {
                clocks.server.on_snapshot(now_ms, tick.0);
            }
            if tick.0 > newest.0 {
                (tick.0, proof)
            } else {
                newest
            }
        }
        None => newest,
    }
}

/// What one server message told a bot.
#[derive(Debug, Default)]
struct Received {
    /// The seat, when it was the `Welcome`.
    seat: Option<Seat>,
    /// The server's tick rate, when it was the `Welcome`.
    tick_hz: Option<u16>,
    /// The round trip (ms) and the server's tick, when it was a `Pong`.
    pong: Option<(f64, u32)>,
}

impl Received {
    /// Gives a pong's sample to the server clock (it arrived at `now_ms`).
    fn pong(&self, clocks: &mut Option<Clocks>, now_ms: f64) {
        if let (Some((rtt_ms, tick)), Some(clocks)) = (self.pong, clocks) {
            clocks.server.on_pong(now_ms - rtt_ms, now_ms, tick);
        }
    }
}

/// A bot's client-side state that handling a message may change.
struct Client<'a> {
    /// The bot's view (`None` until the Welcome, or when not verifying, or for a feel bot).
    view: &'a mut Option<ClientView>,
    /// A feel bot's client (`None` until the Welcome, or when not a feel bot).
    feel: &'a mut Option<FeelClient>,
    /// Messages to send back.
    replies: &'a mut Vec<ClientMsg>,
    /// What the bot does.
    plan: &'a BotPlan,
}

/// Applies a snapshot to the bot's view and checks it: a view that disagrees with the snapshot's
/// check is a desync (counted, reported to the server, and rebuilt from the full snapshot the
/// server sends next); one that does not apply asks for a full snapshot.
fn verify(
    snapshot: &skirmish_shared::Snapshot,
    view: &mut ClientView,
    replies: &mut Vec<ClientMsg>,
    totals: &Totals,
) {
    match view.apply(snapshot) {
        Ok(()) if view.matches(snapshot) => {
            totals.views_verified.fetch_add(1, Relaxed);
        }
        Ok(()) => {
            totals.desyncs.fetch_add(1, Relaxed);
            view.reset();
            replies.push(ClientMsg::Desync {
                tick: snapshot.tick,
            });
        }
        Err(_) => {
            totals.view_errors.fetch_add(1, Relaxed);
            view.reset();
            replies.push(ClientMsg::RequestFullSnapshot);
        }
    }
}

/// Handles one server message.
fn handle(
    bytes: &[u8],
    now: Instant,
    started: Instant,
    stats: &BotStats,
    totals: &Totals,
    client: &mut Client<'_>,
) -> Received {
    if bytes.first() == Some(&SNAPSHOT_TAG)
        && client.view.is_none()
        && client.feel.is_none()
        && stats.snapshots.load(Relaxed) % FULL_DECODE_EVERY != 0
    {
        stats.snapshots.fetch_add(1, Relaxed);
        totals.snapshots.fetch_add(1, Relaxed);
        return Received::default();
    }
    match decode_server(bytes) {
        Ok(ServerMsg::Snapshot(snapshot)) => {
            stats.snapshots.fetch_add(1, Relaxed);
            totals.snapshots.fetch_add(1, Relaxed);
            if let Some(feel) = client.feel.as_mut() {
                let before = feel.figures();
                let reply = feel.on_snapshot(&snapshot, ms_since(started, now));
                totals.feel.add(&before, &feel.figures());
                let counter = match reply {
                    None => &totals.views_verified,
                    Some(reply) => {
                        let counter = match reply {
                            ClientMsg::Desync { .. } => &totals.desyncs,
                            _ => &totals.view_errors,
                        };
                        client.replies.push(reply);
                        counter
                    }
                };
                counter.fetch_add(1, Relaxed);
            } else if let Some(view) = client.view.as_mut() {
                verify(&snapshot, view, client.replies, totals);
            }
            Received::default()
        }
        Ok(ServerMsg::Pong { nonce, tick }) => {
            let sent_us = (now - started).as_micros() as u32;
            let rtt_ms = f64::from(sent_us.wrapping_sub(nonce)) / 1e3;
            totals.record_rtt(rtt_ms);
            if let Some(feel) = client.feel.as_mut() {
                let now_ms = ms_since(started, now);
                feel.on_pong(now_ms - rtt_ms, now_ms, tick);
            }
            Received {
                pong: Some((rtt_ms, tick.0)),
                ..Received::default()
            }
        }
        Ok(ServerMsg::Welcome(welcome)) => {
            stats.connected.store(true, Relaxed);
            totals.connected.fetch_add(1, Relaxed);
            totals
                .snapshot_hz
                .store(u64::from(welcome.snapshot_rate), Relaxed);
            totals.tick_hz.store(u64::from(welcome.tick_rate), Relaxed);
            if client.plan.feel {
                *client.feel = FeelClient::new(&welcome);
            } else if client.plan.verify_views {
                if let Some(rate) = TickRate::new(welcome.tick_rate) {
                    *client.view = Some(
                        ClientView::new(Arc::new(welcome.map.clone()), MoveParams::new(rate))
                            .with_viewer(welcome.player_id, welcome.view_radius),
                    );
                }
            }
            Received {
                seat: Some((welcome.resume_token, welcome.player_id)),
                tick_hz: Some(welcome.tick_rate),
                pong: None,
            }
        }
        Ok(ServerMsg::Refused { .. }) | Err(_) => {
            totals.errors.fetch_add(1, Relaxed);
            Received::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bots_stamp_one_input_a_stride_on_consecutive_ticks() {
        // 60 Hz ticks, 30 inputs a second: every other tick.
        let mut clocks = Clocks::new(60, 30);
        assert_eq!(clocks.stride, 2);
        assert_eq!(clocks.due(0.0), None, "no round trip yet");
        clocks.server.on_snapshot(0.0, 1_000);
        clocks.server.on_pong(0.0, 50.0, 1_003);
        let mut sent = Vec::new();
        for ms in 50..2_050 {
            sent.extend(clocks.due(f64::from(ms)));
        }
        assert!((59..=61).contains(&sent.len()), "{} inputs", sent.len());
        assert!(
            sent.windows(2).all(|pair| pair[1] == pair[0] + 2),
            "{sent:?}"
        );
        // An input clock that jumped back starts counting again at once.
        clocks.next += 100;
        assert!(clocks.due(2_100.0).is_some());
    }

    #[test]
    fn every_tick_with_inputs_at_the_tick_rate() {
        let mut clocks = Clocks::new(60, 60);
        assert_eq!(clocks.stride, 1);
        clocks.server.on_snapshot(0.0, 1_000);
        clocks.server.on_pong(0.0, 50.0, 1_003);
        let sent: Vec<u32> = (50..1_050)
            .filter_map(|ms| clocks.due(f64::from(ms)))
            .collect();
        assert!(
            sent.windows(2).all(|pair| pair[1] == pair[0] + 1),
            "{sent:?}"
        );
        assert!((59..=61).contains(&sent.len()));
    }
}
