//! The join burst (`--join-burst N`, issue 14): once the bots are in and settled, N more bots join
//! as fast as they are let within `--join-burst-seconds`, while the bots already in (the
//! incumbents) play on. The newcomers count into their own [`Totals`], so every figure of the
//! run's window stays the incumbents'; the burst's own figures (joins, their latency and rate,
//! failures, and the incumbents' delivery and the server's tick during and after it) are gathered
//! here.

use super::bot::{self, BotPlan, BotRun};
use super::delivery::Window;
use super::report::{PerBot, Rtt};
use super::stats::{quantile, BotStats, Totals};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Newcomers' bot indices start here (names and dice seeds), clear of the incumbents' slots.
const FIRST_NEWCOMER_INDEX: usize = 900_000_000;

/// What a join burst did, in the JSON and HTML reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JoinBurstFigures {
    /// Bots already in when the burst began.
    pub incumbents: u64,
    /// Newcomers asked for.
    pub requested: usize,
    /// Seconds over which their connections were to be spread (`--join-burst-seconds`).
    pub launch_seconds: f64,
    /// Seconds from the first newcomer's Hello to the last one's, of those welcomed: longer than
    /// `launch_seconds` when the load generator could not open connections as fast as asked.
    pub hello_span_s: f64,
    /// Newcomers welcomed.
    pub joined: u64,
    /// Newcomers that never joined: refused, failed to connect, or closed before their Welcome.
    pub failed: u64,
    /// Of all newcomers' errors, `Refused` answers to their Hello.
    pub refused: u64,
    /// Failed connects, refusals and undecodable messages among the newcomers.
    pub errors: u64,
    /// Joins completed per second: newcomers welcomed over the seconds from the first Hello to the
    /// last Welcome.
    pub joins_per_s: f64,
    /// The most Welcomes in one second (counted from the first Hello).
    pub joins_per_s_peak: f64,
    /// From a newcomer's Hello sent to its Welcome received, ms.
    pub join_ms: Rtt,
    /// From a newcomer's Welcome to its first snapshot, ms.
    pub first_snapshot_ms: Rtt,
    /// Seconds the burst window lasted: from the first Hello to the first whole second of the
    /// run at least one second after every newcomer had joined or failed (or the run's end).
    pub window_s: f64,
    /// The incumbents' snapshots received over those due in the burst window, counted in their
    /// rooms' ticks (see `delivery`).
    pub incumbent_delivery: f64,
    /// The incumbents' snapshots per second in the burst window (mean, and the worst served).
    pub incumbent_snapshots_per_s: PerBot,
    /// Seconds from the end of the burst window to the end of the run's window.
    pub after_s: f64,
    /// The incumbents' delivery over those seconds.
    pub incumbent_delivery_after: f64,
    /// The server's tick p50 over the burst window, ms (from its `/metrics` histogram).
    pub tick_p50_ms: f64,
    /// The server's tick p99 over the burst window, ms.
    pub tick_p99_ms: f64,
    /// The server's tick p99 after the burst window, ms.
    pub tick_p99_after_ms: f64,
    /// Ticks the server ran per second over the burst window (all rooms).
    pub ticks_per_s: f64,
    /// The server's CPU seconds per second over the burst window.
    pub cpu_seconds_per_s: f64,
    /// The load generator's own CPU seconds per second over the burst window (incumbents and
    /// newcomers on one thread): near 1.0 it, not the server, limits how fast joins are made.
    pub loadgen_cpu_seconds_per_s: f64,
    /// Ticks the server ran per second after the burst window (all rooms).
    pub ticks_per_s_after: f64,
    /// The server's CPU seconds per second after the burst window.
    pub cpu_seconds_per_s_after: f64,
    /// The load generator's own CPU seconds per second after the burst window: near 1.0, it
    /// cannot read what the server sends as fast as it comes, and the server replaces what it
    /// leaves unread (so delivery after the burst is then the load generator's limit too).
    pub loadgen_cpu_seconds_per_s_after: f64,
}

impl JoinBurstFigures {
    /// One line for people.
    pub fn summary(&self) -> String {
        format!(
            "{}/{} joined beside {} bots ({} failed, {} refused) | {:.0} joins/s (peak second {:.0}; Hellos over {:.2} s, asked {:.2} s) | join p50 {:.1} p99 {:.1} max {:.1} ms, first snapshot p99 {:.1} ms | incumbents' delivery {:.2}% in the {:.1} s burst window (worst bot {:.1}/s), {:.2}% in the {:.1} s after | tick p50 {:.3} p99 {:.3} ms ({:.3} after), {:.1} ticks/s ({:.1} after), server CPU {:.3} s/s ({:.3} after), load generator CPU {:.3} s/s ({:.3} after)",
            self.joined, self.requested, self.incumbents, self.failed, self.refused,
            self.joins_per_s, self.joins_per_s_peak, self.hello_span_s, self.launch_seconds,
            self.join_ms.p50, self.join_ms.p99, self.join_ms.max, self.first_snapshot_ms.p99,
            self.incumbent_delivery * 100.0, self.window_s, self.incumbent_snapshots_per_s.min,
            self.incumbent_delivery_after * 100.0, self.after_s,
            self.tick_p50_ms, self.tick_p99_ms, self.tick_p99_after_ms, self.ticks_per_s,
            self.ticks_per_s_after, self.cpu_seconds_per_s, self.cpu_seconds_per_s_after,
            self.loadgen_cpu_seconds_per_s, self.loadgen_cpu_seconds_per_s_after
        )
    }
}

/// The join figures of a burst from its Welcomes' timings, seconds since the burst began:
/// (Hello sent, Welcome received) per newcomer welcomed. Returns the joins per second from the
/// first Hello to the last Welcome, the most Welcomes in one second, the Hellos' span in seconds,
/// and the join latencies (ms).
pub fn join_rates(timings: &[(f64, f64)]) -> (f64, f64, f64, Rtt) {
    if timings.is_empty() {
        return (0.0, 0.0, 0.0, Rtt::default());
    }
    let first_hello = timings.iter().map(|t| t.0).fold(f64::INFINITY, f64::min);
    let last_hello = timings
        .iter()
        .map(|t| t.0)
        .fold(f64::NEG_INFINITY, f64::max);
    let last_welcome = timings
        .iter()
        .map(|t| t.1)
        .fold(f64::NEG_INFINITY, f64::max);
    let span = (last_welcome - first_hello).max(1e-3);
    let mut per_second = vec![0u64; (last_welcome - first_hello).max(0.0) as usize + 1];
    for &(_, welcome) in timings {
        let second = ((welcome - first_hello).max(0.0) as usize).min(per_second.len() - 1);
        per_second[second] += 1;
    }
    let mut latencies: Vec<f64> = timings.iter().map(|t| (t.1 - t.0) * 1e3).collect();
    let latency = Rtt {
        p50: quantile(&mut latencies, 0.5),
        p99: quantile(&mut latencies, 0.99),
        max: quantile(&mut latencies, 1.0),
    };
    (
        timings.len() as f64 / span,
        per_second.into_iter().max().unwrap_or(0) as f64,
        last_hello - first_hello,
        latency,
    )
}

/// The newcomers of a join burst, joining and then playing until the run stops.
pub struct Burst {
    /// The newcomers' counters (apart from the incumbents').
    pub totals: Arc<Totals>,
    /// Newcomers asked for.
    pub requested: usize,
    /// When the first was started.
    pub started: Instant,
    /// The seconds their connections were spread over.
    pub launch: Duration,
    failed: Arc<AtomicU64>,
    launcher: JoinHandle<()>,
}

impl Burst {
    /// Starts `count` newcomers playing by `plan`, their connections evenly spread over `launch`,
    /// until `stop` turns true.
    pub fn start(
        plan: Arc<BotPlan>,
        count: usize,
        launch: Duration,
        stop: watch::Receiver<bool>,
    ) -> Burst {
        let totals = Arc::new(Totals::default());
        let failed = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        // The newcomers' seconds joined in the run's window (the server's per-player figures count
        // them as players too).
        totals.deliveries.open(Window::Main, started);
        let launcher = tokio::spawn({
            let (totals, failed) = (totals.clone(), failed.clone());
            async move {
                let mut tasks = Vec::with_capacity(count);
                for i in 0..count {
                    let at = started + launch.mul_f64(i as f64 / count.max(1) as f64);
                    let mut halt = stop.clone();
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = halt.changed() => break,
                    }
                    let run = BotRun {
                        index: FIRST_NEWCOMER_INDEX + i,
                        stats: Arc::new(BotStats::default()),
                        stop: stop.clone(),
                        leave: Arc::new(Notify::new()),
                        resume: None,
                    };
                    tasks.push(tokio::spawn(newcomer(
                        plan.clone(),
                        totals.clone(),
                        run,
                        failed.clone(),
                    )));
                }
                for task in tasks {
                    let _ = task.await;
                }
            }
        });
        Burst {
            totals,
            requested: count,
            started,
            launch,
            failed,
            launcher,
        }
    }

    /// Newcomers welcomed so far.
    pub fn joined(&self) -> u64 {
        self.totals.connected.load(Relaxed)
    }

    /// Newcomers that ended without a Welcome so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(Relaxed)
    }

    /// Whether every newcomer has joined or failed.
    pub fn settled(&self) -> bool {
        self.joined() + self.failed() >= self.requested as u64
    }

    /// Waits (at most `limit`) for the newcomers to end once the run has told them to stop.
    pub async fn stopped(self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.launcher).await;
    }

    /// The Welcomes' timings so far, seconds since the burst began: (Hello sent, Welcome received).
    pub fn join_timings(&self) -> Vec<(f64, f64)> {
        let since = |at: Instant| at.saturating_duration_since(self.started).as_secs_f64();
        self.totals
            .take_join_timings()
            .into_iter()
            .map(|(hello, welcome)| (since(hello), since(welcome)))
            .collect()
    }
}

/// One newcomer: joins once (no reconnect) and plays until the run stops; counted as failed if it
/// ends without a Welcome.
async fn newcomer(plan: Arc<BotPlan>, totals: Arc<Totals>, run: BotRun, failed: Arc<AtomicU64>) {
    let stats = run.stats.clone();
    let _ = bot::run(plan, totals, run).await;
    if !stats.connected.load(Relaxed) {
        failed.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_rates_run_from_the_first_hello_to_the_last_welcome() {
        // Four Hellos over 1.5 s, each welcomed 10-40 ms later; the last Welcome 2 s after the
        // first Hello.
        let timings = [(0.0, 0.01), (0.5, 0.52), (1.0, 1.03), (1.96, 2.0)];
        let (rate, peak, span, latency) = join_rates(&timings);
        assert!((rate - 2.0).abs() < 1e-9, "{rate}");
        assert_eq!(peak, 2.0, "two Welcomes in the first second");
        assert!((span - 1.96).abs() < 1e-9);
        assert!((latency.p50 - 30.0).abs() < 1e-6, "{latency:?}");
        assert!((latency.max - 40.0).abs() < 1e-6, "{latency:?}");
        assert_eq!(join_rates(&[]).0, 0.0);
    }
}
