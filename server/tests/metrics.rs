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
