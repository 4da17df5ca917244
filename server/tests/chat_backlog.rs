//! A player that stops reading while the room chats falls behind on events. When it reads again, the
//! backlog must come in messages the protocol allows (at most `MAX_SERVER_MSG_BYTES` each; a browser
//! drops larger ones), every line once, in the order everyone else heard them.

mod support;

use futures_util::StreamExt;
use skirmish_server::client::GameClient;
use skirmish_shared::codec::decode_server;
use skirmish_shared::protocol::{
    ClientMsg, GameEvent, ServerMsg, MAX_CHAT_CHARS, MAX_SERVER_MSG_BYTES,
};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use support::{bounded, silent_player, TestServer};
use tokio_tungstenite::tungstenite::Message;

/// Chat lines sent while the victim does not read: about 1.25 MB, more than one message may hold.
const LINES: usize = 2_000;

/// Chatting seats at once. A seat may send 5 lines in a burst (then one per 2 s) and an address 10,
/// so seats come and go, each from a new loopback address (127.0.x.y): many players chatting.
const SEATS: usize = 10;

/// Lines per connection: what the room takes from one player in one tick.
const LINES_PER_CONNECTION: usize = 4;

/// Chat line `n`: `MAX_CHAT_CHARS` characters, most of them four bytes long.
fn long_line(n: usize) -> String {
    let number = format!("{n:06} ");
    number.clone() + &"\u{1F600}".repeat(MAX_CHAT_CHARS - number.len())
}

/// The chat texts among events, in order.
fn chat_texts(events: &[GameEvent]) -> impl Iterator<Item = String> + '_ {
    events.iter().filter_map(|event| match event {
        GameEvent::Chat { text, .. } => Some(text.clone()),
        _ => None,
    })
}

/// Joins, says the next few numbered lines, waits until the room has taken the last (a line still
/// buffered when the connection closes is dropped), leaves, and again, until `LINES` are said.
async fn chatter(url: String, seat: usize, next_line: Arc<AtomicUsize>) {
    loop {
        let first = next_line.fetch_add(LINES_PER_CONNECTION, Relaxed);
        if first >= LINES {
            return;
        }
        let connection = first / LINES_PER_CONNECTION;
        let from: std::net::IpAddr = [
            127,
            0,
            1 + (connection / 250) as u8,
            1 + (connection % 250) as u8,
        ]
        .into();
        let mut client = GameClient::connect_from(&url, &format!("chatter{seat}"), None, from)
            .await
            .expect("chatter joins");
        let me = client.welcome().player_id;
        let lines: Vec<String> = (first..(first + LINES_PER_CONNECTION).min(LINES))
            .map(long_line)
            .collect();
        for text in &lines {
            client
                .send(&ClientMsg::Chat { text: text.clone() })
                .await
                .expect("chat sent");
        }
        let last = lines.last().cloned();
        let heard_own_last = |events: &[GameEvent]| {
            events.iter().any(|event| {
                matches!(event, GameEvent::Chat { from, text } if *from == me && Some(text) == last.as_ref())
            })
        };
        while !heard_own_last(client.events()) {
            client.next_snapshot().await.expect("chatter's snapshot");
        }
        client.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_fell_behind_on_chat_gets_it_all_in_messages_within_the_limit() {
    bounded(async {
        let server = TestServer::start(&[
            // The victim must not be dropped as too slow while the room chats.
            "--slow-reader-timeout",
            "30",
            // Small kernel buffers, so that a client that does not read is behind at once.
            "--socket-send-buffer",
            "4096",
            // Seats of chatters that left are freed at once, not held for a resume.
            "--reconnect-grace",
            "0",
        ])
        .await;
        // The victim: a small receive buffer, a Hello, its Welcome, then it reads nothing until the
        // room has finished chatting.
        let mut victim = silent_player(&server, "victim", Some(4096)).await;
        match victim.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                assert!(matches!(decode_server(&bytes), Ok(ServerMsg::Welcome(_))))
            }
            other => panic!("expected the Welcome, got {other:?}"),
        }
        // An observer that reads promptly hears the order the room broadcast the lines in.
        let mut observer = server.join("observer").await;
        let observing = tokio::spawn(async move {
            let mut heard = Vec::new();
            while heard.len() < LINES {
                observer.next_snapshot().await.expect("observer's snapshot");
                heard.extend(chat_texts(observer.events()));
                observer.events().clear();
            }
            heard
        });
        let next_line = Arc::new(AtomicUsize::new(0));
        let chatters: Vec<_> = (0..SEATS)
            .map(|seat| tokio::spawn(chatter(server.ws_url(), seat, next_line.clone())))
            .collect();
        for chatter in chatters {
            chatter.await.expect("chatter finished");
        }
        let heard_by_observer = observing.await.expect("observer finished");
        let mut sorted = heard_by_observer.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            (0..LINES).map(long_line).collect::<Vec<_>>(),
            "every line was broadcast once"
        );
        // Now the victim reads: every message within the limit, every line once, in order.
        let mut heard_by_victim = Vec::new();
        let mut largest = 0;
        while heard_by_victim.len() < LINES {
            let message = tokio::time::timeout(Duration::from_secs(10), victim.next())
                .await
                .expect("the backlog keeps coming");
            let bytes = match message {
                Some(Ok(Message::Binary(bytes))) => bytes,
                Some(Ok(_)) => continue,
                other => panic!("the victim's connection ended: {other:?}"),
            };
            largest = largest.max(bytes.len());
            assert!(
                bytes.len() <= MAX_SERVER_MSG_BYTES,
                "a {}-byte message, over the limit of {MAX_SERVER_MSG_BYTES}",
                bytes.len()
            );
            if let Ok(ServerMsg::Snapshot(snapshot)) = decode_server(&bytes) {
                heard_by_victim.extend(chat_texts(&snapshot.events));
            }
        }
        assert_eq!(
            heard_by_victim, heard_by_observer,
            "the victim heard every line once, in the room's order"
        );
        assert!(
            largest > MAX_SERVER_MSG_BYTES / 8,
            "the victim really was behind: its largest message was {largest} bytes"
        );
        drop(victim);
        server.stop().await;
    })
    .await;
}
