//! Server-wide counters and their Prometheus text rendering (`/metrics`).
//!
//! Everything is a relaxed atomic: rooms and sessions bump counters without locks, and a scrape reads a
//! consistent-enough picture. Process figures come from `/proc/self` on Linux.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

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

/// Upper bounds of the input queue depth histogram (inputs waiting when a tick drains a player).
const INPUT_QUEUE_BUCKETS: [f64; 6] = [0.0, 1.0, 2.0, 3.0, 5.0, 8.0];

/// A Prometheus histogram over fixed bucket bounds. Observations are whole units (nanoseconds,
/// bytes, inputs); `scale` turns the sum into the exported unit (1e-9 for seconds from nanoseconds).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    scale: f64,
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64], scale: f64) -> Histogram {
        Histogram {
            bounds,
            scale,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    /// The bucket an observation of `units` falls in (`None`: above every bound).
    fn bucket(&self, units: u64) -> Option<usize> {
        let value = units as f64 * self.scale;
        self.bounds.iter().position(|&upper| value <= upper)
    }

    /// Records one observation of `units`.
    pub fn observe(&self, units: u64) {
        if let Some(i) = self.bucket(units) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum.fetch_add(units, Relaxed);
    }

    /// Records `units` in a room's own tally: no atomics, for observations made per player per tick.
    pub fn tally(&self, tally: &mut Tally, units: u64) {
        if tally.buckets.len() != self.bounds.len() {
            tally.buckets = vec![0; self.bounds.len()];
        }
        if let Some(i) = self.bucket(units) {
            tally.buckets[i] += 1;
        }
        tally.count += 1;
        tally.sum += units;
    }

    /// Adds a tally's observations to the histogram and empties it.
    pub fn flush(&self, tally: &mut Tally) {
        if tally.count == 0 {
            return;
        }
        for (bucket, n) in self.buckets.iter().zip(&mut tally.buckets) {
            if *n > 0 {
                bucket.fetch_add(std::mem::take(n), Relaxed);
            }
        }
        self.count
            .fetch_add(std::mem::take(&mut tally.count), Relaxed);
        self.sum.fetch_add(std::mem::take(&mut tally.sum), Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (upper, bucket) in self.bounds.iter().zip(self.buckets.iter()) {
            cumulative += bucket.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{upper}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum.load(Relaxed) as f64 * self.scale;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Histogram observations gathered by one task and flushed into a [`Histogram`] in one go.
#[derive(Debug, Default)]
pub struct Tally {
    buckets: Vec<u64>,
    count: u64,
    sum: u64,
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
    /// Sessions ended, by [`DISCONNECT_REASONS`].
    disconnects: [AtomicU64; DISCONNECT_REASONS.len()],
    /// Players currently in a room.
    pub connected_players: AtomicU64,
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
    /// Inputs rejected for a sequence number that did not move forward.
    pub inputs_rejected: AtomicU64,
    /// Chat lines rejected: over the length cap, or over the seat's or the address's rate.
    pub chat_rejected: AtomicU64,
    /// Joins and resumes refused for their address (at its seat cap, or joining too fast).
    pub joins_refused_address: AtomicU64,
    /// Client messages dropped unread for exceeding a rate limit.
    pub rate_limited: AtomicU64,
    /// Inputs dropped because a player's input buffer was full.
    pub inputs_dropped: AtomicU64,
    /// Players disconnected for not reading their snapshots.
    pub slow_reader_kicks: AtomicU64,
    /// Connections closed for a protocol violation.
    pub protocol_errors: AtomicU64,
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
            disconnects: Default::default(),
            connected_players: AtomicU64::new(0),
            open_connections: AtomicU64::new(0),
            rooms: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            snapshots_sent: AtomicU64::new(0),
            snapshots_skipped: AtomicU64::new(0),
            inputs_rejected: AtomicU64::new(0),
            chat_rejected: AtomicU64::new(0),
            joins_refused_address: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            inputs_dropped: AtomicU64::new(0),
            slow_reader_kicks: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
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

    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, value: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        counter(
            &mut out,
            "skirmish_ticks_total",
            "Simulation ticks run.",
            self.ticks.load(Relaxed),
        );
        counter(
            &mut out,
            "skirmish_tick_overruns_total",
            "Ticks that took longer than the tick period or were dropped to catch up.",
            self.tick_overruns.load(Relaxed),
        );
        self.tick_duration.render(
            &mut out,
            "skirmish_tick_duration_seconds",
            "Time to run one room tick.",
        );
        self.snapshot_bytes.render(
            &mut out,
            "skirmish_snapshot_bytes",
            "Encoded size of each snapshot offered to a player.",
        );
        self.player_bytes_per_second.render(
            &mut out,
            "skirmish_player_bytes_per_second",
            "Snapshot bytes each player took in a second, observed once a second per player.",
        );
        self.input_queue_depth.render(
            &mut out,
            "skirmish_input_queue_depth",
            "Inputs waiting in a player's buffer when a tick takes one, per player per tick.",
        );
        let _ = writeln!(
            out,
            "# HELP skirmish_disconnects_total Sessions ended, by reason.\n# TYPE skirmish_disconnects_total counter"
        );
        for (reason, count) in DISCONNECT_REASONS.iter().zip(&self.disconnects) {
            let _ = writeln!(
                out,
                "skirmish_disconnects_total{{reason=\"{reason}\"}} {}",
                count.load(Relaxed)
            );
        }
        gauge(
            &mut out,
            "skirmish_connected_players",
            "Players currently in a room.",
            self.connected_players.load(Relaxed) as f64,
        );
        gauge(
            &mut out,
            "skirmish_open_connections",
            "Open TCP connections (HTTP and WebSocket).",
            self.open_connections.load(Relaxed) as f64,
        );
        gauge(
            &mut out,
            "skirmish_rooms",
            "Rooms running.",
            self.rooms.load(Relaxed) as f64,
        );
        let counters = [
            (
                "skirmish_bytes_sent_total",
                "WebSocket payload bytes sent.",
                &self.bytes_sent,
            ),
            (
                "skirmish_bytes_received_total",
                "WebSocket payload bytes received.",
                &self.bytes_received,
            ),
            (
                "skirmish_snapshots_sent_total",
                "Snapshots written to sockets.",
                &self.snapshots_sent,
            ),
            (
                "skirmish_snapshots_skipped_total",
                "Snapshots replaced by a newer one before a slow socket took them.",
                &self.snapshots_skipped,
            ),
            (
                "skirmish_inputs_rejected_total",
                "Inputs rejected for a sequence number that did not move forward.",
                &self.inputs_rejected,
            ),
            (
                "skirmish_chat_rejected_total",
                "Chat lines rejected: over the length cap, or over the seat's or the address's rate.",
                &self.chat_rejected,
            ),
            (
                "skirmish_address_refusals_total",
                "Joins and resumes refused for their address: at its seat cap, or joining too fast.",
                &self.joins_refused_address,
            ),
            (
                "skirmish_rate_limited_total",
                "Client messages dropped unread for exceeding a rate limit.",
                &self.rate_limited,
            ),
            (
                "skirmish_inputs_dropped_total",
                "Inputs dropped from full input buffers.",
                &self.inputs_dropped,
            ),
            (
                "skirmish_slow_reader_disconnects_total",
                "Players disconnected for leaving snapshots unread.",
                &self.slow_reader_kicks,
            ),
            (
                "skirmish_protocol_errors_total",
                "Connections closed for a protocol violation.",
                &self.protocol_errors,
            ),
        ];
        for (name, help, value) in counters {
            counter(&mut out, name, help, value.load(Relaxed));
        }
        counter(
            &mut out,
            "skirmish_panics_total",
            "Panics in the server process (any is a bug).",
            panics(),
        );
        if let Some(cpu) = process_cpu_seconds() {
            let _ = writeln!(
                out,
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
                 # TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {cpu}"
            );
        }
        if let Some(rss) = process_resident_memory_bytes() {
            gauge(
                &mut out,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                rss as f64,
            );
        }
        out
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
        for name in [
            "skirmish_ticks_total 2",
            "skirmish_tick_overruns_total 1",
            "skirmish_tick_duration_seconds_bucket{le=\"0.0005\"} 1",
            "skirmish_tick_duration_seconds_bucket{le=\"+Inf\"} 2",
            "skirmish_tick_duration_seconds_count 2",
            "skirmish_connected_players 0",
            "skirmish_rooms 0",
            "skirmish_bytes_sent_total 0",
            "skirmish_snapshots_sent_total 0",
            "skirmish_snapshots_skipped_total 0",
            "skirmish_snapshot_bytes_bucket{le=\"+Inf\"} 0",
            "skirmish_player_bytes_per_second_count 0",
            "skirmish_input_queue_depth_sum 0",
            "skirmish_disconnects_total{reason=\"kicked\"} 0",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
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
            "skirmish_snapshot_bytes_bucket{le=\"256\"} 0",
            "skirmish_snapshot_bytes_bucket{le=\"512\"} 1",
            "skirmish_snapshot_bytes_bucket{le=\"65536\"} 1",
            "skirmish_snapshot_bytes_bucket{le=\"+Inf\"} 2",
            "skirmish_snapshot_bytes_sum 100300",
            "skirmish_disconnects_total{reason=\"kicked\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        if cfg!(target_os = "linux") {
            assert!(text.contains("process_cpu_seconds_total "));
            assert!(text.contains("process_resident_memory_bytes "));
        }
    }
}
