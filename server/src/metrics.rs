//! Server-wide counters and their exposition at `/metrics`, written by `prometheus-client` in the
//! OpenMetrics text format.
//!
//! Counters and gauges are relaxed atomics: rooms and sessions bump them without locks, and a scrape
//! reads a consistent-enough picture. Histograms are this module's own [`Histogram`], atomics too,
//! because rooms observe some figures per player per tick: a room tallies those in a [`Tally`] of
//! its own and flushes it once a tick, a few atomic adds whatever the number of players.
//! (`prometheus-client`'s histogram takes a lock per observation and cannot merge a batch.)
//!
//! A scrape reads every figure into a fresh `prometheus-client` [`Registry`] of constant metrics and
//! lets the crate encode it: [`Metrics::render`] for the server's own series, [`extend_exposition`]
//! for families kept elsewhere (the lobby's players per room). Process figures come from
//! `/proc/self` on Linux.

use prometheus_client::encoding::text;
use prometheus_client::encoding::{EncodeLabelValue, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The `Content-Type` of a `/metrics` response: the OpenMetrics 1.0 text that [`Metrics::render`]
/// and [`extend_exposition`] write, which Prometheus asks for and parses.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The line that ends an OpenMetrics exposition.
const EOF: &str = "# EOF\n";

/// Upper bounds (seconds) of the tick duration histogram buckets.
/// Fine around the 1-4 ms budgets that capacity targets are set in.
const TICK_BUCKETS: [f64; 18] = [
    0.000_1, 0.000_25, 0.000_5, 0.000_75, 0.001, 0.001_5, 0.002, 0.003, 0.004, 0.006, 0.008, 0.012,
    0.016, 0.025, 0.033, 0.05, 0.1, 0.25,
];

/// Upper bounds (bytes) of the snapshot size histogram.
const SNAPSHOT_BYTE_BUCKETS: [f64; 10] = [
    64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0, 65536.0,
];

/// Upper bounds (bytes per second) of the per-player send rate histogram.
const PLAYER_RATE_BUCKETS: [f64; 10] = [
    500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0, 32000.0, 64000.0, 128000.0, 256000.0,
];

/// Upper bounds (bytes per second) of the histogram of the rates players are paced at.
const CLIENT_RATE_BUCKETS: [f64; 11] = [
    1000.0, 2000.0, 4000.0, 8000.0, 16000.0, 32000.0, 64000.0, 128000.0, 256000.0, 1e6, 1e7,
];

/// Upper bounds of the input queue depth histogram (inputs waiting when a tick drains a player).
const INPUT_QUEUE_BUCKETS: [f64; 6] = [0.0, 1.0, 2.0, 3.0, 5.0, 8.0];

/// A histogram over fixed bucket bounds, in relaxed atomics. Observations are whole units
/// (nanoseconds, bytes, inputs); `scale` turns them into the exported unit (1e-9 for seconds from
/// nanoseconds).
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds of the buckets, in the exported unit, ascending.
    bounds: &'static [f64],
    /// Exported unit per observed unit.
    scale: f64,
    /// Observations per bucket (not cumulative), one more than `bounds`: the last holds those above
    /// every bound. The count is their total, so a scrape always sees the two agree.
    buckets: Box<[AtomicU64]>,
    /// Sum of the observations, in observed units.
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64], scale: f64) -> Histogram {
        Histogram {
            bounds,
            scale,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// The bucket an observation of `units` falls in (`bounds.len()`: above every bound).
    fn bucket(&self, units: u64) -> usize {
        let value = units as f64 * self.scale;
        self.bounds
            .iter()
            .position(|&upper| value <= upper)
            .unwrap_or(self.bounds.len())
    }

    /// Records one observation of `units`: two atomic adds. For observations made once per player,
    /// use [`Histogram::tally`].
    pub fn observe(&self, units: u64) {
        self.buckets[self.bucket(units)].fetch_add(1, Relaxed);
        self.sum.fetch_add(units, Relaxed);
    }

    /// Records `units` in a room's own tally: no atomics, for observations made per player per tick.
    pub fn tally(&self, tally: &mut Tally, units: u64) {
        if tally.buckets.len() != self.buckets.len() {
            tally.buckets = vec![0; self.buckets.len()];
        }
        tally.buckets[self.bucket(units)] += 1;
        tally.count += 1;
        tally.sum += units;
    }

    /// Adds a tally's observations to the histogram and empties it: one atomic add per bucket that
    /// got any, and one for the sum.
    pub fn flush(&self, tally: &mut Tally) {
        if tally.count == 0 {
            return;
        }
        for (bucket, n) in self.buckets.iter().zip(&mut tally.buckets) {
            if *n > 0 {
                bucket.fetch_add(std::mem::take(n), Relaxed);
            }
        }
        tally.count = 0;
        self.sum.fetch_add(std::mem::take(&mut tally.sum), Relaxed);
    }

    /// The histogram's figures as of now, for a scrape.
    fn read(&self) -> HistogramReading {
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.buckets.iter().map(|n| n.load(Relaxed)))
            .collect();
        HistogramReading {
            count: buckets.iter().map(|&(_, n)| n).sum(),
            sum: self.sum.load(Relaxed) as f64 * self.scale,
            buckets,
        }
    }
}

/// Histogram observations gathered by one task and flushed into a [`Histogram`] in one go.
#[derive(Debug, Default)]
pub struct Tally {
    /// Observations per bucket since the last flush (sized by the first [`Histogram::tally`]).
    buckets: Vec<u64>,
    /// Observations since the last flush.
    count: u64,
    /// Their sum, in observed units.
    sum: u64,
}

/// A [`Histogram`] read at a scrape, encoded as a `prometheus-client` histogram.
#[derive(Debug)]
struct HistogramReading {
    /// Sum of the observations, in the exported unit.
    sum: f64,
    /// Observations in all.
    count: u64,
    /// Upper bound and observations (not cumulative) of each bucket, the last `+Inf`.
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for HistogramReading {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// One family of series told apart by the value of one label, read at a scrape: a counter or a
/// gauge per value (`skirmish_disconnects_total{reason}`, `skirmish_room_players{room}`).
#[derive(Debug)]
pub struct Labelled<V> {
    /// The label's name.
    label: &'static str,
    /// [`MetricType::Counter`] or [`MetricType::Gauge`].
    kind: MetricType,
    /// Each label value and its series' value.
    series: Vec<(V, u64)>,
}

impl<V> Labelled<V> {
    /// Counters, one per value of `label`.
    pub fn counters(label: &'static str, series: Vec<(V, u64)>) -> Labelled<V> {
        Labelled {
            label,
            kind: MetricType::Counter,
            series,
        }
    }

    /// Gauges, one per value of `label`.
    pub fn gauges(label: &'static str, series: Vec<(V, u64)>) -> Labelled<V> {
        Labelled {
            label,
            kind: MetricType::Gauge,
            series,
        }
    }
}

impl<V: EncodeLabelValue + Clone> EncodeMetric for Labelled<V> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (value, n) in &self.series {
            let labels = [(self.label, value.clone())];
            let mut series = encoder.encode_family(&labels)?;
            if self.kind == MetricType::Counter {
                series.encode_counter::<NoLabelSet, _, u64>(n, None)?;
            } else {
                series.encode_gauge(n)?;
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        self.kind
    }
}

/// Adds `registry`'s families to the exposition in `out` (empty, or as [`Metrics::render`] wrote
/// it), keeping `# EOF` last. Names registered in `registry` must not be in `out` already.
pub fn extend_exposition(out: &mut String, registry: &Registry) {
    if out.ends_with(EOF) {
        out.truncate(out.len() - EOF.len());
    }
    let encoded = text::encode(out, registry);
    // Our metrics encode infallibly and writing to a String cannot fail.
    debug_assert!(encoded.is_ok(), "encoding metrics failed");
}

/// Why sessions ended, as the `reason` label of `skirmish_disconnects_total`.
pub const DISCONNECT_REASONS: [&str; 11] = [
    "closed",
    "shutdown",
    "protocol",
    "policy",
    "too_slow",
    "join_timeout",
    "replaced",
    "kicked",
    "banned",
    "refused",
    "other",
];

/// The `reason` label for a close code (an index into [`DISCONNECT_REASONS`]).
pub fn disconnect_reason(code: u16) -> usize {
    use skirmish_shared::protocol::close_code as c;
    match code {
        c::NORMAL => 0,
        c::GOING_AWAY => 1,
        c::PROTOCOL_ERROR | c::UNSUPPORTED_DATA | c::INVALID_PAYLOAD | c::MESSAGE_TOO_BIG => 2,
        c::POLICY_VIOLATION => 3,
        c::TOO_SLOW => 4,
        c::JOIN_TIMEOUT => 5,
        c::REPLACED => 6,
        c::KICKED => 7,
        c::BANNED => 8,
        c::VERSION_MISMATCH | c::SERVER_FULL | c::BAD_RESUME_TOKEN | c::ADDRESS_LIMIT => 9,
        _ => 10,
    }
}

/// Panics in this process since [`install_panic_counter`] (process-wide, as panic hooks are).
static PANICS: AtomicU64 = AtomicU64::new(0);

/// Counts every panic in the process into `skirmish_panics_total`, then runs the hook that was there
/// before (which prints the message). A panic is a bug: soak runs require this counter to stay 0.
pub fn install_panic_counter() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Relaxed);
        previous(info);
    }));
}

/// Panics counted so far.
pub fn panics() -> u64 {
    PANICS.load(Relaxed)
}

/// Counters shared by every part of the server.
#[derive(Debug)]
pub struct Metrics {
    /// Simulation ticks run, over all rooms.
    pub ticks: AtomicU64,
    /// Ticks that took longer than the tick period, plus ticks dropped because a room fell behind.
    pub tick_overruns: AtomicU64,
    tick_duration: Histogram,
    /// Encoded size of each snapshot offered to a player.
    pub snapshot_bytes: Histogram,
    /// Bytes of snapshots each player took in a second (observed once a second per player).
    pub player_bytes_per_second: Histogram,
    /// Inputs waiting in a player's buffer when a tick drains it (observed per player per tick).
    pub input_queue_depth: Histogram,
    /// The snapshot rate each player is paced at (observed once per join and resume).
    pub client_rate: Histogram,
    /// Sessions ended, by [`DISCONNECT_REASONS`].
    disconnects: [AtomicU64; DISCONNECT_REASONS.len()],
    /// Players currently in a room.
    pub connected_players: AtomicU64,
    /// Fill bots currently playing (never counted as players above).
    pub bots: AtomicU64,
    /// Open WebSocket and HTTP connections.
    pub open_connections: AtomicU64,
    /// Rooms currently running.
    pub rooms: AtomicU64,
    /// Bytes of WebSocket payload written to players.
    pub bytes_sent: AtomicU64,
    /// Bytes of WebSocket payload read from players.
    pub bytes_received: AtomicU64,
    /// Snapshots handed to a socket.
    pub snapshots_sent: AtomicU64,
    /// Snapshots replaced before their socket could take them (a slow reader).
    pub snapshots_skipped: AtomicU64,
    /// Snapshot turns passed without a snapshot because the player's byte budget was in debt.
    pub snapshots_deferred_rate: AtomicU64,
    /// Inputs rejected for a sequence number that did not move forward.
    pub inputs_rejected: AtomicU64,
    /// Chat lines rejected: over the length cap, or over the seat's or the address's rate.
    pub chat_rejected: AtomicU64,
    /// Joins and resumes refused for their address (at its seat cap, or joining too fast).
    pub joins_refused_address: AtomicU64,
    /// Client messages dropped unread for exceeding a rate limit.
    pub rate_limited: AtomicU64,
    /// Inputs dropped unapplied: a player's input buffer was full, or a newer input overtook them.
    pub inputs_dropped: AtomicU64,
    /// Stamped inputs that reached their room after the tick they were for (the client's clock was
    /// not far enough ahead of the server's for its link).
    pub late_inputs: AtomicU64,
    /// Clients whose view did not match a snapshot's check (each then gets a full snapshot).
    pub desyncs: AtomicU64,
    /// Projectiles fired, over all rooms.
    pub shots_fired: AtomicU64,
    /// Projectiles that hit a player, over all rooms (with lag compensation, where the shooter saw
    /// the target).
    pub shot_hits: AtomicU64,
    /// Rewound projectiles that stopped, harmless, on a player as the shooter saw it, alive, that
    /// had been killed since by another shot.
    pub shot_hits_on_fallen: AtomicU64,
    /// Players disconnected for not reading their snapshots.
    pub slow_reader_kicks: AtomicU64,
    /// Connections closed for a protocol violation.
    pub protocol_errors: AtomicU64,
    /// Spectators watching, over all rooms.
    pub spectators: AtomicU64,
    /// Feed frames written to spectators' sockets.
    pub spectator_frames_sent: AtomicU64,
    /// Spectators that fell behind their room's feed (or asked for a full snapshot) and started over
    /// from its last keyframe.
    pub spectator_resyncs: AtomicU64,
    /// Inputs and chat lines from spectators, rejected (the connection is kept).
    pub spectator_messages_rejected: AtomicU64,
    /// Feed frames encoded, over all rooms (each once, whatever the number of spectators).
    pub feed_frames: AtomicU64,
    /// Bytes appended to replay files.
    pub replay_bytes_written: AtomicU64,
    /// Replay files being written.
    pub replays_recording: AtomicU64,
    /// Feed frames not recorded because the replay writer was behind.
    pub replay_frames_dropped: AtomicU64,
    /// Replay files that could not be created or written.
    pub replay_write_errors: AtomicU64,
    /// Replay files deleted to stay within the retention.
    pub replays_deleted: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            ticks: AtomicU64::new(0),
            tick_overruns: AtomicU64::new(0),
            tick_duration: Histogram::new(&TICK_BUCKETS, 1e-9),
            snapshot_bytes: Histogram::new(&SNAPSHOT_BYTE_BUCKETS, 1.0),
            player_bytes_per_second: Histogram::new(&PLAYER_RATE_BUCKETS, 1.0),
            input_queue_depth: Histogram::new(&INPUT_QUEUE_BUCKETS, 1.0),
            client_rate: Histogram::new(&CLIENT_RATE_BUCKETS, 1.0),
            disconnects: Default::default(),
            connected_players: AtomicU64::new(0),
            bots: AtomicU64::new(0),
            open_connections: AtomicU64::new(0),
            rooms: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            snapshots_sent: AtomicU64::new(0),
            snapshots_skipped: AtomicU64::new(0),
            snapshots_deferred_rate: AtomicU64::new(0),
            inputs_rejected: AtomicU64::new(0),
            chat_rejected: AtomicU64::new(0),
            joins_refused_address: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            inputs_dropped: AtomicU64::new(0),
            late_inputs: AtomicU64::new(0),
            desyncs: AtomicU64::new(0),
            shots_fired: AtomicU64::new(0),
            shot_hits: AtomicU64::new(0),
            shot_hits_on_fallen: AtomicU64::new(0),
            slow_reader_kicks: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            spectators: AtomicU64::new(0),
            spectator_frames_sent: AtomicU64::new(0),
            spectator_resyncs: AtomicU64::new(0),
            spectator_messages_rejected: AtomicU64::new(0),
            feed_frames: AtomicU64::new(0),
            replay_bytes_written: AtomicU64::new(0),
            replays_recording: AtomicU64::new(0),
            replay_frames_dropped: AtomicU64::new(0),
            replay_write_errors: AtomicU64::new(0),
            replays_deleted: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Records one tick's duration against the tick period.
    pub fn observe_tick(&self, took: Duration, period: Duration) {
        self.ticks.fetch_add(1, Relaxed);
        if took > period {
            self.tick_overruns.fetch_add(1, Relaxed);
        }
        self.tick_duration
            .observe(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Counts a session that ended with close `code`.
    pub fn count_disconnect(&self, code: u16) {
        self.disconnects[disconnect_reason(code)].fetch_add(1, Relaxed);
    }

    /// Sessions ended with `reason` (one of [`DISCONNECT_REASONS`]) so far.
    pub fn disconnects(&self, reason: &str) -> u64 {
        DISCONNECT_REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.disconnects[i].load(Relaxed))
    }

    /// Every series the server keeps, and the process figures, as a complete OpenMetrics text
    /// exposition (ending `# EOF`; serve it as [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut registry = Registry::default();
        self.register_readings(&mut registry);
        register_process_readings(&mut registry);
        let mut out = String::with_capacity(8192);
        extend_exposition(&mut out, &registry);
        out
    }

    /// Reads every series into `registry`. Names are given as `prometheus-client` wants them: it
    /// adds the unit (`_seconds`, `_bytes`) and a counter's `_total`, and ends each help with a
    /// full stop.
    fn register_readings(&self, registry: &mut Registry) {
        registry.register(
            "skirmish_ticks",
            "Simulation ticks run",
            ConstCounter::new(self.ticks.load(Relaxed)),
        );
        registry.register(
            "skirmish_tick_overruns",
            "Ticks that took longer than the tick period or were dropped to catch up",
            ConstCounter::new(self.tick_overruns.load(Relaxed)),
        );
        registry.register_with_unit(
            "skirmish_tick_duration",
            "Time to run one room tick",
            Unit::Seconds,
            self.tick_duration.read(),
        );
        registry.register_with_unit(
            "skirmish_snapshot",
            "Encoded size of each snapshot offered to a player",
            Unit::Bytes,
            self.snapshot_bytes.read(),
        );
        registry.register(
            "skirmish_player_bytes_per_second",
            "Snapshot bytes each player took in a second, observed once a second per player",
            self.player_bytes_per_second.read(),
        );
        registry.register(
            "skirmish_client_rate_bytes_per_second",
            "Snapshot bytes per second each joining or resuming player is paced at",
            self.client_rate.read(),
        );
        registry.register(
            "skirmish_input_queue_depth",
            "Inputs waiting in a player's buffer when a tick takes one, per player per tick",
            self.input_queue_depth.read(),
        );
        let disconnects = DISCONNECT_REASONS
            .iter()
            .zip(&self.disconnects)
            .map(|(&reason, n)| (reason, n.load(Relaxed)))
            .collect();
        registry.register(
            "skirmish_disconnects",
            "Sessions ended, by reason",
            Labelled::counters("reason", disconnects),
        );
        let gauges = [
            (
                "skirmish_connected_players",
                "Players currently in a room",
                &self.connected_players,
            ),
            (
                "skirmish_open_connections",
                "Open TCP connections (HTTP and WebSocket)",
                &self.open_connections,
            ),
            ("skirmish_rooms", "Rooms running", &self.rooms),
            (
                "skirmish_spectators",
                "Spectators watching a room's broadcast feed",
                &self.spectators,
            ),
            (
                "skirmish_replays_recording",
                "Replay files being written",
                &self.replays_recording,
            ),
            (
                "skirmish_bots",
                "Fill bots playing (--fill-bots), not counted as players",
                &self.bots,
            ),
        ];
        for (name, help, value) in gauges {
            registry.register(name, help, ConstGauge::new(value.load(Relaxed)));
        }
        let counters = [
            (
                "skirmish_bytes_sent",
                "WebSocket payload bytes sent",
                &self.bytes_sent,
            ),
            (
                "skirmish_bytes_received",
                "WebSocket payload bytes received",
                &self.bytes_received,
            ),
            (
                "skirmish_snapshots_sent",
                "Snapshots written to sockets",
                &self.snapshots_sent,
            ),
            (
                "skirmish_spectator_frames_sent",
                "Broadcast feed frames written to spectators' sockets",
                &self.spectator_frames_sent,
            ),
            (
                "skirmish_spectator_resyncs",
                "Spectators that fell behind the feed (or asked for a full snapshot) and started over from its last keyframe",
                &self.spectator_resyncs,
            ),
            (
                "skirmish_spectator_messages_rejected",
                "Inputs and chat lines from spectators, rejected with the connection kept",
                &self.spectator_messages_rejected,
            ),
            (
                "skirmish_feed_frames",
                "Broadcast feed frames encoded (once per room and frame, however many watch)",
                &self.feed_frames,
            ),
            (
                "skirmish_replay_bytes_written",
                "Bytes appended to replay files",
                &self.replay_bytes_written,
            ),
            (
                "skirmish_replay_frames_dropped",
                "Feed frames not recorded because the replay writer was behind (the recording resumes at the next keyframe)",
                &self.replay_frames_dropped,
            ),
            (
                "skirmish_replay_write_errors",
                "Replay files that could not be created or written",
                &self.replay_write_errors,
            ),
            (
                "skirmish_replays_deleted",
                "Replay files deleted to stay within --replay-retention",
                &self.replays_deleted,
            ),
            (
                "skirmish_snapshots_skipped",
                "Snapshots replaced by a newer one before a slow socket took them",
                &self.snapshots_skipped,
            ),
            (
                "skirmish_snapshots_deferred_rate",
                "Snapshot turns passed without a snapshot because the player's byte budget (its rate) was in debt",
                &self.snapshots_deferred_rate,
            ),
            (
                "skirmish_inputs_rejected",
                "Inputs rejected for a sequence number that did not move forward",
                &self.inputs_rejected,
            ),
            (
                "skirmish_chat_rejected",
                "Chat lines rejected: over the length cap, or over the seat's or the address's rate",
                &self.chat_rejected,
            ),
            (
                "skirmish_address_refusals",
                "Joins and resumes refused for their address: at its seat cap, or joining too fast",
                &self.joins_refused_address,
            ),
            (
                "skirmish_rate_limited",
                "Client messages dropped unread for exceeding a rate limit",
                &self.rate_limited,
            ),
            (
                "skirmish_inputs_dropped",
                "Inputs dropped unapplied: from full input buffers, or overtaken by a newer input",
                &self.inputs_dropped,
            ),
            (
                "skirmish_late_inputs",
                "Stamped inputs that reached the room after the tick they were for",
                &self.late_inputs,
            ),
            (
                "skirmish_desyncs",
                "Snapshots whose view check a client reported failed (it then got a full snapshot)",
                &self.desyncs,
            ),
            (
                "skirmish_shots_fired",
                "Projectiles fired",
                &self.shots_fired,
            ),
            (
                "skirmish_shot_hits",
                "Projectiles that hit a player",
                &self.shot_hits,
            ),
            (
                "skirmish_shot_hits_on_fallen",
                "Lag-compensated projectiles that stopped, harmless, on a player seen alive by the shooter but killed since",
                &self.shot_hits_on_fallen,
            ),
            (
                "skirmish_slow_reader_disconnects",
                "Players disconnected for leaving snapshots unread",
                &self.slow_reader_kicks,
            ),
            (
                "skirmish_protocol_errors",
                "Connections closed for a protocol violation",
                &self.protocol_errors,
            ),
        ];
        for (name, help, value) in counters {
            registry.register(name, help, ConstCounter::new(value.load(Relaxed)));
        }
        registry.register(
            "skirmish_panics",
            "Panics in the server process (any is a bug)",
            ConstCounter::new(panics()),
        );
    }
}

/// Reads the process figures this platform offers into `registry`.
fn register_process_readings(registry: &mut Registry) {
    if let Some(cpu) = process_cpu_seconds() {
        registry.register_with_unit(
            "process_cpu",
            "Total user and system CPU time spent in seconds",
            Unit::Seconds,
            ConstCounter::new(cpu),
        );
    }
    if let Some(rss) = process_resident_memory_bytes() {
        registry.register_with_unit(
            "process_resident_memory",
            "Resident memory size in bytes",
            Unit::Bytes,
            ConstGauge::new(rss),
        );
    }
}

/// User plus system CPU seconds of this process, from `/proc/self/stat` (Linux reports clock ticks of
/// USER_HZ, which is 100 on every Linux ABI).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Resident set size in bytes, from `/proc/self/status`.
fn process_resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_required_series() {
        let metrics = Metrics::default();
        let period = Duration::from_millis(16);
        metrics.observe_tick(Duration::from_micros(300), period);
        metrics.observe_tick(Duration::from_millis(20), period);
        let text = metrics.render();
        for line in [
            "skirmish_ticks_total 2",
            "skirmish_tick_overruns_total 1",
            "skirmish_tick_duration_seconds_bucket{le=\"0.0005\"} 1",
            "skirmish_tick_duration_seconds_bucket{le=\"0.016\"} 1",
            "skirmish_tick_duration_seconds_bucket{le=\"0.025\"} 2",
            "skirmish_tick_duration_seconds_bucket{le=\"+Inf\"} 2",
            "skirmish_tick_duration_seconds_count 2",
            "skirmish_connected_players 0",
            "skirmish_rooms 0",
            "skirmish_bytes_sent_total 0",
            "skirmish_snapshots_sent_total 0",
            "skirmish_snapshots_skipped_total 0",
            "skirmish_snapshots_deferred_rate_total 0",
            "skirmish_client_rate_bytes_per_second_count 0",
            "skirmish_snapshot_bytes_bucket{le=\"+Inf\"} 0",
            "skirmish_player_bytes_per_second_count 0",
            "skirmish_input_queue_depth_sum 0.0",
            "skirmish_disconnects_total{reason=\"kicked\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        let mut tally = Tally::default();
        metrics.snapshot_bytes.tally(&mut tally, 300);
        metrics.snapshot_bytes.tally(&mut tally, 100_000);
        assert!(
            metrics.render().contains("skirmish_snapshot_bytes_count 0"),
            "not yet flushed"
        );
        metrics.snapshot_bytes.flush(&mut tally);
        metrics.snapshot_bytes.flush(&mut tally); // empty: adds nothing
        metrics.count_disconnect(skirmish_shared::protocol::close_code::KICKED);
        let text = metrics.render();
        for line in [
            "skirmish_snapshot_bytes_bucket{le=\"256.0\"} 0",
            "skirmish_snapshot_bytes_bucket{le=\"512.0\"} 1",
            "skirmish_snapshot_bytes_bucket{le=\"65536.0\"} 1",
            "skirmish_snapshot_bytes_bucket{le=\"+Inf\"} 2",
            "skirmish_snapshot_bytes_count 2",
            "skirmish_snapshot_bytes_sum 100300.0",
            "skirmish_disconnects_total{reason=\"kicked\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        if cfg!(target_os = "linux") {
            assert!(text.contains("\nprocess_cpu_seconds_total "));
            assert!(text.contains("\nprocess_resident_memory_bytes "));
        }
    }

    #[test]
    fn exposition_is_openmetrics_with_types_units_and_one_eof() {
        let text = Metrics::default().render();
        assert!(text.ends_with("\n# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1);
        for line in [
            "# TYPE skirmish_ticks counter",
            "# HELP skirmish_ticks Simulation ticks run.",
            "# TYPE skirmish_tick_duration_seconds histogram",
            "# UNIT skirmish_tick_duration_seconds seconds",
            "# UNIT skirmish_snapshot_bytes bytes",
            "# TYPE skirmish_disconnects counter",
            "# TYPE skirmish_rooms gauge",
            "# TYPE skirmish_panics counter",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert!(
            !text.contains(".."),
            "a help ends in two full stops:\n{text}"
        );
        assert!(!text.contains("_total_total"), "{text}");
    }

    #[test]
    fn tally_and_observe_agree() {
        let metrics = Metrics::default();
        let mut tally = Tally::default();
        for depth in [0, 1, 1, 4, 9, 100] {
            metrics.input_queue_depth.observe(depth);
            metrics.player_bytes_per_second.tally(&mut tally, depth);
        }
        metrics.player_bytes_per_second.flush(&mut tally);
        let observed = metrics.input_queue_depth.read();
        let tallied = metrics.player_bytes_per_second.read();
        assert_eq!(observed.count, 6);
        assert_eq!(observed.sum, 115.0);
        let counts = |h: &HistogramReading| h.buckets.iter().map(|&(_, n)| n).collect::<Vec<_>>();
        // Buckets 0, 1, 2, 3, 5, 8 and +Inf.
        assert_eq!(counts(&observed), [1, 2, 0, 0, 1, 0, 2]);
        assert_eq!((tallied.count, tallied.sum), (6, 115.0));
        assert_eq!(counts(&tallied)[0], 6, "all under 500 bytes/s");
    }

    #[test]
    fn extending_an_exposition_keeps_eof_last() {
        let mut out = Metrics::default().render();
        let mut registry = Registry::default();
        let rooms = vec![(1u32, 3), (7, 0)];
        registry.register(
            "skirmish_room_players",
            "Players per room",
            Labelled::gauges("room", rooms),
        );
        extend_exposition(&mut out, &registry);
        assert!(out.ends_with(
            "# HELP skirmish_room_players Players per room.\n\
             # TYPE skirmish_room_players gauge\n\
             skirmish_room_players{room=\"1\"} 3\n\
             skirmish_room_players{room=\"7\"} 0\n\
             # EOF\n"
        ));
        assert_eq!(out.matches("# EOF").count(), 1);
        let mut empty = String::new();
        extend_exposition(&mut empty, &Registry::default());
        assert_eq!(empty, "# EOF\n");
    }
}
