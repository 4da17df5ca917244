//! Inputs stamped with the tick they are for, over real sockets: they wait for their tick, the
//! newest due one wins, late ones are counted in `skirmish_late_inputs_total`, unstamped ones keep
//! their order, and no stamp a client can send stalls the player or the server.

mod support;

use skirmish_server::client::GameClient;
use skirmish_shared::protocol::{ClientMsg, InputFrame, Snapshot};
use skirmish_shared::time::Tick;
use support::{bounded, TestServer};

/// Ticks ahead of the newest snapshot that a stamped input is sent for: over half a second at
/// 60 Hz, so it reaches the server in time on a busy machine, and well inside the second past which
/// the server stops waiting.
const AHEAD: u32 = 40;

async fn send_stamped(client: &mut GameClient, seq: u32, tick: u32, move_x: i8) {
    let input = InputFrame {
        seq,
        tick: Tick(tick),
        move_x,
        ..InputFrame::default()
    };
    client.send(&ClientMsg::Input(input)).await.expect("send");
}

/// The value of the series line `series` in the server's /metrics page.
async fn metric(server: &TestServer, series: &str) -> f64 {
    let page = server.get("/metrics").await;
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {page}"))
}

/// Reads snapshots until one is at `tick` or later (at most 200), returning them all.
async fn snapshots_until(client: &mut GameClient, tick: u32) -> Vec<Snapshot> {
    let mut seen = Vec::new();
    for _ in 0..200 {
        let snapshot = client.next_snapshot().await.expect("snapshot");
        let done = snapshot.tick.0 >= tick;
        seen.push(snapshot);
        if done {
            return seen;
        }
    }
    panic!("no snapshot reached tick {tick}");
}

/// Reads snapshots until one acknowledges `seq` (at most 200), returning them all.
async fn snapshots_until_ack(client: &mut GameClient, seq: u32) -> Vec<Snapshot> {
    let mut seen = Vec::new();
    for _ in 0..200 {
        let snapshot = client.next_snapshot().await.expect("snapshot");
        let done = snapshot.ack_input_seq >= seq;
        seen.push(snapshot);
        if done {
            return seen;
        }
    }
    panic!("input {seq} was never acknowledged");
}

/// The own avatar's x at the view's tick.
fn own_x(client: &GameClient) -> i32 {
    let me = client.welcome().player_id;
    let tick = client.view().tick().expect("a snapshot");
    client.view().players()[&me]
        .motion
        .position_at(&client.welcome().map, client.params(), tick)
        .x
}

#[tokio::test]
async fn stamped_inputs_are_applied_at_their_ticks() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut client = server.join("stamper").await;
        let now = client.next_snapshot().await.expect("snapshot").tick.0;
        let first = now + AHEAD;
        let stamps = [(1, first), (2, first + 3), (3, first + 7)];
        for (seq, tick) in stamps {
            send_stamped(&mut client, seq, tick, 0).await;
        }
        let seen = snapshots_until(&mut client, first + 10).await;
        for snapshot in &seen {
            let expected = stamps
                .iter()
                .filter(|(_, tick)| *tick <= snapshot.tick.0)
                .map(|(seq, _)| *seq)
                .max()
                .unwrap_or(0);
            assert_eq!(
                snapshot.ack_input_seq, expected,
                "the snapshot of tick {} (inputs for {first}, +3, +7)",
                snapshot.tick.0
            );
        }
        assert_eq!(seen.last().map(|s| s.ack_input_seq), Some(3));
        assert_eq!(metric(&server, "skirmish_late_inputs_total").await, 0.0);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn late_inputs_are_counted_and_the_newest_due_input_wins() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut client = server.join("late").await;
        client.next_snapshot().await.expect("snapshot");
        // For a tick long gone: applied at once, and late.
        send_stamped(&mut client, 1, 1, 0).await;
        snapshots_until_ack(&mut client, 1).await;
        assert_eq!(metric(&server, "skirmish_late_inputs_total").await, 1.0);
        // Two inputs for one tick: the newer wins; the older is never applied (nor late).
        let now = client.view().tick().expect("tick").0;
        let tick = now + AHEAD;
        send_stamped(&mut client, 2, tick, 1).await;
        send_stamped(&mut client, 3, tick, -1).await;
        let seen = snapshots_until(&mut client, tick + 6).await;
        assert!(
            seen.iter().all(|s| s.ack_input_seq != 2),
            "input 2 was overtaken"
        );
        assert_eq!(seen.last().map(|s| s.ack_input_seq), Some(3));
        let at = own_x(&client);
        snapshots_until(&mut client, tick + 12).await;
        assert!(own_x(&client) <= at, "moving west (or blocked), never east");
        assert_eq!(metric(&server, "skirmish_late_inputs_total").await, 1.0);
        assert_eq!(metric(&server, "skirmish_inputs_dropped_total").await, 1.0);
        // Two more for ticks gone: both late, the newer applied last.
        send_stamped(&mut client, 4, 5, 0).await;
        send_stamped(&mut client, 5, 6, 0).await;
        let seen = snapshots_until_ack(&mut client, 5).await;
        assert_eq!(seen.last().map(|s| s.ack_input_seq), Some(5));
        assert_eq!(metric(&server, "skirmish_late_inputs_total").await, 3.0);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unstamped_inputs_apply_in_order_one_per_tick() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut client = server.join("plain").await;
        let mut previous = client.next_snapshot().await.expect("snapshot");
        for _ in 0..6 {
            client.send_input(1, 0, 0, 0).await.expect("input");
        }
        let seen = snapshots_until_ack(&mut client, 6).await;
        for snapshot in &seen {
            let ticks = snapshot.tick.since(previous.tick);
            assert!(snapshot.ack_input_seq >= previous.ack_input_seq, "in order");
            let applied = snapshot.ack_input_seq - previous.ack_input_seq;
            assert!(
                applied <= ticks,
                "{applied} inputs applied in {ticks} ticks (to tick {})",
                snapshot.tick.0
            );
            previous = snapshot.clone();
        }
        assert_eq!(metric(&server, "skirmish_late_inputs_total").await, 0.0);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn hostile_stamps_neither_panic_nor_stall_the_player() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut other = server.join("other").await;
        let mut client = server.join("hostile").await;
        let now = client.next_snapshot().await.expect("snapshot").tick.0;
        // The end of time: treated as due now, not waited for.
        send_stamped(&mut client, 1, u32::MAX, 1).await;
        let seen = snapshots_until_ack(&mut client, 1).await;
        let applied = seen.last().expect("seen").tick.0;
        assert!(applied < now + AHEAD, "applied at {applied}, not held back");
        // Going backwards: the newer input (for an earlier tick) overtakes the older.
        let now = applied;
        send_stamped(&mut client, 2, now + AHEAD, 1).await;
        send_stamped(&mut client, 3, now + 4, -1).await;
        let seen = snapshots_until_ack(&mut client, 3).await;
        assert!(seen.iter().all(|s| s.ack_input_seq != 2));
        let applied = seen.last().expect("seen").tick.0;
        assert!(applied < now + AHEAD, "applied at {applied}");
        // Unstamped after stamped: the stamped one before it is due at once.
        let now = applied;
        send_stamped(&mut client, 4, now + AHEAD, 0).await;
        send_stamped(&mut client, 5, 0, 0).await;
        let seen = snapshots_until_ack(&mut client, 5).await;
        let applied = seen.last().expect("seen").tick.0;
        assert!(applied < now + AHEAD, "applied at {applied}");
        // Stamps of every kind at once; then an ordinary input is still applied at its tick.
        for (seq, tick) in [(6, u32::MAX), (7, 0), (8, 1), (9, u32::MAX - 1), (10, 0)] {
            send_stamped(&mut client, seq, tick, 1).await;
        }
        snapshots_until_ack(&mut client, 10).await;
        let now = client.view().tick().expect("tick").0;
        send_stamped(&mut client, 11, now + 10, 0).await;
        let seen = snapshots_until_ack(&mut client, 11).await;
        assert!(
            seen.last().expect("seen").tick.0 >= now + 10,
            "not before its tick"
        );
        // The server is fine, and so is everyone else.
        assert_eq!(metric(&server, "skirmish_panics_total").await, 0.0);
        for _ in 0..5 {
            other
                .next_snapshot()
                .await
                .expect("the other player is served");
        }
        server.stop().await;
    })
    .await;
}
