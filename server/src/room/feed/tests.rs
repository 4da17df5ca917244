//! The broadcast feed from an in-process room: what spectators are sent, when, and the replay that
//! records it.

use super::super::tests::{join, room_with, take_snapshot};
use super::*;
use crate::config::ReplaySettings;
use crate::metrics::Metrics;
use crate::recorder::Recorder;
use skirmish_shared::codec::decode_server;
use skirmish_shared::protocol::{ServerMsg, Snapshot};
use skirmish_shared::replay::{Replay, ReplayCursor, FILE_SUFFIX};
use skirmish_shared::view::{Checked, ClientView, ViewCheck};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::time::{Duration, Instant};

/// The check of a view holding every entity of the world as it is.
fn world_check(room: &Room) -> ViewCheck {
    let world = room.world();
    let mut check = ViewCheck::default();
    for (_, p) in world.players() {
        check.add(ViewCheck::player_word(
            p.id, &p.motion, p.aim_wire, p.hp, p.status,
        ));
    }
    for (_, shot) in world.projectiles() {
        check.add(ViewCheck::projectile_word(shot.id, &shot.motion));
    }
    check
}

fn decode(frame: &FeedFrame) -> Snapshot {
    match decode_server(&frame.bytes) {
        Ok(ServerMsg::Snapshot(snapshot)) => snapshot,
        other => panic!("a feed frame is a snapshot, got {other:?}"),
    }
}

/// A room of one human and seven fill bots, fighting, with a spectator delay of 500 ms.
fn busy_room() -> Room {
    room_with(|config| {
        config.fill_bots = 8;
        config.spectator_delay = Duration::from_millis(500);
        config.max_spectators = 4;
    })
}

/// What one spectator saw: the view after each frame, by the frame's tick.
struct Watcher {
    view: ClientView,
    checks: BTreeMap<u32, ViewCheck>,
    /// The room's tick when each frame arrived, by the frame's tick.
    arrived: BTreeMap<u32, u32>,
    keyframes: Vec<u32>,
}

impl Watcher {
    fn new(room: &Room) -> Watcher {
        Watcher {
            view: ClientView::new(room.config.map.clone(), *room.world.params()),
            checks: BTreeMap::new(),
            arrived: BTreeMap::new(),
            keyframes: Vec::new(),
        }
    }

    fn apply(&mut self, frame: &FeedFrame, now: Tick) {
        let snapshot = decode(frame);
        assert_eq!(snapshot.tick, frame.tick);
        assert_eq!(snapshot.baseline.is_none(), frame.keyframe);
        assert_eq!((snapshot.proof, snapshot.ack_input_seq), (0, 0));
        if frame.keyframe {
            self.keyframes.push(frame.tick.0);
            assert!(
                matches!(
                    snapshot.events.as_slice(),
                    [GameEvent::Roster(_), GameEvent::Leaderboard(_), ..]
                ),
                "a keyframe starts with the roster and the leaderboard"
            );
        }
        for event in &snapshot.events {
            assert!(
                !matches!(event, GameEvent::Hit { .. } | GameEvent::YourScore(_)),
                "private events stay private: {event:?}"
            );
        }
        assert_eq!(
            self.view.apply_checked(&snapshot),
            Checked::Held,
            "frame {}",
            frame.tick.0
        );
        self.checks.insert(frame.tick.0, self.view.check());
        self.arrived.insert(frame.tick.0, now.0);
    }
}

#[test]
fn spectators_get_the_whole_room_once_encoded_and_delayed() {
    let mut room = busy_room();
    let (link, _) = join(&mut room, "ada");
    let seat = room.shared.feed.admit(None).expect("a spectator's place");
    let (chain, mut frames) = room.shared.feed.subscribe().expect("open");
    assert!(chain.is_empty(), "nothing released yet");
    let mut watcher = Watcher::new(&room);
    let mut world_checks = BTreeMap::new();
    let start = Instant::now();
    for t in 0..420u64 {
        room.tick(start + Duration::from_millis(t * 16));
        while take_snapshot(&link).is_some() {}
        let now = room.world().tick_number();
        world_checks.insert(now.0, (world_check(&room), room.world().players().len()));
        while let Ok(frame) = frames.try_recv() {
            watcher.apply(&frame, now);
        }
    }
    let ticks: Vec<u32> = watcher.checks.keys().copied().collect();
    assert!(ticks.len() >= 120, "{} frames", ticks.len());
    // One frame every 3 ticks (20 Hz at 60), each released exactly 30 ticks (500 ms) later.
    assert!(ticks.windows(2).all(|w| w[1] - w[0] == 3), "{ticks:?}");
    for (&tick, &arrived) in &watcher.arrived {
        assert_eq!(arrived, tick + 30, "frame {tick}");
    }
    // Keyframes: the first frame, then every 5 s (300 ticks).
    assert_eq!(watcher.keyframes.len(), 2, "{:?}", watcher.keyframes);
    assert_eq!(watcher.keyframes[1] - watcher.keyframes[0], 300);
    // The view after each frame is the whole world at its tick: every player, every projectile.
    for (tick, check) in &watcher.checks {
        let (expected, players) = world_checks[tick];
        assert_eq!(*check, expected, "frame {tick}");
        assert_eq!(players, 8, "a human and seven bots");
    }
    assert_eq!(watcher.view.players().len(), 8);
    assert!(room.metrics.feed_frames.load(Relaxed) >= ticks.len() as u64);
    // A spectator that comes late is sent the last keyframe and the deltas since: its view is the
    // same as the one that watched from the start.
    let (chain, _) = room.shared.feed.subscribe().expect("open");
    assert!(chain[0].keyframe && chain[1..].iter().all(|f| !f.keyframe));
    let mut late = Watcher::new(&room);
    for frame in &chain {
        late.apply(frame, room.world().tick_number());
    }
    assert_eq!(late.view, watcher.view);
    drop(seat);
    assert_eq!(room.shared.feed.spectators(), 0);
}

#[test]
fn without_spectators_or_a_recording_the_feed_rests() {
    let mut room = busy_room();
    let (link, _) = join(&mut room, "ada");
    let start = Instant::now();
    for t in 0..120u64 {
        room.tick(start + Duration::from_millis(t * 16));
        while take_snapshot(&link).is_some() {}
    }
    assert_eq!(room.metrics.feed_frames.load(Relaxed), 0);
    // A spectator arrives: the feed starts with a keyframe.
    let _seat = room.shared.feed.admit(None).expect("a place");
    let (_, mut frames) = room.shared.feed.subscribe().expect("open");
    for t in 120..200u64 {
        room.tick(start + Duration::from_millis(t * 16));
        while take_snapshot(&link).is_some() {}
    }
    let first = frames.try_recv().expect("a frame after the delay");
    assert!(first.keyframe);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "skirmish-feed-test-{}-{name}-{}",
        std::process::id(),
        crate::secret::random_u64()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn a_recorded_replay_plays_back_the_spectators_view_and_seeks_to_it() {
    let dir = temp_dir("replay");
    let metrics = Arc::new(Metrics::default());
    let settings = ReplaySettings {
        dir: dir.clone(),
        max_count: 10,
        max_bytes: 1 << 30,
        min_duration: Duration::ZERO,
    };
    let recorder = Recorder::start(settings, metrics).expect("recorder");
    let mut room = busy_room();
    let header = skirmish_shared::replay::ReplayHeader {
        protocol_version: skirmish_shared::protocol::PROTOCOL_VERSION,
        room_code: room.code().to_string(),
        map: (*room.config.map).clone(),
        tick_rate: 60,
        feed_rate: 20,
        started_unix_ms: 0,
        start_tick: Tick(0),
        part: 1,
        players: Vec::new(),
    };
    room = room.with_recording(recorder.record(header));
    let (link, _) = join(&mut room, "ada");
    let _seat = room.shared.feed.admit(None).expect("a place");
    let (_, mut frames) = room.shared.feed.subscribe().expect("open");
    let mut live = Watcher::new(&room);
    let mut world_checks = BTreeMap::new();
    let start = Instant::now();
    for t in 0..700u64 {
        room.tick(start + Duration::from_millis(t * 16));
        while take_snapshot(&link).is_some() {}
        let now = room.world().tick_number();
        world_checks.insert(now.0, world_check(&room));
        while let Ok(frame) = frames.try_recv() {
            live.apply(&frame, now);
        }
    }
    let replay_file = || {
        let files: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(FILE_SUFFIX))
            .collect();
        assert_eq!(files.len(), 1);
        Replay::parse(std::fs::read(files[0].path()).expect("read")).expect("parses")
    };
    // While the room plays, the recording is as late as the spectators: fetching it shows no more
    // than watching does.
    recorder.flush();
    let now = room.world().tick_number().0;
    let (_, recorded) = replay_file().ticks().expect("frames");
    assert!(
        recorded.0 + 30 <= now,
        "recorded up to {recorded:?} at {now}"
    );
    assert!(
        recorded.0 + 33 > now,
        "recorded up to {recorded:?} at {now}"
    );
    // Once the room closes, the frames it still held are recorded too.
    room.close_feed();
    drop(room); // closes the recording
    recorder.finish();
    let replay = replay_file();
    assert_eq!(replay.ticks().map(|(_, last)| last.0 + 3 > now), Some(true));
    assert_eq!(replay.trailing_bytes(), 0);
    assert_eq!(replay.header().room_code, "K7MPQR");
    let names: Vec<String> = replay
        .players()
        .expect("decodes")
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert!(names.contains(&"ada".to_string()), "{names:?}");
    assert_eq!(names.len(), 8, "{names:?}");
    // Frame by frame: the view after each frame is the world at its tick, and the view the live
    // spectator had after the same frame (the live one saw the frames up to 30 ticks before the end).
    let mut cursor = ReplayCursor::new(&replay);
    let mut views = Vec::new();
    let mut compared = 0;
    let mut keyframes = 0;
    for (index, frame) in replay.frames().iter().enumerate() {
        let snapshot = cursor.step(&replay).expect("a frame").expect("plays");
        let tick = frame.tick.0;
        assert_eq!(cursor.view().check(), world_checks[&tick], "frame {index}");
        if let Some(check) = live.checks.get(&tick) {
            assert_eq!(cursor.view().check(), *check, "frame {index}");
            compared += 1;
        }
        keyframes += usize::from(snapshot.baseline.is_none());
        views.push((tick, cursor.view().clone()));
    }
    assert!(
        compared >= 200,
        "{compared} frames compared with the live view"
    );
    assert_eq!(keyframes, 3, "700 ticks: keyframes at 0, 5 and 10 s");
    // Seeking to any tick gives the view of playing up to it.
    let (first, last) = replay.ticks().expect("frames");
    for target in (first.0..=last.0 + 5).rev().step_by(7) {
        cursor.seek(&replay, Tick(target), |_| {}).expect("seeks");
        let expected = views
            .iter()
            .rev()
            .find(|(tick, _)| *tick <= target)
            .map(|(_, view)| view)
            .expect("a frame at or before");
        assert_eq!(cursor.view(), expected, "seek to {target}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
