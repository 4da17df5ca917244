//! A room: one task that owns a [`World`], runs it at a fixed tick, and exchanges inputs and snapshots
//! with its players through their [`PlayerLink`]s. It never awaits a socket.
//!
//! The loop is a fixed-step accumulator: it sleeps until the next tick is due, then runs every tick
//! that is due (dropping ticks, and counting them as overruns, if it falls far behind). Joins arrive on
//! a bounded command channel from the lobby; everything else arrives through links.

mod acks;
mod bots;
mod delivery;
mod events;
mod feed;

pub use feed::KEYFRAME_MS;

use crate::address::AddressKey;
use crate::admission::SeatClaim;
use crate::config::ServerConfig;
use crate::feed::FeedShared;
use crate::limits::TokenBucket;
use crate::link::{Disconnect, PlayerLink};
use crate::metrics::{Metrics, Tally};
use crate::rate::{ByteBudget, ClientRates};
use crate::recorder::Recording;
use crate::snapshot::{Known, Scratch, SnapshotFrame};
use crate::world::{PlayerKey, World, WorldEvent};
use acks::AckClock;
use events::EventLog;
use skirmish_shared::codec::encode_append;
use skirmish_shared::fixed::Coord;
use skirmish_shared::map::Map;
use skirmish_shared::protocol::{
    EntityId, GameEvent, InputFrame, ResumeToken, RoomId, RosterEntry, ScoreEntry, Welcome,
};
use skirmish_shared::text::distinct_name;
use skirmish_shared::time::{Tick, TickRate};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// Occupancy value of a room that has closed and takes no more players.
pub const CLOSED: usize = usize::MAX;

/// Gives back a taken or reserved seat (unless the room has closed).
pub fn release_seat(occupancy: &AtomicUsize) {
    let _ = occupancy.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
        (n != CLOSED && n > 0).then(|| n - 1)
    });
}

/// Ticks a room may run late before it drops ticks instead of catching up.
const MAX_CATCH_UP_TICKS: u32 = 5;

/// How often, at most, the leaderboard is recomputed and sent.
const LEADERBOARD_INTERVAL_MS: u32 = 500;

/// Entries on the leaderboard.
const LEADERBOARD_SIZE: usize = 10;

/// What a player whose chat line was dropped by its seat's allowance is told.
pub const CHAT_TOO_FAST_NOTICE: &str = "You are sending messages too fast; wait a moment.";

/// At most one [`CHAT_TOO_FAST_NOTICE`] per player this often, however many lines are dropped (a
/// flood must not turn into a flood of notices).
pub const CHAT_NOTICE_INTERVAL: Duration = Duration::from_secs(3);

/// What a room is configured with: the few settings it plays by, and nothing of the server's
/// listener, TLS, admin or Agones settings. Built from the server's configuration in one place, its
/// `From<&ServerConfig>`.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// Simulation ticks per second.
    pub tick_rate: TickRate,
    /// Snapshots per second sent to each player (it divides the tick rate).
    pub snapshot_rate: TickRate,
    /// Radius, in coords, within which a player is sent entities.
    pub view_radius: Coord,
    /// Lag compensation's longest rewind (zero: off).
    pub max_rewind: Duration,
    /// The map the room plays.
    pub map: Arc<Map>,
    /// How long a player may leave snapshots untaken (or taken but unacknowledged) before it is
    /// disconnected.
    pub slow_reader_timeout: Duration,
    /// How long a dropped player's seat is held for a resume (zero: not held).
    pub reconnect_grace: Duration,
    /// How long the room lingers with no players before it closes.
    pub empty_room_linger: Duration,
    /// Chat lines a seat may send in a burst, and per second after.
    pub seat_chat: (f64, f64),
    /// Snapshot bytes per second granted to clients: by default, and at most.
    pub client_rates: ClientRates,
    /// Players the room is filled up to with bots while it has fewer humans (0: no bots).
    pub fill_bots: usize,
    /// Seats in the room: humans and bots together never exceed it (bots leave for humans).
    pub capacity: usize,
    /// Frames per second of the room's broadcast feed (spectators and replays).
    pub feed_rate: TickRate,
    /// How far behind the game spectators are kept.
    pub spectator_delay: Duration,
    /// Spectators the room admits.
    pub max_spectators: usize,
    /// Spectators the room admits from one address.
    pub max_spectators_per_address: usize,
}

impl RoomConfig {
    /// The `Welcome` of a room with this configuration, for `player_id` holding `resume_token`.
    pub fn welcome(
        &self,
        room: &RoomShared,
        player_id: EntityId,
        resume_token: ResumeToken,
    ) -> Welcome {
        let rules = crate::world::Rules::new(self.tick_rate);
        let ms = |ticks: u32| ticks.saturating_mul(1000) / u32::from(self.tick_rate.hz());
        Welcome {
            player_id,
            room: room.id,
            room_code: room.code.clone(),
            respawn_delay_ms: ms(rules.respawn_delay),
            spawn_protection_ms: ms(rules.spawn_protection),
            tick_rate: self.tick_rate.hz(),
            snapshot_rate: self.snapshot_rate.hz(),
            view_radius: self.view_radius,
            map: (*self.map).clone(),
            resume_token,
            spectator_delay_ms: None,
        }
    }
}

impl From<&ServerConfig> for RoomConfig {
    fn from(config: &ServerConfig) -> RoomConfig {
        RoomConfig {
            tick_rate: config.tick_rate,
            snapshot_rate: config.snapshot_rate,
            view_radius: config.view_radius,
            max_rewind: config.max_rewind,
            map: config.map.clone(),
            slow_reader_timeout: config.slow_reader_timeout,
            reconnect_grace: config.reconnect_grace,
            empty_room_linger: config.empty_room_linger,
            seat_chat: config.seat_chat,
            client_rates: config.client_rates,
            fill_bots: config.fill_bots,
            capacity: config.max_players_per_room,
            feed_rate: config.feed_rate,
            spectator_delay: config.spectator_delay,
            max_spectators: config.max_spectators_per_room,
            max_spectators_per_address: config.max_spectators_per_ip,
        }
    }
}

/// A request to a room.
#[derive(Debug)]
pub enum RoomCommand {
    /// Seat a player; the room answers with the `Welcome` to send.
    Join {
        /// Sanitized display name; the room makes it distinct from those already in the room.
        name: String,
        /// The player's link.
        link: Arc<PlayerLink>,
        /// Where the room sends the `Welcome`.
        reply: oneshot::Sender<Welcome>,
    },
    /// Give a held (or live) seat to a new connection presenting its token.
    Resume {
        /// The token from the seat's last `Welcome`.
        token: ResumeToken,
        /// The new connection's link.
        link: Arc<PlayerLink>,
        /// The `Welcome` (with a fresh token), or `None` if no seat has this token.
        reply: oneshot::Sender<Option<Welcome>>,
    },
    /// Tell everyone in the room something (an operator's broadcast).
    Notice {
        /// The sanitized text.
        text: String,
    },
    /// Remove players, connected or held, closing their connections with `reason`.
    Kick {
        /// Whom.
        target: KickTarget,
        /// The close code and reason their connections get.
        reason: Disconnect,
        /// The players removed, with their addresses.
        reply: oneshot::Sender<Vec<PlayerInfo>>,
    },
    /// Describe the room and its players (for the admin API).
    Describe {
        /// Where the description goes.
        reply: oneshot::Sender<RoomInfo>,
    },
}

/// Whom a [`RoomCommand::Kick`] removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KickTarget {
    /// One player (ids are per room: send this to that room only).
    Player(EntityId),
    /// Every player connected from this address (an IPv6 key covers its /64).
    Address(AddressKey),
}

/// A player, as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlayerInfo {
    /// The player's id.
    pub id: u32,
    /// The display name.
    pub name: String,
    /// The client's address, if known.
    pub address: Option<IpAddr>,
    /// Points.
    pub score: u32,
    /// Kills.
    pub kills: u32,
    /// Deaths.
    pub deaths: u32,
    /// Whether the connection dropped and the seat is held for a resume.
    pub held: bool,
    /// The snapshot bytes per second the player is paced at (what its client asked for, or the
    /// server's default, within the server's limits).
    pub rate: u32,
}

/// A room, as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoomInfo {
    /// The room's id.
    pub id: u32,
    /// Its current tick.
    pub tick: u32,
    /// Its players.
    pub players: Vec<PlayerInfo>,
}

/// What players are told, in a last snapshot, when the server shuts down.
pub const SHUTDOWN_NOTICE: &str = "The server is shutting down. Thanks for playing!";

/// What the lobby and sessions can see of a room without asking it.
#[derive(Debug)]
pub struct RoomShared {
    /// The room's id.
    pub id: RoomId,
    /// Its code, for friends to join by (`protocol::room_code`; unique among open rooms).
    pub code: String,
    /// Seats taken or reserved, or [`CLOSED`].
    pub occupancy: AtomicUsize,
    /// The room's last completed tick (for `Pong`).
    pub tick: AtomicU32,
    /// Players connected (not held), as of the last tick.
    pub players: AtomicUsize,
    /// Humans seated, connected or held (updated at every join and leave).
    pub humans: AtomicUsize,
    /// Fill bots playing (updated whenever one joins or leaves).
    pub bots: AtomicUsize,
    /// The room's broadcast feed, as spectators take it.
    pub feed: Arc<FeedShared>,
}

impl RoomShared {
    /// The shared state of a new room with `reserved` seats taken.
    pub fn new(id: RoomId, code: String, reserved: usize) -> RoomShared {
        RoomShared {
            id,
            code,
            occupancy: AtomicUsize::new(reserved),
            tick: AtomicU32::new(0),
            players: AtomicUsize::new(0),
            humans: AtomicUsize::new(0),
            bots: AtomicUsize::new(0),
            feed: Arc::new(FeedShared::new(0, 1)),
        }
    }

    /// The same, admitting `max` spectators (`per_address` from one address), whose feed channel
    /// holds `frames` frames for each.
    pub fn spectating(mut self, max: usize, per_address: usize, frames: usize) -> RoomShared {
        self.feed = Arc::new(FeedShared::new(max, frames).per_address(per_address));
        self
    }
}

/// One player's seat: the room's side of its link and what its client holds.
#[derive(Debug)]
struct Seat {
    id: EntityId,
    link: Arc<PlayerLink>,
    /// What the client holds: the last snapshot its session took. `None` until the first one.
    confirmed: Option<Known>,
    /// Broadcast events up to (not including) this sequence number are in `confirmed`.
    confirmed_events: u64,
    /// The snapshot in the outbox, if the session has not taken it yet.
    pending: Option<Pending>,
    /// Events for this player only, encoded, oldest first; dropped once delivered.
    private_events: VecDeque<Vec<u8>>,
    /// The next snapshot must be full.
    force_full: bool,
    /// Since when the session has left a snapshot untaken.
    behind_since: Option<Instant>,
    /// The last input sequence number applied.
    ack_input_seq: u32,
    /// The secret that lets a new connection take this seat; replaced at every (re)join.
    token: ResumeToken,
    /// When the connection dropped: the seat is held until then for a resume.
    held_until: Option<Instant>,
    /// Snapshot bytes the session took since the last once-a-second report.
    bytes_taken: u64,
    /// The seat's count against its address's cap, freed when the seat goes (`None` for seats made
    /// without an address book, in tests and benchmarks).
    _claim: Option<SeatClaim>,
    /// When the snapshots the session took were taken, until the client acknowledges them.
    acks: AckClock,
    /// The seat's chat allowance: it stays with the seat across reconnects, so a fresh connection
    /// does not refill it.
    chat: TokenBucket,
    /// The snapshot bytes the client's link may take now, at the rate it asked for.
    budget: ByteBudget,
    /// A chat line dropped by the seat's allowance before this is not told of again (see
    /// [`CHAT_NOTICE_INTERVAL`]).
    quiet_until: Option<Instant>,
    /// A snapshot turn passed while the budget was in debt: the next snapshot goes out at the first
    /// tick the budget allows, turn or not.
    deferred: bool,
}

/// A room's histogram observations for the current tick.
#[derive(Debug, Default)]
struct Tallies {
    input_queue_depth: Tally,
    snapshot_bytes: Tally,
    player_bytes_per_second: Tally,
}

/// A snapshot offered to a session, and what the client will hold once it is sent.
#[derive(Debug)]
struct Pending {
    /// The tick the snapshot is of.
    tick: u32,
    known: Known,
    /// The snapshot carries the broadcast events before this sequence number (not all of them if
    /// they did not fit its event budget).
    events_upto: u64,
    /// How many of the seat's private events, from the front, it carries.
    private_count: usize,
    /// Encoded size.
    bytes: usize,
}

/// A room's state, owned by its task.
pub struct Room {
    shared: Arc<RoomShared>,
    config: RoomConfig,
    metrics: Arc<Metrics>,
    world: World,
    /// Seats indexed by the player's world key.
    seats: Vec<Option<Seat>>,
    frame: SnapshotFrame,
    scratch: Scratch,
    events: EventLog,
    scores_dirty: bool,
    next_leaderboard: Tick,
    leaderboard: Vec<ScoreEntry>,
    /// Scratch: this tick's inputs.
    inputs: Vec<(PlayerKey, InputFrame)>,
    /// Scratch: one viewer's encoded snapshot and events.
    out: Vec<u8>,
    /// This tick's per-player metric observations.
    tallies: Tallies,
    event_bytes: Vec<u8>,
    /// Scratch: the seats whose snapshot is due this tick.
    due: Vec<PlayerKey>,
    /// The fill bots playing, newest last.
    bots: Vec<bots::Bot>,
    /// Bots made so far (it numbers their names and seeds their brains).
    bots_made: u64,
    /// Seeds the bots' brains.
    seed: u64,
    /// The broadcast feed: spectators and the replay.
    feed: feed::Feed,
}

impl Room {
    /// A new empty room.
    pub fn new(
        shared: Arc<RoomShared>,
        config: RoomConfig,
        metrics: Arc<Metrics>,
        seed: u64,
    ) -> Room {
        let map = config.map.clone();
        let feed = feed::Feed::new(
            shared.feed.clone(),
            config.tick_rate,
            config.feed_rate,
            config.spectator_delay,
        );
        Room {
            feed,
            frame: SnapshotFrame::new(map.width_coords(), map.height_coords(), config.view_radius),
            world: World::new(map, config.tick_rate, seed).with_max_rewind(
                crate::world::rewind_ticks(config.tick_rate, config.max_rewind),
            ),
            shared,
            config,
            metrics,
            seats: Vec::new(),
            scratch: Scratch::default(),
            events: EventLog::default(),
            scores_dirty: false,
            next_leaderboard: Tick(0),
            leaderboard: Vec::new(),
            inputs: Vec::new(),
            out: Vec::new(),
            tallies: Tallies::default(),
            event_bytes: Vec::new(),
            due: Vec::new(),
            bots: Vec::new(),
            bots_made: 0,
            seed,
        }
    }

    /// The room records its broadcast feed to `recording`.
    pub fn with_recording(mut self, recording: Option<Recording>) -> Room {
        self.feed.recording = recording;
        self
    }

    /// The room's code.
    pub fn code(&self) -> &str {
        &self.shared.code
    }

    /// The world (for tests and benchmarks).
    pub fn world(&self) -> &World {
        &self.world
    }

    /// Runs the room until shutdown, or until it has been empty for the configured linger time.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<RoomCommand>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let period = self.config.tick_rate.period();
        let mut next_tick = Instant::now() + period;
        let mut empty_since = Some(Instant::now());
        let mut shutting_down = false;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    shutting_down = true;
                    break;
                }
                command = commands.recv() => match command {
                    Some(command) => { self.handle(command); continue; }
                    None => break,
                },
                _ = tokio::time::sleep_until(next_tick) => {}
            }
            let mut ran = 0;
            while Instant::now() >= next_tick && ran < MAX_CATCH_UP_TICKS {
                if Instant::now() - next_tick > period / 2 {
                    // Running late (the process stalled, or a tick overran): let the sessions
                    // hand over the inputs that reached their sockets meanwhile, on time for this
                    // tick, before it drains them.
                    tokio::task::yield_now().await;
                }
                let started = Instant::now();
                self.tick(started);
                self.metrics.observe_tick(started.elapsed(), period);
                next_tick += period;
                ran += 1;
            }
            let now = Instant::now();
            if now >= next_tick {
                // Too far behind: drop the missed ticks rather than run a burst.
                let behind = ((now - next_tick).as_nanos() / period.as_nanos().max(1)) as u64 + 1;
                self.metrics
                    .tick_overruns
                    .fetch_add(behind, Ordering::Relaxed);
                next_tick = now + period;
            }
            if self.seat_count() == 0 {
                let since = *empty_since.get_or_insert(now);
                if now - since >= self.config.empty_room_linger && self.try_close() {
                    break;
                }
            } else {
                empty_since = None;
            }
        }
        self.shared.occupancy.store(CLOSED, Ordering::Release);
        if shutting_down && self.seat_count() > 0 {
            // Tell everyone: run one snapshot interval more, so every player's snapshot group sends
            // a snapshot carrying the notice, then close them all (1001).
            self.announce_shutdown();
            for _ in 0..self.snapshot_interval() {
                tokio::time::sleep_until(next_tick).await;
                self.tick(Instant::now());
                next_tick += period;
            }
        }
        for seat in self.seats.iter().flatten() {
            seat.link.disconnect(Disconnect::SHUTDOWN);
        }
        // Spectators see the feed end; the recording gets the frames still held, and is closed
        // when the room is dropped.
        self.close_feed();
        self.metrics
            .bots
            .fetch_sub(self.bots.len() as u64, Ordering::Relaxed);
    }

    /// Tells everyone the server is shutting down, in the next snapshot each player is sent: that
    /// one goes whatever the player's rate's budget says.
    fn announce_shutdown(&mut self) {
        self.events
            .push(&GameEvent::Notice(SHUTDOWN_NOTICE.to_string()));
        for seat in self.seats.iter_mut().flatten() {
            seat.budget.forgive();
        }
    }

    fn seat_count(&self) -> usize {
        self.seats.iter().flatten().count()
    }

    /// Closes the room if no seat is taken or reserved.
    fn try_close(&self) -> bool {
        self.shared
            .occupancy
            .compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn handle(&mut self, command: RoomCommand) {
        match command {
            RoomCommand::Join { name, link, reply } => {
                let welcome = self.join(name, link);
                // A session that gave up waiting drops its receiver; its link is closed and the seat
                // is freed on the next tick.
                let _ = reply.send(welcome);
            }
            RoomCommand::Resume { token, link, reply } => {
                let welcome = self.resume(token, link);
                let _ = reply.send(welcome);
            }
            RoomCommand::Notice { text } => self.events.push(&GameEvent::Notice(text)),
            RoomCommand::Kick {
                target,
                reason,
                reply,
            } => {
                let _ = reply.send(self.kick(target, reason));
            }
            RoomCommand::Describe { reply } => {
                let _ = reply.send(self.describe());
            }
        }
    }

    /// Removes the players `target` names, closing their connections with `reason`.
    pub fn kick(&mut self, target: KickTarget, reason: Disconnect) -> Vec<PlayerInfo> {
        let keys: Vec<PlayerKey> = self
            .seats
            .iter()
            .enumerate()
            .filter_map(|(key, seat)| {
                let seat = seat.as_ref()?;
                let hit = match target {
                    KickTarget::Player(id) => seat.id == id,
                    KickTarget::Address(key) => {
                        seat.link.address().map(AddressKey::of) == Some(key)
                    }
                };
                hit.then_some(key)
            })
            .collect();
        let mut kicked = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(info) = self.player_info(key) {
                kicked.push(info);
            }
            if let Some(seat) = &self.seats[key] {
                seat.link.disconnect(reason);
            }
            self.leave(key);
        }
        kicked
    }

    /// The room and its players.
    pub fn describe(&self) -> RoomInfo {
        RoomInfo {
            id: self.shared.id.0,
            tick: self.world.tick_number().0,
            players: (0..self.seats.len())
                .filter_map(|key| self.player_info(key))
                .collect(),
        }
    }

    fn player_info(&self, key: PlayerKey) -> Option<PlayerInfo> {
        let seat = self.seats.get(key)?.as_ref()?;
        let player = self.world.player(key)?;
        Some(PlayerInfo {
            id: seat.id.0,
            name: player.name.clone(),
            address: seat.link.address(),
            score: player.score.score,
            kills: player.score.kills,
            deaths: player.score.deaths,
            held: seat.held_until.is_some(),
            rate: seat.budget.rate(),
        })
    }

    /// Seats a player and returns its `Welcome`. Its name is made distinct (ignoring case) from the
    /// names of the players already in the room, held seats included: a second `Ada` is `Ada (2)`.
    pub fn join(&mut self, name: String, link: Arc<PlayerLink>) -> Welcome {
        // Bots make way first, so the newcomer's roster does not list one that leaves at once.
        self.balance_bots(self.seat_count() + 1);
        let name = distinct_name(
            &name,
            self.world.players().iter().map(|(_, p)| p.name.as_str()),
        );
        let key = self.world.add_player(name.clone());
        let id = self.world.players()[key].id;
        let roster = self.roster();
        self.events.push(&GameEvent::PlayerJoined(RosterEntry {
            id,
            name,
            bot: false,
        }));
        self.scores_dirty = true;
        let mut private_events = VecDeque::new();
        private_events.push_back(events::encode(&GameEvent::Roster(roster)));
        if !self.leaderboard.is_empty() {
            let leaderboard = GameEvent::Leaderboard(self.leaderboard.clone());
            private_events.push_back(events::encode(&leaderboard));
        }
        if self.seats.len() <= key {
            self.seats.resize_with(key + 1, || None);
        }
        let token = new_token(self.shared.id);
        let claim = link.take_claim();
        let welcome = self.welcome(id, token);
        let budget = self.budget_for(&link, &welcome);
        self.seats[key] = Some(Seat {
            id,
            link,
            confirmed: None,
            confirmed_events: self.events.end(),
            pending: None,
            private_events,
            force_full: false,
            behind_since: None,
            ack_input_seq: 0,
            token,
            held_until: None,
            bytes_taken: 0,
            _claim: claim,
            acks: AckClock::default(),
            chat: TokenBucket::new(
                self.config.seat_chat.0,
                self.config.seat_chat.1,
                Instant::now(),
            ),
            budget,
            deferred: false,
            quiet_until: None,
        });
        self.metrics
            .connected_players
            .fetch_add(1, Ordering::Relaxed);
        self.publish_counts();
        welcome
    }

    fn welcome(&self, player_id: EntityId, resume_token: ResumeToken) -> Welcome {
        self.config.welcome(&self.shared, player_id, resume_token)
    }

    /// Gives the seat holding `token` to a new link: the same avatar and score, a full snapshot next,
    /// and a fresh token (the old one is spent). A live connection on that seat is replaced.
    pub fn resume(&mut self, token: ResumeToken, link: Arc<PlayerLink>) -> Option<Welcome> {
        let key = self
            .seats
            .iter()
            .position(|seat| seat.as_ref().is_some_and(|seat| seat.token == token))?;
        let id = self.seats[key].as_ref()?.id;
        let roster = self.roster();
        let leaderboard = self.leaderboard.clone();
        let end = self.events.end();
        let fresh = new_token(self.shared.id);
        let welcome = self.welcome(id, fresh);
        let budget = self.budget_for(&link, &welcome);
        let seat = self.seats[key].as_mut()?;
        if seat.held_until.take().is_some() {
            self.metrics
                .connected_players
                .fetch_add(1, Ordering::Relaxed);
        } else {
            seat.link.disconnect(Disconnect::REPLACED);
        }
        seat.link = link;
        seat.token = fresh;
        seat.budget = budget;
        seat.deferred = false;
        seat.confirmed = None;
        seat.pending = None;
        seat.behind_since = None;
        seat.acks = AckClock::default();
        seat.confirmed_events = end;
        seat.private_events.clear();
        seat.private_events
            .push_back(events::encode(&GameEvent::Roster(roster)));
        if !leaderboard.is_empty() {
            seat.private_events
                .push_back(events::encode(&GameEvent::Leaderboard(leaderboard)));
        }
        Some(welcome)
    }

    /// The snapshot budget of the client on `link`, at the rate it asked for as the server grants
    /// it, less its `welcome` (which crosses its link first); observed in the rates histogram, so
    /// call it once per join or resume.
    fn budget_for(&mut self, link: &PlayerLink, welcome: &Welcome) -> ByteBudget {
        let rate = self.config.client_rates.effective(link.asked_rate());
        self.metrics.client_rate.observe(u64::from(rate));
        let mut budget = ByteBudget::new(rate, self.config.tick_rate, self.snapshot_interval());
        self.out.clear();
        encode_append(welcome, &mut self.out);
        // One byte more for the message's tag.
        budget.spend(self.out.len() + 1);
        budget
    }

    fn roster(&self) -> Vec<RosterEntry> {
        self.world
            .players()
            .iter()
            .map(|(key, p)| RosterEntry {
                id: p.id,
                name: p.name.clone(),
                bot: self.is_bot(key),
            })
            .collect()
    }

    fn leave(&mut self, key: PlayerKey) {
        let Some(seat) = self.seats.get_mut(key).and_then(Option::take) else {
            return;
        };
        self.world.remove_player(key);
        self.events.push(&GameEvent::PlayerLeft(seat.id));
        self.scores_dirty = true;
        if seat.held_until.is_none() {
            self.metrics
                .connected_players
                .fetch_sub(1, Ordering::Relaxed);
        }
        release_seat(&self.shared.occupancy);
        // Bots take the place of the human who left.
        self.balance_bots(self.seat_count());
        self.publish_counts();
    }

    /// Runs one tick: inputs, simulation, events, and on snapshot ticks the snapshots.
    pub fn tick(&mut self, now: Instant) {
        // Phases:
        // 1. drain each link: the input due at this tick (at most one, see `crate::inputs`), chat,
        //    full-snapshot requests; drop closed links;
        // 2. step the world (pure simulation);
        // 3. turn what happened into events (kills, scores, leaderboard);
        // 4. snapshots: players are split into `tick_rate / snapshot_rate` groups by seat, one group
        //    per tick, so each player gets `snapshot_rate` snapshots a second and the work is spread
        //    evenly over the ticks instead of piling onto one; a player whose byte budget is in debt
        //    on its turn gets its next snapshot at the first tick the budget allows.
        self.drain_links(now);
        self.think_for_bots();
        let shots_before = self.world.shot_counts();
        let outcome = self.world.tick(&self.inputs).to_vec();
        let shots = self.world.shot_counts();
        let metrics = &self.metrics;
        metrics
            .shots_fired
            .fetch_add(shots.fired - shots_before.fired, Ordering::Relaxed);
        metrics
            .shot_hits
            .fetch_add(shots.hits - shots_before.hits, Ordering::Relaxed);
        metrics.shot_hits_on_fallen.fetch_add(
            shots.hits_on_fallen - shots_before.hits_on_fallen,
            Ordering::Relaxed,
        );
        self.shared
            .tick
            .store(self.world.tick_number().0, Ordering::Relaxed);
        self.record_world_events(&outcome);
        self.update_leaderboard();
        self.deliver_snapshots(now);
        self.run_feed();
        // Per-player observations reach the shared histograms once a tick, not once a player.
        let tallies = &mut self.tallies;
        self.metrics
            .input_queue_depth
            .flush(&mut tallies.input_queue_depth);
        self.metrics
            .snapshot_bytes
            .flush(&mut tallies.snapshot_bytes);
        self.report_once_a_second();
    }

    /// Once a second of ticks: each player's snapshot bytes over that second, and the room's
    /// player count.
    fn report_once_a_second(&mut self) {
        if self.world.tick_number().0 % u32::from(self.config.tick_rate.hz()) != 0 {
            return;
        }
        let mut live = 0;
        let tally = &mut self.tallies.player_bytes_per_second;
        for seat in self.seats.iter_mut().flatten() {
            if seat.held_until.is_none() {
                live += 1;
                self.metrics
                    .player_bytes_per_second
                    .tally(tally, std::mem::take(&mut seat.bytes_taken));
            }
        }
        self.metrics.player_bytes_per_second.flush(tally);
        self.shared.players.store(live, Ordering::Relaxed);
    }

    fn drain_links(&mut self, now: Instant) {
        self.inputs.clear();
        let mut gone = Vec::new();
        let grace = self.config.reconnect_grace;
        // This drain feeds the step that produces the next tick; an input stamped more than a
        // second of ticks past it is treated as due now.
        let step = self.world.tick_number().next();
        let horizon = u32::from(self.config.tick_rate.hz());
        let (mut late, mut overtaken) = (0, 0);
        for (key, seat) in self.seats.iter_mut().enumerate() {
            let Some(seat) = seat else { continue };
            if let Some(until) = seat.held_until {
                if now >= until {
                    gone.push(key);
                }
                continue;
            }
            // Chat the session buffered before its connection ended is still said.
            let drained = seat.link.drain(step, horizon);
            let mut chat_dropped = drained.chat_dropped;
            for text in drained.chat {
                if !seat.chat.take(now) {
                    self.metrics.chat_rejected.fetch_add(1, Ordering::Relaxed);
                    chat_dropped = true;
                    continue;
                }
                self.events.push(&GameEvent::Chat {
                    from: seat.id,
                    text,
                });
            }
            if chat_dropped && seat.quiet_until.is_none_or(|until| now >= until) {
                // Tell the player, at most once a `CHAT_NOTICE_INTERVAL`.
                seat.quiet_until = Some(now + CHAT_NOTICE_INTERVAL);
                let notice = GameEvent::Notice(CHAT_TOO_FAST_NOTICE.to_string());
                seat.private_events.push_back(events::encode(&notice));
            }
            if let Some(reason) = seat.link.disconnected() {
                if reason.resumable() && !grace.is_zero() {
                    // Hold the seat: the avatar stands still until its player resumes or time runs out
                    // (soon for a page that went: a reload comes back within seconds).
                    let grace = if reason == Disconnect::PAGE_GONE {
                        grace.min(crate::link::RELOAD_GRACE)
                    } else {
                        grace
                    };
                    seat.held_until = Some(now + grace);
                    self.world.clear_input(key);
                    self.metrics
                        .connected_players
                        .fetch_sub(1, Ordering::Relaxed);
                } else {
                    gone.push(key);
                }
                continue;
            }
            self.metrics
                .input_queue_depth
                .tally(&mut self.tallies.input_queue_depth, drained.queued as u64);
            late += u64::from(drained.late);
            overtaken += u64::from(drained.overtaken);
            if let Some(input) = drained.input {
                seat.ack_input_seq = input.seq;
                self.inputs.push((key, input));
            }
            seat.force_full |= drained.full_snapshot;
        }
        if late > 0 {
            self.metrics.late_inputs.fetch_add(late, Ordering::Relaxed);
        }
        if overtaken > 0 {
            self.metrics
                .inputs_dropped
                .fetch_add(overtaken, Ordering::Relaxed);
        }
        for key in gone {
            self.leave(key);
        }
    }

    fn record_world_events(&mut self, outcome: &[WorldEvent]) {
        for event in outcome {
            match *event {
                WorldEvent::Kill { killer, victim } => {
                    self.events.push(&GameEvent::Kill { killer, victim });
                }
                WorldEvent::Hit {
                    shooter,
                    victim,
                    hp,
                } => {
                    // Bots have no seat, and are told nothing.
                    if let Some(Some(seat)) = self.seats.get_mut(shooter) {
                        seat.private_events
                            .push_back(events::encode(&GameEvent::Hit { victim, hp }));
                    }
                }
                WorldEvent::ScoreChanged(key) => {
                    self.scores_dirty = true;
                    let score = self.world.player(key).map(|p| p.score);
                    if let (Some(Some(seat)), Some(score)) = (self.seats.get_mut(key), score) {
                        seat.private_events
                            .push_back(events::encode(&GameEvent::YourScore(score)));
                    }
                }
            }
        }
    }

    /// Ticks between two snapshots of one player.
    fn snapshot_interval(&self) -> u32 {
        u32::from(self.config.tick_rate.hz() / self.config.snapshot_rate.hz()).max(1)
    }

    fn update_leaderboard(&mut self) {
        let now = self.world.tick_number();
        if !self.scores_dirty || now < self.next_leaderboard {
            return;
        }
        self.scores_dirty = false;
        self.next_leaderboard = now.plus(
            self.config
                .tick_rate
                .ticks_for_millis(LEADERBOARD_INTERVAL_MS),
        );
        let mut scores: Vec<ScoreEntry> =
            self.world.players().iter().map(|(_, p)| p.score).collect();
        scores.sort_unstable_by(|a, b| {
            (b.score, b.kills, a.deaths, a.id).cmp(&(a.score, a.kills, b.deaths, b.id))
        });
        scores.truncate(LEADERBOARD_SIZE);
        if scores != self.leaderboard {
            self.leaderboard = scores.clone();
            self.events.push(&GameEvent::Leaderboard(scores));
        }
    }
}

/// A fresh resume token: the room's id (so the lobby knows where to send it) and 96 bits from the
/// operating system's CSPRNG (never derived from player data or anything an observer can predict).
fn new_token(room: RoomId) -> ResumeToken {
    let mut token = [0u8; 16];
    token[..4].copy_from_slice(&room.0.to_le_bytes());
    crate::secret::random_bytes(&mut token[4..]);
    ResumeToken(token)
}

/// The room a resume token was issued by.
pub fn token_room(token: &ResumeToken) -> RoomId {
    let mut id = [0u8; 4];
    id.copy_from_slice(&token.0[..4]);
    RoomId(u32::from_le_bytes(id))
}

#[cfg(test)]
mod tests;
