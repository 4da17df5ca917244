use super::*;
use crate::world::World;
use skirmish_shared::codec::decode_server;
use skirmish_shared::map::{tile_centre, Map};
use skirmish_shared::protocol::{buttons, InputFrame, ServerMsg, Snapshot};
use skirmish_shared::time::TickRate;
use skirmish_shared::view::ClientView;
use std::sync::Arc;

fn arena() -> Arc<Map> {
    Arc::new(Map::parse(include_str!("../../../assets/maps/arena.map")).expect("valid"))
}

fn decode(bytes: &[u8]) -> Snapshot {
    match decode_server(bytes) {
        Ok(ServerMsg::Snapshot(s)) => s,
        other => panic!("not a snapshot: {other:?}"),
    }
}

/// A tiny xorshift for test inputs.
struct Dice(u64);
impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

struct Viewer {
    key: usize,
    view: ClientView,
    known: Option<Known>,
}

#[test]
fn deltas_reproduce_full_snapshots_exactly() {
    deltas_match_full_snapshots(400 * 16);
}

#[test]
fn deltas_reproduce_full_snapshots_when_everyone_sees_everything() {
    deltas_match_full_snapshots(5_000 * 16);
}

/// Held ids as a list: expanded from "everything" with the world's current entities.
/// The ids `known` stands for, ascending (a listed `Known` keeps them in [`order`]).
fn held_ids(world: &World, known: &Known) -> Vec<EntityId> {
    match known.listed() {
        Some(ids) => {
            assert!(
                ids.windows(2).all(|w| order(w[0]) < order(w[1])),
                "held ids are in order: {ids:?}"
            );
            let mut ids = ids.to_vec();
            ids.sort_unstable();
            ids
        }
        None => {
            let mut ids: Vec<EntityId> = world
                .players()
                .iter()
                .map(|(_, p)| p.id)
                .chain(world.projectiles().iter().map(|(_, s)| s.id))
                .collect();
            ids.sort_unstable();
            ids
        }
    }
}

fn deltas_match_full_snapshots(radius: i32) {
    let map = arena();
    let rate = TickRate::new(60).expect("valid");
    let mut world = World::new(map.clone(), rate, 99);
    let mut dice = Dice(0x1234_5678);
    let mut viewers: Vec<Viewer> = (0..10)
        .map(|i| {
            let key = world.add_player(format!("p{i}"));
            let id = world.player(key).expect("added").id;
            Viewer {
                key,
                view: ClientView::new(map.clone(), *world.params()).with_viewer(id, radius),
                known: None,
            }
        })
        .collect();
    let mut frame = SnapshotFrame::new(map.width_coords(), map.height_coords(), radius);
    let mut scratch = Scratch::default();
    let mut previous_snapshot = None;
    let (mut entered_total, mut updated_total, mut left_total, mut turns) = (0, 0, 0, 0);
    for t in 1..=1_200u32 {
        let mut inputs = Vec::new();
        for v in &viewers {
            if dice.roll(8) == 0 {
                let frame = InputFrame {
                    seq: t,
                    move_x: dice.roll(3) as i8 - 1,
                    move_y: dice.roll(3) as i8 - 1,
                    aim: dice.roll(65_536) as u16,
                    buttons: if dice.roll(2) == 0 { buttons::FIRE } else { 0 },
                    ..InputFrame::default()
                };
                inputs.push((v.key, frame));
            }
        }
        world.tick(&inputs);
        if t % 2 != 0 {
            continue;
        }
        frame.capture(&world, previous_snapshot);
        previous_snapshot = Some(frame.tick());
        for viewer in &mut viewers {
            let pos = world.player(viewer.key).expect("present").pos;
            // One in five snapshots is "not delivered": the viewer keeps its older baseline.
            let mut out = Vec::new();
            let known = frame.write_for(
                &world,
                View::at(pos, viewer.known.as_ref()),
                &mut scratch,
                &mut out,
            );
            if dice.roll(5) == 0 && viewer.known.is_some() {
                continue;
            }
            let delta = decode(&out);
            entered_total += delta.entered.len();
            updated_total += delta.updated.len();
            turns += delta
                .updated
                .iter()
                .flat_map(|u| &u.fields)
                .filter(|f| matches!(f, skirmish_shared::protocol::PlayerField::Turn { .. }))
                .count();
            left_total += delta.left.len();
            viewer
                .view
                .apply(&delta)
                .expect("delta applies to its baseline");
            let ids: Vec<_> = viewer
                .view
                .players()
                .keys()
                .chain(viewer.view.projectiles().keys())
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            assert_eq!(
                ids,
                held_ids(&world, &known),
                "Known matches what the client holds"
            );
            viewer.known = Some(known.clone());
            // The full snapshot for the same viewer and tick must give the same state.
            let mut full_bytes = Vec::new();
            let full_known =
                frame.write_for(&world, View::at(pos, None), &mut scratch, &mut full_bytes);
            let me = world.player(viewer.key).expect("present").id;
            let mut fresh = ClientView::new(map.clone(), *world.params()).with_viewer(me, radius);
            fresh.apply(&decode(&full_bytes)).expect("full applies");
            // Hysteresis: the delta view may keep edge entities a full snapshot leaves out, so
            // compare on what the full one holds, and require the delta view's extras to be near.
            for (id, player) in fresh.players() {
                assert_eq!(
                    viewer.view.players().get(id),
                    Some(player),
                    "tick {t} player {id:?}"
                );
            }
            for (id, shot) in fresh.projectiles() {
                assert_eq!(
                    viewer.view.projectiles().get(id),
                    Some(shot),
                    "tick {t} shot {id:?}"
                );
            }
            let full_ids = held_ids(&world, &full_known);
            for id in held_ids(&world, &known)
                .iter()
                .filter(|id| !full_ids.contains(id))
            {
                let pos = entity_pos(&world, *id).expect("known entities exist");
                let outer = i64::from(outer_view_radius(radius));
                assert!(
                    pos.distance_squared(world.player(viewer.key).expect("here").pos)
                        <= outer * outer
                );
            }
        }
    }
    assert!(
        entered_total > 100 && updated_total > 100 && left_total > 5 && turns > 50,
        "the scenario exercised every section: {entered_total} {updated_total} {left_total} {turns}"
    );
}

fn entity_pos(world: &World, id: EntityId) -> Option<Pos> {
    world
        .players()
        .iter()
        .map(|(_, p)| (p.id, p.pos))
        .chain(world.projectiles().iter().map(|(_, s)| (s.id, s.pos)))
        .find(|(eid, _)| *eid == id)
        .map(|(_, pos)| pos)
}

#[test]
fn entities_beyond_the_radius_are_not_sent_until_they_come_near() {
    let map = arena();
    let mut world = World::new(map.clone(), TickRate::new(60).expect("valid"), 1);
    let a = world.add_player("a".into());
    let b = world.add_player("b".into());
    world.place_player(a, tile_centre(3, 1));
    world.place_player(b, tile_centre(60, 1));
    let radius = 320 * 16; // 10 tiles
    let mut frame = SnapshotFrame::new(map.width_coords(), map.height_coords(), radius);
    let mut scratch = Scratch::default();
    let a_id = world.player(a).expect("a").id;
    let b_id = world.player(b).expect("b").id;
    let write =
        |frame: &mut SnapshotFrame, world: &World, known: Option<&Known>, scratch: &mut Scratch| {
            let mut out = Vec::new();
            let pos = world.player(a).expect("a").pos;
            let known = frame.write_for(world, View::at(pos, known), scratch, &mut out);
            (decode(&out), known)
        };
    world.tick(&[]);
    frame.capture(&world, None);
    let (full, mut known) = write(&mut frame, &world, None, &mut scratch);
    assert_eq!(
        full.entered.iter().map(|e| e.id()).collect::<Vec<_>>(),
        vec![a_id]
    );
    // b walks west toward a until it enters the view.
    let west = InputFrame {
        seq: 1,
        move_x: -1,
        ..InputFrame::default()
    };
    let mut entered_at = None;
    for t in 0..600 {
        let previous = frame.tick();
        world.tick(&[(b, west)]);
        frame.capture(&world, Some(previous));
        let (delta, next) = write(&mut frame, &world, Some(&known), &mut scratch);
        known = next;
        let distance = world
            .player(b)
            .expect("b")
            .pos
            .distance_squared(world.player(a).expect("a").pos);
        if delta.entered.iter().any(|e| e.id() == b_id) {
            assert!(distance <= i64::from(radius) * i64::from(radius));
            entered_at = Some(t);
            break;
        }
        assert!(
            distance > i64::from(radius) * i64::from(radius),
            "b is near but was not sent"
        );
    }
    assert!(entered_at.is_some(), "b never entered the view");
}

/// What the random play of [`views_stay_exact`] does besides moving and firing.
#[derive(Clone, Copy, Debug)]
struct Play {
    seed: u64,
    radius: i32,
    players: usize,
    ticks: u32,
    /// Players aim at the nearest other player (many deaths, and respawns anywhere on the map).
    hunt: bool,
    /// One in this many snapshot ticks, a random player is placed at a random spawn point (a
    /// teleport, as a respawn is).
    teleport_one_in: u64,
    /// One in this many snapshot ticks, a random player leaves and a new one joins.
    churn_one_in: u64,
    /// One in this many snapshots per viewer, the viewer resumes: it lost its view and gets a
    /// full snapshot.
    resume_one_in: u64,
}

/// Per-section counts, to prove a scenario exercised what it is about.
#[derive(Debug, Default)]
struct Seen {
    snapshots: usize,
    players_left: usize,
    projectiles_entered: usize,
    /// Projectiles that entered sent from their shooter (`Launch::Shooter` or `ShooterAim`).
    from_shooters: usize,
    /// Of those, sent at their shooter's aim (`Launch::ShooterAim`).
    at_shooter_aim: usize,
    deaths: usize,
    teleports: usize,
    churned: usize,
    resumes: usize,
}

/// A viewer's view after a delta must be exact: it applies, its check matches, it holds what the
/// server believes it holds, every player in it is where the world has it now (no ghost can
/// outlive the snapshot after its player moved away unseen), and it agrees with a full snapshot
/// for the same viewer on everything the full one holds (the delta view may keep edge entities
/// the full one leaves out, by hysteresis, but only within the outer radius).
fn views_stay_exact(play: Play) -> Seen {
    let map = arena();
    let rate = TickRate::new(60).expect("valid");
    let mut world = World::new(map.clone(), rate, play.seed);
    let mut dice = Dice(play.seed | 1);
    let mut seen = Seen::default();
    let join = |world: &mut World, i: usize| {
        let key = world.add_player(format!("p{i}"));
        let id = world.player(key).expect("added").id;
        Viewer {
            key,
            view: ClientView::new(map.clone(), *world.params()).with_viewer(id, play.radius),
            known: None,
        }
    };
    let mut viewers: Vec<Viewer> = (0..play.players).map(|i| join(&mut world, i)).collect();
    let mut joined = play.players;
    let mut frame = SnapshotFrame::new(map.width_coords(), map.height_coords(), play.radius);
    let mut scratch = Scratch::default();
    let mut previous_snapshot = None;
    let outer = i64::from(outer_view_radius(play.radius));
    for t in 1..=play.ticks {
        let mut inputs = Vec::new();
        for v in &viewers {
            let Some(me) = world.player(v.key) else {
                continue;
            };
            let aim = if play.hunt {
                world
                    .players()
                    .iter()
                    .filter(|(key, p)| *key != v.key && p.alive())
                    .min_by_key(|(_, p)| p.pos.distance_squared(me.pos))
                    .map(|(_, p)| {
                        let (dx, dy) =
                            (f64::from(p.pos.x - me.pos.x), f64::from(p.pos.y - me.pos.y));
                        let turns = dy.atan2(dx) / std::f64::consts::TAU;
                        (turns.rem_euclid(1.0) * 65_536.0) as u32 as u16
                    })
                    .unwrap_or(0)
            } else {
                dice.roll(65_536) as u16
            };
            if dice.roll(6) == 0 || play.hunt {
                inputs.push((
                    v.key,
                    InputFrame {
                        seq: t,
                        move_x: dice.roll(3) as i8 - 1,
                        move_y: dice.roll(3) as i8 - 1,
                        aim,
                        buttons: if play.hunt || dice.roll(2) == 0 {
                            buttons::FIRE
                        } else {
                            0
                        },
                        ..InputFrame::default()
                    },
                ));
            }
        }
        for event in world.tick(&inputs) {
            if matches!(event, crate::world::WorldEvent::Kill { .. }) {
                seen.deaths += 1;
            }
        }
        if t % 3 != 0 {
            continue;
        }
        if dice.roll(play.teleport_one_in) == 0 {
            let v = &viewers[dice.roll(viewers.len() as u64) as usize];
            let spawns = map.spawns();
            world.place_player(v.key, spawns[dice.roll(spawns.len() as u64) as usize]);
            seen.teleports += 1;
        }
        if dice.roll(play.churn_one_in) == 0 {
            let i = dice.roll(viewers.len() as u64) as usize;
            world.remove_player(viewers[i].key);
            viewers[i] = join(&mut world, joined);
            joined += 1;
            seen.churned += 1;
        }
        frame.capture(&world, previous_snapshot);
        previous_snapshot = Some(frame.tick());
        for viewer in &mut viewers {
            if viewer.known.is_some() && dice.roll(play.resume_one_in) == 0 {
                viewer.known = None;
                viewer.view.reset();
                seen.resumes += 1;
            }
            let me = world.player(viewer.key).expect("present");
            let (centre, my_id) = (me.pos, me.id);
            let mut out = Vec::new();
            let known = frame.write_for(
                &world,
                View::at(centre, viewer.known.as_ref()),
                &mut scratch,
                &mut out,
            );
            // One in five snapshots is "not delivered": the viewer keeps its older baseline.
            if dice.roll(5) == 0 && viewer.known.is_some() {
                continue;
            }
            let delta = decode(&out);
            seen.snapshots += 1;
            seen.players_left += delta.left.iter().filter(|id| id.0 % 2 == 0).count();
            for entered in &delta.entered {
                let skirmish_shared::protocol::EntityState::Projectile(p) = entered else {
                    continue;
                };
                seen.projectiles_entered += 1;
                match p.launch {
                    Launch::At(_) => {}
                    Launch::Shooter(_) => seen.from_shooters += 1,
                    Launch::ShooterAim(..) => {
                        seen.from_shooters += 1;
                        seen.at_shooter_aim += 1;
                    }
                }
            }
            let tick = delta.tick;
            viewer
                .view
                .apply(&delta)
                .unwrap_or_else(|e| panic!("tick {tick:?}: the delta applies: {e}"));
            assert!(
                viewer.view.matches(&delta),
                "tick {tick:?}: the view check matches"
            );
            let held: Vec<EntityId> = viewer
                .view
                .players()
                .keys()
                .chain(viewer.view.projectiles().keys())
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            assert_eq!(
                held,
                held_ids(&world, &known),
                "tick {tick:?}: Known is what is held"
            );
            for (id, player) in viewer.view.players() {
                let (_, truth) = world
                    .players()
                    .iter()
                    .find(|(_, p)| p.id == *id)
                    .unwrap_or_else(|| panic!("tick {tick:?}: {id:?} is held but gone: a ghost"));
                let drawn = player.motion.position_at(&map, world.params(), tick);
                assert_eq!(
                    drawn, truth.pos,
                    "tick {tick:?}: {id:?} is held where it is not"
                );
                assert_eq!(
                    (player.hp, player.status),
                    (truth.hp, truth.status),
                    "tick {tick:?}: {id:?}"
                );
                assert!(
                    truth.pos.distance_squared(centre) <= outer * outer,
                    "tick {tick:?}: {id:?} is held beyond the outer radius"
                );
            }
            // Every projectile held flies as the world's does (those sent from their shooter
            // included: the point the client worked out is the launch point).
            for (id, shot) in viewer.view.projectiles() {
                let (_, truth) = world
                    .projectiles()
                    .iter()
                    .find(|(_, s)| s.id == *id)
                    .unwrap_or_else(|| panic!("tick {tick:?}: {id:?} is held but gone"));
                assert_eq!(shot.motion, truth.motion, "tick {tick:?}: {id:?}");
            }
            viewer.known = Some(known);
            let mut full_bytes = Vec::new();
            frame.write_for(
                &world,
                View::at(centre, None),
                &mut scratch,
                &mut full_bytes,
            );
            let full = decode(&full_bytes);
            let mut fresh =
                ClientView::new(map.clone(), *world.params()).with_viewer(my_id, play.radius);
            fresh.apply(&full).expect("full applies");
            assert!(
                fresh.matches(&full),
                "tick {tick:?}: a full snapshot's check matches"
            );
            for (id, player) in fresh.players() {
                assert_eq!(
                    viewer.view.players().get(id),
                    Some(player),
                    "tick {tick:?} {id:?}"
                );
            }
            for (id, shot) in fresh.projectiles() {
                assert_eq!(
                    viewer.view.projectiles().get(id),
                    Some(shot),
                    "tick {tick:?} {id:?}"
                );
            }
        }
    }
    seen
}

#[test]
fn views_stay_exact_through_deaths_and_far_respawns() {
    for seed in [3, 17, 2024] {
        let seen = views_stay_exact(Play {
            seed,
            radius: 10 * skirmish_shared::map::TILE_SIZE,
            players: 8,
            ticks: 3_000,
            hunt: true,
            teleport_one_in: 1_000,
            churn_one_in: 1_000,
            resume_one_in: 1_000,
        });
        assert!(
            seen.deaths >= 5
                && seen.players_left >= 5
                && seen.projectiles_entered >= 50
                && seen.from_shooters >= 20
                && seen.from_shooters < seen.projectiles_entered
                && seen.at_shooter_aim >= 10
                && seen.at_shooter_aim < seen.from_shooters,
            "seed {seed}: the play had deaths, leaves from view and shots, from shooters in \
             view (at their aim and not) and from points: {seen:?}"
        );
    }
}

#[test]
fn views_stay_exact_through_teleports_leaves_and_resumes() {
    for (seed, radius) in [(5, 8), (11, 14), (99, 400)] {
        let seen = views_stay_exact(Play {
            seed,
            radius: radius * skirmish_shared::map::TILE_SIZE,
            players: 12,
            ticks: 2_400,
            hunt: false,
            teleport_one_in: 4,
            churn_one_in: 10,
            resume_one_in: 50,
        });
        assert!(
            seen.teleports >= 50
                && seen.churned >= 20
                && seen.resumes >= 10
                && seen.snapshots > 1_000,
            "seed {seed}: {seen:?}"
        );
    }
}

/// The ghost of issue 11: B is in A's view, then moves out of it in a way A's client cannot
/// extrapolate (a respawn across the map), then leaves the room. A must stop holding B at once.
#[test]
fn a_player_that_teleports_out_of_view_leaves_it() {
    let map = arena();
    let mut world = World::new(map.clone(), TickRate::new(60).expect("valid"), 1);
    let a = world.add_player("a".into());
    let b = world.add_player("b".into());
    world.place_player(a, tile_centre(5, 5));
    world.place_player(b, tile_centre(7, 5));
    let radius = 10 * skirmish_shared::map::TILE_SIZE;
    let a_id = world.player(a).expect("a").id;
    let b_id = world.player(b).expect("b").id;
    let mut view = ClientView::new(map.clone(), *world.params()).with_viewer(a_id, radius);
    let mut frame = SnapshotFrame::new(map.width_coords(), map.height_coords(), radius);
    let mut scratch = Scratch::default();
    let mut known: Option<Known> = None;
    let mut previous = None;
    let mut step = |world: &mut World, view: &mut ClientView| {
        world.tick(&[]);
        frame.capture(world, previous);
        previous = Some(frame.tick());
        let mut out = Vec::new();
        let pos = world.player(a).expect("a").pos;
        known = Some(frame.write_for(world, View::at(pos, known.as_ref()), &mut scratch, &mut out));
        let snapshot = decode(&out);
        view.apply(&snapshot).expect("applies");
        assert!(
            view.matches(&snapshot),
            "check matches at {:?}",
            snapshot.tick
        );
        snapshot
    };
    step(&mut world, &mut view);
    assert!(view.players().contains_key(&b_id), "b starts in view");
    world.place_player(b, tile_centre(60, 40));
    let snapshot = step(&mut world, &mut view);
    assert_eq!(snapshot.left, vec![b_id], "the server says b left the view");
    assert!(!view.players().contains_key(&b_id), "no ghost of b");
    world.remove_player(b);
    let snapshot = step(&mut world, &mut view);
    assert!(snapshot.left.is_empty(), "b is not announced twice");
    assert_eq!(
        view.players().keys().copied().collect::<Vec<_>>(),
        vec![a_id]
    );
}
