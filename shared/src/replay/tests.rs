use super::*;
use crate::map::tile_centre;
use crate::physics::Dir;
use crate::protocol::{
    EntityId, EntityState, PlayerField, PlayerState, PlayerUpdate, ScoreEntry, WireMotion,
};

fn map() -> Map {
    Map::parse("############\n#S.........#\n#..........#\n#..........#\n############\n")
        .expect("valid")
}

fn header() -> ReplayHeader {
    ReplayHeader {
        protocol_version: PROTOCOL_VERSION,
        room_code: "K7MPQR".into(),
        map: map(),
        tick_rate: 60,
        feed_rate: 20,
        started_unix_ms: 1_764_137_940_000,
        start_tick: Tick(30),
        part: 1,
        players: vec![RosterEntry {
            id: EntityId(2),
            name: "ada".into(),
            bot: false,
        }],
    }
}

fn player(id: u32, age: u32, x: i32) -> EntityState {
    EntityState::Player(PlayerState {
        id: EntityId(id),
        motion: WireMotion {
            age,
            pos: tile_centre(x, 2),
            dir: Dir::East,
        },
        aim: 0,
        hp: 100,
        status: 0,
    })
}

/// Gives `snapshot` the check of the view it leaves `view` holding.
fn sealed(view: &mut ClientView, mut snapshot: Snapshot) -> Snapshot {
    view.apply(&snapshot).expect("applies");
    snapshot.check = view.check().to_wire();
    snapshot
}

/// A replay of 12 frames three ticks apart from tick 30: keyframes at frames 0 and 6.
fn recording() -> (Vec<u8>, Vec<Snapshot>) {
    let mut out = Vec::new();
    write_header(&header(), &mut out);
    let mut view = ClientView::new(Arc::new(map()), MoveParams::new(TickRate::new(60).unwrap()));
    let mut snapshots = Vec::new();
    for i in 0..12u32 {
        let tick = Tick(30 + 3 * i);
        let snapshot = if i % 6 == 0 {
            view.reset();
            Snapshot {
                tick,
                entered: vec![player(2, i, 2), player(4, 0, 5)],
                events: vec![
                    GameEvent::Roster(header().players),
                    GameEvent::Leaderboard(vec![ScoreEntry::default()]),
                ],
                ..Snapshot::default()
            }
        } else {
            let mut events = Vec::new();
            if i == 3 {
                events.push(GameEvent::PlayerJoined(RosterEntry {
                    id: EntityId(4),
                    name: "bob".into(),
                    bot: true,
                }));
            }
            Snapshot {
                tick,
                baseline: Some(Tick(tick.0 - 3)),
                updated: vec![PlayerUpdate {
                    id: EntityId(2),
                    fields: vec![
                        PlayerField::Aim(i as u16 * 100),
                        PlayerField::Hp(100 - i as u8),
                    ],
                }],
                events,
                ..Snapshot::default()
            }
        };
        let snapshot = sealed(&mut view, snapshot);
        let payload = crate::codec::encode_server(&ServerMsg::Snapshot(snapshot.clone()));
        write_frame(tick, i % 6 == 0, &payload, &mut out);
        snapshots.push(snapshot);
    }
    (out, snapshots)
}

#[test]
fn a_replay_plays_frame_by_frame_and_seeks_to_the_same_view() {
    let (bytes, snapshots) = recording();
    let replay = Replay::parse(bytes.clone()).expect("parses");
    assert_eq!(replay.header(), &header());
    assert_eq!(replay.frames().len(), 12);
    assert_eq!(replay.trailing_bytes(), 0);
    assert_eq!(replay.ticks(), Some((Tick(30), Tick(63))));
    assert_eq!(replay.duration_ms(), 550);
    assert_eq!(replay.len_bytes(), bytes.len());
    let names: Vec<String> = replay
        .players()
        .expect("decodes")
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["ada", "bob"]);
    // Frame by frame: every frame applies and holds its check.
    let mut cursor = ReplayCursor::new(&replay);
    let mut views = Vec::new();
    for expected in &snapshots {
        let snapshot = cursor.step(&replay).expect("a frame").expect("applies");
        assert_eq!(&snapshot, expected);
        assert!(cursor.view().matches(&snapshot));
        views.push(cursor.view().clone());
    }
    assert!(cursor.step(&replay).is_none(), "the end");
    // Seeking to any tick, forward or back, gives the view of playing up to it.
    for target in (20..70).rev().chain(20..70) {
        let mut seen = Vec::new();
        cursor
            .seek(&replay, Tick(target), |s| seen.push(s.tick))
            .expect("seeks");
        let upto = snapshots
            .iter()
            .filter(|s| s.tick.0 <= target)
            .count()
            .max(1);
        assert_eq!(cursor.view(), &views[upto - 1], "seek to {target}");
        assert_eq!(cursor.next_index(), upto);
        // From the keyframe at or before it.
        let key = if upto > 6 { 6 } else { 0 };
        let from_key: Vec<Tick> = snapshots[key..upto].iter().map(|s| s.tick).collect();
        assert_eq!(seen, from_key, "seek to {target}");
    }
}

#[test]
fn a_file_cut_anywhere_after_its_header_plays_up_to_its_last_complete_frame() {
    let (bytes, snapshots) = recording();
    let header_end = {
        let mut out = Vec::new();
        write_header(&header(), &mut out);
        out.len()
    };
    let frame_ends: Vec<usize> = {
        let replay = Replay::parse(bytes.clone()).expect("parses");
        replay.frames.iter().map(|f| f.payload.end).collect()
    };
    for cut in header_end..=bytes.len() {
        let replay = Replay::parse(bytes[..cut].to_vec()).expect("a cut file parses");
        let complete = frame_ends.iter().filter(|&&end| end <= cut).count();
        assert_eq!(replay.frames().len(), complete, "cut at {cut}");
        let last_end = if complete == 0 {
            header_end
        } else {
            frame_ends[complete - 1]
        };
        assert_eq!(replay.trailing_bytes(), cut - last_end);
        let mut cursor = ReplayCursor::new(&replay);
        let mut played = 0;
        while let Some(step) = cursor.step(&replay) {
            assert_eq!(step.expect("plays"), snapshots[played]);
            played += 1;
        }
        assert_eq!(played, complete);
    }
    // Cut inside the header: nothing to play, and said so.
    for cut in 1..header_end {
        assert_eq!(
            Replay::parse(bytes[..cut].to_vec()).err(),
            Some(ReplayError::CutHeader { len: cut }),
            "cut at {cut}"
        );
    }
}

#[test]
fn foreign_corrupt_and_other_version_files_are_refused_with_a_reason() {
    let (bytes, _) = recording();
    assert_eq!(
        Replay::parse(Vec::new()).err(),
        Some(ReplayError::NotAReplay)
    );
    assert_eq!(
        Replay::parse(b"<!doctype html><html></html>".to_vec()).err(),
        Some(ReplayError::NotAReplay)
    );
    let mut other = bytes.clone();
    other[MAGIC.len()] = 9;
    assert_eq!(
        Replay::parse(other).err(),
        Some(ReplayError::FormatVersion { found: 9 })
    );
    let mut old = Vec::new();
    write_header(
        &ReplayHeader {
            protocol_version: PROTOCOL_VERSION - 1,
            ..header()
        },
        &mut old,
    );
    assert_eq!(
        Replay::parse(old).err(),
        Some(ReplayError::ProtocolVersion {
            found: PROTOCOL_VERSION - 1
        })
    );
    // A flipped bit inside any complete frame is caught by its checksum.
    let first_frame = Replay::parse(bytes.clone()).expect("parses").frames[0].offset;
    for at in [
        first_frame + 5,
        first_frame + FRAME_HEAD + 3,
        bytes.len() - 1,
    ] {
        let mut corrupt = bytes.clone();
        corrupt[at] ^= 0x10;
        let error = Replay::parse(corrupt).expect_err("refused");
        assert!(
            matches!(error, ReplayError::CorruptFrame { .. }),
            "byte {at}: {error}"
        );
        assert!(error.to_string().contains("corrupt"), "{error}");
    }
    // Messages say what is wrong, for people.
    assert!(ReplayError::NotAReplay
        .to_string()
        .contains("not a Skirmish replay"));
}

#[test]
fn the_reader_survives_any_bytes() {
    let (bytes, _) = recording();
    // A small deterministic fuzz: random bytes changed, cut and inserted, never a panic; whatever
    // parses also plays to its end (frames that fail to decode or check say so).
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2_000 {
        let mut mutated = bytes.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % mutated.len() as u64) as usize;
            match next() % 3 {
                0 => mutated[at] = next() as u8,
                1 => mutated.truncate(at.max(1)),
                _ => mutated.insert(at, next() as u8),
            }
        }
        if let Ok(replay) = Replay::parse(mutated) {
            let mut cursor = ReplayCursor::new(&replay);
            while cursor.step(&replay).is_some() {}
            let _ = cursor.seek(&replay, Tick(45), |_| {});
            let _ = replay.players();
        }
    }
    // Frames whose checksums hold but whose payload is no snapshot are refused at play time.
    let mut out = Vec::new();
    write_header(&header(), &mut out);
    write_frame(Tick(1), true, b"\x03\x00\x00", &mut out);
    let replay = Replay::parse(out).expect("the index holds");
    let mut cursor = ReplayCursor::new(&replay);
    assert!(matches!(
        cursor.step(&replay),
        Some(Err(ReplayError::CorruptFrame { index: 0, .. }))
    ));
}
