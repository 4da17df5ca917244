//! Agones integration (`--agones`): the game server reports its lifecycle to the Agones SDK's local
//! HTTP sidecar (<https://agones.dev/site/docs/guides/client-sdks/rest/>):
//!
//! - `POST /ready` once the server is listening (retried until the sidecar answers);
//! - `POST /health` every `--agones-health-interval` seconds while it runs;
//! - `POST /alpha/player/connect` and `/alpha/player/disconnect` as players join and leave (player
//!   tracking, an Agones alpha feature; ids are `ROOM-PLAYER-CONNECTION`, one per connection, so a
//!   resume that replaces a live connection is counted right);
//! - `POST /shutdown` once a graceful shutdown has drained the players.
//!
//! The client is a few lines of HTTP/1.1 over loopback; calls are bounded in time and a failure is
//! logged, never fatal to the game.

use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// How long one SDK call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Player events queued for the SDK before new ones are dropped (and logged).
const EVENT_QUEUE: usize = 4096;

/// The sidecar's address when neither `--agones-sdk-url` nor `AGONES_SDK_HTTP_PORT` says otherwise.
const DEFAULT_PORT: u16 = 9358;

/// The SDK base URL: the flag, else `http://localhost:$AGONES_SDK_HTTP_PORT` (set by Agones in the
/// pod), else port 9358.
pub fn sdk_url(flag: Option<&str>) -> String {
    if let Some(url) = flag {
        return url.trim_end_matches('/').to_string();
    }
    let port = std::env::var("AGONES_SDK_HTTP_PORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(DEFAULT_PORT);
    format!("http://localhost:{port}")
}

/// What sessions tell the SDK task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayerEvent {
    /// A player joined (or resumed).
    Connected(String),
    /// A player's session ended.
    Disconnected(String),
}

/// The sessions' side: queues player events without waiting.
#[derive(Debug, Clone)]
pub struct AgonesHandle {
    events: mpsc::Sender<PlayerEvent>,
}

impl AgonesHandle {
    /// Queues an event; drops it (logged) if the SDK has fallen far behind.
    pub fn send(&self, event: PlayerEvent) {
        if self.events.try_send(event).is_err() {
            tracing::warn!("Agones player event dropped: the SDK is not keeping up");
        }
    }
}

/// A minimal client of the SDK's REST API.
#[derive(Debug, Clone)]
pub struct SdkClient {
    host: String,
}

impl SdkClient {
    /// A client for `url` (`http://host:port`).
    pub fn new(url: &str) -> Result<SdkClient, String> {
        let host = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: the Agones SDK URL must start with http://"))?
            .trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(format!("{url:?}: expected http://host:port"));
        }
        Ok(SdkClient {
            host: host.to_string(),
        })
    }

    /// POSTs `body` to `path`; Ok when the sidecar answers 2xx.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> Result<(), String> {
        tokio::time::timeout(CALL_TIMEOUT, self.post_inner(path, body))
            .await
            .map_err(|_| format!("{path}: no answer within {CALL_TIMEOUT:?}"))?
    }

    async fn post_inner(&self, path: &str, body: &serde_json::Value) -> Result<(), String> {
        let body = body.to_string();
        let mut stream = tokio::net::TcpStream::connect(&self.host)
            .await
            .map_err(|e| format!("{path}: cannot reach the SDK at {}: {e}", self.host))?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.host,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let mut response = Vec::new();
        let mut chunk = [0u8; 512];
        // The status line is all that matters; read until it is complete.
        while !response.contains(&b'\n') {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            if n == 0 || response.len() > 4096 {
                break;
            }
            response.extend_from_slice(&chunk[..n]);
        }
        let status = String::from_utf8_lossy(&response);
        let code = status
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok());
        match code {
            Some(200..=299) => Ok(()),
            _ => Err(format!(
                "{path}: the SDK answered {:?}",
                status.lines().next().unwrap_or_default()
            )),
        }
    }
}

/// The running integration: started once the server listens.
#[derive(Debug)]
pub struct Agones {
    client: SdkClient,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// Sends one player event to the SDK.
async fn forward(sdk: &SdkClient, event: PlayerEvent) {
    let (path, id) = match event {
        PlayerEvent::Connected(id) => ("/alpha/player/connect", id),
        PlayerEvent::Disconnected(id) => ("/alpha/player/disconnect", id),
    };
    if let Err(e) = sdk.post(path, &json!({ "playerID": id })).await {
        tracing::warn!("Agones player tracking failed: {e}");
    }
}

impl Agones {
    /// Marks the server Ready (retrying until the sidecar answers), then sends health pings every
    /// `health_interval` and forwards player events. Returns the handle sessions use.
    pub fn start(client: SdkClient, health_interval: Duration) -> (Agones, AgonesHandle) {
        let (events, mut received) = mpsc::channel(EVENT_QUEUE);
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let sdk = client.clone();
        let task = tokio::spawn(async move {
            let empty = json!({});
            loop {
                let ready = tokio::select! {
                    ready = sdk.post("/ready", &empty) => ready,
                    _ = &mut stopped => return,
                };
                match ready {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!("Agones Ready failed (retrying in 1 s): {e}");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = &mut stopped => return,
                        }
                    }
                }
            }
            tracing::info!("Agones: Ready");
            let mut health = tokio::time::interval(health_interval);
            loop {
                tokio::select! {
                    _ = health.tick() => {
                        if let Err(e) = sdk.post("/health", &empty).await {
                            tracing::warn!("Agones health ping failed: {e}");
                        }
                    }
                    event = received.recv() => match event {
                        Some(event) => forward(&sdk, event).await,
                        None => return,
                    },
                    _ = &mut stopped => {
                        // Report the players who left during the shutdown, then stop.
                        while let Ok(event) = received.try_recv() {
                            forward(&sdk, event).await;
                        }
                        return;
                    }
                }
            }
        });
        (Agones { client, stop, task }, AgonesHandle { events })
    }

    /// Stops pinging, reports the last player events, and tells Agones the server is shutting down
    /// (called once the players have drained).
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(CALL_TIMEOUT * 4, &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
        match self.client.post("/shutdown", &json!({})).await {
            Ok(()) => tracing::info!("Agones: Shutdown"),
            Err(e) => tracing::warn!("Agones Shutdown failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_urls_are_http_host_port() {
        assert!(SdkClient::new("http://127.0.0.1:9358").is_ok());
        assert!(SdkClient::new("http://localhost:9358/").is_ok());
        assert!(SdkClient::new("https://localhost:9358").is_err());
        assert!(SdkClient::new("http://").is_err());
        assert!(SdkClient::new("http://host:1/path").is_err());
        assert_eq!(sdk_url(Some("http://x:1/")), "http://x:1");
    }
}
