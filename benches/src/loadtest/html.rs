//! The self-contained HTML report: a summary table and line charts over time, as inline SVG.

use super::report::{PhaseReport, Report, Sample};
use std::fmt::Write as _;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One line of a chart: its name, colour, and the value it plots.
type Line<'a> = (&'a str, &'a str, fn(&Sample) -> f64);

/// One chart: several series over the samples' time axis.
fn chart(title: &str, unit: &str, samples: &[Sample], series: &[Line<'_>]) -> String {
    let (width, height, pad) = (560.0, 200.0, 40.0);
    let t_max = samples.last().map_or(1.0, |s| s.t).max(1.0);
    let y_max = samples
        .iter()
        .flat_map(|s| series.iter().map(move |(_, _, f)| f(s)))
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.1;
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\">",
        escape(title)
    );
    let _ = write!(
        svg,
        "<line x1=\"{pad}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" class=\"axis\"/><line x1=\"{pad}\" y1=\"10\" x2=\"{pad}\" y2=\"{y0}\" class=\"axis\"/>",
        y0 = height - pad,
        x1 = width - 10.0
    );
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"18\">{:.4}</text><text x=\"4\" y=\"{}\">0</text><text x=\"{}\" y=\"{}\">{t_max:.0} s</text><text x=\"{pad}\" y=\"{}\">{}</text>",
        y_max / 1.1,
        height - pad,
        width - 50.0,
        height - 22.0,
        height - 6.0,
        escape(unit)
    );
    for (name, color, value) in series {
        let points: Vec<String> = samples
            .iter()
            .map(|s| {
                let x = pad + (s.t / t_max) * (width - pad - 10.0);
                let y = (height - pad) - (value(s) / y_max) * (height - pad - 10.0);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(svg, "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>", points.join(" "), escape(name));
    }
    svg.push_str("</svg><div class=\"legend\">");
    for (name, color, _) in series {
        let _ = write!(
            svg,
            "<span style=\"color:{color}\">■ {}</span> ",
            escape(name)
        );
    }
    svg.push_str("</div></figure>");
    svg
}

fn summary_rows(label: &str, phase: &PhaseReport) -> String {
    format!(
        "<tr><th>{}</th><td>{}/{} (peak {}; {} joins)</td><td>{:.2} ({:.2}%)</td><td>{:.2}</td><td>{:.0}</td><td>{:.0}</td><td>{:.1} / {:.1}</td><td>{:.0} / {:.0}</td><td>{:.2} / {:.2}</td><td>{:.3}</td><td>{:.1}</td><td>{:.1}</td></tr>",
        escape(label),
        phase.bots_connected,
        phase.bots_requested,
        phase.bots_peak,
        phase.joins,
        phase.snapshots_per_bot_per_s.mean,
        phase.delivery * 100.0,
        phase.snapshots_per_bot_per_s.min,
        phase.bytes_down_per_bot_per_s,
        phase.bytes_per_snapshot,
        phase.rtt_ms.p50,
        phase.rtt_ms.p99,
        phase.snapshot_lag_ms.p99,
        phase.snapshot_lag_ms.max,
        phase.server.tick_p50_ms,
        phase.server.tick_p99_ms,
        phase.server.cpu_seconds_per_s,
        phase.server.cpu_us_per_delivered_snapshot,
        phase.server.rss_mb,
    )
}

/// The spectators' table (runs with `--spectators`), empty otherwise.
fn spectator_section(report: &Report) -> String {
    let Some(s) = &report.game.spectators else {
        return String::new();
    };
    let mut html = format!(
        "<h2>Spectators</h2><table><tr><th>room</th><th>spectators</th><th>frames/spectator/s (feed Hz)</th><th>min</th><th>bytes/spectator/s</th><th>bytes/frame</th><th>frames delivered (sent)</th><th>server CPU s/s (bots alone)</th><th>CPU µs/frame all (marginal)</th><th>verified (desyncs)</th></tr>\
         <tr><td>{}</td><td>{}/{}</td><td>{:.2} ({:.0})</td><td>{:.2}</td><td>{:.0}</td><td>{:.0}</td><td>{} ({:.0})</td><td>{:.3} ({:.3})</td><td>{:.2} ({:.2})</td><td>{} ({})</td></tr>",
        escape(&s.room_code),
        s.connected,
        s.requested,
        s.frames_per_spectator_per_s.mean,
        s.feed_hz_expected,
        s.frames_per_spectator_per_s.min,
        s.bytes_per_spectator_per_s,
        s.bytes_per_frame,
        s.frames_delivered,
        s.frames_sent_by_server,
        s.cpu_seconds_per_s,
        s.baseline.cpu_seconds_per_s,
        s.cpu_us_per_spectator_frame,
        s.marginal_cpu_us_per_spectator_frame,
        s.frames_verified,
        s.desyncs,
    );
    if let Some(f) = &report.spectator_floor {
        let _ = write!(
            html,
            "<tr><td>transport floor</td><td>{}/{}</td><td>{:.2} ({:.0})</td><td>{:.2}</td><td></td><td>{:.0}</td><td>{}</td><td>{:.3}</td><td>{:.2}</td><td></td></tr>",
            f.connected,
            f.requested,
            f.frames_per_connection_per_s.mean,
            f.hz,
            f.frames_per_connection_per_s.min,
            f.bytes_per_frame,
            f.frames_delivered,
            f.cpu_seconds_per_s,
            f.cpu_us_per_frame,
        );
    }
    html.push_str("</table>");
    if let (Some(all), Some(marginal)) = (
        report.cpu_per_spectator_frame_vs_floor,
        report.marginal_cpu_per_spectator_frame_vs_floor,
    ) {
        let _ = write!(
            html,
            "<p>Server CPU per spectator frame: <b>{marginal:.2}×</b> the floor's per frame for what the spectators added over the bots alone; {all:.2}× counting all the server's CPU.</p>"
        );
    }
    html
}

/// The join burst's table (runs with `--join-burst`), empty otherwise.
fn join_burst_section(report: &Report) -> String {
    let Some(b) = &report.game.join_burst else {
        return String::new();
    };
    format!(
        "<h2>Join burst</h2><p>The figures above are the {} bots already in, over the whole window; here the burst window ({:.1} s: from the first Hello until a second after every newcomer joined or failed) and the {:.1} s after it.</p>\
         <table><tr><th>newcomers joined / asked</th><th>failed (refused)</th><th>joins/s (peak second)</th><th>Hellos over s (asked)</th><th>join ms p50 / p99 / max</th><th>first snapshot ms p99</th><th>incumbents' delivery in burst (after)</th><th>worst incumbent snapshots/s</th><th>tick p50 / p99 ms (p99 after)</th><th>ticks/s (after)</th><th>server CPU s/s (after)</th><th>load generator CPU s/s (after)</th></tr>\
         <tr><td>{}/{}</td><td>{} ({})</td><td>{:.0} ({:.0})</td><td>{:.2} ({:.2})</td><td>{:.1} / {:.1} / {:.1}</td><td>{:.1}</td><td>{:.2}% ({:.2}%)</td><td>{:.2}</td><td>{:.3} / {:.3} ({:.3})</td><td>{:.1} ({:.1})</td><td>{:.3} ({:.3})</td><td>{:.3} ({:.3})</td></tr></table>",
        b.incumbents,
        b.window_s,
        b.after_s,
        b.joined,
        b.requested,
        b.failed,
        b.refused,
        b.joins_per_s,
        b.joins_per_s_peak,
        b.hello_span_s,
        b.launch_seconds,
        b.join_ms.p50,
        b.join_ms.p99,
        b.join_ms.max,
        b.first_snapshot_ms.p99,
        b.incumbent_delivery * 100.0,
        b.incumbent_delivery_after * 100.0,
        b.incumbent_snapshots_per_s.min,
        b.tick_p50_ms,
        b.tick_p99_ms,
        b.tick_p99_after_ms,
        b.ticks_per_s,
        b.ticks_per_s_after,
        b.cpu_seconds_per_s,
        b.cpu_seconds_per_s_after,
        b.loadgen_cpu_seconds_per_s,
        b.loadgen_cpu_seconds_per_s_after,
    )
}

/// Renders the report as one HTML page with no external resources.
pub fn render(report: &Report) -> String {
    let mut settings: Vec<_> = report.settings.iter().collect();
    settings.sort();
    let mut page = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Skirmish load test</title><style>\
         body{font:14px system-ui,sans-serif;margin:24px;color:#1b1f27;background:#fafbfc}\
         table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:right}\
         th{text-align:left;background:#f0f3f6}figure{display:inline-block;margin:8px;background:#fff;border:1px solid #d0d7de;padding:8px}\
         figcaption{font-weight:600}svg text{font-size:11px;fill:#57606a}.axis{stroke:#8c959f}.legend{font-size:12px}\
         .fail{color:#b42318;font-weight:600}.ok{color:#1a7f37;font-weight:600}</style></head><body><h1>Skirmish load test</h1><p>",
    );
    for (key, value) in settings {
        let _ = write!(page, "<b>{}</b>: {} &nbsp; ", escape(key), escape(value));
    }
    page.push_str("</p>");
    if report.budget_failures.is_empty() {
        page.push_str("<p class=\"ok\">All budgets held.</p>");
    } else {
        for failure in &report.budget_failures {
            let _ = write!(
                page,
                "<p class=\"fail\">Budget missed: {}</p>",
                escape(failure)
            );
        }
    }
    page.push_str("<table><tr><th></th><th>bots joined at the end / asked</th><th>snapshots/bot/s (delivery)</th><th>min bot</th><th>bytes down/bot/s</th><th>bytes/snapshot</th><th>RTT p50/p99 ms</th><th>snapshot lag p99/max ms</th><th>tick p50/p99 ms</th><th>server CPU s/s</th><th>CPU µs/snapshot</th><th>RSS MB</th></tr>");
    page.push_str(&summary_rows("game server", &report.game));
    if let Some(floor) = &report.floor {
        page.push_str(&summary_rows("transport floor", floor));
    }
    page.push_str("</table>");
    if let Some(soak) = &report.game.soak {
        let _ = write!(page, "<p><b>Soak</b>: {}</p>", escape(&soak.summary()));
    }
    if let Some(ratio) = report.cpu_per_snapshot_vs_floor {
        let _ = write!(page, "<p>Server CPU per delivered snapshot: <b>{ratio:.2}×</b> the bare transport floor.</p>");
    }
    page.push_str(&spectator_section(report));
    page.push_str(&join_burst_section(report));
    let charts: [(&str, &str, &[Line<'_>]); 8] = [
        (
            "Snapshots per bot per second",
            "snapshots/s",
            &[("per bot", "#0969da", |s| s.snapshots_per_bot)],
        ),
        (
            "Bytes down per bot per second",
            "bytes/s",
            &[("per bot", "#8250df", |s| s.bytes_down_per_bot)],
        ),
        (
            "Round-trip time",
            "ms",
            &[
                ("p50", "#1a7f37", |s| s.rtt_p50_ms),
                ("p99", "#bf8700", |s| s.rtt_p99_ms),
            ],
        ),
        (
            "Snapshot lag behind the room's tick",
            "ms",
            &[
                ("p99", "#bf8700", |s| s.lag_p99_ms),
                ("max", "#cf222e", |s| s.lag_max_ms),
            ],
        ),
        (
            "Server tick time",
            "ms",
            &[
                ("p50", "#0969da", |s| s.tick_p50_ms),
                ("p99", "#cf222e", |s| s.tick_p99_ms),
            ],
        ),
        (
            "Server ticks per second",
            "ticks/s",
            &[("ticks/s", "#57606a", |s| s.ticks_per_s)],
        ),
        (
            "Server resident memory",
            "MB",
            &[("RSS", "#953800", |s| s.rss_mb)],
        ),
        (
            "Bots joined",
            "bots",
            &[("joined", "#1a7f37", |s| s.live_bots)],
        ),
    ];
    for (title, unit, lines) in charts {
        page.push_str(&chart(title, unit, &report.game.series, lines));
    }
    page.push_str("</body></html>\n");
    page
}
