//! Semantic validation over sockets: sequence numbers that go back are rejected, ones that jump close
//! the connection, over-long chat is rejected whole, and other players are unaffected.

mod support;

use skirmish_server::client::GameClient;
use skirmish_shared::protocol::{close_code, ClientMsg, GameEvent, InputFrame, MAX_CHAT_CHARS};
use std::sync::atomic::Ordering::Relaxed;
use support::{bounded, TestServer};

async fn send_seq(client: &mut GameClient, seq: u32) {
    let input = InputFrame {
        seq,
        ..InputFrame::default()
    };
    client.send(&ClientMsg::Input(input)).await.expect("send");
}

/// Reads snapshots until the ack is `seq` (at most 60) and returns whether it got there.
async fn acked(client: &mut GameClient, seq: u32) -> bool {
    for _ in 0..60 {
        if client
            .next_snapshot()
            .await
            .expect("snapshot")
            .ack_input_seq
            == seq
        {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn sequence_numbers_must_move_forward_without_jumping() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut other = server.join("other").await;
        let mut client = server.join("client").await;
        send_seq(&mut client, 500).await; // the first input may carry any number
        assert!(acked(&mut client, 500).await);
        send_seq(&mut client, 499).await; // backwards: rejected
        send_seq(&mut client, 500).await; // duplicate: rejected
        send_seq(&mut client, 501).await;
        assert!(
            acked(&mut client, 501).await,
            "the connection stays and later inputs apply"
        );
        assert_eq!(server.metrics.inputs_rejected.load(Relaxed), 2);
        send_seq(&mut client, 501 + 601).await; // a jump
        assert_eq!(
            support::close_code_of(&mut client).await,
            Some(close_code::INVALID_PAYLOAD)
        );
        for _ in 0..5 {
            other
                .next_snapshot()
                .await
                .expect("the other player is unaffected");
        }
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn over_long_chat_is_rejected_whole() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut speaker = server.join("speaker").await;
        let mut listener = server.join("listener").await;
        let long = "a".repeat(MAX_CHAT_CHARS + 1);
        speaker
            .send(&ClientMsg::Chat { text: long })
            .await
            .expect("send");
        speaker
            .send(&ClientMsg::Chat {
                text: " \u{202E} ".into(),
            })
            .await
            .expect("send");
        speaker
            .send(&ClientMsg::Chat { text: "ok".into() })
            .await
            .expect("send");
        let mut heard = Vec::new();
        for _ in 0..60 {
            listener.next_snapshot().await.expect("snapshot");
            for event in listener.events().drain(..) {
                if let GameEvent::Chat { text, .. } = event {
                    heard.push(text);
                }
            }
            if heard.contains(&"ok".to_string()) {
                break;
            }
        }
        assert_eq!(
            heard,
            vec!["ok".to_string()],
            "only the valid line was broadcast"
        );
        assert_eq!(server.metrics.chat_rejected.load(Relaxed), 1);
        server.stop().await;
    })
    .await;
}
