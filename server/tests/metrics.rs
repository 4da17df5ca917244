//! The operational series in /metrics: per-room players, snapshot sizes, bytes per player, input
//! queue depth, and disconnects by reason.

mod support;

use skirmish_shared::protocol::close_code;
use std::time::{Duration, Instant};
use support::{bounded, close_code_of, TestServer};

/// The value of the series line starting with `series ` in a /metrics page.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn operational_series_follow_play() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut ada = server.join("Ada").await;
        let bob = server.join("Bob").await;
        let mut rude = server.join("Rude").await;
        rude.send_raw(vec![0xEE, 1, 2]).await.expect("sent");
        assert_eq!(
            close_code_of(&mut rude).await,
            Some(close_code::INVALID_PAYLOAD)
        );
        bob.close().await;
        // Play a little over a second, so the once-a-second series report.
        let until = Instant::now() + Duration::from_millis(1300);
        while Instant::now() < until {
            ada.send_input(1, 0, 0, 0).await.expect("input");
            ada.next_snapshot().await.expect("snapshot");
        }
        let page = server.get("/metrics").await;
        assert_eq!(
            value(&page, "skirmish_room_players{room=\"1\"}"),
            Some(1.0),
            "{page}"
        );
        assert!(value(&page, "skirmish_snapshot_bytes_count").is_some_and(|n| n >= 30.0));
        assert!(value(&page, "skirmish_snapshot_bytes_sum").is_some_and(|n| n > 0.0));
        assert!(value(&page, "skirmish_player_bytes_per_second_count").is_some_and(|n| n >= 1.0));
        assert!(value(&page, "skirmish_input_queue_depth_count").is_some_and(|n| n >= 60.0));
        assert_eq!(
            value(&page, "skirmish_disconnects_total{reason=\"protocol\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&page, "skirmish_disconnects_total{reason=\"closed\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&page, "skirmish_disconnects_total{reason=\"kicked\"}"),
            Some(0.0)
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_grafana_dashboard_only_uses_series_the_server_exports() {
    bounded(async {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../deploy/grafana/skirmish-dashboard.json"))
                .expect("the dashboard is JSON");
        let server = TestServer::start(&[]).await;
        let _player = server.join("Ada").await;
        let page = server.get("/metrics").await;
        let exported: std::collections::HashSet<&str> = page
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split([' ', '{']).next())
            .collect();
        let mut used = 0;
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().expect("targets") {
                let expr = target["expr"].as_str().expect("an expression");
                for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                    if word.starts_with("skirmish_") || word.starts_with("process_") {
                        assert!(exported.contains(word), "{word} is not exported");
                        used += 1;
                    }
                }
            }
        }
        assert!(used >= 20, "the dashboard uses {used} series");
        server.stop().await;
    })
    .await;
}

/// Checks `body` line by line against the OpenMetrics text format, as far as a scraper relies on it:
/// it ends with the one `# EOF`; every sample belongs to the family of the `# TYPE` line it follows
/// (families declared once, not interleaved), named as that type allows, with a numeric value.
fn check_openmetrics(body: &str) -> Result<usize, String> {
    if !body.ends_with("\n# EOF\n") || body.matches("# EOF").count() != 1 {
        return Err("the exposition does not end with its one `# EOF`".into());
    }
    let mut declared = std::collections::HashSet::new();
    let mut family: Option<(&str, &str)> = None;
    let mut samples = 0;
    for line in body.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !declared.insert(name) {
                        return Err(format!("{name} is declared twice"));
                    }
                    family = Some((name, kind));
                }
                (Some("HELP" | "UNIT"), Some(_), Some(_)) | (Some("EOF"), None, None) => {}
                _ => return Err(format!("unexpected comment line: {line}")),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| format!("a sample without a value: {line}"))?;
        value
            .parse::<f64>()
            .map_err(|_| format!("not a number: {line}"))?;
        let name = series.split('{').next().unwrap_or(series);
        let (family_name, kind) =
            family.ok_or_else(|| format!("a sample before any TYPE line: {line}"))?;
        let suffix = name
            .strip_prefix(family_name)
            .ok_or_else(|| format!("{name} is not in the family {family_name} it follows"))?;
        let allowed: &[&str] = match kind {
            "counter" => &["_total", "_created"],
            "gauge" => &[""],
            "histogram" => &["_bucket", "_sum", "_count", "_created"],
            other => return Err(format!("unexpected type {other}")),
        };
        if !allowed.contains(&suffix) {
            return Err(format!(
                "{name} is not a sample name of {kind} {family_name}"
            ));
        }
        samples += 1;
    }
    Ok(samples)
}

#[tokio::test]
async fn metrics_are_valid_openmetrics() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let _player = server.join("Ada").await;
        let response = server.get("/metrics").await;
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        // Header names are case-insensitive (hyper writes them in lower case).
        assert!(
            head.to_ascii_lowercase().contains(
                "\r\ncontent-type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"
            ),
            "{head}"
        );
        let samples = check_openmetrics(body).unwrap_or_else(|e| panic!("{e} in\n{body}"));
        assert!(samples > 50, "{samples} samples");
        // The room family the lobby adds comes before the end, whole.
        assert!(
            body.contains("# TYPE skirmish_room_players gauge\nskirmish_room_players{room=\"1\"} ")
        );
        server.stop().await;
    })
    .await;
}

#[test]
fn the_openmetrics_check_rejects_what_it_should() {
    let good = "# TYPE a counter\na_total 1\n# TYPE b histogram\nb_bucket{le=\"+Inf\"} 1\nb_count 1\n# EOF\n";
    assert_eq!(check_openmetrics(good), Ok(3));
    for bad in [
        "# TYPE a counter\na_total 1\n",
        "# TYPE a counter\na_total 1\n# EOF\n# EOF\n",
        "a_total 1\n# EOF\n",
        "# TYPE a counter\na 1\n# EOF\n",
        "# TYPE a gauge\na 1\n# TYPE b gauge\na 2\n# EOF\n",
        "# TYPE a gauge\na 1\n# TYPE a gauge\n# EOF\n",
        "# TYPE a gauge\na one\n# EOF\n",
    ] {
        assert!(check_openmetrics(bad).is_err(), "accepted {bad:?}");
    }
}
