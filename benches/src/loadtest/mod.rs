//! The load-test harness behind `skirmish-loadtest`: ramps bots up, measures a window, reads the
//! server's `/metrics` before, during and after, optionally repeats the run against the bare transport
//! floor, and writes the JSON and HTML reports.

pub mod bot;
pub mod burst;
pub mod delivery;
pub mod feel;
pub mod html;
pub mod malformed;
pub mod report;
pub mod spectators;
pub mod stats;

use crate::metrics_scrape::scrape;
use bot::{BotPlan, BotRun, Exit, Scenario};
use burst::{Burst, JoinBurstFigures};
use delivery::Window;
use malformed::Kind;
use report::{
    histogram_quantile_ms, slope, tick_histogram, BaselineFigures, FeelReport, PerBot, PhaseReport,
    Report, Rtt, Sample, ServerFigures, SoakFigures, SpectatorFigures, SpectatorFloorFigures,
    ViewFigures,
};
use spectators::{Fleet, SpectatorPlan};
use stats::{quantile, BotStats, Lags, Totals};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Flags of `skirmish-loadtest`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "skirmish-loadtest",
    about = "Load-test a Skirmish server with bots over real WebSockets"
)]
pub struct Args {
    /// The game socket, e.g. ws://127.0.0.1:8080/ws (its host also serves /metrics).
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,
    /// Number of bots.
    #[arg(long, default_value_t = 100)]
    pub bots: usize,
    /// Seconds measured once every bot has joined.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Seconds over which bots connect, evenly spread.
    #[arg(long, default_value_t = 5.0)]
    pub ramp: f64,
    /// Inputs per second per bot.
    #[arg(long, default_value_t = 30)]
    pub input_hz: u32,
    /// How bots play.
    #[arg(long, value_enum, default_value_t = Scenario::Arena)]
    pub scenario: Scenario,
    /// Added one-way latency in each direction, ms (bot-side link conditioner).
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Added one-way jitter, uniform in 0..=jitter, ms.
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
    /// The simulated link's bandwidth in each direction, kbit/s (0: unlimited). Each message
    /// occupies the link for `len * 8 / kbps` ms, one after another, before the latency and jitter;
    /// once a second of it is waiting, the bot stops reading its socket (TCP pushes back).
    #[arg(long, default_value_t = 0)]
    pub bandwidth_kbps: u64,
    /// The snapshot bytes per second bots ask for in their Hello (0: the server's default).
    #[arg(long, default_value_t = 0)]
    pub client_rate: u32,
    /// Send inputs unstamped (applied in arrival order, one per tick, as before inputs carried
    /// their tick) instead of stamped by the browser client's input clock.
    #[arg(long)]
    pub unstamped_inputs: bool,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the HTML report here.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Exit 1 if the server's tick p99 (ms) exceeds this.
    #[arg(long)]
    pub max_tick_p99_ms: Option<f64>,
    /// Exit 1 if fewer than this fraction of expected snapshots arrive (mean over bots), e.g. 0.995.
    #[arg(long)]
    pub min_delivery: Option<f64>,
    /// Exit 1 if more inputs than this per bot per minute reach the server after their tick
    /// (`skirmish_late_inputs_total` over the window).
    #[arg(long)]
    pub max_late_inputs_per_bot_per_min: Option<f64>,
    /// After the game server, run the same bots against the bare transport floor (`skirmish-floor`,
    /// started by this tool) with the same frame size and rate.
    #[arg(long)]
    pub floor: bool,
    /// CPU list to pin the floor server to (taskset), like the game server's.
    #[arg(long)]
    pub floor_cpu: Option<String>,
    /// The `skirmish-floor` binary (default: beside this executable).
    #[arg(long)]
    pub floor_bin: Option<PathBuf>,
    /// Soak: percent of the bots that leave per minute during the window, each replaced at once (a
    /// third close cleanly, a third vanish, a third vanish and resume their seat with its token).
    /// Bots the server closes also reconnect when this or --malformed-percent is set.
    #[arg(long, default_value_t = 0.0)]
    pub churn_per_min: f64,
    /// Soak: percent of sent messages replaced by a malformed one (garbage, truncated, out of range,
    /// sequence jump or going back, text frame, oversized, second Hello, over-long or empty chat).
    /// Each must get the close code it calls for, or be rejected with the connection kept.
    #[arg(long, default_value_t = 0.0)]
    pub malformed_percent: f64,
    /// Exit 1 if the server's RSS grows faster than this over the window, MB per minute
    /// (least squares over the per-second samples).
    #[arg(long)]
    pub max_rss_slope_mb_per_min: Option<f64>,
    /// Exit 1 if the server runs fewer than this fraction of the ticks due (rooms x tick rate), e.g.
    /// 0.995.
    #[arg(long)]
    pub min_tick_ratio: Option<f64>,
    /// Exit 1 if more than this many connections end unexplained: lost with no malformed message to
    /// cause it, or a malformed message answered with the wrong close code or none.
    #[arg(long)]
    pub max_unexpected_closes: Option<u64>,
    /// Do not build the bots' views: recognize most snapshots by their first byte instead of
    /// decoding, applying and checking each (for very large runs where the harness is the limit).
    #[arg(long)]
    pub skip_view_check: bool,
    /// Exit 1 if the bots see more than this many desyncs or snapshots that do not apply to their
    /// views.
    #[arg(long, default_value_t = 0)]
    pub max_desyncs: u64,
    /// Feel bots: each plays through the browser client's own netcode (input clock ahead of the
    /// server, one input a tick, prediction and reconciliation, adaptive interpolation) and aims and
    /// fires at the nearest player as it draws it; the report gains a `feel` section.
    #[arg(long)]
    pub feel: bool,
    /// Feel budget: exit 1 if own-avatar corrections (while alive) exceed this per bot per 10 s.
    #[arg(long)]
    pub max_corrections_per_10s: Option<f64>,
    /// Feel budget: exit 1 if more corrections than this are over 4 units (all bots).
    #[arg(long)]
    pub max_snaps: Option<u64>,
    /// Feel budget: exit 1 if the bots' interpolation runs dry more often than this (all bots).
    #[arg(long)]
    pub max_underruns: Option<u64>,
    /// Feel budget: exit 1 if fewer than this share of shots aimed at targets as drawn hit.
    #[arg(long)]
    pub min_hit_ratio: Option<f64>,
    /// Spectators: this many connections watch the bots' room (`Hello.watch`) beside them. The
    /// server is first measured with the bots alone for `--duration` (the baseline), then the
    /// spectators join and the window is measured; with `--floor`, the floor then serves as many
    /// connections one frame of the spectators' mean frame size at the feed rate.
    #[arg(long, default_value_t = 0)]
    pub spectators: usize,
    /// The code of the room the spectators watch (default: the room the most bots were welcomed
    /// into).
    #[arg(long)]
    pub spectate_room: Option<String>,
    /// Seconds over which spectators connect, evenly spread.
    #[arg(long, default_value_t = 2.0)]
    pub spectator_ramp: f64,
    /// Every this many spectators one decodes and applies every frame to a view of the room and
    /// checks it; the others count frames by their first byte and length (0: none verify).
    #[arg(long, default_value_t = 50)]
    pub spectator_verify_every: usize,
    /// Join burst: once the bots are in and settled, this many more join (their connections
    /// evenly spread over `--join-burst-seconds`) as the window opens; the window's figures are
    /// then the bots already in, and the report gains a `join_burst` section (joins per second,
    /// join latency, failures, and the incumbents' delivery and the server's tick during and after
    /// the burst).
    #[arg(long, default_value_t = 0)]
    pub join_burst: usize,
    /// Seconds over which the join burst's connections are spread.
    #[arg(long, default_value_t = 2.0)]
    pub join_burst_seconds: f64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    /// Whether bots churn or send malformed traffic (and so reconnect when closed).
    fn soak(&self) -> bool {
        self.churn_per_min > 0.0 || self.malformed_percent > 0.0
    }
}

/// The `/metrics` address (host:port) of a ws:// URL.
fn metrics_host(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| anyhow::anyhow!("--url must start with ws://"))?;
    Ok(rest.split('/').next().unwrap_or(rest).to_string())
}

/// Runs the whole load test and returns the report (budgets evaluated).
pub async fn run(args: &Args) -> anyhow::Result<Report> {
    let game = run_phase(args, &args.url, "game").await?;
    let mut floor = None;
    if args.floor {
        let (url, mut child) =
            start_floor(args, game.bytes_per_snapshot, game.snapshot_hz_expected, 0).await?;
        let measured = run_phase(args, &url, "floor").await;
        let _ = child.kill().await;
        floor = Some(measured?);
    }
    let mut spectator_floor = None;
    if let (true, Some(watching)) = (args.floor, &game.spectators) {
        spectator_floor = Some(run_spectator_floor(args, watching).await?);
    }
    let ratio = |server_us: f64, floor_us: f64| (floor_us > 0.0).then(|| server_us / floor_us);
    let (all, marginal, tick_scaled) = match (&game.spectators, &spectator_floor) {
        (Some(s), Some(f)) => (
            ratio(s.cpu_us_per_spectator_frame, f.cpu_us_per_frame),
            ratio(s.marginal_cpu_us_per_spectator_frame, f.cpu_us_per_frame),
            ratio(
                s.marginal_tick_scaled_cpu_us_per_spectator_frame,
                f.cpu_us_per_frame,
            ),
        ),
        _ => (None, None, None),
    };
    let cpu_per_snapshot_vs_floor = floor.as_ref().and_then(|f| {
        (f.server.cpu_us_per_delivered_snapshot > 0.0).then(|| {
            game.server.cpu_us_per_delivered_snapshot / f.server.cpu_us_per_delivered_snapshot
        })
    });
    let mut budget_failures = Vec::new();
    if let Some(max) = args.max_tick_p99_ms {
        if game.server.tick_p99_ms > max {
            budget_failures.push(format!(
                "tick p99 {:.2} ms > {max} ms",
                game.server.tick_p99_ms
            ));
        }
    }
    if let Some(min) = args.min_delivery {
        if game.delivery < min {
            budget_failures.push(format!("delivery {:.4} < {min}", game.delivery));
        }
    }
    if let Some(max) = args.max_late_inputs_per_bot_per_min {
        let late = game.server.late_inputs_per_bot_per_min;
        if late > max {
            budget_failures.push(format!("{late:.3} late inputs per bot per minute > {max}"));
        }
    }
    if let Some(soak) = &game.soak {
        if soak.server_panics > 0.0 {
            budget_failures.push(format!("the server panicked {} times", soak.server_panics));
        }
        if let Some(max) = args.max_rss_slope_mb_per_min {
            if soak.rss_slope_mb_per_min > max {
                budget_failures.push(format!(
                    "RSS slope {:.3} MB/min > {max}",
                    soak.rss_slope_mb_per_min
                ));
            }
        }
        if let Some(min) = args.min_tick_ratio {
            if soak.tick_ratio < min {
                budget_failures.push(format!("tick ratio {:.5} < {min}", soak.tick_ratio));
            }
        }
    }
    let views = &game.views;
    if views.desyncs + views.errors > args.max_desyncs {
        budget_failures.push(format!(
            "{} desyncs and {} snapshots that did not apply to the bots' views > {}",
            views.desyncs, views.errors, args.max_desyncs
        ));
    }
    if let Some(feel) = &game.feel {
        let checks = [
            (
                args.max_corrections_per_10s,
                feel.corrections_per_10s,
                "corrections per bot per 10 s",
            ),
            (
                args.max_snaps.map(|m| m as f64),
                feel.snaps_over_4_units as f64,
                "corrections over 4 units",
            ),
            (
                args.max_underruns.map(|m| m as f64),
                feel.underruns as f64,
                "interpolation underruns",
            ),
        ];
        for (max, value, what) in checks {
            if let Some(max) = max.filter(|max| value > *max) {
                budget_failures.push(format!("{value:.3} {what} > {max}"));
            }
        }
        if let Some(min) = args.min_hit_ratio.filter(|min| feel.hit_ratio < *min) {
            budget_failures.push(format!("hit ratio {:.3} < {min}", feel.hit_ratio));
        }
    }
    if let Some(max) = args.max_unexpected_closes {
        let unexpected = game.disconnects
            + game
                .soak
                .as_ref()
                .map_or(0, |s| s.malformed_wrong_close + s.malformed_not_closed);
        if unexpected > max {
            budget_failures.push(format!("{unexpected} unexpected closes > {max}"));
        }
    }
    let settings: HashMap<String, String> = [
        ("url", args.url.clone()),
        ("bots", args.bots.to_string()),
        ("scenario", format!("{:?}", args.scenario).to_lowercase()),
        ("input_hz", args.input_hz.to_string()),
        ("duration_s", args.duration.to_string()),
        ("ramp_s", args.ramp.to_string()),
        ("latency_ms", args.latency_ms.to_string()),
        ("jitter_ms", args.jitter_ms.to_string()),
        ("bandwidth_kbps", args.bandwidth_kbps.to_string()),
        ("client_rate", args.client_rate.to_string()),
        ("stamped_inputs", (!args.unstamped_inputs).to_string()),
        ("churn_per_min", args.churn_per_min.to_string()),
        ("malformed_percent", args.malformed_percent.to_string()),
        ("feel", args.feel.to_string()),
        ("spectators", args.spectators.to_string()),
        (
            "spectate_room",
            args.spectate_room.clone().unwrap_or_default(),
        ),
        (
            "spectator_verify_every",
            args.spectator_verify_every.to_string(),
        ),
        ("join_burst", args.join_burst.to_string()),
        ("join_burst_seconds", args.join_burst_seconds.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Ok(Report {
        settings,
        game,
        floor,
        cpu_per_snapshot_vs_floor,
        spectator_floor,
        cpu_per_spectator_frame_vs_floor: all,
        marginal_cpu_per_spectator_frame_vs_floor: marginal,
        marginal_tick_scaled_cpu_per_spectator_frame_vs_floor: tick_scaled,
        budget_failures,
    })
}

/// Starts `skirmish-floor` (beside this executable) on 127.0.0.1:0, sending frames of `frame_bytes`
/// at `hz`, queued `queue_frames` deep (0: the newest only); returns its socket URL.
async fn start_floor(
    args: &Args,
    frame_bytes: f64,
    hz: f64,
    queue_frames: usize,
) -> anyhow::Result<(String, tokio::process::Child)> {
    let floor = match &args.floor_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("skirmish-floor"),
    };
    let mut command = match &args.floor_cpu {
        Some(cpus) => {
            let mut c = tokio::process::Command::new("taskset");
            c.arg("-c").arg(cpus).arg(&floor);
            c
        }
        None => tokio::process::Command::new(&floor),
    };
    command
        .args(["--bind", "127.0.0.1:0", "--frame-bytes"])
        .arg((frame_bytes.round() as usize).max(8).to_string())
        .arg("--hz")
        .arg((hz.round() as u32).max(1).to_string())
        .arg("--queue-frames")
        .arg(queue_frames.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", floor.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout from the floor"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await??
        .ok_or_else(|| anyhow::anyhow!("the floor exited before listening"))?;
    let addr = line
        .strip_prefix("listening on ")
        .ok_or_else(|| anyhow::anyhow!("unexpected floor output: {line}"))?;
    Ok((format!("ws://{addr}/ws"), child))
}

/// One measured run of all bots against one server.
async fn run_phase(args: &Args, url: &str, label: &str) -> anyhow::Result<PhaseReport> {
    let host = metrics_host(url)?;
    let plan = Arc::new(BotPlan {
        url: url.to_string(),
        scenario: args.scenario,
        input_hz: args.input_hz,
        latency_ms: args.latency_ms,
        jitter_ms: args.jitter_ms,
        bandwidth_kbps: args.bandwidth_kbps,
        client_rate: args.client_rate,
        malformed_percent: args.malformed_percent,
        // The floor's frames are padding, not a world: there is no view to check.
        verify_views: !args.skip_view_check && label == "game",
        feel: args.feel && label == "game",
        unstamped: args.unstamped_inputs,
    });
    let totals = Arc::new(Totals::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let bots: Vec<Arc<BotStats>> = (0..args.bots)
        .map(|_| Arc::new(BotStats::default()))
        .collect();
    let leaves: Vec<Arc<Notify>> = (0..args.bots).map(|_| Arc::new(Notify::new())).collect();
    let mut tasks = Vec::with_capacity(args.bots);
    let ramp_start = Instant::now();
    let ramp = Duration::from_secs_f64(args.ramp.max(0.0));
    for (i, stats) in bots.iter().enumerate() {
        let at = ramp_start + ramp.mul_f64(i as f64 / args.bots.max(1) as f64);
        tokio::time::sleep_until(at).await;
        tasks.push(tokio::spawn(slot(
            Slot {
                first: i,
                stride: args.bots,
                reconnect: args.soak(),
                stats: stats.clone(),
                stop: stop_rx.clone(),
                leave: leaves[i].clone(),
            },
            plan.clone(),
            totals.clone(),
        )));
        if !args.quiet && i % 100 == 99 {
            eprint!(
                "\r[{label}] ramp: {} bots started, {} joined   ",
                i + 1,
                totals.connected.load(Relaxed)
            );
        }
    }
    // Wait until every bot has joined or failed (at most 30 s more), then settle for a second.
    let joined_by = Instant::now() + Duration::from_secs(30);
    while totals.connected.load(Relaxed) + totals.errors.load(Relaxed) < args.bots as u64
        && Instant::now() < joined_by
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let watching = if label == "game" && args.spectators > 0 {
        Some(start_spectators(args, &host, &totals).await?)
    } else {
        None
    };
    let first = scrape(&host).await?;
    let spectators_start = watching.as_ref().map(|w| {
        (
            w.fleet.frames(),
            w.fleet.totals.flow(),
            spectators::own_cpu_seconds(),
        )
    });
    let flow_start = totals.flow();
    let snapshot_bytes_start = totals.snapshot_bytes.load(Relaxed);
    let _ = totals.take_rtts();
    let _ = totals.lags.take();
    let mut all_lags = Lags::default();
    let mut late_lags = Lags::default();
    let window_start = Instant::now();
    totals.deliveries.open(Window::Main, window_start);
    totals.reset_peak();
    let mut burst = (label == "game" && args.join_burst > 0).then(|| {
        totals.deliveries.open(Window::Burst, window_start);
        let incumbents = totals.live.load(Relaxed);
        let newcomers = Burst::start(
            plan.clone(),
            args.join_burst,
            Duration::from_secs_f64(args.join_burst_seconds.max(0.0)),
            stop_rx.clone(),
        );
        BurstWatch::new(newcomers, incumbents)
    });
    let feel_start = totals.feel.counts();
    let desyncs_start = totals.desyncs.load(Relaxed);
    let churn = (args.churn_per_min > 0.0).then(|| {
        tokio::spawn(churn_bots(
            leaves.clone(),
            args.churn_per_min,
            stop_rx.clone(),
        ))
    });
    let soak_start = soak_counts(&totals);
    let mut live_before = totals.live.load(Relaxed) as f64;
    let mut previous = first.clone();
    let mut previous_flow = flow_start;
    let mut series = Vec::new();
    let mut all_rtts: Vec<f64> = Vec::new();
    let seconds = args.duration.max(1.0).ceil() as u64;
    for second in 1..=seconds {
        tokio::time::sleep_until(window_start + Duration::from_secs(second)).await;
        let now = scrape(&host).await?;
        let flow = totals.flow();
        let mut rtts: Vec<f64> = totals.take_rtts().into_iter().map(f64::from).collect();
        all_rtts.extend_from_slice(&rtts);
        let lags = totals.lags.take();
        all_lags.merge(&lags);
        if second > seconds / 2 {
            late_lags.merge(&lags);
        }
        let (bounds, counts) = tick_histogram(&previous, &now);
        let delta = |name: &str| {
            now.get(name).copied().unwrap_or(0.0) - previous.get(name).copied().unwrap_or(0.0)
        };
        let live = totals.live.load(Relaxed) as f64;
        // Bots this second: the mean of the joined counts at its ends.
        let bots_now = ((live_before + live) / 2.0).max(1.0);
        live_before = live;
        let sample = Sample {
            t: second as f64,
            snapshots_per_bot: (flow.0 - previous_flow.0) as f64 / bots_now,
            bytes_down_per_bot: (flow.1 - previous_flow.1) as f64 / bots_now,
            rtt_p50_ms: quantile(&mut rtts, 0.5),
            rtt_p99_ms: quantile(&mut rtts, 0.99),
            lag_p99_ms: lags.quantile_ms(0.99),
            lag_max_ms: lags.max_ms(),
            tick_p50_ms: histogram_quantile_ms(&bounds, &counts, 0.5),
            tick_p99_ms: histogram_quantile_ms(&bounds, &counts, 0.99),
            ticks_per_s: delta("skirmish_ticks_total"),
            rss_mb: now
                .get("process_resident_memory_bytes")
                .copied()
                .unwrap_or(0.0)
                / 1e6,
            live_bots: live,
            rooms: now.get("skirmish_rooms").copied().unwrap_or(0.0),
            late_inputs: delta("skirmish_late_inputs_total"),
            empty_input_ticks: empty_input_ticks(&now) - empty_input_ticks(&previous),
        };
        if !args.quiet {
            let done = (second * 20 / seconds) as usize;
            eprint!(
                "\r[{label}] [{}{}] {second}/{seconds} s | bots {}/{} | {:.1} snap/s/bot | {:.0} B/s/bot | lag max {:.0} ms | tick p99 {:.2} ms | {:.0} ticks/s   ",
                "#".repeat(done),
                ".".repeat(20 - done),
                totals.live.load(Relaxed),
                args.bots,
                sample.snapshots_per_bot,
                sample.bytes_down_per_bot,
                sample.lag_max_ms,
                sample.tick_p99_ms,
                sample.ticks_per_s,
            );
        }
        if let Some(burst) = burst.as_mut() {
            burst.second(&totals, &now);
        }
        series.push(sample);
        previous = now;
        previous_flow = flow;
    }
    let elapsed = window_start.elapsed().as_secs_f64();
    let window_end = Instant::now();
    let bots_connected = totals.live.load(Relaxed);
    let bots_peak = totals.live_peak.load(Relaxed);
    if let Some(burst) = burst.as_mut() {
        burst.end(&totals, &previous, window_end);
    }
    totals.deliveries.close(Window::Main, window_end);
    let spectators = match (watching, spectators_start) {
        (Some(watching), Some(start)) => {
            let end = (
                watching.fleet.frames(),
                watching.fleet.totals.flow(),
                spectators::own_cpu_seconds(),
            );
            let figures = spectator_figures(
                args, &watching, &totals, &start, &end, &first, &previous, elapsed,
            );
            watching.fleet.stop().await;
            Some(figures)
        }
        _ => None,
    };
    let feel_end = totals.feel.counts();
    let desyncs_end = totals.desyncs.load(Relaxed);
    let last = previous;
    let flow_end = previous_flow;
    let snapshot_bytes = totals.snapshot_bytes.load(Relaxed) - snapshot_bytes_start;
    // Snapshots of ticks inside the window still on their way count for it: a moment for them.
    tokio::time::sleep(IN_FLIGHT_GRACE).await;
    let _ = stop_tx.send(true);
    if let Some(churn) = churn {
        let _ = churn.await;
    }
    // Every bot connection settles what it was due and received as it ends.
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    // (bot-seconds, snapshots) of a join burst's newcomers in the window.
    let (join_burst, newcomers) = match burst {
        Some(burst) => {
            let (figures, newcomers) = burst.figures(&totals, &first, &last, window_start).await;
            (Some(figures), newcomers)
        }
        None => (None, (0.0, 0.0)),
    };
    if !args.quiet {
        eprintln!();
    }
    let hz = totals.snapshot_hz.load(Relaxed) as f64;
    let ledger = totals.deliveries.ledger(Window::Main);
    let delivery = ledger.delivery();
    let mut per_bot = ledger.rates(hz, hz.round() as u64);
    let bot_seconds = ledger.bot_seconds;
    let snapshots = (flow_end.0 - flow_start.0) as f64;
    let delta = |name: &str| {
        last.get(name).copied().unwrap_or(0.0) - first.get(name).copied().unwrap_or(0.0)
    };
    let (bounds, counts) = tick_histogram(&first, &last);
    let cpu = delta("process_cpu_seconds_total") / elapsed;
    // The server's counters cover every player, a join burst's newcomers too: its per-player
    // figures divide by all of them.
    let player_seconds = (bot_seconds + newcomers.0).max(1.0);
    let player_snapshots = snapshots + newcomers.1;
    let bot_minutes = player_seconds / 60.0;
    let tick_hz = totals.tick_hz.load(Relaxed) as f64;
    let soak = args.soak().then(|| {
        soak_figures(
            &totals,
            &soak_start,
            &series,
            &last,
            delta("skirmish_ticks_total"),
            tick_hz,
        )
    });
    let feel = plan.feel.then(|| {
        let fired = delta("skirmish_shots_fired_total");
        let hits = delta("skirmish_shot_hits_total");
        let on_fallen = delta("skirmish_shot_hits_on_fallen_total");
        let inputs = (feel_end.inputs - feel_start.inputs) as f64;
        FeelReport {
            corrections_per_10s: (feel_end.corrections - feel_start.corrections) as f64
                / (bot_seconds.max(1.0) / 10.0),
            snaps_over_4_units: feel_end.snaps - feel_start.snaps,
            largest_correction: totals.feel.largest_centi.load(Relaxed) as f64 / 100.0,
            respawn_corrections: feel_end.respawn_corrections - feel_start.respawn_corrections,
            underruns: feel_end.underruns - feel_start.underruns,
            desyncs: desyncs_end - desyncs_start,
            late_inputs_per_bot_per_min: delta("skirmish_late_inputs_total") / bot_minutes,
            shots_fired: fired,
            shot_hits: hits,
            shot_hits_on_fallen: on_fallen,
            hit_ratio: if fired > 0.0 {
                (hits + on_fallen) / fired
            } else {
                0.0
            },
            damage_ratio: if fired > 0.0 { hits / fired } else { 0.0 },
            firing_share: (feel_end.firing_ticks - feel_start.firing_ticks) as f64
                / inputs.max(1.0),
            firing_view_lag_ms: (feel_end.firing_view_lag_ms - feel_start.firing_view_lag_ms)
                as f64
                / ((feel_end.firing_ticks - feel_start.firing_ticks) as f64).max(1.0),
        }
    });
    Ok(PhaseReport {
        feel,
        bots_requested: args.bots,
        bots_connected,
        bots_peak,
        joins: totals.connected.load(Relaxed),
        duration_s: elapsed,
        bot_seconds,
        snapshot_hz_expected: hz,
        snapshots_per_bot_per_s: PerBot {
            mean: delivery * hz,
            p1: quantile(&mut per_bot, 0.01),
            min: quantile(&mut per_bot, 0.0),
        },
        delivery,
        delivery_of_ticks_run: ledger.delivery_of_ticks_run(),
        bytes_down_per_bot_per_s: (flow_end.1 - flow_start.1) as f64 / bot_seconds.max(1.0),
        bytes_up_per_bot_per_s: (flow_end.2 - flow_start.2) as f64 / bot_seconds.max(1.0),
        bytes_per_snapshot: snapshot_bytes as f64 / snapshots.max(1.0),
        rtt_ms: Rtt {
            p50: quantile(&mut all_rtts, 0.5),
            p99: quantile(&mut all_rtts, 0.99),
            max: quantile(&mut all_rtts, 1.0),
        },
        snapshot_lag_ms: Rtt {
            p50: all_lags.quantile_ms(0.5),
            p99: all_lags.quantile_ms(0.99),
            max: all_lags.max_ms(),
        },
        snapshot_lag_second_half_ms: Rtt {
            p50: late_lags.quantile_ms(0.5),
            p99: late_lags.quantile_ms(0.99),
            max: late_lags.max_ms(),
        },
        lag_slope_ms_per_s: slope(
            &series
                .iter()
                .map(|s| (s.t, s.lag_p99_ms))
                .collect::<Vec<_>>(),
        ),
        snapshots_deferred_rate_per_bot_per_s: delta("skirmish_snapshots_deferred_rate_total")
            / player_seconds,
        snapshots_skipped_per_bot_per_s: delta("skirmish_snapshots_skipped_total") / player_seconds,
        disconnects: totals.disconnects.load(Relaxed),
        errors: totals.errors.load(Relaxed),
        views: ViewFigures {
            verified: totals.views_verified.load(Relaxed),
            desyncs: totals.desyncs.load(Relaxed),
            errors: totals.view_errors.load(Relaxed),
            server_desyncs: delta("skirmish_desyncs_total") as u64,
        },
        server: ServerFigures {
            tick_p50_ms: histogram_quantile_ms(&bounds, &counts, 0.5),
            tick_p99_ms: histogram_quantile_ms(&bounds, &counts, 0.99),
            tick_overruns: delta("skirmish_tick_overruns_total"),
            ticks_per_s: delta("skirmish_ticks_total") / elapsed,
            cpu_seconds_per_s: cpu,
            rss_mb: last
                .get("process_resident_memory_bytes")
                .copied()
                .unwrap_or(0.0)
                / 1e6,
            cpu_us_per_delivered_snapshot: if player_snapshots > 0.0 {
                cpu * elapsed / player_snapshots * 1e6
            } else {
                0.0
            },
            late_inputs: delta("skirmish_late_inputs_total"),
            late_inputs_per_bot_per_min: delta("skirmish_late_inputs_total") / bot_minutes,
            empty_input_ticks_per_bot_per_min: (empty_input_ticks(&last)
                - empty_input_ticks(&first))
                / bot_minutes,
        },
        series,
        soak,
        spectators,
        join_burst,
    })
}

/// How long after the window closes the bots go on counting snapshots of ticks inside it.
const IN_FLIGHT_GRACE: Duration = Duration::from_millis(500);

/// A join burst as the window's seconds pass: when it has settled, its window closes and the
/// seconds after it begin.
struct BurstWatch {
    burst: Burst,
    /// Bots joined as the burst began.
    incumbents: u64,
    /// Whether the burst window has closed.
    closed: bool,
    /// The second every newcomer had joined or failed by.
    settled_at: Option<Instant>,
    /// The scrape, the load generator's CPU seconds and the moment the burst window closed.
    end: Option<(HashMap<String, f64>, f64, Instant)>,
    /// When the run's window ended, and the load generator's CPU seconds then.
    window_end: Option<(Instant, f64)>,
    /// Snapshots the newcomers had received when the run's window ended.
    newcomer_snapshots: u64,
    cpu_start: f64,
}

impl BurstWatch {
    fn new(burst: Burst, incumbents: u64) -> BurstWatch {
        BurstWatch {
            burst,
            incumbents,
            closed: false,
            settled_at: None,
            end: None,
            window_end: None,
            newcomer_snapshots: 0,
            cpu_start: spectators::own_cpu_seconds(),
        }
    }

    /// One second of the window passed; `scrape` is the server's `/metrics` now.
    fn second(&mut self, totals: &Totals, scrape: &HashMap<String, f64>) {
        let now = Instant::now();
        if self.closed {
            return;
        }
        if self.settled_at.is_none() && self.burst.settled() {
            self.settled_at = Some(now);
        }
        let launched = now >= self.burst.started + self.burst.launch;
        if let (Some(settled), true) = (self.settled_at, launched) {
            if now >= settled + Duration::from_secs(1) {
                self.close(totals, scrape, now);
            }
        }
    }

    fn close(&mut self, totals: &Totals, scrape: &HashMap<String, f64>, now: Instant) {
        totals.deliveries.close(Window::Burst, now);
        totals.deliveries.open(Window::AfterBurst, now);
        self.end = Some((scrape.clone(), spectators::own_cpu_seconds(), now));
        self.closed = true;
    }

    /// The window ends at `now` (`last` is its final scrape).
    fn end(&mut self, totals: &Totals, last: &HashMap<String, f64>, now: Instant) {
        if !self.closed {
            self.close(totals, last, now);
        }
        totals.deliveries.close(Window::AfterBurst, now);
        self.burst.totals.deliveries.close(Window::Main, now);
        self.window_end = Some((now, spectators::own_cpu_seconds()));
        self.newcomer_snapshots = self.burst.totals.flow().0;
    }

    /// The burst's figures, once the run has stopped (the incumbents have settled their
    /// deliveries); `first` and `last` are the window's first and last scrapes. Also the
    /// newcomers' seconds joined and snapshots received in the window.
    async fn figures(
        self,
        totals: &Totals,
        first: &HashMap<String, f64>,
        last: &HashMap<String, f64>,
        window_start: Instant,
    ) -> (JoinBurstFigures, (f64, f64)) {
        let BurstWatch {
            burst: newcomers,
            incumbents,
            end,
            window_end,
            newcomer_snapshots,
            cpu_start,
            ..
        } = self;
        let (window_end, loadgen_end) =
            window_end.unwrap_or_else(|| (Instant::now(), spectators::own_cpu_seconds()));
        let (requested, launch) = (newcomers.requested, newcomers.launch);
        let totals_of_newcomers = newcomers.totals.clone();
        let timings = newcomers.join_timings();
        let (joined, failed) = (newcomers.joined(), newcomers.failed());
        // They were told to stop with the incumbents; each settles its seconds joined as it ends.
        newcomers.stopped(Duration::from_secs(10)).await;
        let newcomer_seconds = totals_of_newcomers
            .deliveries
            .ledger(Window::Main)
            .bot_seconds;
        let mut first_snapshot: Vec<f64> = totals_of_newcomers
            .take_first_snapshot_ms()
            .into_iter()
            .map(f64::from)
            .collect();
        let (joins_per_s, joins_per_s_peak, hello_span_s, join_ms) = burst::join_rates(&timings);
        let (middle, cpu_end, closed_at) =
            end.unwrap_or_else(|| (last.clone(), spectators::own_cpu_seconds(), Instant::now()));
        let window_s = closed_at
            .saturating_duration_since(window_start)
            .as_secs_f64();
        let after_s = (window_end
            .saturating_duration_since(window_start)
            .as_secs_f64()
            - window_s)
            .max(0.0);
        let delta = |a: &HashMap<String, f64>, b: &HashMap<String, f64>, name: &str| {
            b.get(name).copied().unwrap_or(0.0) - a.get(name).copied().unwrap_or(0.0)
        };
        let per_second_after = |amount: f64| {
            if after_s > 0.0 {
                amount / after_s
            } else {
                0.0
            }
        };
        let (bounds, counts) = tick_histogram(first, &middle);
        let (after_bounds, after_counts) = tick_histogram(&middle, last);
        let during = totals.deliveries.ledger(Window::Burst);
        let after = totals.deliveries.ledger(Window::AfterBurst);
        let hz = totals.snapshot_hz.load(Relaxed) as f64;
        let mut rates = during.rates(hz, 1);
        let seconds = window_s.max(1e-3);
        let figures = JoinBurstFigures {
            incumbents,
            requested,
            launch_seconds: launch.as_secs_f64(),
            hello_span_s,
            joined,
            failed,
            refused: totals_of_newcomers.refused.load(Relaxed),
            errors: totals_of_newcomers.errors.load(Relaxed),
            joins_per_s,
            joins_per_s_peak,
            join_ms,
            first_snapshot_ms: Rtt {
                p50: quantile(&mut first_snapshot, 0.5),
                p99: quantile(&mut first_snapshot, 0.99),
                max: quantile(&mut first_snapshot, 1.0),
            },
            window_s,
            incumbent_delivery: during.delivery(),
            incumbent_snapshots_per_s: PerBot {
                mean: during.delivery() * hz,
                p1: quantile(&mut rates, 0.01),
                min: quantile(&mut rates, 0.0),
            },
            after_s,
            incumbent_delivery_after: after.delivery(),
            tick_p50_ms: histogram_quantile_ms(&bounds, &counts, 0.5),
            tick_p99_ms: histogram_quantile_ms(&bounds, &counts, 0.99),
            tick_p99_after_ms: histogram_quantile_ms(&after_bounds, &after_counts, 0.99),
            ticks_per_s: delta(first, &middle, "skirmish_ticks_total") / seconds,
            cpu_seconds_per_s: delta(first, &middle, "process_cpu_seconds_total") / seconds,
            loadgen_cpu_seconds_per_s: (cpu_end - cpu_start) / seconds,
            ticks_per_s_after: per_second_after(delta(&middle, last, "skirmish_ticks_total")),
            cpu_seconds_per_s_after: per_second_after(delta(
                &middle,
                last,
                "process_cpu_seconds_total",
            )),
            loadgen_cpu_seconds_per_s_after: per_second_after(loadgen_end - cpu_end),
        };
        (figures, (newcomer_seconds, newcomer_snapshots as f64))
    }
}

/// The spectators of a run: their fleet, the room they watch, and the baseline before they joined.
struct Watching {
    fleet: Fleet,
    room_code: String,
    baseline: BaselineFigures,
}

/// Measures the server with the bots alone for `--duration` (the baseline), then starts the
/// spectators on the bots' room and waits until each has a frame.
async fn start_spectators(args: &Args, host: &str, totals: &Totals) -> anyhow::Result<Watching> {
    let (busiest, bots_in_room) = totals.busiest_room().unwrap_or_default();
    let room_code = args.spectate_room.clone().unwrap_or(busiest);
    if !args.quiet {
        eprintln!(
            "\r[game] baseline: {} bots alone for {:.0} s (room {room_code}: {bots_in_room} bots)   ",
            totals.live.load(Relaxed),
            args.duration
        );
    }
    let before = scrape(host).await?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration.max(1.0))).await;
    let after = scrape(host).await?;
    let seconds = started.elapsed().as_secs_f64();
    let delta = |name: &str| {
        after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
    };
    let baseline = BaselineFigures {
        duration_s: seconds,
        cpu_seconds_per_s: delta("process_cpu_seconds_total") / seconds,
        ticks_per_s: delta("skirmish_ticks_total") / seconds,
        feed_frames_per_s: delta("skirmish_feed_frames_total") / seconds,
    };
    let plan = SpectatorPlan {
        url: args.url.clone(),
        room: (!room_code.is_empty()).then(|| room_code.clone()),
        verify_every: args.spectator_verify_every,
    };
    if !args.quiet {
        eprintln!(
            "[game] {} spectators joining room {room_code}",
            args.spectators
        );
    }
    let ramp = Duration::from_secs_f64(args.spectator_ramp.max(0.0));
    let fleet = Fleet::start(plan, args.spectators, ramp).await;
    // The feed's delay (2 s by default) passes before the first frame; then settle a second.
    fleet.wait_watching(Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(Watching {
        fleet,
        room_code,
        baseline,
    })
}

/// The spectators' figures over the window (`first` and `last` are its scrapes).
#[allow(clippy::too_many_arguments)]
fn spectator_figures(
    args: &Args,
    watching: &Watching,
    bots: &Totals,
    start: &(Vec<u64>, (u64, u64), f64),
    end: &(Vec<u64>, (u64, u64), f64),
    first: &HashMap<String, f64>,
    last: &HashMap<String, f64>,
    elapsed: f64,
) -> SpectatorFigures {
    let fleet = &watching.fleet;
    let t = &fleet.totals;
    let delta = |name: &str| {
        last.get(name).copied().unwrap_or(0.0) - first.get(name).copied().unwrap_or(0.0)
    };
    let mut rates = spectators::rates(fleet, &start.0, &end.0, elapsed);
    let mean = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    let frames = end.1 .0 - start.1 .0;
    let bytes = end.1 .1 - start.1 .1;
    let connected = t.connected.load(Relaxed);
    let hz = t.feed_hz.load(Relaxed) as f64;
    let cpu = delta("process_cpu_seconds_total") / elapsed;
    // The room the spectators' Welcome named, and how many bots were welcomed into it.
    let room_code = t
        .room_code
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_else(|| watching.room_code.clone());
    let bots_in_room = bots
        .rooms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&room_code)
        .copied()
        .unwrap_or(0);
    let ticks_per_s = delta("skirmish_ticks_total") / elapsed;
    let baseline = &watching.baseline;
    let baseline_per_tick = if baseline.ticks_per_s > 0.0 {
        baseline.cpu_seconds_per_s / baseline.ticks_per_s
    } else {
        0.0
    };
    let per_frame_us = |cpu_per_s: f64| {
        if frames > 0 {
            cpu_per_s * elapsed / frames as f64 * 1e6
        } else {
            0.0
        }
    };
    SpectatorFigures {
        requested: args.spectators,
        connected,
        errors: t.errors.load(Relaxed),
        disconnects: t.disconnects.load(Relaxed),
        first_error: t
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        room_code,
        bots_in_room,
        feed_hz_expected: hz,
        frames_per_spectator_per_s: PerBot {
            mean,
            p1: quantile(&mut rates, 0.01),
            min: quantile(&mut rates, 0.0),
        },
        delivery: if hz > 0.0 { mean / hz } else { 0.0 },
        bytes_per_spectator_per_s: bytes as f64 / (connected.max(1) as f64 * elapsed),
        bytes_per_frame: bytes as f64 / frames.max(1) as f64,
        frames_delivered: frames,
        frames_sent_by_server: delta("skirmish_spectator_frames_sent_total"),
        feed_frames_per_s: delta("skirmish_feed_frames_total") / elapsed,
        server_spectators: last.get("skirmish_spectators").copied().unwrap_or(0.0),
        replay_bytes_per_min: delta("skirmish_replay_bytes_written_total") / elapsed * 60.0,
        verify_every: args.spectator_verify_every,
        frames_verified: t.verified.load(Relaxed),
        keyframes_verified: t.keyframes_seen.load(Relaxed),
        desyncs: t.desyncs.load(Relaxed),
        view_errors: t.view_errors.load(Relaxed),
        baseline: watching.baseline.clone(),
        cpu_seconds_per_s: cpu,
        cpu_us_per_spectator_frame: per_frame_us(cpu),
        marginal_cpu_us_per_spectator_frame: per_frame_us(
            cpu - watching.baseline.cpu_seconds_per_s,
        ),
        ticks_per_s,
        marginal_tick_scaled_cpu_us_per_spectator_frame: per_frame_us(
            cpu - baseline_per_tick * ticks_per_s,
        ),
        loadgen_cpu_seconds_per_s: (end.2 - start.2) / elapsed,
    }
}

/// The floor doing the spectators' transport work: `--spectators` connections, each sent one frame
/// of the spectators' mean frame size at the feed rate, queued like the server's feed (two seconds
/// of frames), measured for `--duration`.
async fn run_spectator_floor(
    args: &Args,
    watched: &SpectatorFigures,
) -> anyhow::Result<SpectatorFloorFigures> {
    let frame_bytes = (watched.bytes_per_frame.round() as usize).max(8);
    let hz = watched.feed_hz_expected.max(1.0);
    // As the server's feed: every frame through a broadcast channel holding two seconds of them.
    let queue_frames = (hz * 2.0).round() as usize;
    let (url, mut child) = start_floor(args, frame_bytes as f64, hz, queue_frames).await?;
    let measured = measure_spectator_floor(args, &url, frame_bytes, hz).await;
    let _ = child.kill().await;
    measured.map(|figures| SpectatorFloorFigures {
        queue_frames,
        ..figures
    })
}

async fn measure_spectator_floor(
    args: &Args,
    url: &str,
    frame_bytes: usize,
    hz: f64,
) -> anyhow::Result<SpectatorFloorFigures> {
    let host = metrics_host(url)?;
    let plan = SpectatorPlan {
        url: url.to_string(),
        room: None,
        verify_every: 0,
    };
    if !args.quiet {
        eprintln!(
            "[floor] {} connections, {frame_bytes} B frames at {hz} Hz",
            args.spectators
        );
    }
    let ramp = Duration::from_secs_f64(args.spectator_ramp.max(0.0));
    let fleet = Fleet::start(plan, args.spectators, ramp).await;
    fleet.wait_watching(Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first = scrape(&host).await?;
    let (start, flow_start) = (fleet.frames(), fleet.totals.flow());
    let own_start = spectators::own_cpu_seconds();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration.max(1.0))).await;
    let last = scrape(&host).await?;
    let (end, flow_end) = (fleet.frames(), fleet.totals.flow());
    let own_end = spectators::own_cpu_seconds();
    let elapsed = started.elapsed().as_secs_f64();
    let mut rates = spectators::rates(&fleet, &start, &end, elapsed);
    let connected = fleet.totals.connected.load(Relaxed);
    let errors = fleet.totals.errors.load(Relaxed);
    fleet.stop().await;
    let frames = flow_end.0 - flow_start.0;
    let cpu = (last
        .get("process_cpu_seconds_total")
        .copied()
        .unwrap_or(0.0)
        - first
            .get("process_cpu_seconds_total")
            .copied()
            .unwrap_or(0.0))
        / elapsed;
    Ok(SpectatorFloorFigures {
        requested: args.spectators,
        connected,
        errors,
        frame_bytes,
        hz,
        queue_frames: 0,
        duration_s: elapsed,
        frames_per_connection_per_s: PerBot {
            mean: rates.iter().sum::<f64>() / rates.len().max(1) as f64,
            p1: quantile(&mut rates, 0.01),
            min: quantile(&mut rates, 0.0),
        },
        bytes_per_frame: (flow_end.1 - flow_start.1) as f64 / frames.max(1) as f64,
        frames_delivered: frames,
        cpu_seconds_per_s: cpu,
        cpu_us_per_frame: if frames > 0 {
            cpu * elapsed / frames as f64 * 1e6
        } else {
            0.0
        },
        loadgen_cpu_seconds_per_s: (own_end - own_start) / elapsed,
    })
}

/// The `skirmish_input_queue_depth` observations of 0 in a scrape: ticks at which a player's input
/// buffer was empty.
fn empty_input_ticks(scrape: &HashMap<String, f64>) -> f64 {
    scrape
        .iter()
        .filter_map(|(name, value)| {
            let le = name
                .strip_prefix("skirmish_input_queue_depth_bucket{le=\"")?
                .strip_suffix("\"}")?;
            (le.parse::<f64>().ok()? == 0.0).then_some(*value)
        })
        .sum()
}

/// One bot slot: a bot, and (in soak runs) the players that take its place.
struct Slot {
    /// The first bot's index; later ones add `stride` each time.
    first: usize,
    stride: usize,
    /// Whether a bot that is closed or leaves is replaced.
    reconnect: bool,
    stats: Arc<BotStats>,
    stop: watch::Receiver<bool>,
    leave: Arc<Notify>,
}

/// Runs a slot's bots one after another until the run stops.
async fn slot(slot: Slot, plan: Arc<BotPlan>, totals: Arc<Totals>) {
    let mut resume = None;
    for generation in 0.. {
        let index = slot.first + generation * slot.stride;
        let exit = bot::run(
            plan.clone(),
            totals.clone(),
            BotRun {
                index,
                stats: slot.stats.clone(),
                stop: slot.stop.clone(),
                leave: slot.leave.clone(),
                resume: resume.take(),
            },
        )
        .await;
        let pause = match exit {
            Exit::Stopped => return,
            Exit::Churned { resume: seat } => {
                totals.churned.fetch_add(1, Relaxed);
                resume = seat;
                Duration::from_millis(50)
            }
            // Like a browser client's reconnect: a short wait, longer after a failure.
            Exit::Kicked => Duration::from_millis(250),
            Exit::Lost => Duration::from_secs(1),
        };
        if !slot.reconnect || *slot.stop.borrow() {
            return;
        }
        let mut stop = slot.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Tells random slots' players to leave: `percent_per_min` of the slots a minute, evenly spaced.
async fn churn_bots(
    leaves: Vec<Arc<Notify>>,
    percent_per_min: f64,
    mut stop: watch::Receiver<bool>,
) {
    let per_second = leaves.len() as f64 * percent_per_min / 100.0 / 60.0;
    if per_second <= 0.0 || leaves.is_empty() {
        return;
    }
    let every = Duration::from_secs_f64(1.0 / per_second);
    let mut dice = crate::scenario::Dice::new(0xC4A2);
    let mut next = Instant::now() + every;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = stop.changed() => return,
        }
        next += every;
        leaves[dice.roll(leaves.len() as u64) as usize].notify_one();
    }
}

/// The soak counters at one moment.
struct SoakCounts {
    joins: u64,
    churned: u64,
    resumed: u64,
    resume_lost: u64,
    malformed: Vec<u64>,
    closed: u64,
    wrong: u64,
    not_closed: u64,
    messages_up: u64,
}

fn soak_counts(totals: &Totals) -> SoakCounts {
    SoakCounts {
        joins: totals.connected.load(Relaxed),
        churned: totals.churned.load(Relaxed),
        resumed: totals.resumed.load(Relaxed),
        resume_lost: totals.resume_lost.load(Relaxed),
        malformed: totals
            .malformed_sent
            .iter()
            .map(|c| c.load(Relaxed))
            .collect(),
        closed: totals.malformed_closed.load(Relaxed),
        wrong: totals.malformed_wrong_close.load(Relaxed),
        not_closed: totals.malformed_not_closed.load(Relaxed),
        messages_up: totals.messages_up.load(Relaxed),
    }
}

/// The soak figures over the window: counters since `start`, RSS trend and tick ratio from the
/// samples, panics from the last scrape.
fn soak_figures(
    totals: &Totals,
    start: &SoakCounts,
    series: &[Sample],
    last: &HashMap<String, f64>,
    ticks: f64,
    tick_hz: f64,
) -> SoakFigures {
    let end = soak_counts(totals);
    let sent: Vec<u64> = end
        .malformed
        .iter()
        .zip(&start.malformed)
        .map(|(e, s)| e - s)
        .collect();
    let malformed_total: u64 = sent.iter().sum();
    let messages = end.messages_up - start.messages_up;
    let rss: Vec<(f64, f64)> = series.iter().map(|s| (s.t / 60.0, s.rss_mb)).collect();
    let edge = (series.len() / 10).clamp(1, 60).min(series.len());
    let mean_rss = |samples: &[Sample]| {
        samples.iter().map(|s| s.rss_mb).sum::<f64>() / samples.len().max(1) as f64
    };
    let due: f64 = series.iter().map(|s| s.rooms * tick_hz).sum();
    let tick_ratio_min_second = series
        .iter()
        .filter(|s| s.rooms > 0.0 && tick_hz > 0.0)
        .map(|s| s.ticks_per_s / (s.rooms * tick_hz))
        .fold(f64::INFINITY, f64::min);
    SoakFigures {
        joins: end.joins - start.joins,
        churned: end.churned - start.churned,
        resumed: end.resumed - start.resumed,
        resume_lost: end.resume_lost - start.resume_lost,
        malformed_sent: Kind::ALL
            .iter()
            .zip(&sent)
            .map(|(kind, n)| (format!("{kind:?}"), *n))
            .collect(),
        malformed_total,
        malformed_share_percent: if messages > 0 {
            malformed_total as f64 * 100.0 / messages as f64
        } else {
            0.0
        },
        malformed_closed_as_expected: end.closed - start.closed,
        malformed_wrong_close: end.wrong - start.wrong,
        malformed_not_closed: end.not_closed - start.not_closed,
        rss_slope_mb_per_min: slope(&rss),
        rss_slope_second_half_mb_per_min: slope(&rss[rss.len() / 2..]),
        rss_start_mb: mean_rss(&series[..edge]),
        rss_end_mb: mean_rss(&series[series.len() - edge..]),
        rss_max_mb: series.iter().map(|s| s.rss_mb).fold(0.0, f64::max),
        tick_ratio: if due > 0.0 { ticks / due } else { 0.0 },
        tick_ratio_min_second: if tick_ratio_min_second.is_finite() {
            tick_ratio_min_second
        } else {
            0.0
        },
        server_panics: last.get("skirmish_panics_total").copied().unwrap_or(0.0),
    }
}

/// Prints the human summary of a report.
pub fn print_summary(report: &Report) {
    let mut out = std::io::stdout().lock();
    let phases = std::iter::once(("game server", &report.game))
        .chain(report.floor.as_ref().map(|f| ("transport floor", f)));
    for (label, p) in phases {
        let _ = writeln!(
            out,
            "{label}: bots {}/{} (peak {}; {} joins) | snapshots/bot/s {:.2} (p1 {:.2}, min {:.2}; delivery {:.2}%) | down {:.0} B/s/bot, up {:.0} B/s/bot, {:.0} B/snapshot | RTT p50 {:.1} p99 {:.1} max {:.1} ms | disconnects {} errors {}",
            p.bots_connected, p.bots_requested, p.bots_peak, p.joins, p.snapshots_per_bot_per_s.mean, p.snapshots_per_bot_per_s.p1, p.snapshots_per_bot_per_s.min,
            p.delivery * 100.0, p.bytes_down_per_bot_per_s, p.bytes_up_per_bot_per_s, p.bytes_per_snapshot, p.rtt_ms.p50, p.rtt_ms.p99, p.rtt_ms.max,
            p.disconnects, p.errors
        );
        let _ = writeln!(
            out,
            "  snapshot lag behind the room's tick: p50 {:.0} p99 {:.0} max {:.0} ms (second half: p99 {:.0} max {:.0}), trend {:+.1} ms/s | per bot per second: {:.2} deferred for rate, {:.2} replaced unsent",
            p.snapshot_lag_ms.p50, p.snapshot_lag_ms.p99, p.snapshot_lag_ms.max,
            p.snapshot_lag_second_half_ms.p99, p.snapshot_lag_second_half_ms.max, p.lag_slope_ms_per_s,
            p.snapshots_deferred_rate_per_bot_per_s, p.snapshots_skipped_per_bot_per_s
        );
        if let Some(feel) = &p.feel {
            let _ = writeln!(out, "  feel: {}", feel.summary());
        }
        let v = &p.views;
        let _ = writeln!(
            out,
            "  views: {} snapshots verified, {} desyncs ({} counted by the server), {} did not apply",
            v.verified, v.desyncs, v.server_desyncs, v.errors
        );
        let s = &p.server;
        let _ = writeln!(
            out,
            "  server: tick p50 {:.3} ms p99 {:.3} ms, {:.1} ticks/s, overruns {}, CPU {:.3} s/s, {:.2} µs per delivered snapshot, RSS {:.1} MB",
            s.tick_p50_ms, s.tick_p99_ms, s.ticks_per_s, s.tick_overruns, s.cpu_seconds_per_s, s.cpu_us_per_delivered_snapshot, s.rss_mb
        );
        let _ = writeln!(
            out,
            "  inputs: {:.3} late per bot per minute ({} in all); input buffer empty at {:.1} ticks per bot per minute",
            s.late_inputs_per_bot_per_min, s.late_inputs, s.empty_input_ticks_per_bot_per_min
        );
    }
    if let Some(soak) = &report.game.soak {
        let _ = writeln!(out, "  soak: {}", soak.summary());
    }
    if let Some(burst) = &report.game.join_burst {
        let _ = writeln!(out, "  join burst: {}", burst.summary());
    }
    if let Some(ratio) = report.cpu_per_snapshot_vs_floor {
        let _ = writeln!(
            out,
            "server CPU per delivered snapshot: {ratio:.2}x the transport floor"
        );
    }
    if let Some(s) = &report.game.spectators {
        let _ = writeln!(
            out,
            "spectators: {}/{} watching room {} ({} bots in it) | frames/spectator/s {:.2} (p1 {:.2}, min {:.2}; feed {:.0} Hz, delivery {:.2}%) | {:.0} B/s/spectator, {:.0} B/frame | {} frames delivered, {:.0} sent by the server | errors {} disconnects {}{}",
            s.connected, s.requested, s.room_code, s.bots_in_room, s.frames_per_spectator_per_s.mean,
            s.frames_per_spectator_per_s.p1, s.frames_per_spectator_per_s.min, s.feed_hz_expected,
            s.delivery * 100.0, s.bytes_per_spectator_per_s, s.bytes_per_frame, s.frames_delivered,
            s.frames_sent_by_server, s.errors, s.disconnects,
            s.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "  sample (1 in {}): {} frames verified ({} keyframes), {} desyncs, {} did not apply | replay {:.0} B/min",
            s.verify_every, s.frames_verified, s.keyframes_verified, s.desyncs, s.view_errors, s.replay_bytes_per_min
        );
        let _ = writeln!(
            out,
            "  server CPU: {:.3} s/s with spectators ({:.1} ticks/s), {:.3} s/s bots alone ({:.1} ticks/s) | {:.2} µs per spectator frame (all CPU), {:.2} µs marginal ({:.2} with the baseline scaled by ticks) | load generator CPU {:.3} s/s",
            s.cpu_seconds_per_s, s.ticks_per_s, s.baseline.cpu_seconds_per_s, s.baseline.ticks_per_s, s.cpu_us_per_spectator_frame, s.marginal_cpu_us_per_spectator_frame, s.marginal_tick_scaled_cpu_us_per_spectator_frame, s.loadgen_cpu_seconds_per_s
        );
    }
    if let Some(f) = &report.spectator_floor {
        let _ = writeln!(
            out,
            "spectator floor: {}/{} connections, {} B frames at {:.0} Hz | frames/conn/s {:.2} (min {:.2}) | CPU {:.3} s/s, {:.2} µs per frame | load generator CPU {:.3} s/s",
            f.connected, f.requested, f.frame_bytes, f.hz, f.frames_per_connection_per_s.mean,
            f.frames_per_connection_per_s.min, f.cpu_seconds_per_s, f.cpu_us_per_frame, f.loadgen_cpu_seconds_per_s
        );
    }
    if let Some(ratio) = report.cpu_per_spectator_frame_vs_floor {
        let _ = writeln!(
            out,
            "server CPU per spectator frame: {ratio:.2}x the floor (all CPU), {:.2}x (marginal over the bots alone), {:.2}x (marginal, baseline scaled by ticks)",
            report.marginal_cpu_per_spectator_frame_vs_floor.unwrap_or(0.0),
            report.marginal_tick_scaled_cpu_per_spectator_frame_vs_floor.unwrap_or(0.0)
        );
    }
    for failure in &report.budget_failures {
        let _ = writeln!(out, "BUDGET MISSED: {failure}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_ticks_come_from_the_zero_bucket() {
        let scrape = crate::metrics_scrape::parse(
            "skirmish_input_queue_depth_bucket{le=\"0.0\"} 7\n\
             skirmish_input_queue_depth_bucket{le=\"1.0\"} 9\n\
             skirmish_input_queue_depth_bucket{le=\"+Inf\"} 12\n",
        );
        assert_eq!(empty_input_ticks(&scrape), 7.0);
        assert_eq!(empty_input_ticks(&HashMap::new()), 0.0);
    }
}
