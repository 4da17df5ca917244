//! Agones integration (`--agones`): the game server reports to the Agones SDK's local HTTP sidecar
//! (<https://agones.dev/site/docs/guides/client-sdks/rest/>), which keeps its `GameServer` resource,
//! and so what the Agones allocator knows of it, current:
//!
//! - at start, the label `skirmish-tag` (the tag every room code of this server starts with; Agones
//!   stores it as `agones.dev/sdk-skirmish-tag`), the capacities of its lists, then `POST /ready`
//!   (all retried until the sidecar answers);
//! - `POST /health` every `--agones-health-interval` seconds;
//! - three lists (beta Counters and Lists), each replaced whole (`PATCH /v1beta1/lists/NAME`) when it
//!   changed: `players` (one value per seat taken: a connected player's `ROOM-PLAYER-CONNECTION`,
//!   or `ROOM-seat-N` for a join under way or a dropped player's seat held for a resume; its
//!   capacity is the server's seats), `rooms` (the open rooms' codes) and `full` (the open rooms
//!   with no seat free). The fleet's directory allocates on them: a server whose `players` list has room, and
//!   the server whose `rooms` list holds a friend's code;
//! - `POST /allocate` when a player joins while the server may still be Ready (it was reached
//!   directly, not through an allocation), so Agones does not scale it away under the player;
//! - `POST /ready` again once it has had no player and no room for `--agones-idle-seconds` while
//!   Allocated, with no allocation since the last look (`agones.dev/last-allocated` unchanged):
//!   an allocation nobody came to, or the last match over, goes back to the pool;
//! - `POST /shutdown` as soon as a graceful shutdown starts (SIGTERM): the `GameServer` goes to
//!   Shutdown, and the allocator hands it out no more while the players are told and drained.
//!
//! Calls are bounded in time; a failure is logged and retried on the next change, never fatal.

use crate::throttle::Throttled;
use http::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How long one SDK call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Player events queued for the SDK before new ones are dropped (and logged).
const EVENT_QUEUE: usize = 4096;

/// The sidecar's address when neither `--agones-sdk-url` nor `AGONES_SDK_HTTP_PORT` says otherwise.
const DEFAULT_PORT: u16 = 9358;

/// The most values an Agones list holds.
pub const MAX_LIST_VALUES: usize = 1000;

/// How often the lists are compared with the lobby and sent if they changed.
const SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// The label (under Agones' `agones.dev/sdk-` prefix) that holds the server's room-code tag.
pub const TAG_LABEL: &str = "skirmish-tag";

/// The annotation Agones sets to the time of a `GameServer`'s latest allocation.
pub const LAST_ALLOCATED: &str = "agones.dev/last-allocated";

/// The lists the server keeps.
pub const PLAYERS_LIST: &str = "players";
/// The open rooms' codes.
pub const ROOMS_LIST: &str = "rooms";
/// The codes of open rooms with no seat free.
pub const FULL_LIST: &str = "full";

/// The SDK base URL: the flag, else `http://localhost:$AGONES_SDK_HTTP_PORT` (set by Agones in the
/// pod), else port 9358.
pub fn sdk_url(flag: Option<&str>) -> String {
    if let Some(url) = flag {
        return url.trim_end_matches('/').to_string();
    }
    let port = std::env::var("AGONES_SDK_HTTP_PORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(DEFAULT_PORT);
    format!("http://localhost:{port}")
}

/// What sessions tell the SDK task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayerEvent {
    /// A player joined (or resumed).
    Connected(String),
    /// A player's session ended.
    Disconnected(String),
}

/// The sessions' side: queues player events without waiting.
#[derive(Debug, Clone)]
pub struct AgonesHandle {
    events: mpsc::Sender<PlayerEvent>,
    dropped: std::sync::Arc<Throttled>,
}

impl AgonesHandle {
    /// A handle and the receiving end [`Agones::start`] takes.
    pub fn channel() -> (AgonesHandle, mpsc::Receiver<PlayerEvent>) {
        let (events, received) = mpsc::channel(EVENT_QUEUE);
        let dropped = Default::default();
        (AgonesHandle { events, dropped }, received)
    }

    /// Queues an event; drops it (logged) if the SDK has fallen far behind.
    pub fn send(&self, event: PlayerEvent) {
        // A lost event cannot miscount seats: the players list takes its counts from the lobby.
        if self.events.try_send(event).is_err() {
            if let Some(more) = self.dropped.due() {
                tracing::warn!(
                    more,
                    "Agones player event dropped: the SDK is not keeping up"
                );
            }
        }
    }
}

/// A minimal client of the SDK's REST API.
#[derive(Debug, Clone)]
pub struct SdkClient {
    host: String,
}

impl SdkClient {
    /// A client for `url` (`http://host:port`).
    pub fn new(url: &str) -> Result<SdkClient, String> {
        let host = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: the Agones SDK URL must start with http://"))?
            .trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(format!("{url:?}: expected http://host:port"));
        }
        Ok(SdkClient {
            host: host.to_string(),
        })
    }

    /// POSTs `body` to `path`; Ok when the sidecar answers 2xx.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// One call; the answer's JSON (`null` when empty) when the sidecar answers 2xx.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let exchange = async {
            let stream = tokio::net::TcpStream::connect(&self.host)
                .await
                .map_err(|e| format!("{path}: cannot reach the SDK at {}: {e}", self.host))?;
            let body = body.map(|b| b.to_string().into_bytes());
            crate::http_client::send(stream, &self.host, method, path, body).await
        };
        let (status, body) = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("{path}: no answer within {CALL_TIMEOUT:?}"))??;
        if !status.is_success() {
            return Err(format!(
                "{path}: the SDK answered {status}: {}",
                crate::http_client::excerpt(&body)
            ));
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body).map_err(|e| format!("{path}: the SDK's answer: {e}"))
    }
}

/// The lobby as Agones lists show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomLists {
    /// The open rooms' codes.
    pub rooms: Vec<String>,
    /// The codes of open rooms with no seat free for a player.
    pub full: Vec<String>,
    /// Each open room's id and its seats taken: players connected, joining, or dropped with their
    /// seat held for a resume.
    pub seats: Vec<(u32, usize)>,
}

/// The `players` list: one value per seat taken. A connected player is its connection's id
/// (`ROOM-PLAYER-CONNECTION`); a seat taken without one (a join under way, or a dropped player's
/// seat held for `--reconnect-grace`) is `ROOM-seat-N`, so the list counts what the lobby counts
/// and the directory sends nobody to a room whose seats are all held.
///
/// The lobby's counts decide how many values a room has: a connection id whose event was lost (a
/// full queue) can only name a seat, never add one, and ids of closed rooms are left out.
fn player_values(connected: &BTreeSet<String>, seats: &[(u32, usize)]) -> Vec<String> {
    let mut values = Vec::new();
    let mut padding = Vec::new();
    for &(room, taken) in seats {
        let prefix = format!("{room}-");
        let here: Vec<&String> = connected
            .iter()
            .filter(|id| id.starts_with(&prefix))
            .take(taken)
            .collect();
        padding.extend((here.len()..taken).map(|n| format!("{room}-seat-{n}")));
        values.extend(here.into_iter().cloned());
    }
    values.extend(padding);
    values
}

/// Where the lists' room values come from (the lobby, read afresh each time).
pub type RoomSource = Box<dyn Fn() -> RoomLists + Send + Sync>;

/// What the integration is set up with.
#[derive(Debug, Clone)]
pub struct AgonesSettings {
    /// The sidecar.
    pub client: SdkClient,
    /// Between health pings.
    pub health_interval: Duration,
    /// How long an Allocated server with no player and no room waits before it is Ready again.
    pub idle_ready: Duration,
    /// The server's room-code tag, set as a label.
    pub tag: String,
    /// The `players` list's capacity: the server's seats.
    pub seats: usize,
    /// The `rooms` and `full` lists' capacity: the most rooms.
    pub rooms: usize,
}

/// The running integration: started once the server listens.
#[derive(Debug)]
pub struct Agones {
    client: SdkClient,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Agones {
    /// Sets the tag label and the lists' capacities and marks the server Ready (retrying until the
    /// sidecar answers), then pings, keeps the lists current from `events` and `rooms`, and
    /// allocates or readies the server as players come and go.
    pub fn start(
        settings: AgonesSettings,
        events: mpsc::Receiver<PlayerEvent>,
        rooms: RoomSource,
    ) -> Agones {
        let (stop, stopped) = oneshot::channel::<()>();
        let client = settings.client.clone();
        let task = tokio::spawn(run(settings, events, rooms, stopped));
        Agones { client, stop, task }
    }

    /// Stops the reports and tells Agones the server is shutting down, so the allocator hands it out
    /// no more (called as the graceful shutdown starts, before the players are drained).
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(CALL_TIMEOUT, &mut task).await.is_err() {
            task.abort();
        }
        match self.client.post("/shutdown", &json!({})).await {
            Ok(_) => tracing::info!("Agones: Shutdown"),
            Err(e) => tracing::warn!("Agones Shutdown failed: {e}"),
        }
    }
}

/// The lists as last sent (`None`: not yet, or the call failed).
#[derive(Debug, Default)]
struct Sent {
    players: Option<Vec<String>>,
    rooms: Option<Vec<String>>,
    full: Option<Vec<String>>,
    /// Failed updates, logged at most every few seconds (they are retried every sync).
    failures: Throttled,
}

/// The task: set-up, then the loop until stopped.
async fn run(
    settings: AgonesSettings,
    mut events: mpsc::Receiver<PlayerEvent>,
    rooms: RoomSource,
    mut stopped: oneshot::Receiver<()>,
) {
    let sdk = &settings.client;
    loop {
        let set_up = tokio::select! {
            set_up = set_up(&settings) => set_up,
            _ = &mut stopped => return,
        };
        match set_up {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!("Agones set-up failed (retrying in 1 s): {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = &mut stopped => return,
                }
            }
        }
    }
    tracing::info!(tag = %settings.tag, "Agones: Ready");
    let mut players = BTreeSet::new();
    let mut sent = Sent {
        players: Some(Vec::new()),
        rooms: Some(Vec::new()),
        full: Some(Vec::new()),
        failures: Throttled::default(),
    };
    let mut lifecycle = Lifecycle::default();
    let mut health = tokio::time::interval(settings.health_interval);
    let mut sync = tokio::time::interval(SYNC_INTERVAL);
    sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = health.tick() => {
                if let Err(e) = sdk.post("/health", &json!({})).await {
                    tracing::warn!("Agones health ping failed: {e}");
                }
            }
            event = events.recv() => match event {
                Some(event) => {
                    apply(&mut players, event);
                    // Take every event queued, so one list update carries them all.
                    while let Ok(event) = events.try_recv() {
                        apply(&mut players, event);
                    }
                    sync_lists(&settings, &mut players, &rooms(), &mut sent).await;
                    lifecycle.step(&settings, !players.is_empty(), false).await;
                }
                None => return,
            },
            _ = sync.tick() => {
                let lists = rooms();
                sync_lists(&settings, &mut players, &lists, &mut sent).await;
                let idle = players.is_empty() && lists.rooms.is_empty();
                lifecycle.step(&settings, !players.is_empty(), idle).await;
            }
            _ = &mut stopped => return,
        }
    }
}

/// Label, list capacities (and empty values), then Ready.
async fn set_up(settings: &AgonesSettings) -> Result<(), String> {
    let sdk = &settings.client;
    sdk.call(
        Method::PUT,
        "/metadata/label",
        Some(&json!({ "key": TAG_LABEL, "value": settings.tag })),
    )
    .await?;
    for (name, capacity) in [
        (PLAYERS_LIST, settings.seats),
        (ROOMS_LIST, settings.rooms),
        (FULL_LIST, settings.rooms),
    ] {
        patch_list(sdk, name, capacity, &[]).await?;
    }
    sdk.post("/ready", &json!({})).await.map(drop)
}

/// Replaces list `name` with `values` (at most `capacity` of them) and sets its capacity.
async fn patch_list(
    sdk: &SdkClient,
    name: &str,
    capacity: usize,
    values: &[String],
) -> Result<(), String> {
    let values = &values[..values.len().min(capacity)];
    let body = json!({ "capacity": capacity.to_string(), "values": values });
    sdk.call(
        Method::PATCH,
        &format!("/v1beta1/lists/{name}"),
        Some(&body),
    )
    .await
    .map(drop)
}

fn apply(players: &mut BTreeSet<String>, event: PlayerEvent) {
    match event {
        PlayerEvent::Connected(id) => {
            players.insert(id);
        }
        PlayerEvent::Disconnected(id) => {
            players.remove(&id);
        }
    }
}

/// Sends each list that differs from what was last sent.
async fn sync_lists(
    settings: &AgonesSettings,
    players: &mut BTreeSet<String>,
    lists: &RoomLists,
    sent: &mut Sent,
) {
    // Connections of rooms that closed (whose leaving was lost) are forgotten.
    players.retain(|id| {
        let room = id.split('-').next().and_then(|r| r.parse::<u32>().ok());
        lists.seats.iter().any(|&(open, _)| Some(open) == room)
    });
    let players = player_values(players, &lists.seats);
    let wanted = [
        (PLAYERS_LIST, settings.seats, &players, &mut sent.players),
        (ROOMS_LIST, settings.rooms, &lists.rooms, &mut sent.rooms),
        (FULL_LIST, settings.rooms, &lists.full, &mut sent.full),
    ];
    for (name, capacity, values, last) in wanted {
        if last.as_ref() == Some(values) {
            continue;
        }
        match patch_list(&settings.client, name, capacity, values).await {
            Ok(()) => *last = Some(values.clone()),
            Err(e) => {
                *last = None;
                if let Some(more) = sent.failures.due() {
                    tracing::warn!(more, "Agones list {name} not updated (retried): {e}");
                }
            }
        }
    }
}

/// Allocated or Ready, as far as this server moved it.
#[derive(Debug, Default)]
struct Lifecycle {
    /// This server asked to be Allocated since it was last Ready.
    allocated: bool,
    /// Since when it has had no player and no room.
    idle_since: Option<Instant>,
    /// When it last asked the SDK for its state while idle.
    checked: Option<Instant>,
    /// The `agones.dev/last-allocated` annotation at that time: a new one means an allocation
    /// since, whose player may be on the way.
    last_allocated: Option<String>,
    /// Failed Allocate calls, logged at most every few seconds (retried every sync).
    failures: Throttled,
}

/// Whether the `GameServer` is Allocated, and its `agones.dev/last-allocated`; `None` (logged) if
/// the SDK cannot say.
async fn look(sdk: &SdkClient) -> Option<(bool, Option<String>)> {
    match sdk.call(Method::GET, "/gameserver", None).await {
        Ok(gameserver) => Some((
            gameserver["status"]["state"].as_str() == Some("Allocated"),
            gameserver["object_meta"]["annotations"][LAST_ALLOCATED]
                .as_str()
                .map(str::to_string),
        )),
        Err(e) => {
            tracing::warn!("Agones GameServer state unknown: {e}");
            None
        }
    }
}

impl Lifecycle {
    /// Allocates the server when it has players it did not know of; readies an idle Allocated one.
    async fn step(&mut self, settings: &AgonesSettings, has_players: bool, idle: bool) {
        let sdk = &settings.client;
        if has_players && !self.allocated {
            match sdk.post("/allocate", &json!({})).await {
                Ok(_) => self.allocated = true,
                Err(e) => {
                    if let Some(more) = self.failures.due() {
                        tracing::warn!(more, "Agones Allocate failed (retried): {e}");
                    }
                }
            }
        }
        if !idle {
            self.idle_since = None;
            return;
        }
        let now = Instant::now();
        let Some(since) = self.idle_since else {
            // Idle from now: note the latest allocation, so that one made later is seen as new.
            self.idle_since = Some(now);
            self.checked = Some(now);
            self.last_allocated = look(sdk).await.and_then(|(_, last)| last);
            return;
        };
        let due = self
            .checked
            .is_none_or(|at| now.duration_since(at) >= settings.idle_ready);
        if now.duration_since(since) < settings.idle_ready || !due {
            return;
        }
        self.checked = Some(now);
        // Allocated by a directory for a player who never came, or by a player now gone.
        let Some((allocated, last_allocated)) = look(sdk).await else {
            return;
        };
        if !allocated {
            self.allocated = false;
            return;
        }
        // Allocated again while idle: wait for that player a whole idle period more.
        if last_allocated != self.last_allocated {
            self.last_allocated = last_allocated;
            self.idle_since = Some(now);
            return;
        }
        match sdk.post("/ready", &json!({})).await {
            Ok(_) => {
                self.allocated = false;
                tracing::info!("Agones: idle, Ready again");
            }
            Err(e) => tracing::warn!("Agones Ready (idle) failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_urls_are_http_host_port() {
        assert!(SdkClient::new("http://127.0.0.1:9358").is_ok());
        assert!(SdkClient::new("http://localhost:9358/").is_ok());
        assert!(SdkClient::new("https://localhost:9358").is_err());
        assert!(SdkClient::new("http://").is_err());
        assert!(SdkClient::new("http://host:1/path").is_err());
        assert_eq!(sdk_url(Some("http://x:1/")), "http://x:1");
    }

    #[test]
    fn seats_held_without_a_connection_count_as_players() {
        let connected: BTreeSet<String> = ["3-1-7", "3-2-9", "4-1-2"].map(String::from).into();
        // Room 3 has a dropped player's seat held and a join under way; room 4 just its player.
        let values = player_values(&connected, &[(3, 4), (4, 1)]);
        assert_eq!(
            values,
            ["3-1-7", "3-2-9", "4-1-2", "3-seat-2", "3-seat-3"].map(String::from)
        );
        // A room whose seats are all connected players adds nothing.
        assert_eq!(player_values(&connected, &[(3, 2), (4, 1)]).len(), 3);
        // A connection whose leaving was lost cannot add a seat; a closed room's ids go.
        assert_eq!(
            player_values(&connected, &[(3, 1)]),
            ["3-1-7"].map(String::from)
        );
        assert_eq!(
            player_values(&connected, &[(4, 1)]),
            ["4-1-2"].map(String::from)
        );
    }

    #[test]
    fn player_events_keep_one_value_per_connection() {
        let mut players = BTreeSet::new();
        apply(&mut players, PlayerEvent::Connected("1-1-1".into()));
        apply(&mut players, PlayerEvent::Connected("1-1-2".into()));
        apply(&mut players, PlayerEvent::Disconnected("1-1-1".into()));
        apply(&mut players, PlayerEvent::Disconnected("9-9-9".into()));
        assert_eq!(players.into_iter().collect::<Vec<_>>(), ["1-1-2"]);
    }
}
