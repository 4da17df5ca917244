use super::*;
use skirmish_shared::codec::encode_server;
use skirmish_shared::map::{tile_centre, Map};
use skirmish_shared::physics::{Dir, MoveParams};
use skirmish_shared::protocol::{
    EntityState, PlayerField, PlayerState, PlayerUpdate, ScoreEntry, ServerMsg, WireMotion,
    PROTOCOL_VERSION,
};
use skirmish_shared::replay::{write_frame, write_header, ReplayHeader};
use skirmish_shared::time::TickRate;
use std::sync::Arc;

fn map() -> Map {
    Map::parse("############\n#S.........#\n#..........#\n#..........#\n############\n")
        .expect("valid")
}

fn roster() -> Vec<RosterEntry> {
    vec![
        RosterEntry {
            id: EntityId(2),
            name: "ada".into(),
            bot: false,
        },
        RosterEntry {
            id: EntityId(4),
            name: "bob".into(),
            bot: false,
        },
    ]
}

fn player(id: u32, x: i32) -> EntityState {
    EntityState::Player(PlayerState {
        id: EntityId(id),
        motion: WireMotion {
            age: 0,
            pos: tile_centre(x, 2),
            dir: Dir::Still,
        },
        aim: 0,
        hp: 100,
        status: 0,
    })
}

/// A recording at 60 Hz with a frame every 3 ticks from tick 60 (20 frames a second): 40 frames
/// (2 s), a keyframe every 10 frames, ada's hit points counting down one a frame, and kills at
/// frames 12 and 31.
fn recording() -> Vec<u8> {
    let header = ReplayHeader {
        protocol_version: PROTOCOL_VERSION,
        room_code: "K7MPQR".into(),
        map: map(),
        tick_rate: 60,
        feed_rate: 20,
        started_unix_ms: 1_764_141_300_000,
        start_tick: Tick(60),
        part: 1,
        players: roster(),
    };
    let mut out = Vec::new();
    write_header(&header, &mut out);
    let mut view = ClientView::new(Arc::new(map()), MoveParams::new(TickRate::new(60).unwrap()));
    for i in 0..40u32 {
        let tick = Tick(60 + 3 * i);
        let keyframe = i % 10 == 0;
        let mut snapshot = if keyframe {
            view.reset();
            let mut ada = player(2, 2);
            if let EntityState::Player(p) = &mut ada {
                p.hp = 100 - i as u8;
            }
            Snapshot {
                tick,
                entered: vec![ada, player(4, 6)],
                events: vec![
                    GameEvent::Roster(roster()),
                    GameEvent::Leaderboard(vec![ScoreEntry {
                        id: EntityId(4),
                        score: i / 20,
                        kills: i / 20,
                        deaths: 0,
                    }]),
                ],
                ..Snapshot::default()
            }
        } else {
            Snapshot {
                tick,
                baseline: Some(Tick(tick.0 - 3)),
                updated: vec![PlayerUpdate {
                    id: EntityId(2),
                    fields: vec![PlayerField::Hp(100 - i as u8)],
                }],
                ..Snapshot::default()
            }
        };
        if i == 12 || i == 31 {
            snapshot.events.push(GameEvent::Kill {
                killer: Some(EntityId(4)),
                victim: EntityId(2),
            });
        }
        if i == 5 {
            snapshot.events.push(GameEvent::Chat {
                from: EntityId(2),
                text: "hi".into(),
            });
        }
        view.apply(&snapshot).expect("applies");
        snapshot.check = view.check().to_wire();
        let payload = encode_server(&ServerMsg::Snapshot(snapshot));
        write_frame(tick, keyframe, &payload, &mut out);
    }
    out
}

fn ada_hp(playback: &Playback) -> u8 {
    playback.view().players()[&EntityId(2)].hp
}

#[test]
fn loading_finds_the_kills_and_the_players() {
    let playback = Playback::load(recording()).expect("loads");
    assert_eq!(playback.span(), (60, 177));
    assert_eq!(playback.duration_ms(), 1950.0);
    assert_eq!(
        playback.kills(),
        [
            KillMark {
                tick: Tick(96),
                killer: Some(EntityId(4)),
                victim: EntityId(2)
            },
            KillMark {
                tick: Tick(153),
                killer: Some(EntityId(4)),
                victim: EntityId(2)
            }
        ]
    );
    let names: Vec<&str> = playback.players().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ada", "bob"]);
    // Kill marks sit on the timeline where they happened.
    assert!((playback.fraction_of(96.0) - 36.0 / 117.0).abs() < 1e-9);
    assert!(!playback.playing());
}

#[test]
fn playing_applies_the_frames_the_clock_passes_and_stops_at_the_end() {
    let mut playback = Playback::load(recording()).expect("loads");
    let mut played = Vec::new();
    // Paused: the first frame is shown, and time does not move it.
    playback
        .advance(1000.0, |s, how| played.push((s.tick.0, how)))
        .expect("plays");
    assert_eq!(played, [(60, Applied::Seeking)]);
    assert_eq!(ada_hp(&playback), 100);
    assert_eq!(playback.position(), 60.0);
    played.clear();
    playback.set_playing(true, |_, _| {}).expect("plays");
    // 100 ms at 60 Hz is 6 ticks: two more frames.
    playback
        .advance(100.0, |s, how| played.push((s.tick.0, how)))
        .expect("plays");
    assert_eq!(played, [(63, Applied::Played), (66, Applied::Played)]);
    assert_eq!(ada_hp(&playback), 98);
    // Twice as fast: 100 ms is 12 ticks.
    playback.set_speed(2.0);
    let mut ticks = Vec::new();
    playback
        .advance(100.0, |s, _| ticks.push(s.tick.0))
        .expect("plays");
    assert_eq!(ticks, [69, 72, 75, 78]);
    // Pausing stops the view.
    playback.set_playing(false, |_, _| {}).expect("pauses");
    let paused_at = playback.position();
    playback
        .advance(500.0, |_, _| panic!("no frames while paused"))
        .expect("ok");
    assert_eq!(playback.position(), paused_at);
    // Playing past the end stops at the last frame.
    playback.set_playing(true, |_, _| {}).expect("plays");
    playback.advance(60_000.0, |_, _| {}).expect("plays");
    assert!(playback.at_end() && !playback.playing());
    assert_eq!(ada_hp(&playback), 61);
    // Play again from the end starts over.
    let mut seen = Vec::new();
    playback
        .set_playing(true, |s, how| seen.push((s.tick.0, how)))
        .expect("plays");
    assert_eq!(seen, [(60, Applied::Seeking)]);
    assert!(playback.playing());
    assert_eq!(ada_hp(&playback), 100);
}

#[test]
fn seeking_starts_at_the_keyframe_before_and_lands_on_the_same_view_as_playing() {
    let mut played = Playback::load(recording()).expect("loads");
    played.set_playing(true, |_, _| {}).expect("plays");
    // 1,250 ms from tick 60 is tick 135, a frame (25 frames in).
    played.advance(1250.0, |_, _| {}).expect("plays");
    assert_eq!(played.view().tick(), Some(Tick(135)));
    let mut sought = Playback::load(recording()).expect("loads");
    let mut seen = Vec::new();
    sought
        .seek(135, |s, how| {
            seen.push((s.tick.0, s.baseline.is_none(), how))
        })
        .expect("seeks");
    // From the keyframe at frame 20 (tick 120) forward.
    assert_eq!(seen.first(), Some(&(120, true, Applied::Seeking)));
    assert_eq!(seen.last(), Some(&(135, false, Applied::Seeking)));
    assert_eq!(seen.len(), 6);
    assert_eq!(sought.view(), played.view());
    assert_eq!(ada_hp(&sought), 75);
    // Back, to between frames: the frame before is shown, and the clock is where it was asked.
    sought.seek(100, |_, _| {}).expect("seeks");
    assert_eq!(sought.view().tick(), Some(Tick(99)));
    assert_eq!(sought.position(), 100.0);
    // Out of range is held to the replay.
    sought.seek(9_999, |_, _| {}).expect("seeks");
    assert!(sought.at_end());
    assert_eq!(sought.view().tick(), Some(Tick(177)));
    sought.seek(0, |_, _| {}).expect("seeks");
    assert_eq!(sought.view().tick(), Some(Tick(60)));
    // The timeline's fractions map to ticks and back.
    assert_eq!(sought.tick_at(0.5), 119);
    assert_eq!(sought.tick_at(f64::NAN), 60);
    assert_eq!(sought.tick_at(7.0), 177);
}

#[test]
fn speed_is_held_to_the_range_offered() {
    let mut playback = Playback::load(recording()).expect("loads");
    for (asked, kept) in [(0.01, 0.25), (0.5, 0.5), (16.0, 4.0), (f64::NAN, 4.0)] {
        playback.set_speed(asked);
        assert_eq!(playback.speed(), kept, "asked {asked}");
    }
    assert_eq!(SPEEDS.first(), Some(&MIN_SPEED));
    assert_eq!(SPEEDS.last(), Some(&MAX_SPEED));
}

#[test]
fn bad_files_are_refused_with_the_replay_error() {
    assert_eq!(
        Playback::load(b"<html>not found</html>".to_vec()).err(),
        Some(ReplayError::NotAReplay)
    );
    // A corrupt frame: one payload byte flipped in the middle of the file.
    let mut bytes = recording();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    let error = Playback::load(bytes).expect_err("refused");
    assert!(
        error.to_string().contains("corrupt"),
        "the message says what is wrong: {error}"
    );
    // A recording cut short plays up to its last complete frame.
    let bytes = recording();
    let cut = Playback::load(bytes[..bytes.len() - 5].to_vec()).expect("plays what is there");
    assert_eq!(cut.span(), (60, 174));
}

#[test]
fn clock_text_reads_like_a_player() {
    assert_eq!(clock_text(0.0), "0:00");
    assert_eq!(clock_text(61_999.0), "1:01");
    assert_eq!(clock_text(3_600_000.0 + 5_000.0), "1:00:05");
    assert_eq!(clock_text(-5.0), "0:00");
    assert_eq!(clock_text(f64::NAN), "0:00");
    assert_eq!(speed_label(0.25), "0.25×");
    assert_eq!(speed_label(4.0), "4×");
}
