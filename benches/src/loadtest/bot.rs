//! One load-test bot: a real WebSocket, the real protocol, scripted play, and a link conditioner.

use super::feel::FeelClient;
use super::malformed::Kind;
use super::stats::{BotStats, Session, Totals};
use crate::scenario::Dice;
use futures_util::{SinkExt, StreamExt};
use skirmish_shared::codec::{decode_server, encode_client, peek_snapshot_ack};
use skirmish_shared::netcode::clock::{InputClock, TickClock, PING_MS};
use skirmish_shared::physics::{Dir, MoveParams};
use skirmish_shared::protocol::{
    buttons, ClientMsg, EntityId, Hello, InputFrame, ResumeToken, ServerMsg, PROTOCOL_VERSION,
};
use skirmish_shared::time::{Tick, TickRate};
use skirmish_shared::view::{Checked, ClientView};
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
    /// The simulated link's bandwidth in each direction, kbit/s (0: unlimited).
    pub bandwidth_kbps: u64,
    /// The snapshot bytes per second bots ask for in their `Hello` (0: the server's default).
    pub client_rate: u32,
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

/// How much the simulated link may have waiting to go onto it before the bot stops reading its
/// socket: a second of its bandwidth, like a bottleneck router's buffer. Past it, TCP pushes back to
/// the server (whose outbox then keeps only the newest snapshot), as on a real slow link, instead of
/// the bot queueing without bound.
pub const LINK_BUFFER: Duration = Duration::from_secs(1);

/// One direction of the link conditioner: a queue that releases messages after the link's delay,
/// never reordering them (TCP is ordered, so jitter only stretches gaps). With a bandwidth, each
/// message first occupies the link for `len * 8 / kbps` ms, one after another (a serialization
/// queue), then takes the latency and jitter.
struct DelayLine<T> {
    queue: VecDeque<(Instant, T)>,
    last_due: Instant,
    /// When the link has finished sending what it was given.
    link_free: Instant,
    latency: Duration,
    jitter_ms: u64,
    bandwidth_kbps: u64,
}

impl<T> DelayLine<T> {
    fn new(latency_ms: u64, jitter_ms: u64, bandwidth_kbps: u64, now: Instant) -> DelayLine<T> {
        DelayLine {
            queue: VecDeque::new(),
            last_due: now,
            link_free: now,
            latency: Duration::from_millis(latency_ms),
            jitter_ms,
            bandwidth_kbps,
        }
    }

    /// How long `len` bytes occupy the link.
    fn serialization(&self, len: usize) -> Duration {
        if self.bandwidth_kbps == 0 {
            return Duration::ZERO;
        }
        // len * 8 bits at kbps * 1000 bits a second, in microseconds.
        Duration::from_micros(len as u64 * 8_000 / self.bandwidth_kbps)
    }

    /// A message of `len` bytes handed to the link at `now`.
    fn push(&mut self, now: Instant, item: T, len: usize, dice: &mut Dice) {
        let jitter = Duration::from_millis(if self.jitter_ms == 0 {
            0
        } else {
            dice.roll(self.jitter_ms + 1)
        });
        self.link_free = self.link_free.max(now) + self.serialization(len);
        let due = (self.link_free + self.latency + jitter).max(self.last_due);
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

    /// When the link will take more (its buffer, [`LINK_BUFFER`], is full until then); `None` if
    /// it takes more now.
    fn full_until(&self, now: Instant) -> Option<Instant> {
        let opens = self.link_free.checked_sub(LINK_BUFFER)?;
        (opens > now).then_some(opens)
    }
}

/// How far behind the room's clock each snapshot reaches a bot. A snapshot's tick stands for when
/// the server made it, so its arrival less its tick's time is its delay plus a constant (the bot's
/// clock and the room's start differ). The constant is taken from the quickest a snapshot came off
/// the socket, before the link conditioner: on loopback that is the server's own delay, about zero.
/// What the conditioner adds (latency, jitter, serialization, a queue on the link) is then lag.
#[derive(Debug, Default)]
struct LagClock {
    /// The least of (socket arrival - tick time) seen, microseconds.
    least_us: Option<i64>,
}

impl LagClock {
    /// (arrival - tick time), microseconds.
    fn offset(tick: u32, tick_hz: u64, since_start: Duration) -> i64 {
        let tick_us = i64::from(tick) * 1_000_000 / tick_hz.max(1) as i64;
        since_start.as_micros() as i64 - tick_us
    }

    /// A snapshot of `tick` (at `tick_hz`) came off the socket `since_start` after the bot started.
    fn received(&mut self, tick: u32, tick_hz: u64, since_start: Duration) {
        let offset = LagClock::offset(tick, tick_hz, since_start);
        self.least_us = Some(self.least_us.map_or(offset, |least| least.min(offset)));
    }

    /// The lag of a snapshot of `tick` that reached the bot (past the conditioner) `since_start`
    /// after it started.
    fn lag_us(&mut self, tick: u32, tick_hz: u64, since_start: Duration) -> u64 {
        self.received(tick, tick_hz, since_start);
        let offset = LagClock::offset(tick, tick_hz, since_start);
        (offset - self.least_us.unwrap_or(offset)) as u64
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
    /// Hands out every (tick rate / `--input-hz`)-th input tick.
    inputs: InputClock,
}

impl Clocks {
    fn new(tick_hz: u16, input_hz: u32) -> Clocks {
        let stride = (f64::from(tick_hz) / f64::from(input_hz.max(1))).round();
        Clocks {
            server: TickClock::new(tick_hz),
            inputs: InputClock::with_stride(tick_hz, (stride as u32).max(1)),
        }
    }

    /// The input ticks to send inputs for now, oldest first.
    fn due(&mut self, now_ms: f64) -> Vec<u32> {
        self.inputs.advance(now_ms, &self.server).collect()
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
        c = connect(&plan, config) => c,
        _ = stop.changed() => return Exit::Stopped,
    };
    let mut ws = match connected {
        Ok(ws) => ws,
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
        rate: plan.client_rate,
        room: None,
        watch: false,
    });
    if ws
        .send(Message::Binary(encode_client(&hello).into()))
        .await
        .is_err()
    {
        totals.errors.fetch_add(1, Relaxed);
        return Exit::Lost;
    }
    // The Hello has gone: joins are timed from here to the Welcome.
    let started = Instant::now();
    let mut session = Session::new(&totals);
    let mut script = Script::new(plan.scenario, &mut dice);
    let (latency, jitter, bandwidth) = (plan.latency_ms, plan.jitter_ms, plan.bandwidth_kbps);
    let mut outgoing: DelayLine<Message> = DelayLine::new(latency, jitter, bandwidth, started);
    let mut incoming: DelayLine<Vec<u8>> = DelayLine::new(latency, jitter, bandwidth, started);
    let mut lag = LagClock::default();
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
            incoming.full_until(Instant::now()),
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
            message = ws.next(), if incoming.full_until(Instant::now()).is_none() => {
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
                off_the_socket(&bytes, Instant::now() - started, &mut lag, &totals);
                // Through the conditioner (due at once on a plain link), handled below.
                let len = bytes.len();
                incoming.push(Instant::now(), bytes.to_vec(), len, &mut dice);
            }
            _ = sleep_until(wake) => {}
        }
        let now = Instant::now();
        while let Some(bytes) = incoming.pop_due(now) {
            let snapshot_tick = peek_snapshot_ack(&bytes);
            record_lag(snapshot_tick, now - started, &mut lag, &totals);
            newest = newest_ack(newest, snapshot_tick, &mut clocks, ms_since(started, now));
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
            if let Some((code, rates)) = &received.room {
                session.welcome(code, *rates, started, now);
            }
            if let Some((tick, _)) = snapshot_tick {
                totals.snapshot_bytes.fetch_add(bytes.len() as u64, Relaxed);
                session.snapshot(tick.0, now);
            }
            welcome(received.seat, resume, &mut seat, &totals);
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
            for tick in clocks.due(ms_since(started, now)) {
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
            // As the browser does: quickly while the clock learns, then once a second.
            let interval_ms = feel
                .as_ref()
                .map(FeelClient::ping_interval_ms)
                .or_else(|| clocks.as_ref().map(|c| c.server.ping_interval_ms()))
                .unwrap_or(PING_MS);
            next_ping = now + Duration::from_secs_f64(interval_ms / 1e3);
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
                let message = kind.message(script.seq, &mut dice);
                let len = message.len();
                outgoing.push(now, message, len, &mut dice);
                // The deadline runs from when the message leaves the conditioner and allows for
                // the close to come back through it.
                let conditioner = Duration::from_millis(2 * (plan.latency_ms + plan.jitter_ms));
                kick = kind
                    .expected_close()
                    .map(|code| (kind, code, now + conditioner));
            } else {
                let message = binary(&message);
                let len = message.len();
                outgoing.push(now, message, len, &mut dice);
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

/// The kernel receive buffer of a bot behind a simulated bandwidth. The bot reads its socket into
/// the simulated link, so this buffer sits in front of the link's own ([`LINK_BUFFER`]) and would
/// add to it; kept small (and not auto-tuned), TCP pushes back to the server soon after the link's
/// buffer fills, as it would on a real slow link.
const BOT_RECEIVE_BUFFER: u32 = 16 * 1024;

/// Opens the bot's WebSocket: with a simulated bandwidth, over a socket with a small receive buffer
/// ([`BOT_RECEIVE_BUFFER`]).
async fn connect(
    plan: &BotPlan,
    config: WebSocketConfig,
) -> Result<BotSocket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::Error;
    if plan.bandwidth_kbps == 0 {
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(plan.url.as_str(), Some(config), true)
                .await?;
        return Ok(ws);
    }
    let authority = plan
        .url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or(Error::Url(
            tokio_tungstenite::tungstenite::error::UrlError::UnsupportedUrlScheme,
        ))?;
    let address = tokio::net::lookup_host(authority)
        .await?
        .next()
        .ok_or(Error::Url(
            tokio_tungstenite::tungstenite::error::UrlError::NoHostName,
        ))?;
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_recv_buffer_size(BOT_RECEIVE_BUFFER)?;
    let stream = socket.connect(address).await?;
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        plan.url.as_str(),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
        Some(config),
    )
    .await?;
    Ok(ws)
}

/// A client message as a binary frame.
fn binary(message: &ClientMsg) -> Message {
    Message::Binary(encode_client(message).into())
}

/// Records a Welcome (if `welcomed` is one): the bot holds a seat.
fn welcome(welcomed: Option<Seat>, resume: Option<Seat>, seat: &mut Option<Seat>, totals: &Totals) {
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

/// The first byte of an encoded `ServerMsg::Welcome`.
const WELCOME_TAG: u8 = 0;

/// A message came off the bot's socket (before the link conditioner) `since_start` after it
/// started: the tick rate of a `Welcome` is noted at once, and a snapshot sets the lag reference.
fn off_the_socket(bytes: &[u8], since_start: Duration, lag: &mut LagClock, totals: &Totals) {
    if bytes.first() == Some(&WELCOME_TAG) {
        if let Ok(ServerMsg::Welcome(welcome)) = decode_server(bytes) {
            totals.tick_hz.store(u64::from(welcome.tick_rate), Relaxed);
        }
        return;
    }
    let tick_hz = totals.tick_hz.load(Relaxed);
    if let (Some((tick, _)), true) = (peek_snapshot_ack(bytes), tick_hz > 0) {
        lag.received(tick.0, tick_hz, since_start);
    }
}

/// A message reached the bot (past the link conditioner) `since_start` after it started: if it
/// is a snapshot (`peeked` holds its tick and proof), its lag is recorded.
fn record_lag(
    peeked: Option<(Tick, u8)>,
    since_start: Duration,
    lag: &mut LagClock,
    totals: &Totals,
) {
    let tick_hz = totals.tick_hz.load(Relaxed);
    if let (Some((tick, _)), true) = (peeked, tick_hz > 0) {
        totals.lags.record(lag.lag_us(tick.0, tick_hz, since_start));
    }
}

/// The newer of `newest` and the tick and proof of a snapshot (`peeked`; the server clock also
/// hears of it, arrived at `now_ms`).
fn newest_ack(
    newest: (u32, u8),
    peeked: Option<(Tick, u8)>,
    clocks: &mut Option<Clocks>,
    now_ms: f64,
) -> (u32, u8) {
    match peeked {
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
    /// The room's code, its tick rate and the ticks between a player's snapshots, when it was
    /// the `Welcome`.
    room: Option<(String, (u64, u64))>,
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
    let checked = view.apply_checked(snapshot);
    count_checked(checked, totals);
    replies.extend(checked.reply(snapshot.tick));
}

/// Counts what one snapshot did to a bot's view.
fn count_checked(checked: Checked, totals: &Totals) {
    let counter = match checked {
        Checked::Held => &totals.views_verified,
        Checked::Desynced => &totals.desyncs,
        Checked::Lost => &totals.view_errors,
    };
    counter.fetch_add(1, Relaxed);
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
                let checked = feel.on_snapshot(&snapshot, ms_since(started, now));
                totals.feel.add(&before, &feel.figures());
                count_checked(checked, totals);
                client.replies.extend(checked.reply(snapshot.tick));
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
            totals.count_room(&welcome.room_code);
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
            // As the server divides them (see its `snapshot_interval`).
            let interval = (welcome.tick_rate / welcome.snapshot_rate.max(1)).max(1);
            Received {
                seat: Some((welcome.resume_token, welcome.player_id)),
                tick_hz: Some(welcome.tick_rate),
                pong: None,
                room: Some((
                    welcome.room_code.clone(),
                    (u64::from(welcome.tick_rate), u64::from(interval)),
                )),
            }
        }
        Ok(ServerMsg::Refused { .. }) => {
            totals.errors.fetch_add(1, Relaxed);
            totals.refused.fetch_add(1, Relaxed);
            Received::default()
        }
        Err(_) => {
            totals.errors.fetch_add(1, Relaxed);
            Received::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bandwidth_queues_messages_one_after_another() {
        let start = Instant::now();
        let mut dice = Dice::new(1);
        // 256 kbit/s: 1,000 bytes occupy the link for 31.25 ms; then 75 ms of latency.
        let mut line: DelayLine<u32> = DelayLine::new(75, 0, 256, start);
        line.push(start, 1, 1_000, &mut dice);
        line.push(start, 2, 1_000, &mut dice);
        let ms = |at: Option<Instant>| at.map(|at| (at - start).as_micros());
        assert_eq!(ms(line.next_due()), Some(106_250));
        assert_eq!(line.pop_due(start + Duration::from_micros(106_249)), None);
        assert_eq!(
            line.pop_due(start + Duration::from_micros(106_250)),
            Some(1)
        );
        assert_eq!(
            ms(line.next_due()),
            Some(137_500),
            "behind the first on the link"
        );
        assert_eq!(line.pop_due(start + Duration::from_millis(200)), Some(2));
        // An idle link starts each message afresh.
        let later = start + Duration::from_secs(1);
        line.push(later, 3, 32, &mut dice);
        assert_eq!(ms(line.next_due()), Some(1_076_000));
    }

    #[test]
    fn a_full_link_stops_taking_until_its_buffer_drains() {
        let start = Instant::now();
        let mut dice = Dice::new(1);
        // 8 kbit/s: 1,000 bytes a second; 3,000 bytes fill the buffer 2 s past its second.
        let mut line: DelayLine<u32> = DelayLine::new(0, 0, 8, start);
        line.push(start, 1, 500, &mut dice);
        assert_eq!(line.full_until(start), None, "half a second queued");
        line.push(start, 2, 2_500, &mut dice);
        assert_eq!(line.full_until(start), Some(start + Duration::from_secs(2)));
        assert_eq!(line.full_until(start + Duration::from_secs(2)), None);
        // Unlimited links never fill.
        let mut free: DelayLine<u32> = DelayLine::new(10, 0, 0, start);
        free.push(start, 1, 1 << 30, &mut dice);
        assert_eq!(free.full_until(start), None);
        assert_eq!(free.next_due(), Some(start + Duration::from_millis(10)));
    }

    #[test]
    fn lag_is_measured_from_the_quickest_delivery() {
        let mut clock = LagClock::default();
        let at = |ms| Duration::from_millis(ms);
        // Snapshots of ticks 60, 63 and 66 (at 60 Hz: 1,000, 1,050 and 1,100 ms) come off the
        // socket 10, 10 and 12 ms after their tick's time, and past the link conditioner 85, 90
        // and 300 ms after.
        clock.received(60, 60, at(1_010));
        assert_eq!(clock.lag_us(60, 60, at(1_085)), 75_000);
        clock.received(63, 60, at(1_060));
        assert_eq!(clock.lag_us(63, 60, at(1_140)), 80_000);
        clock.received(66, 60, at(1_112));
        assert_eq!(clock.lag_us(66, 60, at(1_400)), 290_000);
        // A quicker one becomes the reference.
        clock.received(69, 60, at(1_155));
        assert_eq!(clock.lag_us(69, 60, at(1_155)), 0);
        assert_eq!(clock.lag_us(72, 60, at(1_210)), 5_000);
    }

    /// The ticks a bot sends inputs for over two seconds, woken as it is in a run.
    fn sent(tick_hz: u16, input_hz: u32) -> Vec<u32> {
        let mut clocks = Clocks::new(tick_hz, input_hz);
        assert!(clocks.due(0.0).is_empty(), "no round trip yet");
        clocks.server.on_snapshot(0.0, 1_000);
        clocks.server.on_pong(0.0, 50.0, 1_003);
        let (mut now, mut sent) = (50.0, Vec::new());
        while now < 2_050.0 {
            sent.extend(clocks.due(now));
            let wait = clocks
                .inputs
                .ms_until_next()
                .unwrap_or(5.0)
                .clamp(0.5, 100.0);
            now += wait.ceil();
        }
        sent
    }

    #[test]
    fn bots_stamp_one_input_a_stride_on_every_stride_th_tick() {
        let every_other = sent(60, 30);
        assert!(
            (59..=61).contains(&every_other.len()),
            "{}",
            every_other.len()
        );
        assert!(
            every_other.windows(2).all(|p| p[1] == p[0] + 2),
            "{every_other:?}"
        );
        let every = sent(60, 60);
        assert!((119..=121).contains(&every.len()), "{}", every.len());
        assert!(every.windows(2).all(|p| p[1] == p[0] + 1), "{every:?}");
    }
}
