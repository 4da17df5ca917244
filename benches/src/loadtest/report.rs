//! The run report: what the bots saw and what the server's `/metrics` said, as JSON.

use super::burst::JoinBurstFigures;
use serde::Serialize;
use std::collections::HashMap;

/// A rate per bot (or per spectator, or per connection).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PerBot {
    /// Mean over bots.
    pub mean: f64,
    /// The 1st percentile (the worst-served bots).
    pub p1: f64,
    /// The worst bot.
    pub min: f64,
}

/// Round-trip times measured with Ping/Pong.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rtt {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Worst.
    pub max: f64,
}

/// Server figures over the measurement window, read from `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerFigures {
    /// Median tick duration (interpolated in the histogram's buckets).
    pub tick_p50_ms: f64,
    /// 99th percentile tick duration.
    pub tick_p99_ms: f64,
    /// Ticks over budget or dropped during the window.
    pub tick_overruns: f64,
    /// Ticks run per second (all rooms).
    pub ticks_per_s: f64,
    /// CPU seconds the server used per second of wall time.
    pub cpu_seconds_per_s: f64,
    /// Resident memory at the end of the window.
    pub rss_mb: f64,
    /// Server CPU microseconds per snapshot the bots received (a join burst's newcomers' too).
    pub cpu_us_per_delivered_snapshot: f64,
    /// Stamped inputs that reached the server after their tick, over the window
    /// (`skirmish_late_inputs_total`).
    pub late_inputs: f64,
    /// The same per bot per minute joined (a join burst's newcomers counted as bots too: the
    /// server's counters cover every player).
    pub late_inputs_per_bot_per_min: f64,
    /// Ticks at which a player's input buffer was empty, per bot per minute. With unstamped inputs
    /// sent once a tick, each is a tick the server kept the previous input for want of the one for
    /// this tick (it came late); with stamped inputs it only says nothing was waiting.
    pub empty_input_ticks_per_bot_per_min: f64,
}

/// One second of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    /// Seconds since the window began.
    pub t: f64,
    /// Snapshots received in this second per bot joined (the mean of the joined counts at its
    /// ends).
    pub snapshots_per_bot: f64,
    /// Bytes down per bot per second.
    pub bytes_down_per_bot: f64,
    /// Median RTT of the pongs in this second.
    pub rtt_p50_ms: f64,
    /// 99th percentile RTT in this second.
    pub rtt_p99_ms: f64,
    /// 99th percentile snapshot lag in this second (see [`PhaseReport::snapshot_lag_ms`]).
    pub lag_p99_ms: f64,
    /// Longest snapshot lag in this second.
    pub lag_max_ms: f64,
    /// Server tick p50 in this second.
    pub tick_p50_ms: f64,
    /// Server tick p99 in this second.
    pub tick_p99_ms: f64,
    /// Server ticks per second.
    pub ticks_per_s: f64,
    /// Server resident memory, MB.
    pub rss_mb: f64,
    /// Bots joined at the end of this second (never more than the bots asked for).
    pub live_bots: f64,
    /// Rooms open at the end of this second.
    pub rooms: f64,
    /// Inputs that reached the server after their tick in this second.
    pub late_inputs: f64,
    /// Ticks at which a player's input buffer was empty in this second (over all players).
    pub empty_input_ticks: f64,
}

/// What a soak run (churn and malformed traffic) adds to a phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SoakFigures {
    /// Welcomes during the window (rejoins and resumes; the whole run's are `joins` beside
    /// `bots_connected`).
    pub joins: u64,
    /// Players that left on the churn signal.
    pub churned: u64,
    /// Resumes that got the same entity back.
    pub resumed: u64,
    /// Resumes that came back as someone else.
    pub resume_lost: u64,
    /// Malformed messages sent, by kind.
    pub malformed_sent: HashMap<String, u64>,
    /// Malformed messages sent, all kinds.
    pub malformed_total: u64,
    /// Malformed messages over messages sent, percent.
    pub malformed_share_percent: f64,
    /// Fatal malformed messages closed with the code they call for.
    pub malformed_closed_as_expected: u64,
    /// Fatal malformed messages closed another way.
    pub malformed_wrong_close: u64,
    /// Fatal malformed messages not closed within 3 s.
    pub malformed_not_closed: u64,
    /// Least-squares slope of the server's RSS over the window, MB per minute.
    pub rss_slope_mb_per_min: f64,
    /// The same over the window's second half.
    pub rss_slope_second_half_mb_per_min: f64,
    /// Mean RSS in the window's first minute (or first tenth, if shorter), MB.
    pub rss_start_mb: f64,
    /// Mean RSS in the window's last minute (or last tenth), MB.
    pub rss_end_mb: f64,
    /// Highest RSS sampled, MB.
    pub rss_max_mb: f64,
    /// Ticks run over ticks due (rooms x tick rate x seconds), over the window.
    pub tick_ratio: f64,
    /// The worst one-second tick ratio.
    pub tick_ratio_min_second: f64,
    /// Panics the server counted over its whole life (`skirmish_panics_total`).
    pub server_panics: f64,
}

impl SoakFigures {
    /// One line for people.
    pub fn summary(&self) -> String {
        format!(
            "joins {} | churned {} (resumed {}, resume lost {}) | malformed {} ({:.2}% of messages): closed as expected {}, wrong close {}, not closed {} | RSS {:.1} -> {:.1} MB (max {:.1}), slope {:.3} MB/min ({:.3} in the second half) | ticks {:.4} of due (worst second {:.4}) | server panics {}",
            self.joins, self.churned, self.resumed, self.resume_lost, self.malformed_total, self.malformed_share_percent,
            self.malformed_closed_as_expected, self.malformed_wrong_close, self.malformed_not_closed,
            self.rss_start_mb, self.rss_end_mb, self.rss_max_mb, self.rss_slope_mb_per_min, self.rss_slope_second_half_mb_per_min,
            self.tick_ratio, self.tick_ratio_min_second, self.server_panics
        )
    }
}

/// Everything one phase (against the game server or the floor) measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PhaseReport {
    /// Bots asked for.
    pub bots_requested: usize,
    /// Bots joined at the end of the window: each between its Welcome and its connection's end,
    /// so never more than `bots_requested` however often bots rejoin.
    pub bots_connected: u64,
    /// The most bots joined at once during the window.
    pub bots_peak: u64,
    /// Welcomes over the whole run, ramp included: first joins, and with churn or malformed
    /// traffic every rejoin and resume too (not bots: a bot that rejoins counts again).
    pub joins: u64,
    /// Measurement window in seconds.
    pub duration_s: f64,
    /// Seconds bots were joined during the window, summed (bots x seconds without churn).
    pub bot_seconds: f64,
    /// The snapshot rate the server announced.
    pub snapshot_hz_expected: f64,
    /// Snapshots per bot per second: the mean is `delivery` times the rate the server is due to
    /// send (a player's tick interval), and `p1` and `min` are over bot connections that were in
    /// the window for at least a second's worth of snapshots.
    pub snapshots_per_bot_per_s: PerBot,
    /// Snapshots received over snapshots the server was due to send each bot while it was joined
    /// in the window, had its room run every tick its rate called for: counted in the room's ticks
    /// (see `delivery.rs`), at most 1. A room that falls behind and drops ticks delivers less.
    pub delivery: f64,
    /// The same for the ticks the rooms did run: below `delivery`'s 1 only for snapshots that
    /// were replaced, skipped or lost, not for ticks the server dropped.
    pub delivery_of_ticks_run: f64,
    /// Payload bytes received per bot per second (snapshots, pongs, Welcomes), over `bot_seconds`.
    pub bytes_down_per_bot_per_s: f64,
    /// Payload bytes sent per bot per second, over `bot_seconds`.
    pub bytes_up_per_bot_per_s: f64,
    /// Mean payload bytes per snapshot received (snapshots only).
    pub bytes_per_snapshot: f64,
    /// Round trips.
    pub rtt_ms: Rtt,
    /// How far behind the room's tick snapshots reached the bots (after the link conditioner), taking
    /// the quickest a snapshot came off each bot's socket as no lag: the conditioner's latency,
    /// jitter and serialization, and any queue anywhere. Every snapshot is made at its tick, so a
    /// backlog shows as a lag that grows.
    pub snapshot_lag_ms: Rtt,
    /// The same over the window's second half (once what joining brought has settled).
    pub snapshot_lag_second_half_ms: Rtt,
    /// Least-squares slope of the per-second p99 snapshot lag over the window, ms per second (about
    /// 0 without a backlog).
    pub lag_slope_ms_per_s: f64,
    /// Snapshot turns the server passed for a bot's rate, per bot per second joined (every player
    /// of the server, a join burst's newcomers too; `skirmish_snapshots_deferred_rate_total`).
    pub snapshots_deferred_rate_per_bot_per_s: f64,
    /// Snapshots the server replaced before a bot's socket took them, per bot per second joined
    /// (every player, as above; `skirmish_snapshots_skipped_total`).
    pub snapshots_skipped_per_bot_per_s: f64,
    /// Connections the server ended unexplained during the run, ramp included.
    pub disconnects: u64,
    /// Failed connects, refusals, undecodable messages during the run, ramp included.
    pub errors: u64,
    /// The bots' views, checked against every snapshot of the run, ramp included (all zero with
    /// `--skip-view-check`).
    pub views: ViewFigures,
    /// What players would feel (runs with `--feel`).
    pub feel: Option<FeelReport>,
    /// Server figures.
    pub server: ServerFigures,
    /// Churn and malformed-traffic figures (runs with either).
    pub soak: Option<SoakFigures>,
    /// Spectators beside the bots (runs with `--spectators`).
    pub spectators: Option<SpectatorFigures>,
    /// A join burst beside the bots (runs with `--join-burst`); the phase's other figures are
    /// then the incumbents' over the whole window.
    pub join_burst: Option<JoinBurstFigures>,
    /// Per-second samples.
    pub series: Vec<Sample>,
}

/// How the bots' views held up: each snapshot applied to the bot's view and its check compared.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ViewFigures {
    /// Snapshots after which the view matched (whole run).
    pub verified: u64,
    /// Snapshots after which it did not (desyncs the bots saw, whole run).
    pub desyncs: u64,
    /// Snapshots that did not apply to the view at all (whole run).
    pub errors: u64,
    /// Desyncs the server counted (`skirmish_desyncs_total`) over the window.
    pub server_desyncs: u64,
}

/// What feel bots measured over the window: the netcode as players would feel it.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct FeelReport {
    /// Own-avatar corrections while alive, per bot per 10 s.
    pub corrections_per_10s: f64,
    /// Corrections over 4 units while alive (a snap a player sees), all bots.
    pub snaps_over_4_units: u64,
    /// The largest correction while alive, in units (over the whole run).
    pub largest_correction: f64,
    /// Corrections at deaths and respawns (expected teleports; not counted above).
    pub respawn_corrections: u64,
    /// Interpolation underruns (runs of frames with nothing to draw others from), all bots.
    pub underruns: u64,
    /// Desyncs the bots saw.
    pub desyncs: u64,
    /// Late inputs per bot per minute (the server's `skirmish_late_inputs_total`).
    pub late_inputs_per_bot_per_min: f64,
    /// Shots fired over the window (the server's `skirmish_shots_fired_total`).
    pub shots_fired: f64,
    /// Of those, shots that hit a living player (`skirmish_shot_hits_total`).
    pub shot_hits: f64,
    /// Shots that met a player as the shooter drew it, alive, that another shot had killed
    /// meanwhile: stopped on its body, harmless (`skirmish_shot_hits_on_fallen_total`).
    pub shot_hits_on_fallen: f64,
    /// Shots that met their target as drawn (both kinds of hit) over shots fired: the bots fire
    /// only at a player as their interpolation draws it, leading it by its drawn velocity.
    pub hit_ratio: f64,
    /// Hits on the living over shots fired: `hit_ratio` less the shots that lost a race with
    /// another shooter's kill (more of them the longer the view lag).
    pub damage_ratio: f64,
    /// Share of input ticks with fire held at a target.
    pub firing_share: f64,
    /// The mean view lag of those inputs, ms: how far behind its own input tick a shooter drew its
    /// target (lag compensation rewinds this much, up to `--max-rewind-ms`).
    pub firing_view_lag_ms: f64,
}

impl FeelReport {
    /// One line for the summary.
    pub fn summary(&self) -> String {
        format!(
            "corrections {:.2} per bot per 10 s, {} over 4 units (largest {:.2} units; {} more at respawns), {} underruns, {} desyncs, {:.2} late inputs per bot per min, hit ratio {:.3} ({:.0} hits and {:.0} on the fallen of {:.0} shots; damage ratio {:.3}; firing {:.0}% of ticks, view lag {:.0} ms)",
            self.corrections_per_10s,
            self.snaps_over_4_units,
            self.largest_correction,
            self.respawn_corrections,
            self.underruns,
            self.desyncs,
            self.late_inputs_per_bot_per_min,
            self.hit_ratio,
            self.shot_hits,
            self.shot_hits_on_fallen,
            self.shots_fired,
            self.damage_ratio,
            self.firing_share * 100.0,
            self.firing_view_lag_ms
        )
    }
}

/// The game server with the bots alone, measured just before the spectators join (same server,
/// same bots, same room): what the spectators' cost is measured against.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BaselineFigures {
    /// Seconds measured.
    pub duration_s: f64,
    /// Server CPU seconds per second of wall time.
    pub cpu_seconds_per_s: f64,
    /// Server ticks per second.
    pub ticks_per_s: f64,
    /// Feed frames the server encoded per second (`skirmish_feed_frames_total`; nonzero without
    /// spectators only when the room records a replay).
    pub feed_frames_per_s: f64,
}

/// Spectators watching the bots' room (runs with `--spectators N`), over the same window as the
/// bots' figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SpectatorFigures {
    /// Spectators asked for.
    pub requested: usize,
    /// Spectators welcomed.
    pub connected: u64,
    /// Failed connects, refusals, undecodable messages.
    pub errors: u64,
    /// Connections that ended during the run.
    pub disconnects: u64,
    /// The first error, if any.
    pub first_error: Option<String>,
    /// The room watched (its code, as the spectators' Welcome named it).
    pub room_code: String,
    /// Bots the harness saw welcomed into that room.
    pub bots_in_room: u64,
    /// The feed rate the Welcome announced (`--spectator-hz`).
    pub feed_hz_expected: f64,
    /// Feed frames per spectator per second.
    pub frames_per_spectator_per_s: PerBot,
    /// Mean frames per spectator per second over the feed rate.
    pub delivery: f64,
    /// Feed payload bytes per spectator per second.
    pub bytes_per_spectator_per_s: f64,
    /// Mean payload bytes per feed frame (keyframes and deltas).
    pub bytes_per_frame: f64,
    /// Frames all spectators received over the window (counted client side).
    pub frames_delivered: u64,
    /// Frames the server sent spectators over the window (`skirmish_spectator_frames_sent_total`).
    pub frames_sent_by_server: f64,
    /// Feed frames the server encoded per second (`skirmish_feed_frames_total`): once per room per
    /// feed tick, however many watch.
    pub feed_frames_per_s: f64,
    /// Spectators the server counted at the end of the window (`skirmish_spectators`).
    pub server_spectators: f64,
    /// Replay bytes the server wrote per minute over the window
    /// (`skirmish_replay_bytes_written_total`; 0 with `--replay-dir ""`).
    pub replay_bytes_per_min: f64,
    /// Every this many spectators one decoded, applied and checked every frame (0: none).
    pub verify_every: usize,
    /// Frames the verifying spectators applied and found their view matching.
    pub frames_verified: u64,
    /// Keyframes among them.
    pub keyframes_verified: u64,
    /// Frames after which a verifying spectator's view did not match.
    pub desyncs: u64,
    /// Frames that did not apply to a verifying spectator's view.
    pub view_errors: u64,
    /// The bots alone, just before the spectators joined.
    pub baseline: BaselineFigures,
    /// Server CPU seconds per second with the bots and the spectators.
    pub cpu_seconds_per_s: f64,
    /// All the server's CPU over the window (bots' simulation and snapshots included) per spectator
    /// frame delivered, microseconds.
    pub cpu_us_per_spectator_frame: f64,
    /// What the spectators added: (CPU with them - CPU of the baseline) per spectator frame
    /// delivered, microseconds.
    pub marginal_cpu_us_per_spectator_frame: f64,
    /// Server ticks per second with the spectators (all rooms).
    pub ticks_per_s: f64,
    /// The same marginal cost with the baseline scaled by ticks run: (CPU with them - the
    /// baseline's CPU per tick x ticks run) per spectator frame, microseconds. Equal to the above
    /// when the room keeps its tick rate in both windows; on a starved machine, where it does not,
    /// this one does not credit the spectators with the ticks the room missed.
    pub marginal_tick_scaled_cpu_us_per_spectator_frame: f64,
    /// The load generator's own CPU seconds per second over the window (bots and spectators on
    /// one thread): near 1.0 it, not the server, limits what is delivered.
    pub loadgen_cpu_seconds_per_s: f64,
}

/// The transport floor doing the spectators' transport work: as many connections, each sent one
/// frame of the spectators' mean frame size at the feed rate through a broadcast channel holding two
/// seconds of frames (as the server's feed), one task per connection, receiving nothing after the
/// handshake.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SpectatorFloorFigures {
    /// Connections asked for.
    pub requested: usize,
    /// Connections welcomed.
    pub connected: u64,
    /// Failed connects and the like.
    pub errors: u64,
    /// The floor's frame size asked for, bytes.
    pub frame_bytes: usize,
    /// The floor's frame rate.
    pub hz: f64,
    /// Frames the floor's broadcast channel holds for a connection.
    pub queue_frames: usize,
    /// Seconds measured.
    pub duration_s: f64,
    /// Frames per connection per second.
    pub frames_per_connection_per_s: PerBot,
    /// Mean payload bytes per frame received.
    pub bytes_per_frame: f64,
    /// Frames delivered over the window (counted client side).
    pub frames_delivered: u64,
    /// The floor's CPU seconds per second.
    pub cpu_seconds_per_s: f64,
    /// The floor's CPU per frame delivered, microseconds.
    pub cpu_us_per_frame: f64,
    /// The load generator's own CPU seconds per second over the window.
    pub loadgen_cpu_seconds_per_s: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario and settings.
    pub settings: HashMap<String, String>,
    /// The game server run (its fields are also flattened at the top level).
    #[serde(flatten)]
    pub game: PhaseReport,
    /// The bare transport floor at the same connection count, frame size and rate, if run.
    pub floor: Option<PhaseReport>,
    /// Game server CPU per delivered snapshot over the floor's (1.0 = as cheap as bare sockets).
    pub cpu_per_snapshot_vs_floor: Option<f64>,
    /// The floor doing the spectators' transport work (runs with `--spectators` and `--floor`).
    pub spectator_floor: Option<SpectatorFloorFigures>,
    /// (all server CPU / spectator frames delivered) / (floor CPU / frames delivered): an upper
    /// bound, since the server's CPU includes the bots' simulation and snapshots.
    pub cpu_per_spectator_frame_vs_floor: Option<f64>,
    /// (server CPU with spectators - without) / spectator frames, over the floor's CPU per frame:
    /// what a spectator frame adds against what a bare socket costs.
    pub marginal_cpu_per_spectator_frame_vs_floor: Option<f64>,
    /// The same with the baseline scaled by ticks run (see
    /// `SpectatorFigures::marginal_tick_scaled_cpu_us_per_spectator_frame`).
    pub marginal_tick_scaled_cpu_per_spectator_frame_vs_floor: Option<f64>,
    /// Budgets that were missed (empty when all held).
    pub budget_failures: Vec<String>,
}

/// Quantile `q` from histogram bucket counts (not cumulative) with upper bounds in seconds; linear
/// interpolation inside the bucket. Returns milliseconds.
pub fn histogram_quantile_ms(bounds: &[f64], counts: &[f64], q: f64) -> f64 {
    let total: f64 = counts.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let target = q * total;
    let mut seen = 0.0;
    let mut lower = 0.0;
    for (&upper, &count) in bounds.iter().zip(counts) {
        if count > 0.0 && seen + count >= target {
            let within = ((target - seen) / count).clamp(0.0, 1.0);
            return (lower + (upper - lower) * within) * 1e3;
        }
        seen += count;
        lower = upper;
    }
    lower * 1e3
}

/// The least-squares slope of `(x, y)` points (0 with fewer than two distinct x).
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for &(x, y) in points {
        sxy += (x - mean_x) * (y - mean_y);
        sxx += (x - mean_x) * (x - mean_x);
    }
    if sxx > 0.0 {
        sxy / sxx
    } else {
        0.0
    }
}

/// Tick histogram buckets (bounds in seconds, counts) between two scrapes of `/metrics`.
pub fn tick_histogram(
    before: &HashMap<String, f64>,
    after: &HashMap<String, f64>,
) -> (Vec<f64>, Vec<f64>) {
    let mut bounds: Vec<(f64, f64)> = after
        .iter()
        .filter_map(|(name, value)| {
            let le = name
                .strip_prefix("skirmish_tick_duration_seconds_bucket{le=\"")?
                .strip_suffix("\"}")?;
            // The +Inf bucket adds nothing to the quantiles of interest: skip it.
            let bound: f64 = le.parse().ok().filter(|b: &f64| b.is_finite())?;
            let earlier = before.get(name).copied().unwrap_or(0.0);
            Some((bound, value - earlier))
        })
        .collect();
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut counts = Vec::with_capacity(bounds.len());
    let mut previous = 0.0;
    for &(_, cumulative) in &bounds {
        counts.push((cumulative - previous).max(0.0));
        previous = cumulative;
    }
    (bounds.into_iter().map(|(b, _)| b).collect(), counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_interpolate_within_buckets() {
        let bounds = [0.001, 0.002, 0.004];
        let counts = [50.0, 40.0, 10.0];
        assert!((histogram_quantile_ms(&bounds, &counts, 0.5) - 1.0).abs() < 1e-9);
        assert!((histogram_quantile_ms(&bounds, &counts, 0.7) - 1.5).abs() < 1e-9);
        assert!((histogram_quantile_ms(&bounds, &counts, 0.99) - 3.8).abs() < 1e-9);
        assert_eq!(histogram_quantile_ms(&bounds, &[0.0; 3], 0.5), 0.0);
    }

    #[test]
    fn slopes_fit_lines() {
        let line: Vec<(f64, f64)> = (0..10)
            .map(|x| (f64::from(x), 3.0 * f64::from(x) + 7.0))
            .collect();
        assert!((slope(&line) - 3.0).abs() < 1e-12);
        let flat: Vec<(f64, f64)> = (0..10)
            .map(|x| (f64::from(x), if x % 2 == 0 { 5.0 } else { 6.0 }))
            .collect();
        assert!(slope(&flat).abs() < 0.1);
        assert_eq!(slope(&[(1.0, 2.0)]), 0.0);
        assert_eq!(slope(&[(1.0, 2.0), (1.0, 3.0)]), 0.0);
    }

    #[test]
    fn histogram_deltas_come_from_cumulative_buckets() {
        let name = |le: &str| format!("skirmish_tick_duration_seconds_bucket{{le=\"{le}\"}}");
        let before: HashMap<String, f64> = [(name("0.001"), 10.0), (name("0.002"), 12.0)]
            .into_iter()
            .collect();
        let after: HashMap<String, f64> = [
            (name("0.001"), 30.0),
            (name("0.002"), 40.0),
            (name("+Inf"), 40.0),
        ]
        .into_iter()
        .collect();
        let (bounds, counts) = tick_histogram(&before, &after);
        assert_eq!(bounds, vec![0.001, 0.002]);
        assert_eq!(counts, vec![20.0, 8.0]);
    }
}
