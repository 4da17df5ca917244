//! The panic counter: a panic anywhere in the process shows in `/metrics`. (Its own test binary: the
//! panic hook is process-wide.)

mod support;

use skirmish_server::metrics::{install_panic_counter, panics};
use support::TestServer;

#[tokio::test]
async fn panics_are_counted_and_exported() {
    install_panic_counter();
    let before = panics();
    let panicked = std::thread::spawn(|| panic!("deliberate panic for the counter test")).join();
    assert!(panicked.is_err());
    assert_eq!(panics(), before + 1);
    let server = TestServer::start(&[]).await;
    let metrics = server.get("/metrics").await;
    let line = format!("skirmish_panics_total {}", before + 1);
    assert!(
        metrics.lines().any(|l| l == line),
        "{line:?} not in /metrics"
    );
    server.stop().await;
}
