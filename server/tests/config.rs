//! Configuration through the real binary: environment variables, the config file, --help, and JSON
//! logs with per-connection spans.

mod support;

use skirmish_server::client::GameClient;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::Killed;

const BINARY: &str = env!("CARGO_BIN_EXE_skirmish-server");

/// Runs the server with `env` and `args` and expects it to refuse to start: returns stderr.
fn refused(env: &[(&str, &str)], args: &[&str]) -> String {
    let mut command = Command::new(BINARY);
    // No replays: they would land in the crate's folder.
    command
        .args(["--bind", "127.0.0.1:0", "--replay-dir", ""])
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    assert_eq!(
        output.status.code(),
        Some(2),
        "exit status for a bad configuration"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_bad_environment_variable_is_named() {
    let stderr = refused(&[("SKIRMISH_TICK_HZ", "fast")], &[]);
    assert!(
        stderr.contains("environment variable SKIRMISH_TICK_HZ"),
        "{stderr}"
    );
    let stderr = refused(&[("SKIRMISH_TICK_HZ", "500")], &[]);
    assert!(stderr.contains("SKIRMISH_TICK_HZ: must be"), "{stderr}");
    let stderr = refused(&[("SKIRMISH_LOG", "info,=[")], &[]);
    assert!(stderr.contains("SKIRMISH_LOG"), "{stderr}");
    // A bad secret is named but never printed.
    let stderr = refused(&[("SKIRMISH_ADMIN_TOKEN", "tooshortsecret")], &[]);
    assert!(
        stderr.contains("SKIRMISH_ADMIN_TOKEN: must be at least 16"),
        "{stderr}"
    );
    assert!(!stderr.contains("tooshortsecret"), "{stderr}");
}

#[test]
fn the_environment_beats_the_file_and_flags_beat_both() {
    let path = support::write_map("config-layers", "").with_file_name("skirmish.toml");
    std::fs::write(&path, "tick_hz = 30\nsnapshot_hz = 7\n").expect("write config");
    let config = path.to_str().expect("utf-8");
    // The file's snapshot_hz (7) does not divide the environment's tick rate (120).
    let stderr = refused(&[("SKIRMISH_TICK_HZ", "120")], &["--config", config]);
    assert!(
        stderr.contains("key `snapshot_hz` in") && stderr.contains("(120)"),
        "{stderr}"
    );
    // A flag overrides the file's value, and the environment's bad one is named.
    let stderr = refused(
        &[("SKIRMISH_VIEW_RADIUS", "1")],
        &["--config", config, "--snapshot-hz", "10"],
    );
    assert!(stderr.contains("SKIRMISH_VIEW_RADIUS: must be"), "{stderr}");
    let stderr = refused(
        &[],
        &[
            "--config",
            config,
            "--snapshot-hz",
            "10",
            "--tick-hz",
            "500",
        ],
    );
    assert!(stderr.contains("--tick-hz: must be"), "{stderr}");
}

#[test]
fn help_documents_every_setting_and_its_variable() {
    let output = Command::new(BINARY).arg("--help").output().expect("runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for (flag, env) in [
        ("--bind", "SKIRMISH_BIND"),
        ("--tick-hz", "SKIRMISH_TICK_HZ"),
        ("--allowed-origin", "SKIRMISH_ALLOWED_ORIGINS"),
        ("--shutdown-grace", "SKIRMISH_SHUTDOWN_GRACE"),
        ("--log-format", "SKIRMISH_LOG_FORMAT"),
        ("--config", "SKIRMISH_CONFIG"),
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
        assert!(
            help.contains(&format!("[env: {env}")),
            "{env} missing from --help"
        );
    }
}

#[tokio::test]
async fn json_logs_carry_the_connection_span() {
    support::bounded(async {
        let mut child = Killed(
            Command::new(BINARY)
                .args([
                    "--bind",
                    "127.0.0.1:0",
                    "--replay-dir",
                    "",
                    "--log-format",
                    "json",
                ])
                .stderr(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("starts"),
        );
        let stderr = child.0.stderr.take().expect("stderr");
        // Read stderr on a thread; lines arrive through a channel.
        let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv().await.expect("a first line");
        let first: serde_json::Value = serde_json::from_str(&first).expect("JSON");
        let message = first["fields"]["message"].as_str().expect("a message");
        let addr = message
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("the address")
            .to_string();
        let client = GameClient::connect(&format!("ws://{addr}/ws"), "logged")
            .await
            .expect("joins");
        let player = client.welcome().player_id.0;
        let deadline = Instant::now() + Duration::from_secs(10);
        let joined = loop {
            let line = tokio::time::timeout_at(deadline.into(), lines.recv())
                .await
                .expect("a joined line in time")
                .expect("the server is running");
            let value: serde_json::Value = serde_json::from_str(&line).expect("every line is JSON");
            if value["fields"]["message"] == "joined" {
                break value;
            }
        };
        assert_eq!(joined["span"]["name"], "conn");
        assert_eq!(joined["span"]["player"], player);
        assert_eq!(joined["span"]["room"], client.welcome().room.0);
        assert!(joined["span"]["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.1:")));
        assert_eq!(joined["fields"]["name"], "logged");
        drop(child);
    })
    .await;
}
