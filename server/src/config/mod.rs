//! Command-line flags and the validated server configuration.

mod load;

use crate::address::{ForwardedHeader, Network, Proxies};
use crate::admission::AddressLimits;
use crate::limits::SEAT_CHAT;
use crate::rate::{ClientRates, DEFAULT_MAX_CLIENT_RATE, MAX_CLIENT_RATE_LIMIT, MIN_CLIENT_RATE};
use crate::secret::Secret;

pub use load::Sources;

use clap::Parser;
use skirmish_shared::fixed::{Coord, SUBUNITS};
use skirmish_shared::map::Map;
use skirmish_shared::protocol::{room_code, ROOM_TAG_CHARS};
use skirmish_shared::time::TickRate;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Default kernel send buffer per connection, in bytes (Linux doubles it for its bookkeeping): room
/// for a second of snapshots to a player in a busy arena, and a bound on what a player that stops
/// reading can make the kernel hold.
pub const DEFAULT_SOCKET_SEND_BUFFER: usize = 64 * 1024;

/// Default `--fill-bots`: a lone player has three bots to play with.
pub const DEFAULT_FILL_BOTS: usize = 4;

/// Most `--fill-bots`: each bot costs its room a brain per tick.
pub const MAX_FILL_BOTS: usize = 64;

/// Flags of the `skirmish-server` binary.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "skirmish-server",
    version,
    about = "Skirmish dedicated game server",
    after_help = "Every option is also an environment variable (shown with each) and a key of the \
                  --config TOML file, named in snake_case (tick_hz = 60). Flags beat variables, \
                  which beat the file, which beats the defaults. See assets/skirmish.example.toml \
                  and docs/DEPLOY.md."
)]
pub struct Args {
    /// Address for HTTP and WebSocket (the page at /, the game socket at /ws).
    #[arg(long, default_value = "127.0.0.1:8080", env = "SKIRMISH_BIND")]
    pub bind: SocketAddr,
    /// A second address serving only /admin, /metrics and /healthz (for operators and scrapers); with
    /// it, the public address no longer serves /admin or /metrics.
    #[arg(long, env = "SKIRMISH_ADMIN_BIND")]
    pub admin_bind: Option<SocketAddr>,
    /// Simulation ticks per second.
    #[arg(long, default_value_t = 60, env = "SKIRMISH_TICK_HZ")]
    pub tick_hz: u16,
    /// Snapshots per second sent to each player (at most the tick rate).
    #[arg(long, default_value_t = 30, env = "SKIRMISH_SNAPSHOT_HZ")]
    pub snapshot_hz: u16,
    /// Most snapshot bytes per second a player is sent, whatever its client asks for in its Hello: a
    /// client asking for more (or for none, with the default above this) gets this. A player whose
    /// snapshots would exceed its rate gets fewer of them, each complete and current. At least 1000.
    #[arg(long, default_value_t = DEFAULT_MAX_CLIENT_RATE, env = "SKIRMISH_MAX_CLIENT_RATE")]
    pub max_client_rate: u32,
    /// Snapshot bytes per second for a client that asks for none (rate 0 in its Hello); default:
    /// --max-client-rate. At least 1000, at most --max-client-rate.
    #[arg(long, env = "SKIRMISH_DEFAULT_CLIENT_RATE")]
    pub default_client_rate: Option<u32>,
    /// Seats in one room; the lobby opens another room when all are full.
    #[arg(long, default_value_t = 64, env = "SKIRMISH_MAX_PLAYERS_PER_ROOM")]
    pub max_players_per_room: usize,
    /// Fill bots: a room with fewer humans than this holds server-side bots so that humans and bots
    /// make this many players (within --max-players-per-room). Bots leave as humans join, and come
    /// back as they leave; a room with no humans has none. 0 turns bots off.
    #[arg(long, default_value_t = DEFAULT_FILL_BOTS, env = "SKIRMISH_FILL_BOTS")]
    pub fill_bots: usize,
    /// Spectators one room admits (they take no seat: a full room still admits them).
    #[arg(long, default_value_t = 256, env = "SKIRMISH_MAX_SPECTATORS_PER_ROOM")]
    pub max_spectators_per_room: usize,
    /// Spectators of one room from one client address (an IPv6 client counts by its /64): a
    /// household watching together fits; one address cannot take a room's every place.
    #[arg(long, default_value_t = 8, env = "SKIRMISH_MAX_SPECTATORS_PER_IP")]
    pub max_spectators_per_ip: usize,
    /// Frames per second of a room's broadcast feed, which spectators are sent and replays record
    /// (it divides --tick-hz; default: 20, or the fastest rate below it that divides --tick-hz).
    #[arg(long, env = "SKIRMISH_SPECTATOR_HZ")]
    pub spectator_hz: Option<u16>,
    /// Milliseconds spectators are kept behind the game (0..=60000), so that watching cannot be used
    /// to spot for a player; 0 allowed.
    #[arg(long, default_value_t = 2000, env = "SKIRMISH_SPECTATOR_DELAY_MS")]
    pub spectator_delay_ms: u32,
    /// Folder each room records its broadcast feed to, one replay file per room (split every 30
    /// minutes), listed at /api/replays. Empty: no recording.
    #[arg(long, default_value = "replays", env = "SKIRMISH_REPLAY_DIR")]
    pub replay_dir: String,
    /// The most replays kept, as COUNT,BYTES (bytes may end in KB, MB or GB, 1000s, or KiB, MiB or
    /// GiB): when the folder holds more, the oldest are deleted.
    #[arg(long, default_value = "200,2GB", env = "SKIRMISH_REPLAY_RETENTION")]
    pub replay_retention: String,
    /// Replays shorter than this many seconds are deleted when their room closes (0..=3600).
    #[arg(long, default_value_t = 10.0, env = "SKIRMISH_REPLAY_MIN_SECONDS")]
    pub replay_min_seconds: f64,
    /// Radius, in world units, within which a player is sent entities.
    #[arg(long, default_value_t = 640, env = "SKIRMISH_VIEW_RADIUS")]
    pub view_radius: u32,
    /// Lag compensation: the longest a shot is judged in the past, in milliseconds (0..=1000; 0 turns
    /// it off). Young projectiles are tested against other players where the shooter saw them, up
    /// to this far back.
    #[arg(long, default_value_t = crate::world::DEFAULT_MAX_REWIND_MS, env = "SKIRMISH_MAX_REWIND_MS")]
    pub max_rewind_ms: u32,
    /// Map file (default: maps/arena.map in the assets folder).
    #[arg(long, env = "SKIRMISH_MAP")]
    pub map: Option<PathBuf>,
    /// Folder served at / (default: ./assets, else the repository's assets folder).
    #[arg(long, env = "SKIRMISH_ASSETS")]
    pub assets: Option<PathBuf>,
    /// Most rooms at once.
    #[arg(long, default_value_t = 256, env = "SKIRMISH_MAX_ROOMS")]
    pub max_rooms: usize,
    /// Most simultaneous connections, counted at TCP accept.
    #[arg(long, default_value_t = 10_000, env = "SKIRMISH_MAX_CONNECTIONS")]
    pub max_connections: usize,
    /// Most simultaneous connections, and most seats (connected or held for a resume), of one client
    /// address (an IPv6 client counts by its /64).
    #[arg(long, default_value_t = 32, env = "SKIRMISH_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: usize,
    /// New connections per second one client address may open, after a burst of four seconds'
    /// worth (a connect-and-close loop is cut off at accept).
    #[arg(long, default_value_t = 16.0, env = "SKIRMISH_CONNECT_RATE_PER_IP")]
    pub connect_rate_per_ip: f64,
    /// Joins and resumes per second one client address may make, after a burst of eight seconds'
    /// worth (refused with close code 4008).
    #[arg(long, default_value_t = 2.0, env = "SKIRMISH_JOIN_RATE_PER_IP")]
    pub join_rate_per_ip: f64,
    /// Serve /echo, which echoes every data message through the same accept path and settings (with
    /// message limits raised to 16 MiB there only), for WebSocket conformance suites. Off by default.
    #[arg(long, env = "SKIRMISH_CONFORMANCE_ECHO")]
    pub conformance_echo: bool,
    /// A reverse proxy (an address, or a range such as 10.0.0.0/8) whose forwarding header is
    /// believed (repeatable). Its clients are counted, capped and banned by the forwarded address.
    #[arg(
        long = "trusted-proxy",
        env = "SKIRMISH_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<Network>,
    /// The header trusted proxies state the client's address in: x-forwarded-for, or forwarded
    /// (RFC 7239). Only that header is read, so a client cannot slip in the other one.
    #[arg(long, value_enum, default_value_t = ForwardedHeader::XForwardedFor, env = "SKIRMISH_FORWARDED_HEADER")]
    pub forwarded_header: ForwardedHeader,
    /// A page origin allowed to open the game socket (`https://play.example`); repeatable. Default:
    /// only the server's own origin. Handshakes without an Origin (non-browser clients) are allowed.
    #[arg(
        long = "allowed-origin",
        env = "SKIRMISH_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Seconds a player may leave its snapshots unread before it is disconnected.
    #[arg(long, default_value_t = 3.0, env = "SKIRMISH_SLOW_READER_TIMEOUT")]
    pub slow_reader_timeout: f64,
    /// Seconds a client has to send its HTTP request head (the WebSocket handshake included).
    #[arg(long, default_value_t = 5.0, env = "SKIRMISH_HANDSHAKE_TIMEOUT")]
    pub handshake_timeout: f64,
    /// Seconds a client has between the WebSocket upgrade and its Hello.
    #[arg(long, default_value_t = 10.0, env = "SKIRMISH_JOIN_TIMEOUT")]
    pub join_timeout: f64,
    /// Seconds a dropped player's seat is held for it to resume with its token (0: not held).
    #[arg(long, default_value_t = 15.0, env = "SKIRMISH_RECONNECT_GRACE")]
    pub reconnect_grace: f64,
    /// Kernel send buffer per connection in bytes (0: the OS's, auto-tuned). It bounds the kernel
    /// memory a player that stops reading can hold before the server notices.
    #[arg(long, default_value_t = DEFAULT_SOCKET_SEND_BUFFER, env = "SKIRMISH_SOCKET_SEND_BUFFER")]
    pub socket_send_buffer: usize,
    /// PEM certificate chain: serve https and wss instead of http and ws (needs --tls-key).
    #[arg(long, env = "SKIRMISH_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "SKIRMISH_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Report to the Agones SDK sidecar: Ready once listening, health pings, the lists `players`,
    /// `rooms` and `full` as they change, Allocate when reached directly, Ready again when idle, and
    /// Shutdown as soon as a graceful shutdown starts.
    #[arg(long, env = "SKIRMISH_AGONES")]
    pub agones: bool,
    /// The Agones SDK's REST address (default: http://localhost:$AGONES_SDK_HTTP_PORT, else port
    /// 9358).
    #[arg(long, env = "SKIRMISH_AGONES_SDK_URL")]
    pub agones_sdk_url: Option<String>,
    /// Seconds between Agones health pings.
    #[arg(long, default_value_t = 2.0, env = "SKIRMISH_AGONES_HEALTH_INTERVAL")]
    pub agones_health_interval: f64,
    /// Seconds an Allocated server with no player and no open room waits before it marks itself
    /// Ready again (back in the pool the directory allocates from).
    #[arg(long, default_value_t = 60.0, env = "SKIRMISH_AGONES_IDLE_SECONDS")]
    pub agones_idle_seconds: f64,
    /// The two characters every room code of this server starts with (default: drawn at random at
    /// start). The fleet's directory finds a room's server by it.
    #[arg(long, env = "SKIRMISH_ROOM_TAG")]
    pub room_tag: Option<String>,
    /// Bearer token that enables the admin API under /admin (at least 16 characters). Unset: no
    /// admin API.
    #[arg(long, env = "SKIRMISH_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,
    /// Seconds to wait, on SIGTERM or SIGINT, for players to be told and closed (1001) before exiting.
    #[arg(long, default_value_t = 10.0, env = "SKIRMISH_SHUTDOWN_GRACE")]
    pub shutdown_grace: f64,
    /// Log lines as human-readable text or as JSON objects (one per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "SKIRMISH_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Which log lines to keep: a level (error, warn, info, debug, trace) or tracing's directives,
    /// e.g. `info,skirmish_server::session=debug`.
    #[arg(long, default_value = "info", env = "SKIRMISH_LOG")]
    pub log: String,
    /// Threads running the game (rooms and connections), 1..=1024. Default: the CPUs this process may
    /// run on (its affinity and cgroup quota, so `taskset -c 0` gives 1). With 1, everything runs on
    /// the main thread, with no wake-ups between threads.
    #[arg(long, env = "SKIRMISH_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
    /// A TOML file of settings, keyed by the flags' names in snake_case (`tick_hz = 60`). Flags and
    /// SKIRMISH_* environment variables take precedence over it.
    #[arg(long, env = "SKIRMISH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where each setting came from, for error messages (filled by [`Args::load`]).
    #[arg(skip)]
    pub sources: Sources,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event, with the span fields (peer, player, room).
    Json,
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting's value is out of range.
    #[error("{setting}: {problem}")]
    Invalid {
        /// The setting as it was given: `--tick-hz`, `SKIRMISH_TICK_HZ` or `tick_hz in FILE`.
        setting: String,
        /// What is wrong.
        problem: String,
    },
    /// An environment variable or the config file could not be read.
    #[error("{0}")]
    Load(String),
    /// The command line could not be parsed (or asked for --help or --version: print and exit).
    #[error("{0}")]
    Cli(clap::Error),
    /// The map file could not be read or parsed.
    #[error("map {path}: {problem}")]
    Map {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// The validated configuration every part of the server reads.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address.
    pub bind: SocketAddr,
    /// The admin listener's address, if any.
    pub admin_bind: Option<SocketAddr>,
    /// Simulation rate.
    pub tick_rate: TickRate,
    /// Snapshot rate (at most the tick rate).
    pub snapshot_rate: TickRate,
    /// Snapshot bytes per second granted to clients: by default, and at most.
    pub client_rates: ClientRates,
    /// Seats per room.
    pub max_players_per_room: usize,
    /// Players a room with few humans is filled up to with bots (0: none).
    pub fill_bots: usize,
    /// Spectators one room admits.
    pub max_spectators_per_room: usize,
    /// Spectators of one room from one address.
    pub max_spectators_per_ip: usize,
    /// Frames per second of each room's broadcast feed (it divides the tick rate).
    pub feed_rate: TickRate,
    /// How far behind the game spectators are kept.
    pub spectator_delay: Duration,
    /// Where replays are recorded and what is kept; `None`: no recording.
    pub replays: Option<ReplaySettings>,
    /// View radius in coords.
    pub view_radius: Coord,
    /// Lag compensation's longest rewind (zero: off).
    pub max_rewind: Duration,
    /// The map every room plays.
    pub map: Arc<Map>,
    /// Folder of static files served over HTTP.
    pub assets_dir: PathBuf,
    /// Most rooms at once.
    pub max_rooms: usize,
    /// Most simultaneous connections.
    pub max_connections: usize,
    /// Per-address caps and rates.
    pub address_limits: AddressLimits,
    /// Chat lines a seat may send in a burst, and per second after ([`SEAT_CHAT`]).
    pub seat_chat: (f64, f64),
    /// Whether /echo is served (conformance testing).
    pub conformance_echo: bool,
    /// Proxies whose forwarding header is believed, and which header that is.
    pub proxies: Proxies,
    /// Origins allowed to open the game socket; empty means the server's own.
    pub allowed_origins: Vec<String>,
    /// How long a player may leave snapshots unread before it is disconnected.
    pub slow_reader_timeout: Duration,
    /// How long a dropped player's seat is held for a resume.
    pub reconnect_grace: Duration,
    /// Kernel send buffer per connection, if set.
    pub socket_send_buffer: Option<usize>,
    /// Time allowed for a client to send its HTTP request head.
    pub http_timeout: Duration,
    /// Time allowed between the WebSocket upgrade and the `Hello`.
    pub join_timeout: Duration,
    /// How long a room with no players lingers before it closes.
    pub empty_room_linger: Duration,
    /// How long shutdown waits for players to be told and closed.
    pub shutdown_grace: Duration,
    /// The admin API's bearer token; `None` disables the API.
    pub admin_token: Option<Secret>,
    /// TLS settings when serving https and wss.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// The tag every room code of this server starts with.
    pub room_tag: String,
    /// The Agones SDK sidecar and what to report to it, with `--agones`.
    pub agones: Option<crate::agones::AgonesSettings>,
}

/// Where replays go and how many are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySettings {
    /// The folder.
    pub dir: PathBuf,
    /// Most replay files kept.
    pub max_count: usize,
    /// Most bytes of replay files kept.
    pub max_bytes: u64,
    /// Replays shorter than this are deleted when they end.
    pub min_duration: Duration,
}

/// The assets folder: `./assets` when run from the repository root, else the one beside this crate.
pub fn default_assets_dir() -> PathBuf {
    let local = PathBuf::from("assets");
    if local.join("maps").is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets")
}

impl ServerConfig {
    /// Validates flags and loads the map. The checks run in this order, so that of several bad
    /// settings the first is named: rates, limits, origins, timeouts, the admin token, TLS, Agones,
    /// then the map.
    pub fn from_args(args: &Args) -> Result<ServerConfig, ConfigError> {
        let (tick_rate, snapshot_rate) = tick_and_snapshot_rates(args)?;
        let feed_rate = feed_rate(args, tick_rate)?;
        let client_rates = client_rates(args)?;
        check_limits(args)?;
        check_origins(args)?;
        check_timeouts(args)?;
        check_admin_token(args)?;
        let tls = tls_config(args)?;
        let room_tag = room_tag(args)?;
        let agones = agones_settings(args, &room_tag)?;
        let assets_dir = args.assets.clone().unwrap_or_else(default_assets_dir);
        let map = load_map(args, &assets_dir)?;
        let replays = replay_settings(args)?;
        Ok(ServerConfig {
            bind: args.bind,
            admin_bind: args.admin_bind,
            tick_rate,
            snapshot_rate,
            client_rates,
            max_players_per_room: args.max_players_per_room,
            fill_bots: args.fill_bots,
            max_spectators_per_room: args.max_spectators_per_room,
            max_spectators_per_ip: args.max_spectators_per_ip,
            feed_rate,
            spectator_delay: Duration::from_millis(args.spectator_delay_ms.into()),
            replays,
            view_radius: args.view_radius as Coord * SUBUNITS,
            max_rewind: Duration::from_millis(args.max_rewind_ms.into()),
            map: Arc::new(map),
            assets_dir,
            max_rooms: args.max_rooms,
            max_connections: args.max_connections,
            seat_chat: SEAT_CHAT,
            address_limits: AddressLimits {
                cap: args.max_connections_per_ip,
                connect_rate: args.connect_rate_per_ip,
                join_rate: args.join_rate_per_ip,
            },
            allowed_origins: args.allowed_origins.clone(),
            proxies: Proxies {
                trusted: args.trusted_proxies.clone(),
                header: args.forwarded_header,
            },
            conformance_echo: args.conformance_echo,
            slow_reader_timeout: Duration::from_secs_f64(args.slow_reader_timeout),
            reconnect_grace: Duration::from_secs_f64(args.reconnect_grace),
            socket_send_buffer: (args.socket_send_buffer > 0).then_some(args.socket_send_buffer),
            http_timeout: Duration::from_secs_f64(args.handshake_timeout),
            join_timeout: Duration::from_secs_f64(args.join_timeout),
            empty_room_linger: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs_f64(args.shutdown_grace),
            admin_token: args.admin_token.clone(),
            tls,
            room_tag,
            agones,
        })
    }

    /// The defaults, as if started with no flags, but without fill bots and without recording
    /// replays (for tests and embedding; a test that wants bots sets `fill_bots`, one that wants
    /// replays sets `replays`).
    pub fn default_for_tests() -> ServerConfig {
        let args = Args::parse_from([
            "skirmish-server",
            "--bind",
            "127.0.0.1:0",
            "--fill-bots",
            "0",
            "--replay-dir",
            "",
        ]);
        match ServerConfig::from_args(&args) {
            Ok(config) => config,
            Err(e) => panic!("the default configuration is invalid: {e}"),
        }
    }
}

/// Most `--worker-threads`.
pub const MAX_WORKER_THREADS: usize = 1024;

impl Args {
    /// The game's threads: `--worker-threads`, else the CPUs this process may run on (which
    /// `std::thread::available_parallelism` reads from its affinity mask and cgroup quota).
    pub fn worker_threads(&self) -> Result<usize, ConfigError> {
        match self.worker_threads {
            Some(n) if (1..=MAX_WORKER_THREADS).contains(&n) => Ok(n),
            Some(_) => Err(invalid(
                self,
                "worker-threads",
                format!("must be 1..={MAX_WORKER_THREADS}"),
            )),
            None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        }
    }
}

/// The error for a bad setting: `flag` is the flag's long name, and the error names the setting the
/// way it was given (flag, environment variable or config file key).
fn invalid(args: &Args, flag: &str, problem: String) -> ConfigError {
    ConfigError::Invalid {
        setting: args.sources.describe(flag),
        problem,
    }
}

/// The tick rate, and the snapshot rate, which must divide it.
fn tick_and_snapshot_rates(args: &Args) -> Result<(TickRate, TickRate), ConfigError> {
    let tick_rate = TickRate::new(args.tick_hz).ok_or_else(|| {
        invalid(
            args,
            "tick-hz",
            format!("must be {}..={}", TickRate::MIN_HZ, TickRate::MAX_HZ),
        )
    })?;
    let snapshot_rate = TickRate::new(args.snapshot_hz)
        .filter(|rate| rate.hz() <= tick_rate.hz() && tick_rate.hz() % rate.hz() == 0)
        .ok_or_else(|| {
            invalid(
                args,
                "snapshot-hz",
                format!(
                    "must divide --tick-hz ({}) and be at least {}",
                    tick_rate.hz(),
                    TickRate::MIN_HZ
                ),
            )
        })?;
    Ok((tick_rate, snapshot_rate))
}

/// The broadcast feed's rate, which must divide the tick rate; and the spectator delay and cap.
fn feed_rate(args: &Args, tick_rate: TickRate) -> Result<TickRate, ConfigError> {
    if args.spectator_delay_ms > 60_000 {
        return Err(invalid(
            args,
            "spectator-delay-ms",
            "must be 0..=60000 milliseconds".into(),
        ));
    }
    if args.max_spectators_per_ip == 0 {
        return Err(invalid(
            args,
            "max-spectators-per-ip",
            "must be at least 1".into(),
        ));
    }
    if args.max_spectators_per_room > 100_000 {
        return Err(invalid(
            args,
            "max-spectators-per-room",
            "must be 0..=100000 (0: no spectators)".into(),
        ));
    }
    let hz = args.spectator_hz.unwrap_or_else(|| {
        (TickRate::MIN_HZ..=20)
            .rev()
            .find(|hz| tick_rate.hz() % hz == 0)
            .unwrap_or(tick_rate.hz())
    });
    TickRate::new(hz)
        .filter(|rate| rate.hz() <= tick_rate.hz() && tick_rate.hz() % rate.hz() == 0)
        .ok_or_else(|| {
            invalid(
                args,
                "spectator-hz",
                format!(
                    "must divide --tick-hz ({}) and be at least {}",
                    tick_rate.hz(),
                    TickRate::MIN_HZ
                ),
            )
        })
}

/// Parses `--replay-retention` (`COUNT,BYTES`) and pairs it with `--replay-dir` (empty: `None`).
fn replay_settings(args: &Args) -> Result<Option<ReplaySettings>, ConfigError> {
    let bad = |problem: String| invalid(args, "replay-retention", problem);
    let (count, bytes) = args
        .replay_retention
        .split_once(',')
        .ok_or_else(|| bad("must be COUNT,BYTES (for example 200,2GB)".into()))?;
    let max_count: usize = count
        .trim()
        .parse()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| bad(format!("{count:?} is not a count of at least 1")))?;
    let max_bytes = parse_bytes(bytes.trim())
        .filter(|&n| n >= 1 << 20)
        .ok_or_else(|| {
            bad(format!(
                "{bytes:?} is not a size of at least 1MiB (say 500MB)"
            ))
        })?;
    let min = args.replay_min_seconds;
    if !(min.is_finite() && (0.0..=3600.0).contains(&min)) {
        return Err(invalid(
            args,
            "replay-min-seconds",
            "must be 0..=3600 seconds".into(),
        ));
    }
    if args.replay_dir.is_empty() {
        return Ok(None);
    }
    Ok(Some(ReplaySettings {
        dir: PathBuf::from(&args.replay_dir),
        max_count,
        max_bytes,
        min_duration: Duration::from_secs_f64(min),
    }))
}

/// A size in bytes: a number, optionally followed by KB, MB, GB (powers of 1000) or KiB, MiB, GiB
/// (powers of 1024), in any case.
fn parse_bytes(text: &str) -> Option<u64> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = text[digits.len()..].to_ascii_lowercase();
    let scale: u64 = match unit.as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return None,
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(scale)
}

/// The client rates: the maximum within [`MIN_CLIENT_RATE`]..=[`MAX_CLIENT_RATE_LIMIT`], the
/// default (the maximum if unset) within [`MIN_CLIENT_RATE`]..=the maximum.
fn client_rates(args: &Args) -> Result<ClientRates, ConfigError> {
    let max = args.max_client_rate;
    if !(MIN_CLIENT_RATE..=MAX_CLIENT_RATE_LIMIT).contains(&max) {
        return Err(invalid(
            args,
            "max-client-rate",
            format!("must be {MIN_CLIENT_RATE}..={MAX_CLIENT_RATE_LIMIT} bytes per second"),
        ));
    }
    let default = args.default_client_rate.unwrap_or(max);
    if !(MIN_CLIENT_RATE..=max).contains(&default) {
        return Err(invalid(
            args,
            "default-client-rate",
            format!("must be {MIN_CLIENT_RATE}..={max} (--max-client-rate) bytes per second"),
        ));
    }
    Ok(ClientRates { default, max })
}

/// Seats, fill bots, view radius, the longest rewind, rooms, connections, and the per-address connect and join
/// rates.
fn check_limits(args: &Args) -> Result<(), ConfigError> {
    if !(1..=10_000).contains(&args.max_players_per_room) {
        return Err(invalid(
            args,
            "max-players-per-room",
            "must be 1..=10000".into(),
        ));
    }
    if args.fill_bots > MAX_FILL_BOTS {
        return Err(invalid(
            args,
            "fill-bots",
            format!("must be 0..={MAX_FILL_BOTS} (0: no bots)"),
        ));
    }
    if !(32..=100_000).contains(&args.view_radius) {
        return Err(invalid(
            args,
            "view-radius",
            "must be 32..=100000 world units".into(),
        ));
    }
    let rewind_limit = crate::world::MAX_REWIND_LIMIT_MS;
    if args.max_rewind_ms > rewind_limit {
        return Err(invalid(
            args,
            "max-rewind-ms",
            format!("must be 0..={rewind_limit} milliseconds (0: no lag compensation)"),
        ));
    }
    if args.max_rooms == 0 {
        return Err(invalid(args, "max-rooms", "must be at least 1".into()));
    }
    if args.max_connections == 0 {
        return Err(invalid(
            args,
            "max-connections",
            "must be at least 1".into(),
        ));
    }
    if args.max_connections_per_ip == 0 {
        return Err(invalid(
            args,
            "max-connections-per-ip",
            "must be at least 1".into(),
        ));
    }
    for (flag, rate) in [
        ("connect-rate-per-ip", args.connect_rate_per_ip),
        ("join-rate-per-ip", args.join_rate_per_ip),
    ] {
        if !(rate.is_finite() && (0.1..=1e6).contains(&rate)) {
            return Err(invalid(
                args,
                flag,
                "must be 0.1..=1000000 per second".into(),
            ));
        }
    }
    Ok(())
}

/// Every allowed origin is an http(s) origin.
fn check_origins(args: &Args) -> Result<(), ConfigError> {
    if let Some(bad) = args
        .allowed_origins
        .iter()
        .find(|o| !(o.starts_with("http://") || o.starts_with("https://")))
    {
        return Err(invalid(
            args,
            "allowed-origin",
            format!("{bad:?} is not an http(s) origin"),
        ));
    }
    Ok(())
}

/// The slow-reader, handshake and join timeouts, the reconnect grace and the shutdown grace.
fn check_timeouts(args: &Args) -> Result<(), ConfigError> {
    if !(args.slow_reader_timeout.is_finite() && (0.1..=60.0).contains(&args.slow_reader_timeout)) {
        return Err(invalid(
            args,
            "slow-reader-timeout",
            "must be 0.1..=60 seconds".into(),
        ));
    }
    for (flag, seconds) in [
        ("handshake-timeout", args.handshake_timeout),
        ("join-timeout", args.join_timeout),
    ] {
        if !(seconds.is_finite() && (0.05..=300.0).contains(&seconds)) {
            return Err(invalid(args, flag, "must be 0.05..=300 seconds".into()));
        }
    }
    if !(args.reconnect_grace.is_finite() && (0.0..=3600.0).contains(&args.reconnect_grace)) {
        return Err(invalid(
            args,
            "reconnect-grace",
            "must be 0..=3600 seconds".into(),
        ));
    }
    if !(args.shutdown_grace.is_finite() && (0.0..=3600.0).contains(&args.shutdown_grace)) {
        return Err(invalid(
            args,
            "shutdown-grace",
            "must be 0..=3600 seconds".into(),
        ));
    }
    Ok(())
}

/// The admin token, if one is set, is fit to use.
fn check_admin_token(args: &Args) -> Result<(), ConfigError> {
    if let Some(token) = &args.admin_token {
        // The message never repeats the value: it is a secret.
        token
            .check()
            .map_err(|problem| invalid(args, "admin-token", problem.into()))?;
    }
    Ok(())
}

/// The rustls configuration, with both `--tls-cert` and `--tls-key`; `None` with neither.
fn tls_config(args: &Args) -> Result<Option<Arc<tokio_rustls::rustls::ServerConfig>>, ConfigError> {
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => crate::tls::server_config(cert, key)
            .map(Some)
            .map_err(|problem| invalid(args, "tls-cert", problem)),
        (None, None) => Ok(None),
        (Some(_), None) => Err(invalid(args, "tls-cert", "needs --tls-key as well".into())),
        (None, Some(_)) => Err(invalid(args, "tls-key", "needs --tls-cert as well".into())),
    }
}

/// `--room-tag`, or a tag drawn from the secret random source.
fn room_tag(args: &Args) -> Result<String, ConfigError> {
    match &args.room_tag {
        Some(tag) => room_code::parse_tag(tag).ok_or_else(|| {
            invalid(
                args,
                "room-tag",
                format!(
                    "{tag:?}: a tag is {ROOM_TAG_CHARS} characters of {}",
                    String::from_utf8_lossy(room_code::ALPHABET)
                ),
            )
        }),
        None => Ok(room_code::random_tag(crate::secret::random_u64())),
    }
}

/// What to report to the Agones SDK, with `--agones` (the intervals are checked either way).
fn agones_settings(
    args: &Args,
    room_tag: &str,
) -> Result<Option<crate::agones::AgonesSettings>, ConfigError> {
    for (flag, value, range) in [
        (
            "agones-health-interval",
            args.agones_health_interval,
            0.05..=60.0,
        ),
        (
            "agones-idle-seconds",
            args.agones_idle_seconds,
            0.05..=86_400.0,
        ),
    ] {
        if !(value.is_finite() && range.contains(&value)) {
            return Err(invalid(
                args,
                flag,
                format!("must be {}..={} seconds", range.start(), range.end()),
            ));
        }
    }
    if !args.agones {
        return Ok(None);
    }
    let url = crate::agones::sdk_url(args.agones_sdk_url.as_deref());
    let client = crate::agones::SdkClient::new(&url)
        .map_err(|problem| invalid(args, "agones-sdk-url", problem))?;
    let most = crate::agones::MAX_LIST_VALUES;
    Ok(Some(crate::agones::AgonesSettings {
        client,
        health_interval: Duration::from_secs_f64(args.agones_health_interval),
        idle_ready: Duration::from_secs_f64(args.agones_idle_seconds),
        tag: room_tag.to_string(),
        seats: args
            .max_rooms
            .saturating_mul(args.max_players_per_room)
            .min(most),
        rooms: args.max_rooms.min(most),
    }))
}

/// Reads and parses the map: `--map`, else `maps/arena.map` in the assets folder.
fn load_map(args: &Args, assets_dir: &Path) -> Result<Map, ConfigError> {
    let map_path = args
        .map
        .clone()
        .unwrap_or_else(|| assets_dir.join("maps/arena.map"));
    let map_error = |problem: String| ConfigError::Map {
        path: map_path.clone(),
        problem,
    };
    let text = std::fs::read_to_string(&map_path).map_err(|e| map_error(e.to_string()))?;
    Map::parse(&text).map_err(|e| map_error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str]) -> Result<ServerConfig, ConfigError> {
        let mut argv = vec!["skirmish-server"];
        argv.extend_from_slice(flags);
        ServerConfig::from_args(&Args::parse_from(argv))
    }

    #[test]
    fn worker_threads_follow_the_allowed_cpus_unless_set() {
        let threads = |flags: &[&str]| {
            let mut argv = vec!["skirmish-server"];
            argv.extend_from_slice(flags);
            Args::parse_from(argv).worker_threads()
        };
        let allowed = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(threads(&[]).expect("default"), allowed);
        assert_eq!(threads(&["--worker-threads", "3"]).expect("set"), 3);
        for bad in ["0", "1025"] {
            let err = threads(&["--worker-threads", bad]).expect_err("out of range");
            assert!(
                err.to_string()
                    .starts_with("--worker-threads: must be 1..=1024"),
                "{err}"
            );
        }
    }

    #[test]
    fn defaults_are_valid() {
        let config = parse(&[]).expect("defaults");
        assert_eq!(config.tick_rate.hz(), 60);
        assert_eq!(config.snapshot_rate.hz(), 30);
        assert_eq!(config.view_radius, 640 * 16);
        assert_eq!(config.max_rewind, Duration::from_millis(200));
        assert_eq!(config.map.name(), "arena");
        assert_eq!(
            config.client_rates,
            ClientRates {
                default: DEFAULT_MAX_CLIENT_RATE,
                max: DEFAULT_MAX_CLIENT_RATE
            }
        );
    }

    #[test]
    fn client_rates_default_to_the_maximum_and_stay_within_it() {
        let config = parse(&["--max-client-rate", "20000"]).expect("valid");
        assert_eq!(config.client_rates.default, 20_000);
        let config = parse(&[
            "--max-client-rate",
            "20000",
            "--default-client-rate",
            "5000",
        ])
        .expect("valid");
        assert_eq!(
            (config.client_rates.default, config.client_rates.max),
            (5_000, 20_000)
        );
        let err = parse(&["--max-client-rate", "999"]).expect_err("below the floor");
        assert!(err.to_string().starts_with("--max-client-rate"), "{err}");
        let err = parse(&[
            "--max-client-rate",
            "20000",
            "--default-client-rate",
            "30000",
        ])
        .expect_err("above the maximum");
        assert!(
            err.to_string().starts_with("--default-client-rate"),
            "{err}"
        );
        let err = parse(&["--default-client-rate", "10"]).expect_err("below the floor");
        assert!(
            err.to_string().starts_with("--default-client-rate"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_their_flag() {
        let err = parse(&["--tick-hz", "5"]).expect_err("too slow");
        assert!(err.to_string().starts_with("--tick-hz"), "{err}");
        let err = parse(&["--snapshot-hz", "61"]).expect_err("faster than ticks");
        assert!(err.to_string().starts_with("--snapshot-hz"), "{err}");
        let err = parse(&["--snapshot-hz", "25"]).expect_err("does not divide 60");
        assert!(err.to_string().contains("divide"), "{err}");
        let err = parse(&["--map", "/nonexistent.map"]).expect_err("missing map");
        assert!(err.to_string().contains("/nonexistent.map"), "{err}");
        let err = parse(&["--slow-reader-timeout", "NaN"]).expect_err("nan");
        assert!(err.to_string().contains("slow-reader-timeout"), "{err}");
        let err = parse(&["--max-rewind-ms", "1001"]).expect_err("rewinds too far");
        assert!(err.to_string().starts_with("--max-rewind-ms"), "{err}");
        let off = parse(&["--max-rewind-ms", "0"]).expect("0 turns compensation off");
        assert_eq!(off.max_rewind, Duration::ZERO);
        let most = parse(&["--max-rewind-ms", "1000"]).expect("the limit itself is allowed");
        assert_eq!(most.max_rewind, Duration::from_secs(1));
    }

    #[test]
    fn spectator_and_replay_settings_are_checked() {
        let config = parse(&[]).expect("defaults");
        assert_eq!(config.feed_rate.hz(), 20);
        assert_eq!(config.spectator_delay, Duration::from_secs(2));
        assert_eq!(config.max_spectators_per_room, 256);
        assert_eq!(
            config.replays,
            Some(ReplaySettings {
                dir: PathBuf::from("replays"),
                max_count: 200,
                max_bytes: 2_000_000_000,
                min_duration: Duration::from_secs(10),
            })
        );
        for (tick, feed) in [("30", 15), ("50", 10), ("120", 20), ("23", 23)] {
            let config = parse(&["--tick-hz", tick, "--snapshot-hz", tick]).expect("valid");
            assert_eq!(config.feed_rate.hz(), feed, "--tick-hz {tick}");
        }
        let off = parse(&["--replay-dir", "", "--spectator-delay-ms", "0"]).expect("valid");
        assert_eq!(off.replays, None);
        assert_eq!(off.spectator_delay, Duration::ZERO);
        let kept = parse(&["--replay-retention", "3, 64MiB"]).expect("valid");
        assert_eq!(
            kept.replays.map(|r| (r.max_count, r.max_bytes)),
            Some((3, 64 << 20))
        );
        for bad in ["3", "0,1GB", "3,1TB", "3,10", "x,1GB"] {
            let err = parse(&["--replay-retention", bad]).expect_err(bad);
            assert!(err.to_string().starts_with("--replay-retention"), "{err}");
        }
        for bad in ["7", "0", "120"] {
            let err = parse(&["--spectator-hz", bad]).expect_err(bad);
            assert!(err.to_string().starts_with("--spectator-hz"), "{err}");
        }
        let err = parse(&["--spectator-delay-ms", "60001"]).expect_err("too long");
        assert!(err.to_string().starts_with("--spectator-delay-ms"), "{err}");
    }

    #[test]
    fn the_first_bad_setting_in_checking_order_is_named() {
        let err = parse(&["--map", "/nonexistent.map", "--tick-hz", "5"]).expect_err("two bad");
        assert!(err.to_string().starts_with("--tick-hz"), "{err}");
        let err =
            parse(&["--admin-token", "short", "--reconnect-grace", "4000"]).expect_err("two bad");
        assert!(err.to_string().starts_with("--reconnect-grace"), "{err}");
        let err =
            parse(&["--agones-health-interval", "0", "--tls-key", "k.pem"]).expect_err("two bad");
        assert!(err.to_string().starts_with("--tls-key"), "{err}");
    }
}
