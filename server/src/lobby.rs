//! The lobby: places each joining player in a room with a free seat, opening rooms as needed, or in
//! the room whose code it asks for.
//!
//! Every room gets a code when it opens: the server's tag, then characters from 64 bits of the
//! server's secret random source ([`room_code::from_random`]), unique among open rooms. Players
//! share it to play together; its tag tells a fleet's directory which server holds the room. Only
//! humans take seats: a room's occupancy counts humans (seated or reserved), and its fill bots make
//! way for them inside the room, so bots never make the lobby refuse anyone.

use crate::address::AddressKey;
use crate::config::ServerConfig;
use crate::feed::{NoPlace, SpectatorSeat};
use crate::link::Disconnect;
use crate::link::PlayerLink;
use crate::metrics::{extend_exposition, Labelled, Metrics};
use crate::recorder::Recorder;
use crate::room::{
    release_seat, token_room, KickTarget, PlayerInfo, Room, RoomCommand, RoomConfig, RoomInfo,
    RoomShared, CLOSED,
};
use skirmish_shared::protocol::{
    room_code, ResumeToken, RoomId, Welcome, PROTOCOL_VERSION, SPECTATOR_ID,
};
use skirmish_shared::replay::ReplayHeader;
use skirmish_shared::time::Tick;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};

/// Join requests a room's command channel holds before senders wait.
const ROOM_COMMAND_QUEUE: usize = 64;

/// Why a player could not be seated (or take its seat back).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JoinError {
    /// Every room is full and the room limit is reached.
    #[error("every room is full")]
    ServerFull,
    /// No seat is held for the resume token (expired or already used).
    #[error("no seat is held for this token (expired or already used); join without one")]
    UnknownToken,
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// No open room has the code asked for.
    #[error(
        "no open room has the code {0:?}: it may have closed; check the code, or join any room"
    )]
    NoSuchRoom(String),
    /// The room asked for by code has no seat free for a human.
    #[error("room {0} is full ({1} players); try again later, or join any room")]
    RoomFull(String, usize),
    /// The room asked to watch has as many spectators as it admits.
    #[error("room {0} has as many spectators as it admits ({1}); try again later")]
    SpectatorsFull(String, usize),
    /// The address already has as many spectators in the room as one address may.
    #[error("your address already has {1} spectators in room {0}, as many as one address may")]
    SpectatorsFromAddress(String, usize),
    /// A spectator asked for no room in particular, and no room is open.
    #[error("no room is open to watch; play, and others can watch you")]
    NothingToWatch,
}

/// The lobby as `/api/rooms` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LobbySummary {
    /// Everyone playing on the server, humans (held seats included) and bots.
    pub players: usize,
    /// The open rooms, oldest first.
    pub rooms: Vec<RoomSummary>,
}

/// One open room in a [`LobbySummary`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoomSummary {
    /// The room's code.
    pub code: String,
    /// Humans and bots.
    pub players: usize,
    /// Humans seated, connected or held for a resume.
    pub humans: usize,
    /// Fill bots.
    pub bots: usize,
    /// Seats for humans (bots make way for them).
    pub capacity: usize,
}

#[derive(Debug, Clone)]
struct RoomHandle {
    shared: Arc<RoomShared>,
    commands: mpsc::Sender<RoomCommand>,
}

/// Seats players in rooms. Shared by every session.
#[derive(Debug)]
pub struct Lobby {
    /// What every room it opens is configured with.
    room_config: RoomConfig,
    /// Seats per room.
    max_players_per_room: usize,
    /// Most rooms at once.
    max_rooms: usize,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    rooms: Mutex<Vec<RoomHandle>>,
    next_room_id: AtomicU32,
    /// Records every room's broadcast feed, unless replays are off.
    recorder: Option<Arc<Recorder>>,
    /// The tag every room code starts with.
    tag: String,
}

impl Lobby {
    /// An empty lobby; rooms it opens stop when `shutdown` turns true. It keeps only what it and its
    /// rooms need of `config`.
    pub fn new(
        config: Arc<ServerConfig>,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> Lobby {
        Lobby {
            room_config: RoomConfig::from(&*config),
            max_players_per_room: config.max_players_per_room,
            max_rooms: config.max_rooms,
            metrics,
            shutdown,
            rooms: Mutex::new(Vec::new()),
            next_room_id: AtomicU32::new(1),
            recorder: None,
            tag: config.room_tag.clone(),
        }
    }

    /// The lobby's rooms record their feeds with `recorder`.
    pub fn with_recorder(mut self, recorder: Option<Arc<Recorder>>) -> Lobby {
        self.recorder = recorder;
        self
    }

    /// The replay recorder, if replays are on.
    pub fn recorder(&self) -> Option<&Arc<Recorder>> {
        self.recorder.as_ref()
    }

    /// Admits a spectator at `address` to the room whose code is `room` (as typed), or to the room
    /// with the most players: its `Welcome`, its place (held until dropped), and the ticks its feed is delayed by.
    pub fn watch(
        &self,
        room: Option<&str>,
        address: Option<AddressKey>,
    ) -> Result<(Welcome, SpectatorSeat, u32), JoinError> {
        if *self.shutdown.borrow() {
            return Err(JoinError::ShuttingDown);
        }
        let open = self.open_rooms();
        let handle = match room {
            Some(asked) => {
                let shown: String = asked.chars().take(16).collect();
                let code = room_code::parse(asked).ok_or(JoinError::NoSuchRoom(shown))?;
                open.into_iter()
                    .find(|r| r.shared.code == code)
                    .ok_or(JoinError::NoSuchRoom(code))?
            }
            None => open
                .into_iter()
                .max_by_key(|r| {
                    let players = r.shared.humans.load(Ordering::Relaxed)
                        + r.shared.bots.load(Ordering::Relaxed);
                    (players, std::cmp::Reverse(r.shared.id.0))
                })
                .ok_or(JoinError::NothingToWatch)?,
        };
        let shared = &handle.shared;
        let seat = shared
            .feed
            .admit(address)
            .map_err(|no_place| match no_place {
                NoPlace::Room => {
                    JoinError::SpectatorsFull(shared.code.clone(), self.room_config.max_spectators)
                }
                NoPlace::Address => JoinError::SpectatorsFromAddress(
                    shared.code.clone(),
                    self.room_config.max_spectators_per_address,
                ),
            })?;
        let config = &self.room_config;
        let delay_ms = u32::try_from(config.spectator_delay.as_millis()).unwrap_or(u32::MAX);
        let welcome = Welcome {
            snapshot_rate: config.feed_rate.hz(),
            spectator_delay_ms: Some(delay_ms),
            ..config.welcome(shared, SPECTATOR_ID, ResumeToken([0; 16]))
        };
        Ok((welcome, seat, config.tick_rate.ticks_for_millis(delay_ms)))
    }

    /// Seats a player and returns its `Welcome`: in the room whose code is `room` (as the player
    /// typed it), or in any room with a free seat.
    pub async fn join(
        &self,
        name: String,
        room: Option<&str>,
        link: Arc<PlayerLink>,
    ) -> Result<Welcome, JoinError> {
        if let Some(asked) = room {
            return self.join_by_code(name, asked, link).await;
        }
        // A room can close between the reservation and the request; try a few rooms.
        for _ in 0..4 {
            if *self.shutdown.borrow() {
                return Err(JoinError::ShuttingDown);
            }
            let room = self.reserve_seat()?;
            if let Some(welcome) = self.seat_in(&room, &name, &link).await {
                return Ok(welcome);
            }
        }
        Err(JoinError::ServerFull)
    }

    /// Seats a player in the room whose code is `asked`.
    async fn join_by_code(
        &self,
        name: String,
        asked: &str,
        link: Arc<PlayerLink>,
    ) -> Result<Welcome, JoinError> {
        if *self.shutdown.borrow() {
            return Err(JoinError::ShuttingDown);
        }
        let shown: String = asked.chars().take(16).collect();
        let Some(code) = room_code::parse(asked) else {
            return Err(JoinError::NoSuchRoom(shown));
        };
        let room = {
            let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
            rooms
                .iter()
                .find(|r| r.shared.code == code)
                .cloned()
                .ok_or_else(|| JoinError::NoSuchRoom(code.clone()))?
        };
        let capacity = self.max_players_per_room;
        let reserved =
            room.shared
                .occupancy
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < capacity).then_some(n + 1)
                });
        match reserved {
            Err(CLOSED) => return Err(JoinError::NoSuchRoom(code)),
            Err(_) => return Err(JoinError::RoomFull(code, capacity)),
            Ok(_) => {}
        }
        match self.seat_in(&room, &name, &link).await {
            Some(welcome) => Ok(welcome),
            None if *self.shutdown.borrow() => Err(JoinError::ShuttingDown),
            None => Err(JoinError::NoSuchRoom(code)),
        }
    }

    /// Asks `room`, where a seat is reserved, to seat the player; gives the seat back if the room
    /// closed meanwhile.
    async fn seat_in(
        &self,
        room: &RoomHandle,
        name: &str,
        link: &Arc<PlayerLink>,
    ) -> Option<Welcome> {
        let (reply, welcome) = oneshot::channel();
        let command = RoomCommand::Join {
            name: name.to_string(),
            link: link.clone(),
            reply,
        };
        if room.commands.send(command).await.is_ok() {
            if let Ok(welcome) = welcome.await {
                return Some(welcome);
            }
        }
        release_seat(&room.shared.occupancy);
        None
    }

    /// The open rooms and their players, from the counts each room publishes (no room is asked).
    pub fn summary(&self) -> LobbySummary {
        let rooms: Vec<RoomSummary> = self
            .open_rooms()
            .iter()
            .map(|room| {
                let humans = room.shared.humans.load(Ordering::Relaxed);
                let bots = room.shared.bots.load(Ordering::Relaxed);
                RoomSummary {
                    code: room.shared.code.clone(),
                    players: humans + bots,
                    humans,
                    bots,
                    capacity: self.max_players_per_room,
                }
            })
            .collect();
        LobbySummary {
            players: rooms.iter().map(|r| r.players).sum(),
            rooms,
        }
    }

    /// Whether the open room `code` (canonical) has every seat taken; `None` if no open room has it.
    pub fn room_full(&self, code: &str) -> Option<bool> {
        self.open_rooms()
            .iter()
            .find(|room| room.shared.code == code)
            .map(|room| room.shared.occupancy.load(Ordering::Acquire) >= self.max_players_per_room)
    }

    /// The room a player asking for any would be seated in, if one is open with a seat free
    /// (`Ok(None)`: a new room would be opened); `Err` when every room is full and no more may open.
    pub fn room_with_a_seat(&self) -> Result<Option<String>, JoinError> {
        let rooms = self.open_rooms();
        let free = rooms
            .iter()
            .find(|room| room.shared.occupancy.load(Ordering::Acquire) < self.max_players_per_room);
        match free {
            Some(room) => Ok(Some(room.shared.code.clone())),
            None if rooms.len() < self.max_rooms => Ok(None),
            None => Err(JoinError::ServerFull),
        }
    }

    /// The oldest open room's code, if any.
    pub fn any_room(&self) -> Option<String> {
        self.open_rooms()
            .first()
            .map(|room| room.shared.code.clone())
    }

    /// The open rooms' codes, and those with no seat free, as the Agones lists show them.
    pub fn room_lists(&self) -> crate::agones::RoomLists {
        let mut lists = crate::agones::RoomLists::default();
        for room in self.open_rooms() {
            let code = room.shared.code.clone();
            let taken = room.shared.occupancy.load(Ordering::Acquire);
            if taken == crate::room::CLOSED {
                continue;
            }
            if taken >= self.max_players_per_room {
                lists.full.push(code.clone());
            }
            lists.rooms.push(code);
            lists.seats.push((room.shared.id.0, taken));
        }
        lists
    }

    /// Hands the seat holding `token` to a new connection.
    pub async fn resume(
        &self,
        token: ResumeToken,
        link: Arc<PlayerLink>,
    ) -> Result<Welcome, JoinError> {
        let resumed = self.ask_resume(token, link).await;
        // A room that stopped answering is closing for the shutdown: the token was not at fault.
        match resumed {
            None if *self.shutdown.borrow() => Err(JoinError::ShuttingDown),
            None => Err(JoinError::UnknownToken),
            Some(welcome) => Ok(welcome),
        }
    }

    /// Asks the room named by `token` to hand its seat over; `None` if no open room does.
    async fn ask_resume(&self, token: ResumeToken, link: Arc<PlayerLink>) -> Option<Welcome> {
        let room_id = token_room(&token);
        let room = {
            let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
            rooms.iter().find(|r| r.shared.id == room_id).cloned()?
        };
        let (reply, welcome) = oneshot::channel();
        room.commands
            .send(RoomCommand::Resume { token, link, reply })
            .await
            .ok()?;
        welcome.await.ok().flatten()
    }

    /// Reserves a seat in the first room with one free, opening a room if none has.
    fn reserve_seat(&self) -> Result<RoomHandle, JoinError> {
        let capacity = self.max_players_per_room;
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms.retain(|room| room.shared.occupancy.load(Ordering::Acquire) != CLOSED);
        for room in rooms.iter() {
            let reserved =
                room.shared
                    .occupancy
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        (n < capacity).then_some(n + 1)
                    });
            if reserved.is_ok() {
                return Ok(room.clone());
            }
        }
        if rooms.len() >= self.max_rooms {
            return Err(JoinError::ServerFull);
        }
        let code = unused_code(&self.tag, &rooms);
        let room = self.open_room(code, 1);
        rooms.push(room.clone());
        Ok(room)
    }

    /// Starts a room task with `reserved` seats already taken.
    fn open_room(&self, code: String, reserved: usize) -> RoomHandle {
        let id = RoomId(self.next_room_id.fetch_add(1, Ordering::Relaxed));
        let config = &self.room_config;
        // A spectator's channel holds two seconds of frames before it starts over.
        let frames = usize::from(config.feed_rate.hz()) * 2;
        let shared = Arc::new(RoomShared::new(id, code.clone(), reserved).spectating(
            config.max_spectators,
            config.max_spectators_per_address,
            frames,
        ));
        let recording = self.recorder.as_ref().and_then(|recorder| {
            recorder.record(ReplayHeader {
                protocol_version: PROTOCOL_VERSION,
                room_code: code,
                map: (*config.map).clone(),
                tick_rate: config.tick_rate.hz(),
                feed_rate: config.feed_rate.hz(),
                started_unix_ms: 0,
                start_tick: Tick(0),
                part: 1,
                players: Vec::new(),
            })
        });
        let (commands, receiver) = mpsc::channel(ROOM_COMMAND_QUEUE);
        let seed = u64::from(id.0).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ std::process::id() as u64;
        let room = Room::new(
            shared.clone(),
            self.room_config.clone(),
            self.metrics.clone(),
            seed,
        )
        .with_recording(recording);
        let metrics = self.metrics.clone();
        let shutdown = self.shutdown.clone();
        metrics.rooms.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            room.run(receiver, shutdown).await;
            metrics.rooms.fetch_sub(1, Ordering::Relaxed);
        });
        RoomHandle { shared, commands }
    }

    /// The open rooms' command channels.
    fn open_rooms(&self) -> Vec<RoomHandle> {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms
            .iter()
            .filter(|r| r.shared.occupancy.load(Ordering::Acquire) != CLOSED)
            .cloned()
            .collect()
    }

    /// Sends `text` to every player in every room; returns how many rooms took it.
    pub async fn broadcast(&self, text: &str) -> usize {
        let mut told = 0;
        for room in self.open_rooms() {
            let notice = RoomCommand::Notice {
                text: text.to_string(),
            };
            if room.commands.send(notice).await.is_ok() {
                told += 1;
            }
        }
        told
    }

    /// Removes the players `target` names, closing them with `reason`: one player of one room, or
    /// everyone from an address in every room.
    pub async fn kick(
        &self,
        room: Option<RoomId>,
        target: KickTarget,
        reason: Disconnect,
    ) -> Vec<PlayerInfo> {
        let mut kicked = Vec::new();
        for handle in self.open_rooms() {
            if room.is_some_and(|id| id != handle.shared.id) {
                continue;
            }
            let (reply, answer) = oneshot::channel();
            let command = RoomCommand::Kick {
                target,
                reason,
                reply,
            };
            if handle.commands.send(command).await.is_ok() {
                kicked.extend(answer.await.unwrap_or_default());
            }
        }
        kicked
    }

    /// Every open room and its players.
    pub async fn describe(&self) -> Vec<RoomInfo> {
        let mut rooms = Vec::new();
        for room in self.open_rooms() {
            let (reply, answer) = oneshot::channel();
            if room
                .commands
                .send(RoomCommand::Describe { reply })
                .await
                .is_ok()
            {
                if let Ok(info) = answer.await {
                    rooms.push(info);
                }
            }
        }
        rooms.sort_by_key(|r| r.id);
        rooms
    }

    /// Adds the per-room series, players in each open room, to a `/metrics` exposition (see
    /// [`extend_exposition`]).
    pub fn render_room_metrics(&self, out: &mut String) {
        let players = self
            .open_rooms()
            .iter()
            .map(|room| {
                let players = room.shared.players.load(Ordering::Relaxed);
                (room.shared.id.0, players as u64)
            })
            .collect();
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register(
            "skirmish_room_players",
            "Players connected to each room (updated once a second)",
            Labelled::gauges("room", players),
        );
        extend_exposition(out, &registry);
    }

    /// The current tick of a room, if it is open (for `Pong`).
    pub fn room_tick(&self, id: RoomId) -> Option<u32> {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms
            .iter()
            .find(|r| r.shared.id == id)
            .map(|r| r.shared.tick.load(Ordering::Relaxed))
    }
}

/// A room code with the server's `tag` that no room in `rooms` has, from the secret random source.
/// (With 31^4, about 923,000 codes a tag, and at most a few thousand rooms, a draw is almost never
/// taken; a few more are drawn if it is.)
fn unused_code(tag: &str, rooms: &[RoomHandle]) -> String {
    loop {
        let code = room_code::from_random(tag, crate::secret::random_u64());
        if rooms.iter().all(|room| room.shared.code != code) {
            return code;
        }
    }
}
