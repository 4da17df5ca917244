use super::*;
use skirmish_shared::codec::decode_server;
use skirmish_shared::protocol::{ServerMsg, Snapshot};
use skirmish_shared::view::ClientView;
use tokio::time::Duration;

fn room() -> Room {
    room_with(|_| {})
}

/// A room with the test defaults changed by `change`.
pub(super) fn room_with(change: impl FnOnce(&mut RoomConfig)) -> Room {
    let mut config = RoomConfig::from(&ServerConfig::default_for_tests());
    change(&mut config);
    let shared = Arc::new(RoomShared::new(RoomId(1), "K7MPQR".into(), 0).spectating(
        config.max_spectators,
        8,
        40,
    ));
    Room::new(shared, config, Arc::new(Metrics::default()), 5)
}

/// Takes the link's snapshot, if one is waiting, and acknowledges it as a client would.
pub(super) fn take_snapshot(link: &PlayerLink) -> Option<Snapshot> {
    let bytes = link.take_outbound()?;
    match decode_server(&bytes) {
        Ok(ServerMsg::Snapshot(s)) => {
            assert!(
                link.acknowledge(s.tick.0, s.proof),
                "the snapshot's own proof"
            );
            Some(s)
        }
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

fn view_of(room: &Room, welcome: &Welcome) -> ClientView {
    ClientView::new(room.config.map.clone(), *room.world.params())
        .with_viewer(welcome.player_id, welcome.view_radius)
}

pub(super) fn join(room: &mut Room, name: &str) -> (Arc<PlayerLink>, Welcome) {
    let link = Arc::new(PlayerLink::new());
    room.shared.occupancy.fetch_add(1, Ordering::AcqRel);
    let welcome = room.join(name.into(), link.clone());
    (link, welcome)
}

#[test]
fn a_reader_gets_a_full_snapshot_then_deltas_that_chain() {
    let mut room = room();
    let (link, welcome) = join(&mut room, "a");
    let start = Instant::now();
    let mut view = view_of(&room, &welcome);
    let mut snapshots = 0;
    for t in 0..60u64 {
        room.tick(start + Duration::from_millis(t * 16));
        if let Some(snapshot) = take_snapshot(&link) {
            if snapshots == 0 {
                assert_eq!(snapshot.baseline, None, "the first snapshot is full");
                assert!(
                    matches!(snapshot.events.first(), Some(GameEvent::Roster(r)) if r[0].id == welcome.player_id)
                );
            }
            view.apply(&snapshot).expect("chains");
            snapshots += 1;
        }
    }
    assert_eq!(snapshots, 30, "30 Hz snapshots over 60 ticks");
    assert!(view.players().contains_key(&welcome.player_id));
}

/// Takes and applies a link's snapshot, if one is waiting; returns whether it told of a player leaving.
fn read_one(link: &PlayerLink, view: &mut ClientView) -> Option<bool> {
    let snapshot = take_snapshot(link)?;
    view.apply(&snapshot).expect("the reader's deltas chain");
    Some(
        snapshot
            .events
            .iter()
            .any(|e| matches!(e, GameEvent::PlayerLeft(_))),
    )
}

#[test]
fn a_slow_reader_is_skipped_then_disconnected_without_disturbing_others() {
    let mut room = room();
    let (reader, reader_welcome) = join(&mut room, "reader");
    let (slow, _) = join(&mut room, "slow");
    let start = Instant::now();
    let mut view = view_of(&room, &reader_welcome);
    let timeout = room.config.slow_reader_timeout;
    let ticks = (timeout.as_millis() as u64 / 16) + 60;
    let mut received = 0;
    let mut told_left = false;
    for t in 0..ticks {
        room.tick(start + Duration::from_millis(t * 16));
        if let Some(left) = read_one(&reader, &mut view) {
            told_left |= left;
            received += 1;
        }
        assert!(slow.outbox_pending() || t == 0 || slow.disconnected().is_some());
    }
    assert_eq!(slow.disconnected(), Some(Disconnect::TOO_SLOW));
    assert!(
        received as u64 >= ticks / 2 - 1,
        "the reader missed nothing: {received}"
    );
    assert!(room.metrics.snapshots_skipped.load(Ordering::Relaxed) > 0);
    // The slow player's seat is held for a resume, then released when the grace runs out, and the
    // reader is told.
    assert!(!told_left);
    assert_eq!(room.seat_count(), 2);
    assert!(room
        .seats
        .iter()
        .flatten()
        .any(|seat| seat.held_until.is_some()));
    let grace = room.config.reconnect_grace;
    let later = start + Duration::from_millis(ticks * 16) + grace;
    for t in 0..6u64 {
        room.tick(later + Duration::from_millis(t * 16));
        told_left |= read_one(&reader, &mut view).unwrap_or(false);
    }
    assert_eq!(room.seat_count(), 1);
    assert!(told_left);
}

#[test]
fn a_dropped_player_resumes_its_seat_with_its_token_once() {
    let mut room = room();
    let (link, welcome) = join(&mut room, "a");
    let start = Instant::now();
    for t in 0..10u64 {
        room.tick(start + Duration::from_millis(t * 16));
        let _ = link.take_outbound();
    }
    link.disconnect(Disconnect::CLIENT_CLOSED);
    room.tick(start + Duration::from_millis(160));
    assert_eq!(
        room.metrics.connected_players.load(Ordering::Relaxed),
        0,
        "held, not connected"
    );
    assert_eq!(room.seat_count(), 1, "the seat is held");
    // Resume: same avatar, a fresh token, a full snapshot with a roster.
    let again = Arc::new(PlayerLink::new());
    let resumed = room
        .resume(welcome.resume_token, again.clone())
        .expect("held seat resumes");
    assert_eq!(resumed.player_id, welcome.player_id);
    assert_ne!(resumed.resume_token, welcome.resume_token);
    assert_eq!(token_room(&resumed.resume_token), room.shared.id);
    room.tick(start + Duration::from_millis(176));
    room.tick(start + Duration::from_millis(192));
    let snapshot = take_snapshot(&again).expect("a snapshot for the new link");
    assert_eq!(snapshot.baseline, None, "a full snapshot after resuming");
    assert!(snapshot
        .events
        .iter()
        .any(|e| matches!(e, GameEvent::Roster(_))));
    // The spent token is refused; a live seat's token replaces the connection holding it.
    assert!(room
        .resume(welcome.resume_token, Arc::new(PlayerLink::new()))
        .is_none());
    let third = Arc::new(PlayerLink::new());
    let replaced = room.resume(resumed.resume_token, third).expect("live seat");
    assert_eq!(replaced.player_id, welcome.player_id);
    assert_eq!(again.disconnected(), Some(Disconnect::REPLACED));
    assert_eq!(room.metrics.connected_players.load(Ordering::Relaxed), 1);
}

#[test]
fn a_held_seat_expires_after_the_grace() {
    let mut room = room();
    let (link, welcome) = join(&mut room, "a");
    let start = Instant::now();
    room.tick(start);
    link.disconnect(Disconnect::CLIENT_CLOSED);
    room.tick(start + Duration::from_millis(16));
    room.tick(start + room.config.reconnect_grace + Duration::from_millis(32));
    assert_eq!(room.seat_count(), 0);
    assert!(room
        .resume(welcome.resume_token, Arc::new(PlayerLink::new()))
        .is_none());
}

#[test]
fn a_page_that_went_is_held_only_for_a_reload() {
    // Closed with 1001 (a reload, or a tab closed for good): resumable within the reload grace,
    // gone after it, well before the reconnect grace.
    assert!(crate::link::RELOAD_GRACE < room().config.reconnect_grace);
    for resume_after in [Duration::from_secs(2), crate::link::RELOAD_GRACE] {
        let mut room = room();
        let (link, welcome) = join(&mut room, "a");
        let start = Instant::now();
        room.tick(start);
        link.disconnect(Disconnect::PAGE_GONE);
        room.tick(start + Duration::from_millis(16));
        assert_eq!(room.seat_count(), 1, "held for a reload");
        room.tick(start + resume_after + Duration::from_millis(32));
        let resumed = room.resume(welcome.resume_token, Arc::new(PlayerLink::new()));
        let in_time = resume_after < crate::link::RELOAD_GRACE;
        assert_eq!(resumed.is_some(), in_time, "resumed after {resume_after:?}");
        assert_eq!(room.seat_count(), usize::from(in_time));
    }
}

#[test]
fn protocol_violators_are_not_held() {
    let mut room = room();
    let (link, _) = join(&mut room, "a");
    let start = Instant::now();
    link.disconnect(Disconnect {
        code: skirmish_shared::protocol::close_code::INVALID_PAYLOAD,
        reason: "bad",
    });
    room.tick(start);
    assert_eq!(room.seat_count(), 0);
}

#[test]
fn a_reader_that_catches_up_resumes_from_its_last_taken_snapshot() {
    let mut room = room();
    let (link, link_welcome) = join(&mut room, "a");
    let (other, _) = join(&mut room, "b");
    let spawn = room.config.map.spawns()[0];
    room.world.place_player(0, spawn);
    room.world.place_player(1, spawn);
    let start = Instant::now();
    let mut view = view_of(&room, &link_welcome);
    for t in 0..200u64 {
        room.tick(start + Duration::from_millis(t * 16));
        let _ = other.take_outbound();
        // Take only every fifth tick: most snapshots are replaced before they are taken.
        if t % 5 == 0 {
            if let Some(snapshot) = take_snapshot(&link) {
                view.apply(&snapshot)
                    .expect("replacements are deltas against what the client holds");
            }
        }
    }
    assert!(room.metrics.snapshots_skipped.load(Ordering::Relaxed) > 10);
    assert_eq!(view.players().len(), 2);
}

#[test]
fn flooding_inputs_cannot_push_out_anyone_elses() {
    let mut room = room();
    let (flooder, _) = join(&mut room, "flood");
    let (calm, _) = join(&mut room, "calm");
    let start = Instant::now();
    let mut seq = 0;
    for t in 0..20u32 {
        for _ in 0..50 {
            seq += 1;
            flooder.push_input(InputFrame {
                seq,
                move_x: 1,
                ..InputFrame::default()
            });
        }
        calm.push_input(InputFrame {
            seq: t + 1,
            move_y: 1,
            ..InputFrame::default()
        });
        room.tick(start + Duration::from_millis(u64::from(t) * 16));
        let calm_key = room
            .seats
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| Arc::ptr_eq(&s.link, &calm)));
        let seat = room.seats[calm_key.expect("seated")]
            .as_ref()
            .expect("seated");
        assert_eq!(
            seat.ack_input_seq,
            t + 1,
            "every calm input is applied on its tick"
        );
    }
}

#[test]
fn chat_is_broadcast_to_everyone_in_order() {
    let mut room = room();
    let (a, welcome_a) = join(&mut room, "a");
    let (b, _) = join(&mut room, "b");
    a.push_chat("hello".into());
    a.push_chat("again".into());
    let start = Instant::now();
    let mut heard = Vec::new();
    for t in 0..4u64 {
        room.tick(start + Duration::from_millis(t * 16));
        let _ = take_snapshot(&a);
        if let Some(s) = take_snapshot(&b) {
            for event in s.events {
                if let GameEvent::Chat { from, text } = event {
                    assert_eq!(from, welcome_a.player_id);
                    heard.push(text);
                }
            }
        }
    }
    assert_eq!(heard, vec!["hello", "again"]);
}

/// A chat line of `MAX_CHAT_CHARS` characters, most of them four bytes long, numbered `n`.
fn long_line(n: usize) -> String {
    let number = format!("{n:06} ");
    let fill = "\u{1F600}".repeat(skirmish_shared::protocol::MAX_CHAT_CHARS - number.len());
    number + &fill
}

/// The chat texts in a snapshot's events, in order.
fn chat_of(snapshot: &Snapshot) -> impl Iterator<Item = String> + '_ {
    snapshot.events.iter().filter_map(|event| match event {
        GameEvent::Chat { text, .. } => Some(text.clone()),
        _ => None,
    })
}

/// Every snapshot waiting in an outbox is within the protocol's message limit.
fn assert_offered_within_limit(room: &Room) {
    use skirmish_shared::protocol::MAX_SERVER_MSG_BYTES;
    for seat in room.seats.iter().flatten() {
        if let Some(pending) = &seat.pending {
            assert!(
                pending.bytes <= MAX_SERVER_MSG_BYTES,
                "a snapshot of {} bytes was offered",
                pending.bytes
            );
        }
    }
}

#[test]
fn a_slow_reader_catches_up_on_a_chat_flood_in_snapshots_within_the_limit() {
    use crate::link::CHAT_BUFFER;
    use skirmish_shared::protocol::MAX_SERVER_MSG_BYTES;
    // Chat as fast as the links take it: the seats' own limits are not what is tested here.
    let mut room = room_with(|config| config.seat_chat = (1e9, 1e9));
    let (slow, slow_welcome) = join(&mut room, "slow");
    let (prompt, prompt_welcome) = join(&mut room, "prompt");
    let chatters: Vec<_> = (0..8)
        .map(|i| join(&mut room, &format!("chatter{i}")).0)
        .collect();
    let start = Instant::now();
    let mut t = 0u64;
    let mut tick = |room: &mut Room| {
        room.tick(start + Duration::from_millis(t * 16));
        t += 1;
        assert_offered_within_limit(room);
    };
    let mut slow_view = view_of(&room, &slow_welcome);
    let mut prompt_view = view_of(&room, &prompt_welcome);
    let mut prompt_heard = Vec::new();
    // The slow player takes its first snapshot, then nothing while about 1.9 MB of chat goes by, in
    // less simulated time than its slow-reader timeout.
    let first = loop {
        tick(&mut room);
        if let Some(snapshot) = take_snapshot(&slow) {
            break snapshot;
        }
    };
    slow_view.apply(&first).expect("a full snapshot");
    let mut sent = 0;
    let mut sent_bytes = 0;
    while sent < 3_000 {
        for chatter in &chatters {
            for _ in 0..CHAT_BUFFER {
                let line = long_line(sent);
                sent_bytes += line.len();
                assert!(chatter.push_chat(line));
                sent += 1;
            }
            let _ = chatter.take_outbound();
        }
        tick(&mut room);
        if let Some(snapshot) = take_snapshot(&prompt) {
            prompt_view.apply(&snapshot).expect("chains");
            prompt_heard.extend(chat_of(&snapshot));
        }
    }
    assert!(
        sent_bytes > MAX_SERVER_MSG_BYTES,
        "more chat than one message holds"
    );
    assert!(
        slow.disconnected().is_none(),
        "still within the slow-reader timeout"
    );
    // Now it reads every snapshot: each decodes (so is within the limit), chains, and the chat
    // arrives whole, once, in the order the prompt reader heard it.
    let mut slow_heard = Vec::new();
    let mut catching_up = 0;
    for _ in 0..400 {
        tick(&mut room);
        for chatter in &chatters {
            let _ = chatter.take_outbound();
        }
        if let Some(snapshot) = take_snapshot(&prompt) {
            prompt_view.apply(&snapshot).expect("chains");
            prompt_heard.extend(chat_of(&snapshot));
        }
        if let Some(snapshot) = take_snapshot(&slow) {
            slow_view.apply(&snapshot).expect("chains");
            let before = slow_heard.len();
            slow_heard.extend(chat_of(&snapshot));
            catching_up += usize::from(slow_heard.len() > before);
        }
        if slow_heard.len() >= sent && prompt_heard.len() >= sent {
            break;
        }
    }
    assert!(
        catching_up > 1,
        "the backlog came in several snapshots: {catching_up}"
    );
    let expected: Vec<String> = (0..sent).map(long_line).collect();
    let mut prompt_sorted = prompt_heard.clone();
    prompt_sorted.sort();
    assert_eq!(prompt_sorted, expected, "every line was broadcast once");
    assert_eq!(
        slow_heard, prompt_heard,
        "the slow reader heard every line once, in order"
    );
    assert!(slow.disconnected().is_none());
}

#[test]
fn an_event_over_the_budget_goes_alone_and_the_rest_follow_in_order() {
    use super::delivery::WrittenEvents;
    use super::events::EVENT_BYTES_PER_SNAPSHOT;
    let mut room = room();
    let (_link, _) = join(&mut room, "a");
    let key = 0;
    // Private events first (the roster is already there): one too big for any snapshot, then a small one.
    let seat = room.seats[key].as_mut().expect("seated");
    let roster_len = seat.private_events[0].len();
    seat.private_events
        .push_back(vec![0; EVENT_BYTES_PER_SNAPSHOT + 1]);
    seat.private_events.push_back(vec![1; 10]);
    let confirmed = seat.confirmed_events;
    room.events.push(&GameEvent::Notice("broadcast".into()));
    // The roster fits; the big one waits.
    let written = room.write_events(key);
    assert_eq!(
        written,
        WrittenEvents {
            events_upto: confirmed,
            private_count: 1,
        }
    );
    assert_eq!(room.event_bytes.len(), roster_len);
    // Once the roster is delivered, the big one goes alone.
    let seat = room.seats[key].as_mut().expect("seated");
    seat.private_events.pop_front();
    let written = room.write_events(key);
    assert_eq!(written.private_count, 1);
    assert_eq!(room.event_bytes.len(), EVENT_BYTES_PER_SNAPSHOT + 1);
    // Then the small private one, and after it the broadcast.
    let seat = room.seats[key].as_mut().expect("seated");
    seat.private_events.pop_front();
    let written = room.write_events(key);
    assert_eq!(
        written,
        WrittenEvents {
            events_upto: confirmed + 1,
            private_count: 1,
        }
    );
    let notice = super::events::encode(&GameEvent::Notice("broadcast".into()));
    assert_eq!(room.event_bytes.len(), 10 + notice.len());
}

/// The arithmetic behind `EVENT_BYTES_PER_SNAPSHOT`'s documentation: with every integer at its
/// widest, a view of 4,000 players, each with the most projectiles it can have in flight, plus a
/// snapshot's worth of events, is one message.
#[test]
fn the_event_budget_leaves_room_for_a_full_view_of_entities() {
    use super::events::EVENT_BYTES_PER_SNAPSHOT;
    use crate::world::FIRE_COOLDOWN_MS;
    use skirmish_shared::codec::encode_append;
    use skirmish_shared::codec::sections::{
        put_entered, put_left, put_updated, MAX_LEFT_BYTES, MAX_PLAYER_BYTES, MAX_PROJECTILE_BYTES,
        MAX_UPDATE_BYTES,
    };
    use skirmish_shared::fixed::Pos;
    use skirmish_shared::physics::{Dir, PROJECTILE_LIFETIME_MS};
    use skirmish_shared::protocol::{
        EntityState, Launch, PlayerField, PlayerState, PlayerUpdate, ProjectileState, WireMotion,
        MAX_SERVER_MSG_BYTES,
    };
    fn encoded_len<T: serde::Serialize>(value: &T) -> usize {
        let mut out = Vec::new();
        encode_append(value, &mut out);
        out.len()
    }
    const VIEW_PLAYERS: usize = 4_000;
    // Packed entries at their widest: a wrapping gap of an odd size costs the most.
    let id = EntityId(u32::MAX);
    let motion = WireMotion {
        age: u32::MAX,
        pos: Pos::new(i32::MIN, i32::MIN),
        dir: Dir::NorthEast,
    };
    let packed = |write: &dyn Fn(&mut Vec<u8>)| {
        let mut out = Vec::new();
        write(&mut out);
        out.len()
    };
    let player = packed(&|out| {
        put_entered(
            out,
            &[EntityState::Player(PlayerState {
                id,
                motion,
                aim: u16::MAX,
                hp: u8::MAX,
                status: u8::MAX,
            })],
        )
    });
    let update = packed(&|out| {
        put_updated(
            out,
            &[PlayerUpdate {
                id,
                fields: vec![
                    PlayerField::Motion(motion),
                    PlayerField::Turn {
                        age: u32::MAX,
                        dir: Dir::NorthEast,
                    },
                    PlayerField::Aim(u16::MAX),
                    PlayerField::Hp(u8::MAX),
                    PlayerField::Status(u8::MAX),
                ],
            }],
        )
    });
    let projectile = packed(&|out| {
        put_entered(
            out,
            &[EntityState::Projectile(ProjectileState {
                id: EntityId(u32::MAX - 1),
                age: u32::MAX,
                launch: Launch::At(motion.pos),
                aim: u16::MAX,
            })],
        )
    });
    let left = packed(&|out| put_left(out, &[id]));
    assert_eq!(
        (player, update, projectile, left),
        (
            MAX_PLAYER_BYTES,
            MAX_UPDATE_BYTES,
            MAX_PROJECTILE_BYTES,
            MAX_LEFT_BYTES
        ),
        "the widest entries are as documented"
    );
    let header = encoded_len(&ServerMsg::Snapshot(Snapshot {
        tick: Tick(u32::MAX),
        baseline: Some(Tick(1)),
        ack_input_seq: u32::MAX,
        ..Snapshot::default()
    })) + 4 * 8; // list lengths at their widest
    let shots_in_flight = PROJECTILE_LIFETIME_MS.div_ceil(FIRE_COOLDOWN_MS) as usize;
    // A delta may carry an entity in full or as an update, and name as many that left.
    let per_player = player.max(update) + left + shots_in_flight * (projectile + left);
    assert!(
        per_player <= 181,
        "a player and its shots cost {per_player} bytes"
    );
    let largest = header + VIEW_PLAYERS * per_player + EVENT_BYTES_PER_SNAPSHOT;
    assert!(
        largest <= MAX_SERVER_MSG_BYTES,
        "{largest} bytes > {MAX_SERVER_MSG_BYTES}"
    );
}

#[test]
fn names_are_distinct_in_a_room_ignoring_case_held_seats_included() {
    let mut room = room();
    let (_ada, _) = join(&mut room, "Ada");
    let (bob, _) = join(&mut room, "Bob");
    let start = Instant::now();
    room.tick(start);
    bob.disconnect(Disconnect::CLIENT_CLOSED);
    room.tick(start + Duration::from_millis(16));
    assert_eq!(room.seat_count(), 2, "Bob's seat is held");
    let (_ada2, _) = join(&mut room, "ada");
    let (_bob2, _) = join(&mut room, "BOB");
    let (_ada3, _) = join(&mut room, "Ada");
    let (late, late_welcome) = join(&mut room, "late");
    let mut view = view_of(&room, &late_welcome);
    let snapshot = (2..6u64)
        .find_map(|t| {
            room.tick(start + Duration::from_millis(t * 16));
            take_snapshot(&late)
        })
        .expect("a snapshot");
    view.apply(&snapshot).expect("full");
    let Some(GameEvent::Roster(roster)) = snapshot.events.first() else {
        panic!("a roster first: {:?}", snapshot.events);
    };
    let names: Vec<&str> = roster.iter().map(|entry| entry.name.as_str()).collect();
    assert_eq!(
        names,
        ["Ada", "Bob", "ada (2)", "BOB (2)", "Ada (3)", "late"]
    );
}

#[test]
fn resume_tokens_name_their_room_and_never_repeat() {
    let tokens: std::collections::HashSet<[u8; 16]> =
        (0..1000).map(|_| new_token(RoomId(7)).0).collect();
    assert_eq!(tokens.len(), 1000);
    assert!(tokens
        .iter()
        .all(|t| token_room(&ResumeToken(*t)) == RoomId(7)));
    // 96 random bits: no byte position is constant across a thousand tokens.
    for position in 4..16 {
        let first = tokens.iter().next().map(|t| t[position]);
        assert!(
            tokens.iter().any(|t| Some(t[position]) != first),
            "byte {position}"
        );
    }
}

/// Players that move, turn, flick their aim and fire all the time, and read their snapshots, so
/// that every view changes every tick.
struct Crowd {
    links: Vec<Arc<PlayerLink>>,
    seq: u32,
}

impl Crowd {
    fn join(room: &mut Room, players: usize) -> Crowd {
        let links = (0..players)
            .map(|i| join(room, &format!("crowd{i}")).0)
            .collect();
        Crowd { links, seq: 0 }
    }

    /// Inputs for tick `t` (and a chat line now and then, if `chat`); takes what the room offered
    /// them.
    fn act(&mut self, t: u64, chat: bool) {
        use skirmish_shared::protocol::buttons::FIRE;
        self.seq += 1;
        for (i, link) in self.links.iter().enumerate() {
            let i = i as u64;
            let dir = ((t / 20 + i) % 9) as i8;
            link.push_input(InputFrame {
                seq: self.seq,
                move_x: dir % 3 - 1,
                move_y: dir / 3 - 1,
                aim: ((t * 997 + i * 7919) % 65_536) as u16,
                buttons: FIRE,
                ..InputFrame::default()
            });
            if chat && (t + i * 37) % 150 == 0 {
                link.push_chat(format!("line {t} {i}"));
            }
            let _ = take_snapshot(link);
        }
    }
}

/// A measured client: applies every snapshot it takes, checking it as the real clients do.
struct Reader {
    id: EntityId,
    link: Arc<PlayerLink>,
    view: ClientView,
    /// Ticks of the snapshots read.
    ticks: Vec<u32>,
    /// Bytes of each snapshot read.
    sizes: Vec<usize>,
    chat: Vec<String>,
    notices: Vec<String>,
    /// The size of its `Welcome`, encoded.
    welcome_bytes: usize,
    /// Whether it acknowledges each snapshot as it reads it.
    acknowledges: bool,
}

impl Reader {
    fn join(room: &mut Room, name: &str, rate: u32) -> Reader {
        let link = Arc::new(PlayerLink::new());
        link.set_asked_rate(rate);
        room.shared.occupancy.fetch_add(1, Ordering::AcqRel);
        let welcome = room.join(name.into(), link.clone());
        let view = view_of(room, &welcome);
        let welcome_bytes =
            skirmish_shared::codec::encode_server(&ServerMsg::Welcome(Box::new(welcome.clone())))
                .len();
        Reader {
            welcome_bytes,
            acknowledges: true,
            id: welcome.player_id,
            link,
            view,
            ticks: Vec::new(),
            sizes: Vec::new(),
            chat: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// Takes, checks and applies the waiting snapshot, if any: it must be of the room's current
    /// tick (nothing stale waits anywhere), a delta against the previous one read (after the first),
    /// and leave the view matching its check.
    fn read(&mut self, room: &Room) {
        let Some(bytes) = self.link.take_outbound() else {
            return;
        };
        let Ok(ServerMsg::Snapshot(snapshot)) = decode_server(&bytes) else {
            panic!("expected a snapshot");
        };
        if self.acknowledges {
            self.acknowledge(&snapshot);
        }
        assert_eq!(
            snapshot.tick,
            room.world.tick_number(),
            "a current snapshot"
        );
        if let Some(&previous) = self.ticks.last() {
            assert_eq!(
                snapshot.baseline,
                Some(Tick(previous)),
                "a delta on the last"
            );
        }
        self.view.apply(&snapshot).expect("applies");
        assert!(self.view.matches(&snapshot), "the view check holds");
        self.chat.extend(chat_of(&snapshot));
        self.notices
            .extend(snapshot.events.iter().filter_map(|event| match event {
                GameEvent::Notice(text) => Some(text.clone()),
                _ => None,
            }));
        self.ticks.push(snapshot.tick.0);
        self.sizes.push(bytes.len());
    }

    fn acknowledge(&self, snapshot: &Snapshot) {
        assert!(self.link.acknowledge(snapshot.tick.0, snapshot.proof));
    }

    /// The mean number of ticks between the snapshots read after tick `from`.
    fn mean_gap(&self, from: u32) -> f64 {
        let ticks: Vec<u32> = self.ticks.iter().copied().filter(|&t| t >= from).collect();
        (ticks[ticks.len() - 1] - ticks[0]) as f64 / (ticks.len() - 1) as f64
    }

    /// Bytes read in snapshots of ticks `from..to`.
    fn bytes_between(&self, from: u32, to: u32) -> usize {
        self.ticks
            .iter()
            .zip(&self.sizes)
            .filter(|(&t, _)| (from..to).contains(&t))
            .map(|(_, &size)| size)
            .sum()
    }
}

#[test]
fn a_low_rate_player_gets_fewer_complete_current_snapshots_and_every_event() {
    // Most of the arena in view, but not all of it from anywhere: views are listed per viewer.
    let mut room = room_with(|config| config.view_radius = 1_200 * 16);
    let mut crowd = Crowd::join(&mut room, 40);
    // (Protocol 8's packed snapshots take about half the bytes they did: lower rates bite.)
    let rates = [0, 2_000, 1_400, crate::rate::MIN_CLIENT_RATE];
    let mut readers: Vec<Reader> = rates
        .iter()
        .map(|&rate| Reader::join(&mut room, &format!("r{rate}"), rate))
        .collect();
    let start = Instant::now();
    // Ten seconds of play, then three with no chat for the last lines to get through.
    let (play, quiet) = (600u64, 180u64);
    for t in 0..play + quiet {
        crowd.act(t, t < play);
        room.tick(start + Duration::from_millis(t * 16));
        for reader in &mut readers {
            reader.read(&room);
        }
    }
    let (from, to) = (60, play as u32);
    let gaps: Vec<f64> = readers.iter().map(|r| r.mean_gap(from)).collect();
    let per_second: Vec<f64> = readers
        .iter()
        .map(|r| r.bytes_between(from, to) as f64 / ((to - from) as f64 / 60.0))
        .collect();
    // The default rate never holds a snapshot back: one every interval.
    assert_eq!(gaps[0], 2.0, "gaps {gaps:?}, bytes/s {per_second:?}");
    assert!(
        per_second[0] > f64::from(rates[1]) * 1.5,
        "the room is busy enough for the rates to bite: {per_second:?}"
    );
    // The lower the rate, the further apart the snapshots, and the bytes stay within the rate.
    for i in 1..rates.len() {
        assert!(gaps[i] > gaps[i - 1], "gaps {gaps:?}");
        assert!(
            per_second[i] <= f64::from(rates[i]) * 1.05,
            "bytes/s {per_second:?} against rates {rates:?}"
        );
        assert!(
            per_second[i] >= f64::from(rates[i]) * 0.6,
            "the budget is used: {per_second:?} against {rates:?}"
        );
    }
    assert!(gaps[3] > 2.0 * gaps[1], "gaps {gaps:?}");
    assert!(room.metrics.snapshots_deferred_rate.load(Ordering::Relaxed) > 0);
    // Every chat line reached every reader, once and in order.
    assert!(readers[0].chat.len() >= 100, "{}", readers[0].chat.len());
    for reader in &readers[1..] {
        assert_eq!(reader.chat, readers[0].chat);
    }
    // The rates in effect are the ones asked for, or the default for 0.
    let info = room.describe();
    let rate_of = |name: &str| info.players.iter().find(|p| p.name == name).map(|p| p.rate);
    assert_eq!(
        rate_of("r0"),
        Some(room.config.client_rates.default),
        "the default"
    );
    assert_eq!(rate_of("r2000"), Some(2_000));
    assert_eq!(rate_of("r0").map(|rate| rate > 100_000), Some(true));
}

#[test]
fn a_low_rate_player_that_sees_everything_gets_deltas_however_long_it_waits() {
    // Everyone sees everyone; the slowest rate, and a crowd firing all the time, so the wait between
    // two snapshots outlasts the frame history the "everything" baselines are kept in.
    let mut room = room_with(|config| config.view_radius = 100_000 * 16);
    let mut crowd = Crowd::join(&mut room, 40);
    let mut slow = Reader::join(&mut room, "slow", crate::rate::MIN_CLIENT_RATE);
    let start = Instant::now();
    for t in 0..900u64 {
        crowd.act(t, true);
        room.tick(start + Duration::from_millis(t * 16));
        slow.read(&room);
    }
    let longest = slow.ticks.windows(2).map(|w| w[1] - w[0]).max();
    assert!(
        longest.is_some_and(|gap| gap > 64),
        "waits longer than the frame history: {:?}",
        slow.ticks
    );
    // `read` checked that each snapshot after the first was a delta on the one before.
    assert!(slow.ticks.len() >= 4, "{:?}", slow.ticks);
}

#[test]
fn a_snapshot_replaced_unsent_is_refunded_so_only_what_went_out_is_paid_for() {
    let mut room = room();
    let mut crowd = Crowd::join(&mut room, 20);
    let rate = crate::rate::MIN_CLIENT_RATE;
    let mut stalled = Reader::join(&mut room, "stalled", rate);
    let start = Instant::now();
    let mut t = 0u64;
    let mut step = |room: &mut Room, crowd: &mut Crowd| {
        crowd.act(t, true);
        room.tick(start + Duration::from_millis(t * 16));
        t += 1;
    };
    // The Welcome crosses the link first: the first snapshot waits until it has, at the rate.
    let mut first_offer = None;
    while first_offer.is_none() {
        step(&mut room, &mut crowd);
        if stalled.link.outbox_pending() {
            first_offer = Some(u64::from(room.world.tick_number().0));
        }
        assert!(
            room.world.tick_number().0 < 600,
            "a first snapshot within ten seconds"
        );
    }
    let welcome_ticks = (stalled.welcome_bytes as u64 * 60).div_ceil(u64::from(rate));
    assert!(
        first_offer.is_some_and(|at| at + 3 >= welcome_ticks && at <= welcome_ticks + 3),
        "first offered after {first_offer:?} ticks; the Welcome needs {welcome_ticks}"
    );
    // Then for a second the session takes nothing (its socket is stuck): each turn's snapshot
    // replaces the untaken one, as for any slow socket, whatever the rate.
    let metrics = room.metrics.clone();
    let deferred = || metrics.snapshots_deferred_rate.load(Ordering::Relaxed);
    let deferred_before = deferred();
    let mut offered = std::collections::BTreeSet::new();
    for _ in 0..60 {
        step(&mut room, &mut crowd);
        let seat = room.seats.iter().flatten().find(|s| s.id == stalled.id);
        if let Some(pending) = seat.and_then(|s| s.pending.as_ref()) {
            offered.insert(pending.tick);
        }
    }
    assert!(offered.len() >= 25, "replaced every turn: {offered:?}");
    assert_eq!(deferred(), deferred_before, "nothing waited for the budget");
    // Now it takes the newest (just offered): only that one went out, so the wait for the next
    // one is that snapshot's bytes at the rate, not the bytes of every snapshot it replaced.
    let offered_now = |room: &Room| {
        let seat = room.seats.iter().flatten().find(|s| s.id == stalled.id);
        seat.and_then(|s| s.pending.as_ref())
            .is_some_and(|p| p.tick == room.world.tick_number().0)
    };
    while !offered_now(&room) {
        step(&mut room, &mut crowd);
    }
    stalled.read(&room);
    let size = stalled.sizes[0];
    let mut waited = 0u64;
    while !stalled.link.outbox_pending() {
        step(&mut room, &mut crowd);
        waited += 1;
        assert!(waited < 600, "a snapshot within ten seconds");
    }
    let expected = (size as u64 * 60).div_ceil(u64::from(rate));
    assert!(
        waited + 4 >= expected && waited <= expected + 4,
        "waited {waited} ticks after taking {size} bytes at {rate} B/s (expected about {expected})"
    );
    assert!(deferred() > deferred_before);
}

#[test]
fn a_slow_links_acknowledgement_is_due_once_the_snapshot_can_have_crossed_it() {
    // A second: 60 ticks.
    let timeout = Duration::from_millis(1_000);
    let mut room = room_with(|config| config.slow_reader_timeout = timeout);
    let mut crowd = Crowd::join(&mut room, 40);
    let rate = crate::rate::MIN_CLIENT_RATE;
    // Both read at once but acknowledge late: one as soon as the snapshot can have crossed its
    // link at its rate (and a little more), the other never.
    let late = Reader::join(&mut room, "late", rate);
    let mut silent = Reader::join(&mut room, "silent", rate);
    silent.acknowledges = false;
    let start = Instant::now();
    let at = |t: u64| start + Duration::from_millis(t * 1_000 / 60);
    let mut late_unacked: Vec<(Snapshot, u64)> = Vec::new();
    let mut silent_dropped = None;
    let mut longest_crossing = 0;
    for t in 0..1_200u64 {
        crowd.act(t, false);
        room.tick(at(t));
        if let Some(bytes) = late.link.take_outbound() {
            let Ok(ServerMsg::Snapshot(snapshot)) = decode_server(&bytes) else {
                panic!("a snapshot");
            };
            // Its bytes take `crossing` ticks at the rate; it is acknowledged half the timeout
            // after that (for the first, a full one, later than the timeout after it was taken).
            let crossing = (bytes.len() as u64 * 60).div_ceil(u64::from(rate));
            longest_crossing = longest_crossing.max(crossing);
            late_unacked.push((snapshot, t + crossing + 30));
        }
        late_unacked.retain(|(snapshot, due)| {
            if *due == t {
                late.acknowledge(snapshot);
            }
            *due > t
        });
        if silent_dropped.is_none() {
            silent.read(&room);
            if silent.link.disconnected().is_some() {
                silent_dropped = Some(t);
            }
        }
    }
    assert!(
        longest_crossing + 30 > 60,
        "an acknowledgement came later than the timeout after its snapshot was taken: \
         {longest_crossing} ticks"
    );
    assert_eq!(
        late.link.disconnected(),
        None,
        "acknowledged in time for its link"
    );
    // A client that never acknowledges is still dropped: the timeout after its first snapshot can
    // have crossed its link.
    let dropped = silent_dropped.expect("the silent one is dropped");
    let first = u64::from(silent.ticks[0]);
    assert!(dropped > first + 60, "{dropped} vs first at {first}");
    assert!(
        dropped < first + 60 + longest_crossing + 20,
        "{dropped} vs first at {first}"
    );
}

#[test]
fn the_shutdown_notice_reaches_a_player_whose_budget_is_in_debt() {
    let mut room = room();
    let mut crowd = Crowd::join(&mut room, 5);
    let mut slow = Reader::join(&mut room, "slow", crate::rate::MIN_CLIENT_RATE);
    let start = Instant::now();
    let mut t = 0u64;
    while slow.ticks.is_empty() {
        crowd.act(t, false);
        room.tick(start + Duration::from_millis(t * 16));
        slow.read(&room);
        t += 1;
        assert!(t < 600, "a first snapshot");
    }
    // Deep in debt (as after a large snapshot), the server shuts down: one interval of ticks.
    let seat = room.seats.iter_mut().flatten().find(|s| s.id == slow.id);
    seat.expect("seated").budget.spend(10_000);
    room.announce_shutdown();
    for _ in 0..room.snapshot_interval() {
        room.tick(start + Duration::from_millis(t * 16));
        slow.read(&room);
        t += 1;
    }
    assert_eq!(slow.ticks.len(), 2, "a last snapshot");
    assert_eq!(slow.notices, [SHUTDOWN_NOTICE]);
}

/// Every event the link's snapshots carry over `ticks` ticks.
fn events_over(room: &mut Room, link: &PlayerLink, ticks: u64) -> Vec<GameEvent> {
    let start = Instant::now();
    let mut events = Vec::new();
    for t in 0..ticks {
        room.tick(start + Duration::from_millis(t * 16));
        if let Some(snapshot) = take_snapshot(link) {
            events.extend(snapshot.events);
        }
    }
    events
}

#[test]
fn fill_bots_make_way_for_humans_and_come_back_when_they_leave() {
    let mut room = room_with(|c| {
        c.fill_bots = 4;
        c.capacity = 4;
    });
    let (alice, welcome) = join(&mut room, "alice");
    assert_eq!(welcome.room_code, "K7MPQR");
    let events = events_over(&mut room, &alice, 4);
    let Some(GameEvent::Roster(roster)) = events.first() else {
        panic!("a roster first: {events:?}");
    };
    let bots: Vec<&RosterEntry> = roster.iter().filter(|p| p.bot).collect();
    assert_eq!(bots.len(), 3, "{roster:?}");
    assert!(bots.iter().all(|b| b.name.starts_with("Bot ")));
    assert_eq!(room.shared.bots.load(Ordering::Relaxed), 3);
    assert_eq!(room.metrics.bots.load(Ordering::Relaxed), 3);
    // Three more humans fill the room; each takes a bot's place.
    let mut others = Vec::new();
    for name in ["bob", "carol", "dave"] {
        others.push(join(&mut room, name).0);
        assert_eq!(
            room.world.players().len(),
            4,
            "never more than the capacity"
        );
    }
    assert!(room.bot_ids().is_empty());
    let events = events_over(&mut room, &alice, 4);
    let left = events
        .iter()
        .filter(|e| matches!(e, GameEvent::PlayerLeft(id) if bots.iter().any(|b| b.id == *id)))
        .count();
    assert_eq!(left, 3, "{events:?}");
    // One leaves: a bot comes back.
    others[0].disconnect(Disconnect::LEFT);
    let events = events_over(&mut room, &alice, 4);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, GameEvent::PlayerJoined(p) if p.bot)),
        "{events:?}"
    );
    assert_eq!(room.bot_ids().len(), 1);
    assert_eq!(room.shared.humans.load(Ordering::Relaxed), 3);
    // Everyone leaves: no bots in an empty room.
    alice.disconnect(Disconnect::LEFT);
    for link in &others[1..] {
        link.disconnect(Disconnect::LEFT);
    }
    room.tick(Instant::now());
    assert!(room.bot_ids().is_empty());
    assert_eq!(room.world.players().len(), 0);
    assert_eq!(room.metrics.bots.load(Ordering::Relaxed), 0);
}

#[test]
fn a_shooter_is_told_of_its_hits_and_the_victim_is_not() {
    let mut room = room();
    let (shooter, _) = join(&mut room, "shooter");
    let (victim, victim_welcome) = join(&mut room, "victim");
    let keys: Vec<PlayerKey> = room.world.players().iter().map(|(k, _)| k).collect();
    room.world
        .place_player(keys[0], skirmish_shared::map::tile_centre(4, 4));
    room.world
        .place_player(keys[1], skirmish_shared::map::tile_centre(7, 4));
    let protection = u64::from(room.world.rules().spawn_protection);
    events_over(&mut room, &shooter, protection + 2);
    events_over(&mut room, &victim, 0);
    let fire = InputFrame {
        seq: 1,
        buttons: skirmish_shared::protocol::buttons::FIRE,
        ..InputFrame::default()
    };
    shooter.push_input(fire);
    let mut shooter_events = Vec::new();
    let mut victim_events = Vec::new();
    let start = Instant::now();
    for t in 0..30 {
        room.tick(start + Duration::from_millis(t * 16));
        shooter_events.extend(
            take_snapshot(&shooter)
                .map(|s| s.events)
                .unwrap_or_default(),
        );
        victim_events.extend(take_snapshot(&victim).map(|s| s.events).unwrap_or_default());
    }
    assert!(
        shooter_events.contains(&GameEvent::Hit {
            victim: victim_welcome.player_id,
            hp: crate::world::MAX_HP - crate::world::PROJECTILE_DAMAGE,
        }),
        "{shooter_events:?}"
    );
    assert!(!victim_events
        .iter()
        .any(|e| matches!(e, GameEvent::Hit { .. })));
}
