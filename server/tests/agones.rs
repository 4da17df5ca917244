//! --agones against local stand-ins for the Agones SDK sidecar that record every call.

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
use support::agones_standin::{self, Fleet, State};
use support::{bounded, close_code_of, wait_until, TestServer};
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

/// A stand-in SDK on 127.0.0.1:0 that only counts and refuses (the full stand-in, which checks every
/// call against the Agones API, is `support::agones_standin`). The first Ready calls fail as
/// `refusals` says; every other call is answered 200 `{}` and recorded. Returns its URL, the answered calls, and the number of Ready calls
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
                    let path = request.uri().path().to_string();
                    let body = match request.into_body().collect().await {
                        Ok(body) => body.to_bytes(),
                        Err(e) => return Err(std::io::Error::other(e)),
                    };
                    let body = serde_json::from_slice(&body).unwrap_or_default();
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

/// Waits until the stand-in's game server satisfies `done`.
async fn until_server(
    fleet: &Fleet,
    what: &str,
    done: impl Fn(&agones_standin::GameServer) -> bool,
) {
    wait_until(Duration::from_secs(10), what, async || {
        done(&fleet.server("gs"))
    })
    .await;
}

#[tokio::test]
async fn the_sdk_hears_ready_health_lists_allocation_idleness_and_shutdown() {
    bounded(async {
        let fleet = Fleet::new("default", "skirmish", &["gs"]);
        let url = agones_standin::start_sidecar(fleet.clone(), "gs").await;
        let flags = [
            "--agones",
            "--agones-sdk-url",
            &url,
            "--agones-health-interval",
            "0.1",
            "--agones-idle-seconds",
            "0.3",
            "--room-tag",
            "k7",
            "--max-rooms",
            "2",
            "--max-players-per-room",
            "2",
            // Its players do not read snapshots: never dropped as slow readers on a slow machine.
            "--slow-reader-timeout",
            "60",
        ];
        // Rooms close soon after their last player leaves, so the server can go idle in the test.
        let server = TestServer::start_tweaked("127.0.0.1:0", &flags, |config| {
            config.empty_room_linger = Duration::from_millis(200);
        })
        .await;
        fleet.set_port("gs", server.addr.port());
        until_server(&fleet, "Ready", |gs| gs.state == State::Ready).await;
        let gs = fleet.server("gs");
        assert_eq!(gs.labels["agones.dev/sdk-skirmish-tag"], "K7");
        assert_eq!(gs.lists["players"].capacity, 4, "seats: 2 rooms of 2");
        assert_eq!(gs.lists["rooms"].capacity, 2);
        assert_eq!(gs.lists["full"].capacity, 2);
        // The label and the lists' capacities are in place before the server says it is Ready.
        let requests = fleet.requests();
        let ready = requests
            .iter()
            .position(|r| r.path == "/ready")
            .expect("Ready");
        let set_up: Vec<&str> = requests[..ready].iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            set_up,
            [
                "/metadata/label",
                "/v1beta1/lists/players",
                "/v1beta1/lists/rooms",
                "/v1beta1/lists/full"
            ]
        );
        wait_until(Duration::from_secs(10), "health pings", async || {
            fleet
                .requests()
                .iter()
                .filter(|r| r.path == "/health")
                .count()
                >= 3
        })
        .await;

        // A player reaching the server directly: it allocates itself, and its lists show the
        // player and the room.
        let ada = server.join("Ada").await;
        let code = ada.welcome().room_code.clone();
        assert!(code.starts_with("K7"), "{code}");
        let prefix = format!("{}-{}-", ada.welcome().room.0, ada.welcome().player_id.0);
        until_server(&fleet, "Ada in the lists, Allocated", |gs| {
            gs.state == State::Allocated
                && gs.lists["players"].values.len() == 1
                && gs.lists["players"].values[0].starts_with(&prefix)
                && gs.lists["rooms"].values == [code.clone()]
                && gs.lists["full"].values.is_empty()
        })
        .await;
        let bob = server.join("Bob").await;
        assert_eq!(bob.welcome().room_code, code);
        until_server(&fleet, "the room full", |gs| {
            gs.lists["players"].values.len() == 2 && gs.lists["full"].values == [code.clone()]
        })
        .await;
        ada.leave().await;
        until_server(&fleet, "a seat free again", |gs| {
            gs.lists["players"].values.len() == 1 && gs.lists["full"].values.is_empty()
        })
        .await;
        // The last player leaves; the room closes; idle, the server is Ready again.
        bob.leave().await;
        until_server(&fleet, "idle and Ready again", |gs| {
            gs.state == State::Ready
                && gs.lists["players"].values.is_empty()
                && gs.lists["rooms"].values.is_empty()
        })
        .await;
        assert!(
            fleet.requests().iter().any(|r| r.path == "/gameserver"),
            "it asked its state before readying itself"
        );

        // Allocations keep coming (a directory sending players who have not arrived yet): an idle
        // server stays Allocated while they do, for all its idle period is shorter.
        for _ in 0..10 {
            fleet.allocate_now("gs");
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(
                fleet.server("gs").state,
                State::Allocated,
                "readied under a fresh allocation"
            );
        }
        until_server(&fleet, "Ready again once they stop", |gs| {
            gs.state == State::Ready
        })
        .await;

        // A dropped player's seat, held for a resume, stays in the players list.
        let carl = server.join("Carl").await;
        until_server(&fleet, "Carl allocates it again", |gs| {
            gs.state == State::Allocated
        })
        .await;
        carl.close().await;
        until_server(&fleet, "Carl's held seat listed", |gs| {
            let values = &gs.lists["players"].values;
            values.len() == 1 && values[0].contains("-seat-")
        })
        .await;

        // Shutdown goes first, once: Agones stops handing the server out before players are told.
        let mut dan = server.join("Dan").await;
        let told = {
            let fleet = fleet.clone();
            tokio::spawn(async move {
                let _ = close_code_of(&mut dan).await;
                // Dan is closed: Agones must have heard Shutdown already.
                fleet.requests().iter().any(|r| r.path == "/shutdown")
            })
        };
        server.stop().await;
        assert!(
            told.await.expect("Dan's reader"),
            "Shutdown reached Agones before Dan was closed"
        );
        let paths: Vec<String> = fleet.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths.iter().filter(|p| *p == "/shutdown").count(), 1);
        assert_eq!(
            paths.last().map(String::as_str),
            Some("/shutdown"),
            "{paths:?}"
        );
        assert_eq!(fleet.server("gs").state, State::Shutdown);
        assert_eq!(fleet.violations(), Vec::<String>::new());
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
        let paths = paths(&calls);
        assert_eq!(paths[0], "/metadata/label", "the set-up comes first");
        assert_eq!(
            paths.iter().filter(|p| *p == "/metadata/label").count(),
            refusals.len() + 1,
            "the whole set-up is retried with Ready: {paths:?}"
        );
        assert_eq!(paths.iter().filter(|p| *p == "/ready").count(), 1);
        assert_eq!(ready_calls.load(SeqCst), refusals.len() + 1);
        // The sidecar goes away: the Shutdown call fails fast (refused) and the server still stops
        // on time.
        sdk.abort();
        let _ = sdk.await;
        server.stop().await;
    })
    .await;
}
