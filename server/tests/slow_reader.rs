//! A client that stops reading must neither stall the room nor grow the server's buffers: it gets fewer
//! snapshots (latest wins), and is disconnected once it has been behind for the slow-reader timeout,
//! whether its socket stalls or it stops acknowledging what it was sent.

mod support;

use futures_util::SinkExt;
use skirmish_server::client::GameClient;
use skirmish_shared::codec::encode_client;
use skirmish_shared::protocol::ClientMsg;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use support::{bounded, silent_player, TestServer};
use tokio_tungstenite::tungstenite::Message;

/// A bot that reads everything and changes direction and aim every input, so that every snapshot
/// carries updates about it.
async fn busy_bot(url: String, stop: tokio::sync::watch::Receiver<bool>) {
    let mut bot = GameClient::connect(&url, "busy").await.expect("bot joins");
    let mut turn = 0u16;
    while !*stop.borrow() {
        turn = turn.wrapping_add(1);
        let x = if turn % 2 == 0 { 1 } else { -1 };
        if bot
            .send_input(x, 0, turn.wrapping_mul(3001), 0)
            .await
            .is_err()
        {
            return;
        }
        if bot.next_snapshot().await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_without_disturbing_others() {
    bounded(async {
        let server = TestServer::start(&[
            "--view-radius",
            "100000",
            // Long enough that its socket stalls (and its snapshots are replaced) before its
            // missing acknowledgements give it away (protocol 8's snapshots, about half as large,
            // take longer to fill the buffers than 2 s did).
            "--slow-reader-timeout",
            "4",
            "--socket-send-buffer",
            "4096",
        ])
        .await;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let bots: Vec<_> = (0..12)
            .map(|_| tokio::spawn(busy_bot(server.ws_url(), stop_rx.clone())))
            .collect();
        // The stalled client: a tiny receive buffer, a Hello, then it never reads again.
        let stalled = silent_player(&server, "stalled", Some(2048)).await;
        // An observer that reads promptly: every delta must chain onto the previous snapshot, and the
        // snapshots keep coming while the stalled client is behind and after it is dropped.
        let mut observer = server.join("observer").await;
        let mut previous_tick = None;
        let mut consecutive = 0;
        let mut total = 0;
        let kicked = loop {
            let snapshot = tokio::time::timeout(Duration::from_secs(2), observer.next_snapshot())
                .await
                .expect("the observer is never left waiting for seconds")
                .expect("a snapshot that applies to the observer's view");
            total += 1;
            if snapshot.baseline.is_some() && snapshot.baseline == previous_tick {
                consecutive += 1;
            }
            previous_tick = Some(snapshot.tick);
            if server.metrics.slow_reader_kicks.load(Relaxed) > 0 {
                break true;
            }
            if total > 30 * 30 {
                break false;
            }
        };
        assert!(kicked, "the stalled client was disconnected as too slow");
        assert!(
            server.metrics.snapshots_skipped.load(Relaxed) > 0,
            "its snapshots were replaced, not queued"
        );
        assert!(
            consecutive * 10 >= total * 9,
            "the observer missed almost nothing: {consecutive}/{total}"
        );
        // Its seat is released.
        let mut released = false;
        for _ in 0..60 {
            observer.next_snapshot().await.expect("snapshot");
            if server.metrics.connected_players.load(Relaxed) == 13 {
                released = true;
                break;
            }
        }
        assert!(released, "the stalled player's seat was released");
        stop_tx.send(true).expect("stop bots");
        for bot in bots {
            let _ = tokio::time::timeout(Duration::from_secs(5), bot).await;
        }
        drop(stalled);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_player_that_never_reads_is_dropped_however_much_the_kernel_buffers() {
    bounded(async {
        // Default kernel buffers: a quiet room's snapshots (tens of bytes) would take minutes to fill
        // them, so only the missing acknowledgements can tell that this player is not reading.
        let server =
            TestServer::start(&["--slow-reader-timeout", "1", "--socket-send-buffer", "0"]).await;
        let silent = silent_player(&server, "silent", None).await;
        // A player that reads (and so acknowledges) is kept all along.
        let mut reader = server.join("reader").await;
        let started = tokio::time::Instant::now();
        let mut dropped_after = None;
        while started.elapsed() < Duration::from_secs(4) {
            reader
                .next_snapshot()
                .await
                .expect("the reading player keeps getting snapshots");
            if dropped_after.is_none() && server.metrics.slow_reader_kicks.load(Relaxed) > 0 {
                dropped_after = Some(started.elapsed());
            }
        }
        let dropped_after = dropped_after.expect("the silent player was dropped as too slow");
        assert!(
            dropped_after <= Duration::from_secs(3),
            "dropped {dropped_after:?} after joining with a 1 s timeout"
        );
        assert_eq!(
            server.metrics.slow_reader_kicks.load(Relaxed),
            1,
            "only the silent player"
        );
        assert_eq!(server.metrics.connected_players.load(Relaxed), 1);
        drop(silent);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn acknowledging_a_snapshot_never_received_is_closed() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut forger = silent_player(&server, "forger", None).await;
        // It guesses the proof of a snapshot it never read; two guesses cannot both be right.
        for proof in [0u8, 1] {
            let ack = ClientMsg::Ping {
                nonce: 0,
                acked_tick: 30,
                proof,
            };
            if forger
                .send(Message::Binary(encode_client(&ack).into()))
                .await
                .is_err()
            {
                break;
            }
        }
        let metrics = server.metrics.clone();
        support::wait_until(
            Duration::from_secs(5),
            "the forger to be closed",
            async || metrics.protocol_errors.load(Relaxed) == 1,
        )
        .await;
        // Not held for a resume either: the room lets the seat go on its next tick.
        support::wait_until(
            Duration::from_secs(5),
            "the forger's seat to be freed",
            async || metrics.connected_players.load(Relaxed) == 0,
        )
        .await;
        server.stop().await;
    })
    .await;
}
