//! Names over sockets: invisible characters are stripped (a name of nothing visible becomes
//! `player`), and names are distinct within a room, ignoring case.

mod support;

use skirmish_server::client::GameClient;
use skirmish_shared::protocol::{EntityId, GameEvent, RosterEntry};
use support::{bounded, TestServer};

/// Reads snapshots until the client has been told the names of all of `ids` (by its roster or by
/// players joining), at most 60 snapshots; returns the names in the order of `ids`.
async fn names_of(client: &mut GameClient, ids: &[EntityId]) -> Vec<Option<String>> {
    let mut known: Vec<RosterEntry> = Vec::new();
    for _ in 0..60 {
        if ids.iter().all(|id| known.iter().any(|e| e.id == *id)) {
            break;
        }
        client.next_snapshot().await.expect("snapshot");
        for event in client.events().drain(..) {
            match event {
                GameEvent::Roster(roster) => known.extend(roster),
                GameEvent::PlayerJoined(entry) => known.push(entry),
                _ => {}
            }
        }
    }
    ids.iter()
        .map(|id| known.iter().find(|e| e.id == *id).map(|e| e.name.clone()))
        .collect()
}

#[tokio::test]
async fn same_names_are_told_apart_and_invisible_names_become_player() {
    bounded(async {
        let server = TestServer::start(&[]).await;
        let mut first = server.join("Ada").await;
        let mut second = server.join("Ada").await;
        let mut third = server.join("aDA").await;
        let hangul_filler_braille_blank_tags = "\u{3164}\u{2800}\u{E0041}\u{FE0F}\u{200B}\u{0301}";
        let mut invisible = server.join(hangul_filler_braille_blank_tags).await;
        let ids: Vec<EntityId> = [&first, &second, &third, &invisible]
            .iter()
            .map(|client| client.welcome().player_id)
            .collect();
        let expected = ["Ada", "Ada (2)", "aDA (3)", "player"].map(|n| Some(n.to_string()));
        // The first player hears of the others joining; the last gets them all in its roster.
        assert_eq!(names_of(&mut first, &ids).await, expected);
        assert_eq!(names_of(&mut invisible, &ids).await, expected);
        assert_eq!(names_of(&mut second, &ids[..2]).await, expected[..2]);
        assert_eq!(names_of(&mut third, &ids[..3]).await, expected[..3]);
        server.stop().await;
    })
    .await;
}
