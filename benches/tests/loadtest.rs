//! The load-test harness end to end, small: bots against a real server on 127.0.0.1:0, the floor
//! phase, the link conditioner, reports and budgets.

use clap::Parser;
use skirmish_bench::loadtest::{self, html, Args};
use skirmish_server::{Server, ServerConfig};
use std::time::Duration;

async fn start_server() -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    start_server_with(&[]).await
}

/// [`start_server`] with more server flags.
async fn start_server_with(
    extra: &[&str],
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    // Every bot comes from 127.0.0.1: lift the per-address limits a real server keeps.
    let mut argv = vec![
        "skirmish-server",
        "--bind",
        "127.0.0.1:0",
        "--max-connections-per-ip",
        "10000",
        "--connect-rate-per-ip",
        "100000",
        "--join-rate-per-ip",
        "100000",
        // The load test's bots are the only players: no fill bots in their rooms.
        "--fill-bots",
        "0",
        // No replays: they would land in the crate's folder.
        "--replay-dir",
        "",
    ];
    argv.extend_from_slice(extra);
    let config = ServerConfig::from_args(&skirmish_server::Args::parse_from(argv)).expect("config");
    let server = Server::bind(config).await.expect("bind");
    let url = format!("ws://{}/ws", server.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    (url, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_play_and_the_report_holds_every_field() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let (url, stop, task) = start_server().await;
        let args = Args::parse_from([
            "skirmish-loadtest",
            "--url",
            url.as_str(),
            "--bots",
            "12",
            "--duration",
            "2",
            "--ramp",
            "0.5",
            "--latency-ms",
            "25",
            "--jitter-ms",
            "5",
            "--floor",
            "--floor-bin",
            env!("CARGO_BIN_EXE_skirmish-floor"),
            "--max-tick-p99-ms",
            "0.000001",
            "--min-delivery",
            "0.5",
            "--quiet",
        ]);
        let report = loadtest::run(&args).await.expect("the run completes");
        // Every bot joined once, all were joined as the window opened; the bots joined at its end
        // are those the server did not drop for falling behind (it may, on a loaded machine).
        assert_eq!((report.game.bots_peak, report.game.joins), (12, 12));
        assert!(report.game.bots_connected <= 12);
        assert!(report.game.delivery <= 1.0, "{}", report.game.delivery);
        assert_eq!(report.game.snapshot_hz_expected, 30.0);
        assert!(
            report.game.delivery > 0.5,
            "delivery {}",
            report.game.delivery
        );
        assert!(report.game.bytes_down_per_bot_per_s > 0.0);
        assert!(report.game.bytes_up_per_bot_per_s > 0.0);
        // The conditioner adds 25-30 ms each way.
        assert!(
            report.game.rtt_ms.p50 >= 50.0,
            "rtt {:?}",
            report.game.rtt_ms
        );
        assert!(report.game.server.ticks_per_s > 30.0);
        // Every snapshot a bot received was applied to its view and checked, and none desynced.
        let views = report.game.views;
        assert!(views.verified > 100, "{views:?}");
        assert_eq!(
            (views.desyncs, views.errors, views.server_desyncs),
            (0, 0, 0)
        );
        assert!(report.game.server.cpu_seconds_per_s > 0.0);
        let floor = report.floor.as_ref().expect("the floor ran");
        assert_eq!(floor.bots_peak, 12);
        assert!(floor.snapshots_per_bot_per_s.mean > 10.0);
        assert!(report.cpu_per_snapshot_vs_floor.is_some());
        // The impossible tick budget is reported missed; the delivery budget held.
        assert_eq!(
            report.budget_failures.len(),
            1,
            "{:?}",
            report.budget_failures
        );
        assert!(report.budget_failures[0].starts_with("tick p99"));
        let json: serde_json::Value = serde_json::to_value(&report).expect("serializes");
        for field in [
            "bots_requested",
            "bots_connected",
            "duration_s",
            "snapshot_hz_expected",
            "bytes_down_per_bot_per_s",
            "bytes_up_per_bot_per_s",
            "disconnects",
            "errors",
        ] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
        for field in ["mean", "p1", "min"] {
            assert!(
                json["snapshots_per_bot_per_s"].get(field).is_some(),
                "missing {field}"
            );
        }
        for field in ["p50", "p99", "max"] {
            assert!(json["rtt_ms"].get(field).is_some(), "missing rtt {field}");
        }
        for field in [
            "tick_p50_ms",
            "tick_p99_ms",
            "tick_overruns",
            "cpu_seconds_per_s",
            "rss_mb",
        ] {
            assert!(
                json["server"].get(field).is_some(),
                "missing server {field}"
            );
        }
        let page = html::render(&report);
        assert!(
            page.contains("<svg")
                && page.contains("transport floor")
                && page.contains("Budget missed")
        );
        assert!(!page.contains("src=\"http"), "the page is self-contained");
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    })
    .await
    .expect("within 90 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_mode_churns_sends_malformed_traffic_and_accounts_for_every_close() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let (url, stop, task) = start_server().await;
        let args = Args::parse_from([
            "skirmish-loadtest",
            "--url",
            url.as_str(),
            "--bots",
            "10",
            "--duration",
            "5",
            "--ramp",
            "0.5",
            // 10 bots, 240 % a minute: a player leaves every 2.5 s.
            "--churn-per-min",
            "240",
            // About 3 of a bot's 32 messages a second: most bots are closed and rejoin in the window.
            "--malformed-percent",
            "10",
            "--max-unexpected-closes",
            "0",
            "--min-tick-ratio",
            "0.5",
            "--max-rss-slope-mb-per-min",
            "1000",
            "--quiet",
        ]);
        let report = loadtest::run(&args).await.expect("the run completes");
        let soak = report.game.soak.as_ref().expect("soak figures");
        assert!(soak.churned >= 1, "{soak:?}");
        assert!(soak.malformed_total > 20, "{soak:?}");
        // Every fatal kind was answered with its close code, none another way, none left open.
        assert!(soak.malformed_closed_as_expected > 0, "{soak:?}");
        assert_eq!(soak.malformed_wrong_close, 0, "{soak:?}");
        assert_eq!(soak.malformed_not_closed, 0, "{soak:?}");
        // The closed bots came back: more joins than bots.
        assert!(soak.joins > 10, "{soak:?}");
        // ...but joined bots are bots, never more than were asked for, and the joins are counted
        // apart from them.
        let game = &report.game;
        assert!(
            game.bots_connected <= 10 && game.bots_peak <= 10,
            "{game:?}"
        );
        assert!(game.bots_peak >= 1 && game.joins >= soak.joins, "{game:?}");
        // Delivery is what was received over what was due while each bot was joined: never
        // above 100 %, however often bots come and go.
        assert!(
            game.delivery > 0.5 && game.delivery <= 1.0,
            "{}",
            game.delivery
        );
        assert!(game.bot_seconds > 0.0 && game.bot_seconds <= 10.0 * game.duration_s);
        // Nothing a peer sent hurt anyone else: no unexplained disconnects.
        assert_eq!(report.game.disconnects, 0);
        assert!(soak.tick_ratio > 0.5 && soak.tick_ratio < 1.1, "{soak:?}");
        assert!(soak.rss_start_mb > 0.0 && soak.rss_max_mb >= soak.rss_end_mb);
        assert_eq!(soak.server_panics, 0.0);
        assert_eq!(report.game.series.len(), 5);
        assert!(report.game.series.iter().all(|s| s.rooms == 1.0));
        assert!(
            report.budget_failures.is_empty(),
            "{:?}",
            report.budget_failures
        );
        let json: serde_json::Value = serde_json::to_value(&report).expect("serializes");
        assert!(json["soak"]["malformed_sent"]["Garbage"].is_u64());
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    })
    .await
    .expect("within 90 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spectators_watch_the_bots_room_at_the_feed_rate_and_the_floor_serves_as_many() {
    tokio::time::timeout(Duration::from_secs(90), async {
        // A short delay so that the spectators' first frames come quickly; no recording.
        let (url, stop, task) = start_server_with(&["--spectator-delay-ms", "200"]).await;
        let args = Args::parse_from([
            "skirmish-loadtest",
            "--url",
            url.as_str(),
            "--bots",
            "4",
            "--duration",
            "2",
            "--ramp",
            "0.3",
            "--spectators",
            "3",
            "--spectator-ramp",
            "0.2",
            // Spectators 0 and 2 decode and check every frame; spectator 1 only counts them.
            "--spectator-verify-every",
            "2",
            "--floor",
            "--floor-bin",
            env!("CARGO_BIN_EXE_skirmish-floor"),
            "--quiet",
        ]);
        let report = loadtest::run(&args).await.expect("the run completes");
        let s = report.game.spectators.as_ref().expect("spectator figures");
        assert_eq!((s.requested, s.connected, s.errors), (3, 3, 0), "{s:?}");
        assert_eq!(s.disconnects, 0, "{s:?}");
        // They watched the bots' room: all four bots were welcomed into it.
        assert_eq!(s.bots_in_room, 4, "{s:?}");
        assert!(!s.room_code.is_empty());
        assert_eq!(s.server_spectators, 3.0, "{s:?}");
        // The feed's default rate at 60 ticks a second, and every spectator got about that.
        assert_eq!(s.feed_hz_expected, 20.0);
        let rate = &s.frames_per_spectator_per_s;
        assert!(rate.mean > 15.0 && rate.mean < 25.0, "{rate:?}");
        assert!(rate.min > 12.0, "{rate:?}");
        // Frames carry something (four bots' packed updates: about 19 bytes a frame since
        // protocol 8 packs them).
        assert!(s.bytes_per_frame > 12.0, "{s:?}");
        assert!(
            s.bytes_per_spectator_per_s > 15.0 * s.bytes_per_frame * 0.9,
            "{s:?}"
        );
        // The server's count of frames sent agrees with what arrived (a frame may be in flight
        // at either end of the window).
        let sent = s.frames_sent_by_server;
        let delivered = s.frames_delivered as f64;
        assert!(delivered > 80.0 && (sent - delivered).abs() <= 6.0, "{s:?}");
        // The feed is encoded once per feed tick, however many watch.
        assert!(
            s.feed_frames_per_s > 15.0 && s.feed_frames_per_s < 25.0,
            "{s:?}"
        );
        // The verifying spectators applied every frame they got, and their views held.
        assert!(s.frames_verified > 40, "{s:?}");
        assert!(s.keyframes_verified >= 2, "{s:?}");
        assert_eq!((s.desyncs, s.view_errors), (0, 0), "{s:?}");
        assert!(s.baseline.duration_s >= 2.0, "{:?}", s.baseline);
        assert!(s.baseline.ticks_per_s > 30.0, "{:?}", s.baseline);
        assert!(s.cpu_seconds_per_s > 0.0 && s.cpu_us_per_spectator_frame > 0.0);
        assert!(s.ticks_per_s > 30.0, "{s:?}");
        // The load generator measured its own CPU too (it runs in this process).
        assert!(s.loadgen_cpu_seconds_per_s > 0.0, "{s:?}");
        let f = report
            .spectator_floor
            .as_ref()
            .expect("the spectator floor ran");
        assert_eq!((f.requested, f.connected, f.errors), (3, 3, 0), "{f:?}");
        assert_eq!(f.frame_bytes, s.bytes_per_frame.round() as usize);
        assert_eq!((f.hz, f.queue_frames), (20.0, 40));
        let floor_rate = &f.frames_per_connection_per_s;
        assert!(floor_rate.mean > 15.0 && floor_rate.mean < 25.0, "{f:?}");
        // The floor pads its frames to the size asked for (within the encoding's few bytes).
        assert!(
            (f.bytes_per_frame - f.frame_bytes as f64).abs() < 8.0,
            "{f:?}"
        );
        assert!(report.cpu_per_spectator_frame_vs_floor.is_some());
        assert!(report.marginal_cpu_per_spectator_frame_vs_floor.is_some());
        let json: serde_json::Value = serde_json::to_value(&report).expect("serializes");
        for field in [
            "connected",
            "frames_per_spectator_per_s",
            "bytes_per_spectator_per_s",
            "cpu_us_per_spectator_frame",
            "marginal_cpu_us_per_spectator_frame",
            "baseline",
        ] {
            assert!(json["spectators"].get(field).is_some(), "missing {field}");
        }
        assert!(json["spectator_floor"]["cpu_us_per_frame"].is_f64());
        assert!(json["cpu_per_spectator_frame_vs_floor"].is_f64());
        let page = html::render(&report);
        assert!(page.contains("<h2>Spectators</h2>") && page.contains("the floor"));
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    })
    .await
    .expect("within 90 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spectators_refused_a_room_are_reported_as_errors() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let (url, stop, task) = start_server_with(&[]).await;
        let args = Args::parse_from([
            "skirmish-loadtest",
            "--url",
            url.as_str(),
            "--bots",
            "2",
            "--duration",
            "1",
            "--ramp",
            "0.2",
            "--spectators",
            "2",
            "--spectate-room",
            "NOPE",
            "--quiet",
        ]);
        let report = loadtest::run(&args).await.expect("the run completes");
        let s = report.game.spectators.as_ref().expect("spectator figures");
        assert_eq!(
            (s.connected, s.errors, s.frames_delivered),
            (0, 2, 0),
            "{s:?}"
        );
        let first = s.first_error.as_deref().unwrap_or_default();
        assert!(first.contains("refused"), "{first}");
        assert_eq!(s.delivery, 0.0);
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    })
    .await
    .expect("within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_burst_reports_its_joins_and_the_incumbents_delivery() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let (url, stop, task) = start_server().await;
        let args = Args::parse_from([
            "skirmish-loadtest",
            "--url",
            url.as_str(),
            "--bots",
            "8",
            "--duration",
            "4",
            "--ramp",
            "0.3",
            "--join-burst",
            "32",
            "--join-burst-seconds",
            "0.5",
            "--skip-view-check",
            "--quiet",
        ]);
        let report = loadtest::run(&args).await.expect("the run completes");
        let burst = report.game.join_burst.as_ref().expect("burst figures");
        assert_eq!((burst.requested, burst.incumbents), (32, 8), "{burst:?}");
        assert_eq!(
            (burst.joined, burst.failed, burst.refused, burst.errors),
            (32, 0, 0, 0)
        );
        assert!(
            burst.joins_per_s > 0.0 && burst.joins_per_s_peak >= 1.0,
            "{burst:?}"
        );
        assert!(burst.join_ms.p50 > 0.0 && burst.join_ms.p99 >= burst.join_ms.p50);
        assert!(burst.first_snapshot_ms.max > 0.0, "{burst:?}");
        // The burst window closed once every newcomer was in, before the run's window ended.
        assert!(burst.window_s >= 0.5 && burst.after_s > 0.0, "{burst:?}");
        assert!(burst.incumbent_delivery > 0.0 && burst.incumbent_delivery <= 1.0);
        assert!(burst.incumbent_delivery_after <= 1.0, "{burst:?}");
        assert!(burst.ticks_per_s > 0.0 && burst.tick_p99_ms >= burst.tick_p50_ms);
        // The window's own figures are the incumbents' (on a loaded machine the server may drop
        // one that falls behind: they do not rejoin).
        assert_eq!(report.game.bots_peak, 8);
        assert!(report.game.bots_connected <= 8);
        assert!(report.game.delivery > 0.0 && report.game.delivery <= 1.0);
        let json: serde_json::Value = serde_json::to_value(&report).expect("serializes");
        assert!(json["join_burst"]["joins_per_s"].is_f64());
        assert!(html::render(&report).contains("<h2>Join burst</h2>"));
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    })
    .await
    .expect("within 90 s");
}
