//! --agones against a local stand-in for the Agones SDK sidecar that records every call.

mod support;

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{bounded, TestServer};
use tokio::net::TcpListener;

/// An empty JSON object answer.
fn json_reply(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The calls the stand-in received and answered 200: (path, body).
type Calls = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// How the stand-in fails a Ready call it refuses.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// Closes the connection without answering (a sidecar that is not serving yet).
    HangUp,
    /// Answers 503 Service Unavailable.
    Unavailable,
}

/// A stand-in SDK on 127.0.0.1:0. The first Ready calls fail as `refusals` says; every other POST is
/// answered 200 `{}` and recorded. Returns its URL, the answered calls, and the number of Ready calls
/// received (refused or not).
async fn stand_in(
    refusals: &[Refusal],
) -> (String, Calls, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let calls: Calls = Arc::default();
    let ready_calls = Arc::new(AtomicUsize::new(0));
    let (recorded, ready_count) = (calls.clone(), ready_calls.clone());
    let refusals: Arc<[Refusal]> = refusals.into();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (recorded, ready_count, refusals) =
                (recorded.clone(), ready_count.clone(), refusals.clone());
            let service = service_fn(move |request: Request<Incoming>| {
                let (recorded, ready_count, refusals) =
                    (recorded.clone(), ready_count.clone(), refusals.clone());
                async move {
                    assert_eq!(request.method(), "POST");
                    assert_eq!(
                        request.headers().get("content-type").map(|v| v.as_bytes()),
                        Some(&b"application/json"[..])
                    );
                    let path = request.uri().path().to_string();
                    let body = match request.into_body().collect().await {
                        Ok(body) => body.to_bytes(),
                        Err(e) => return Err(std::io::Error::other(e)),
                    };
                    let body = serde_json::from_slice(&body).expect("a JSON body");
                    if path == "/ready" {
                        let attempt = ready_count.fetch_add(1, SeqCst);
                        match refusals.get(attempt) {
                            // An error from the service makes hyper drop the connection unanswered.
                            Some(Refusal::HangUp) => {
                                return Err(std::io::Error::other("hung up on purpose"))
                            }
                            Some(Refusal::Unavailable) => {
                                return Ok(json_reply(StatusCode::SERVICE_UNAVAILABLE))
                            }
                            None => {}
                        }
                    }
                    recorded.lock().expect("lock").push((path, body));
                    Ok::<_, std::io::Error>(json_reply(StatusCode::OK))
                }
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, calls, ready_calls, task)
}

/// The id of the player connection reported with an id starting `ROOM-PLAYER-`.
fn connected_id(calls: &[(String, serde_json::Value)], prefix: &str) -> Option<String> {
    calls.iter().find_map(|(path, body)| {
        let id = body["playerID"].as_str()?;
        (path == "/alpha/player/connect" && id.starts_with(prefix)).then(|| id.to_string())
    })
}

fn paths(calls: &Calls) -> Vec<String> {
    calls
        .lock()
        .expect("lock")
        .iter()
        .map(|(p, _)| p.clone())
        .collect()
}

/// Waits (up to 10 s) until `done` holds for the calls so far.
async fn until(calls: &Calls, what: &str, done: impl Fn(&[(String, serde_json::Value)]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(&calls.lock().expect("lock")) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            calls
                .lock()
                .expect("lock")
                .iter()
                .filter(|(p, _)| p != "/health")
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_sdk_hears_ready_health_players_and_shutdown() {
    bounded(async {
        let (url, calls, ready_calls, sdk) = stand_in(&[]).await;
        let server = TestServer::start(&[
            "--agones",
            "--agones-sdk-url",
            &url,
            "--agones-health-interval",
            "0.1",
        ])
        .await;
        until(&calls, "Ready", |c| !c.is_empty()).await;
        assert_eq!(paths(&calls)[0], "/ready", "Ready comes first");
        until(&calls, "health pings", |c| {
            c.iter().filter(|(p, _)| p == "/health").count() >= 3
        })
        .await;

        let ada = server.join("Ada").await;
        let prefix = format!("{}-{}-", ada.welcome().room.0, ada.welcome().player_id.0);
        until(&calls, "player connect", |c| {
            connected_id(c, &prefix).is_some()
        })
        .await;
        let id = connected_id(&calls.lock().expect("lock"), &prefix).expect("connected");
        ada.close().await;
        until(&calls, "player disconnect", |c| {
            c.iter()
                .any(|(p, b)| p == "/alpha/player/disconnect" && b["playerID"] == id.as_str())
        })
        .await;

        // A player still connected at shutdown is reported gone before Shutdown, which comes last.
        let bob = server.join("Bob").await;
        let bob_prefix = format!("{}-{}-", bob.welcome().room.0, bob.welcome().player_id.0);
        until(&calls, "Bob's connect", |c| {
            connected_id(c, &bob_prefix).is_some()
        })
        .await;
        server.stop().await;
        let calls = paths(&calls);
        assert_eq!(
            calls.last().map(String::as_str),
            Some("/shutdown"),
            "{calls:?}"
        );
        assert_eq!(calls.iter().filter(|p| *p == "/shutdown").count(), 1);
        assert_eq!(calls.iter().filter(|p| *p == "/ready").count(), 1);
        assert_eq!(
            ready_calls.load(SeqCst),
            1,
            "Ready is sent once when it succeeds"
        );
        let bob_left = calls.iter().rposition(|p| p == "/alpha/player/disconnect");
        assert!(bob_left.is_some_and(|i| i < calls.len() - 1), "{calls:?}");
        drop(bob);
        sdk.abort();
    })
    .await;
}

#[tokio::test]
async fn ready_is_retried_until_the_sidecar_answers() {
    bounded(async {
        // The sidecar hangs up on the first Ready and refuses the second; the third succeeds.
        let refusals = [Refusal::HangUp, Refusal::Unavailable];
        let (url, calls, ready_calls, sdk) = stand_in(&refusals).await;
        let server = TestServer::start(&[
            "--agones",
            "--agones-sdk-url",
            &url,
            "--agones-health-interval",
            "0.1",
        ])
        .await;
        until(&calls, "an answered Ready", |c| {
            c.iter().any(|(p, _)| p == "/ready")
        })
        .await;
        assert_eq!(
            ready_calls.load(SeqCst),
            refusals.len() + 1,
            "Ready was sent again after each failure"
        );
        // Once Ready is through, the server goes on to health pings and sends Ready no more.
        until(&calls, "health pings after Ready", |c| {
            c.iter().filter(|(p, _)| p == "/health").count() >= 2
        })
        .await;
        assert_eq!(paths(&calls)[0], "/ready", "nothing before Ready");
        assert_eq!(ready_calls.load(SeqCst), refusals.len() + 1);
        // The sidecar goes away: the Shutdown call fails fast (refused) and the server still stops
        // on time.
        sdk.abort();
        let _ = sdk.await;
        server.stop().await;
    })
    .await;
}
