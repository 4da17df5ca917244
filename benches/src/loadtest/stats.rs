//! Counters the bots fill and the sampler reads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use tokio::time::Instant;

use super::delivery::{Deliveries, SessionTicks};
use super::malformed::Kind;

/// One bot's counters.
#[derive(Debug, Default)]
pub struct BotStats {
    /// Welcomed.
    pub connected: AtomicBool,
    /// Snapshots received.
    pub snapshots: AtomicU64,
    /// Payload bytes received.
    pub bytes_down: AtomicU64,
    /// Payload bytes sent.
    pub bytes_up: AtomicU64,
}

/// Counters over all bots.
#[derive(Debug, Default)]
pub struct Totals {
    /// Welcomes (ever): first joins, rejoins and resumes; a bot that rejoins counts again.
    pub connected: AtomicU64,
    /// Connections the server closed or that failed after joining, with no malformed message to
    /// explain it.
    pub disconnects: AtomicU64,
    /// Failed connects, refusals and undecodable messages.
    pub errors: AtomicU64,
    /// Of those, `Refused` answers to a Hello.
    pub refused: AtomicU64,
    /// Snapshots received.
    pub snapshots: AtomicU64,
    /// Payload bytes received.
    pub bytes_down: AtomicU64,
    /// Payload bytes sent.
    pub bytes_up: AtomicU64,
    /// Messages sent.
    pub messages_up: AtomicU64,
    /// The snapshot rate the server announced.
    pub snapshot_hz: AtomicU64,
    /// The tick rate the server announced.
    pub tick_hz: AtomicU64,
    /// Bots joined right now (at most one per bot slot).
    pub live: AtomicU64,
    /// The most bots joined at once since [`Totals::reset_peak`].
    pub live_peak: AtomicU64,
    /// Snapshot delivery per session, counted in the rooms' ticks (see [`Deliveries`]).
    pub deliveries: Deliveries,
    /// Per Welcome: when its Hello was sent and when it came.
    join_timings: Mutex<Vec<(Instant, Instant)>>,
    /// Per session: from its Welcome to its first snapshot, ms.
    first_snapshot_ms: Mutex<Vec<f32>>,
    /// Payload bytes of snapshots received (a part of `bytes_down`).
    pub snapshot_bytes: AtomicU64,
    /// Players that left on the churn signal.
    pub churned: AtomicU64,
    /// Resumes that got the same entity back.
    pub resumed: AtomicU64,
    /// Resumes welcomed as a different entity (the seat was lost).
    pub resume_lost: AtomicU64,
    /// Malformed messages sent, by [`Kind`] (its index in [`Kind::ALL`]).
    pub malformed_sent: [AtomicU64; Kind::ALL.len()],
    /// Fatal malformed messages the server closed with the right code.
    pub malformed_closed: AtomicU64,
    /// Fatal malformed messages the server answered with another code, or by dropping the socket.
    pub malformed_wrong_close: AtomicU64,
    /// Fatal malformed messages the server left open past the deadline.
    pub malformed_not_closed: AtomicU64,
    /// How late snapshots reached the bots (see [`LagCounts`]).
    pub lags: LagCounts,
    /// Snapshots after which a bot's view matched the snapshot's check.
    pub views_verified: AtomicU64,
    /// Feel bots: what their netcode measured (see `feel::FeelFigures`), summed.
    pub feel: FeelTotals,
    /// Snapshots after which a bot's view did not match the snapshot's check.
    pub desyncs: AtomicU64,
    /// Snapshots that did not apply to a bot's view (a baseline it does not hold, say).
    pub view_errors: AtomicU64,
    /// Welcomes by room code: where the bots were seated.
    pub rooms: Mutex<HashMap<String, u64>>,
    rtts: Mutex<Vec<f32>>,
}

impl Totals {
    /// Records a round trip.
    pub fn record_rtt(&self, ms: f64) {
        self.rtts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ms as f32);
    }

    /// Records a bot's Welcome into the room whose code is `code`.
    pub fn count_room(&self, code: &str) {
        *self
            .rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(code.to_string())
            .or_default() += 1;
    }

    /// The room the most bots were welcomed into, and how many (the first code in order on a tie).
    pub fn busiest_room(&self) -> Option<(String, u64)> {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let mut rooms: Vec<(&String, &u64)> = rooms.iter().collect();
        rooms.sort();
        rooms
            .into_iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(code, n)| (code.clone(), *n))
    }

    /// Starts the peak of joined bots over at the number joined now.
    pub fn reset_peak(&self) {
        self.live_peak.store(self.live.load(Relaxed), Relaxed);
    }

    /// Takes the Welcomes' timings recorded so far: (Hello sent, Welcome received).
    pub fn take_join_timings(&self) -> Vec<(Instant, Instant)> {
        std::mem::take(&mut *self.join_timings.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Takes the waits from a Welcome to its session's first snapshot recorded so far, ms.
    pub fn take_first_snapshot_ms(&self) -> Vec<f32> {
        std::mem::take(
            &mut *self
                .first_snapshot_ms
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// Takes the round trips recorded so far.
    pub fn take_rtts(&self) -> Vec<f32> {
        std::mem::take(&mut *self.rtts.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A snapshot of the plain counters: (snapshots, bytes down, bytes up).
    pub fn flow(&self) -> (u64, u64, u64) {
        (
            self.snapshots.load(Relaxed),
            self.bytes_down.load(Relaxed),
            self.bytes_up.load(Relaxed),
        )
    }
}

/// One bot connection from its Welcome to its end: counted as joined meanwhile (so joined bots
/// never outnumber bot slots, however often they rejoin), its snapshots counted by tick, and what
/// it was due and received settled into the delivery windows when it ends, however it ends.
#[derive(Debug)]
pub struct Session<'a> {
    totals: &'a Totals,
    /// When the Welcome came, and the session's snapshots.
    joined: Option<(Instant, SessionTicks)>,
}

impl<'a> Session<'a> {
    /// A connection not yet welcomed.
    pub fn new(totals: &'a Totals) -> Session<'a> {
        Session {
            totals,
            joined: None,
        }
    }

    /// The Welcome into the room whose code is `room_code` (ticking at `tick_hz`, `interval` ticks
    /// between a player's snapshots) came at `now`, for the Hello sent at `hello`. A second
    /// Welcome changes nothing.
    pub fn welcome(&mut self, room_code: &str, rates: (u64, u64), hello: Instant, now: Instant) {
        let (tick_hz, interval) = rates;
        if self.joined.is_some() {
            return;
        }
        let totals = self.totals;
        let live = totals.live.fetch_add(1, Relaxed) + 1;
        totals.live_peak.fetch_max(live, Relaxed);
        totals
            .join_timings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((hello, now));
        let room = totals.deliveries.room(room_code, interval, tick_hz);
        self.joined = Some((now, SessionTicks::new(room)));
    }

    /// A snapshot of `tick` reached the bot at `now`.
    pub fn snapshot(&mut self, tick: u32, now: Instant) {
        if let Some((welcomed, ticks)) = self.joined.as_mut() {
            if ticks.snapshot(u64::from(tick)) {
                let ms = now.saturating_duration_since(*welcomed).as_secs_f64() * 1e3;
                self.totals
                    .first_snapshot_ms
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(ms as f32);
            }
        }
    }

    /// Whether the Welcome came.
    pub fn is_joined(&self) -> bool {
        self.joined.is_some()
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if let Some((welcomed, ticks)) = self.joined.take() {
            self.totals.live.fetch_sub(1, Relaxed);
            self.totals
                .deliveries
                .settle(&ticks, welcomed, Instant::now());
        }
    }
}

/// Lags are counted per whole millisecond up to this; longer ones share the last count.
pub const LAG_LIMIT_MS: usize = 10_000;

/// How late snapshots reached bots (after the link conditioner), behind the room's tick (see the
/// bot's `LagClock`), in whole milliseconds, counted per millisecond so that every bot records one
/// with a single atomic add. A backlog anywhere (the server, the kernel's buffers, the simulated
/// link) shows as a lag that grows.
#[derive(Debug)]
pub struct LagCounts {
    counts: Box<[AtomicU64]>,
    max_us: AtomicU64,
}

impl Default for LagCounts {
    fn default() -> LagCounts {
        LagCounts {
            counts: (0..=LAG_LIMIT_MS).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicU64::new(0),
        }
    }
}

impl LagCounts {
    /// Records one snapshot's lag.
    pub fn record(&self, lag_us: u64) {
        let ms = usize::try_from(lag_us / 1_000).unwrap_or(LAG_LIMIT_MS);
        self.counts[ms.min(LAG_LIMIT_MS)].fetch_add(1, Relaxed);
        self.max_us.fetch_max(lag_us, Relaxed);
    }

    /// Takes the lags recorded so far (and starts over).
    pub fn take(&self) -> Lags {
        Lags {
            counts: self.counts.iter().map(|c| c.swap(0, Relaxed)).collect(),
            max_us: self.max_us.swap(0, Relaxed),
        }
    }
}

/// Lags taken from [`LagCounts`].
#[derive(Debug, Clone, Default)]
pub struct Lags {
    /// Snapshots per whole millisecond of lag (the last: that long or longer).
    counts: Vec<u64>,
    max_us: u64,
}

impl Lags {
    /// Adds `other`'s lags to these.
    pub fn merge(&mut self, other: &Lags) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.max_us = self.max_us.max(other.max_us);
    }

    /// The `q` quantile (0..=1) in milliseconds (the upper end of its millisecond); 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = (q * (total - 1) as f64).round() as u64;
        let mut seen = 0;
        for (ms, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen > rank {
                return (ms + 1) as f64;
            }
        }
        self.counts.len() as f64
    }

    /// The longest lag, in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.max_us as f64 / 1e3
    }
}

/// The `q` quantile (0..=1) of `values` (sorted in place); 0 when empty.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = (q * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_room_is_the_one_most_bots_were_welcomed_into() {
        let totals = Totals::default();
        assert_eq!(totals.busiest_room(), None);
        for code in ["BBBB", "AAAA", "BBBB", "CCCC", "AAAA", "BBBB"] {
            totals.count_room(code);
        }
        assert_eq!(totals.busiest_room(), Some(("BBBB".to_string(), 3)));
        // A tie goes to the first code in order, whatever order the bots came in.
        totals.count_room("AAAA");
        assert_eq!(totals.busiest_room(), Some(("AAAA".to_string(), 3)));
    }

    /// Under churn the old figure was Welcomes (25,029 in a 10-minute soak of 200 bots); joined
    /// bots are sessions between their Welcome and their end, never more than the slots.
    #[test]
    fn bots_rejoining_count_as_joins_not_as_more_bots() {
        let totals = Totals::default();
        let start = Instant::now();
        for round in 0..50u32 {
            // Three slots: each session ends before its slot's next one begins.
            let mut sessions: Vec<Session<'_>> = (0..3).map(|_| Session::new(&totals)).collect();
            for session in &mut sessions {
                session.welcome("ROOM", (60, 2), start, start);
                session.welcome("ROOM", (60, 2), start, start); // a second Welcome changes nothing
                totals.connected.fetch_add(1, Relaxed);
                session.snapshot(2 * round + 1, start);
            }
            assert_eq!(totals.live.load(Relaxed), 3);
        }
        assert_eq!(totals.live.load(Relaxed), 0);
        assert_eq!(totals.live_peak.load(Relaxed), 3);
        assert_eq!(totals.connected.load(Relaxed), 150, "joins, counted apart");
        assert_eq!(totals.take_join_timings().len(), 150);
        assert_eq!(totals.take_first_snapshot_ms().len(), 150);
        totals.reset_peak();
        assert_eq!(totals.live_peak.load(Relaxed), 0);
    }

    #[test]
    fn quantiles_pick_ranks() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), 51.0);
        assert_eq!(quantile(&mut v, 0.99), 99.0);
        assert_eq!(quantile(&mut v, 0.0), 1.0);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
    }

    #[test]
    fn lags_are_counted_per_millisecond() {
        let counts = LagCounts::default();
        for ms in 0..100u64 {
            counts.record(ms * 1_000 + 500);
        }
        counts.record(60_000_000); // a minute: counted in the last millisecond
        let mut lags = counts.take();
        assert_eq!(lags.quantile_ms(0.5), 51.0);
        assert_eq!(lags.quantile_ms(0.0), 1.0);
        assert_eq!(lags.quantile_ms(1.0), (LAG_LIMIT_MS + 1) as f64);
        assert_eq!(lags.max_ms(), 60_000.0);
        assert_eq!(counts.take().quantile_ms(0.5), 0.0, "taken");
        lags.merge(&Lags {
            counts: vec![0, 0, 5],
            max_us: 2_500,
        });
        assert_eq!(lags.max_ms(), 60_000.0);
    }
}

/// Feel bots' figures summed over all of them, as they happen (so a window is a difference).
#[derive(Debug, Default)]
pub struct FeelTotals {
    /// Own-avatar corrections while alive.
    pub corrections: AtomicU64,
    /// Of those, over 4 units.
    pub snaps: AtomicU64,
    /// The largest correction while alive, in hundredths of a unit.
    pub largest_centi: AtomicU64,
    /// Corrections at deaths and respawns (not counted above).
    pub respawn_corrections: AtomicU64,
    /// Interpolation underruns.
    pub underruns: AtomicU64,
    /// Inputs sent.
    pub inputs: AtomicU64,
    /// Inputs with fire held at a target as drawn.
    pub firing_ticks: AtomicU64,
    /// Their view lags summed, ms.
    pub firing_view_lag_ms: AtomicU64,
}

/// The values of [`FeelTotals`] at one moment.
#[derive(Debug, Default, Clone, Copy)]
pub struct FeelCounts {
    /// See [`FeelTotals`].
    pub corrections: u64,
    /// See [`FeelTotals`].
    pub snaps: u64,
    /// See [`FeelTotals`].
    pub respawn_corrections: u64,
    /// See [`FeelTotals`].
    pub underruns: u64,
    /// See [`FeelTotals`].
    pub inputs: u64,
    /// See [`FeelTotals`].
    pub firing_ticks: u64,
    /// See [`FeelTotals`].
    pub firing_view_lag_ms: u64,
}

impl FeelTotals {
    /// The values now.
    pub fn counts(&self) -> FeelCounts {
        FeelCounts {
            corrections: self.corrections.load(Relaxed),
            snaps: self.snaps.load(Relaxed),
            respawn_corrections: self.respawn_corrections.load(Relaxed),
            underruns: self.underruns.load(Relaxed),
            inputs: self.inputs.load(Relaxed),
            firing_ticks: self.firing_ticks.load(Relaxed),
            firing_view_lag_ms: self.firing_view_lag_ms.load(Relaxed),
        }
    }

    /// Adds what one bot measured between `before` and `after`.
    pub fn add(&self, before: &super::feel::FeelFigures, after: &super::feel::FeelFigures) {
        let add = |counter: &AtomicU64, from: u32, to: u32| {
            if to > from {
                counter.fetch_add(u64::from(to - from), Relaxed);
            }
        };
        add(&self.corrections, before.corrections, after.corrections);
        add(&self.snaps, before.snaps, after.snaps);
        add(
            &self.respawn_corrections,
            before.respawn_corrections,
            after.respawn_corrections,
        );
        add(&self.underruns, before.underruns, after.underruns);
        add(&self.inputs, before.inputs, after.inputs);
        add(&self.firing_ticks, before.firing_ticks, after.firing_ticks);
        add(
            &self.firing_view_lag_ms,
            before.firing_view_lag_ms,
            after.firing_view_lag_ms,
        );
        self.largest_centi
            .fetch_max((after.largest * 100.0).round() as u64, Relaxed);
    }
}
