//! A client flooding messages is dropped unread, then closed with 1008, while everyone else's
//! snapshots keep arriving on time.

mod support;

use skirmish_server::client::ClientError;
use skirmish_shared::codec::encode_client;
use skirmish_shared::protocol::{close_code, ClientMsg, InputFrame};
use std::sync::atomic::Ordering::Relaxed;
use support::{bounded, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_is_closed_and_others_miss_no_snapshot() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut observer = server.join("observer").await;
        observer.next_snapshot().await.expect("first snapshot");
        let mut flooder = server.join("flooder").await;
        let flood = tokio::spawn(async move {
            let mut seq = 0u32;
            let outcome = loop {
                seq += 1;
                let frame = ClientMsg::Input(InputFrame {
                    seq,
                    move_x: 1,
                    ..InputFrame::default()
                });
                if let Err(e) = flooder.send_raw(encode_client(&frame)).await {
                    break Err(e);
                }
                if seq % 500 == 0 {
                    // Look for the close without blocking the flood for long.
                    if let Ok(Err(e)) = tokio::time::timeout(
                        std::time::Duration::from_millis(1),
                        flooder.next_message(),
                    )
                    .await
                    {
                        break Err(e);
                    }
                }
                if seq > 200_000 {
                    break Ok(seq);
                }
            };
            (outcome, flooder)
        });
        // Meanwhile every observer snapshot chains onto the one before, and they come one interval
        // apart (on a shared 2-core machine the observer's own task may now and then be late to
        // read one, which the server then replaces: allow a few such gaps, not a pattern).
        let mut previous = observer.view().tick().expect("has a tick");
        let mut on_time = 0;
        for _ in 0..60 {
            let snapshot = observer.next_snapshot().await.expect("snapshot");
            assert_eq!(snapshot.baseline, Some(previous), "the delta chain holds");
            if snapshot.tick.since(previous) == 2 {
                on_time += 1;
            }
            previous = snapshot.tick;
        }
        assert!(
            on_time >= 54,
            "{on_time} of 60 snapshots one interval apart"
        );
        let (outcome, mut flooder) = flood.await.expect("flood task");
        let closed = match outcome {
            Err(ClientError::Closed(frame)) => frame.map(|f| u16::from(f.code)),
            Err(_) | Ok(_) => support::close_code_of(&mut flooder).await,
        };
        assert_eq!(closed, Some(close_code::POLICY_VIOLATION));
        assert!(server.metrics.rate_limited.load(Relaxed) > 0);
        server.stop().await;
    })
    .await;
}
