//! Micro-benchmarks of the hot paths, at 100 and 1,000 players:
//! - a world tick (movement, firing, projectiles, hits) under arena play, with lag compensation's
//!   history as by default, without it, and with every shot rewound;
//! - capturing a snapshot frame (shared per tick) and writing one player's snapshot (interest query,
//!   delta against the previous snapshot, encode), and half the room's snapshots (what one snapshot
//!   tick writes at 30 Hz snapshots and 60 Hz ticks);
//! - the client path: decoding a snapshot and applying it to a view;
//! - fill bots: a whole room tick (bots' brains, world, one human's snapshots) with one human and
//!   0, 4 or 32 bots, and the brains alone for 4 and 32 bots.
//!
//! Bytes per snapshot are printed beside the timings.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use skirmish_bench::scenario::{arena_inputs, populated_world, Dice};
use skirmish_server::bot::BotBrain;
use skirmish_server::config::ServerConfig;
use skirmish_server::link::PlayerLink;
use skirmish_server::metrics::Metrics;
use skirmish_server::room::{Room, RoomConfig, RoomShared};
use skirmish_server::snapshot::{Known, Scratch, SnapshotFrame, View};
use skirmish_server::world::PlayerKey;
use skirmish_shared::codec::decode_server;
use skirmish_shared::protocol::RoomId;
use skirmish_shared::protocol::ServerMsg;
use skirmish_shared::time::TickRate;
use skirmish_shared::view::ClientView;
use std::sync::Arc;
use tokio::time::Instant;

const SIZES: [usize; 2] = [100, 1_000];
/// The default view radius, 640 units.
const VIEW_RADIUS: i32 = 640 * 16;

/// How a world tick benchmark treats lag compensation.
#[derive(Clone, Copy)]
enum Compensation {
    /// No history kept (`--max-rewind-ms 0`).
    Off,
    /// The default history (200 ms), every input with no view lag: recording costs, rewinding not.
    Recorded,
    /// The default history, every input 15 ticks late (150 ms + 100 ms): every shot is rewound.
    Rewound,
}

fn world_tick(c: &mut Criterion) {
    for (name, compensation) in [
        ("world_tick", Compensation::Recorded),
        ("world_tick_no_history", Compensation::Off),
        ("world_tick_rewound", Compensation::Rewound),
    ] {
        let mut group = c.benchmark_group(name);
        for players in SIZES {
            let (world, keys) = populated_world(players, 7);
            let mut world = match compensation {
                Compensation::Off => world.with_max_rewind(0),
                Compensation::Recorded | Compensation::Rewound => world,
            };
            let view_lag = match compensation {
                Compensation::Rewound => 15,
                Compensation::Off | Compensation::Recorded => 0,
            };
            let mut dice = Dice::new(3);
            let inputs_at = move |t: u32, dice: &mut Dice| {
                let mut inputs = arena_inputs(&keys, t, dice);
                for (_, input) in &mut inputs {
                    input.view_lag = view_lag;
                }
                inputs
            };
            // Warm up so projectiles are in flight.
            for t in 0..120 {
                let inputs = inputs_at(t, &mut dice);
                world.tick(&inputs);
            }
            let mut t = 120;
            group.bench_with_input(BenchmarkId::from_parameter(players), &players, |b, _| {
                b.iter(|| {
                    t += 1;
                    let inputs = inputs_at(t, &mut dice);
                    world.tick(&inputs).len()
                })
            });
            println!(
                "{name}/{players}: {} projectiles in flight",
                world.projectiles().len()
            );
        }
        group.finish();
    }
}

/// `players` in the arena after two seconds of play (120 ticks), the dice that played them, and an
/// empty snapshot frame for the map at the default view radius.
fn played_arena(
    players: usize,
) -> (
    skirmish_server::world::World,
    Vec<PlayerKey>,
    Dice,
    SnapshotFrame,
) {
    let (mut world, keys) = populated_world(players, 11);
    let mut dice = Dice::new(5);
    for t in 0..120 {
        let inputs = arena_inputs(&keys, t, &mut dice);
        world.tick(&inputs);
    }
    let map = world.map().clone();
    let frame = SnapshotFrame::new(map.width_coords(), map.height_coords(), VIEW_RADIUS);
    (world, keys, dice, frame)
}

fn snapshots(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    for players in SIZES {
        let (mut world, keys, mut dice, mut frame) = played_arena(players);
        let map = world.map().clone();
        let mut scratch = Scratch::default();
        let viewer = world.player(keys[0]).map(|p| p.pos).unwrap_or_default();
        // Baseline: a full snapshot two ticks ago (30 Hz snapshots at 60 Hz).
        frame.capture(&world, None);
        let mut full = Vec::new();
        let known = frame.write_for(&world, View::at(viewer, None), &mut scratch, &mut full);
        let previous = frame.tick();
        for t in 120..122 {
            let inputs = arena_inputs(&keys, t, &mut dice);
            world.tick(&inputs);
        }
        group.bench_with_input(
            BenchmarkId::new("capture_frame", players),
            &players,
            |b, _| b.iter(|| frame.capture(&world, Some(previous))),
        );
        // The frame the write benchmark uses (independent of whether the capture benchmark ran).
        frame.capture(&world, Some(previous));
        let mut delta = Vec::new();
        group.bench_with_input(
            BenchmarkId::new("write_one_player", players),
            &players,
            |b, _| {
                b.iter(|| {
                    delta.clear();
                    frame
                        .write_for(
                            &world,
                            View::at(viewer, Some(&known)),
                            &mut scratch,
                            &mut delta,
                        )
                        .listed()
                        .map_or(0, <[_]>::len)
                })
            },
        );
        println!(
            "snapshot/{players}: full {} bytes ({} entities in view), delta {} bytes",
            full.len(),
            known.listed().map_or(0, <[_]>::len),
            delta.len()
        );
        let apply = |view: &mut ClientView, bytes: &[u8]| match decode_server(bytes) {
            Ok(ServerMsg::Snapshot(s)) => view.apply(&s).map(|_| view.players().len()),
            other => panic!("not a snapshot: {other:?}"),
        };
        group.bench_with_input(
            BenchmarkId::new("client_decode_apply_full", players),
            &players,
            |b, _| {
                b.iter_batched(
                    || ClientView::new(map.clone(), *world.params()),
                    |mut view| apply(&mut view, &full),
                    BatchSize::SmallInput,
                )
            },
        );
        group.bench_with_input(
            BenchmarkId::new("client_decode_apply_delta", players),
            &players,
            |b, _| {
                let base = view_at(&full, &map, *world.params());
                b.iter_batched(
                    || base.clone(),
                    |mut view| apply(&mut view, &delta),
                    BatchSize::SmallInput,
                )
            },
        );
        let _: Known = known;
    }
    group.finish();
}

/// What a snapshot tick costs the room in snapshot writing: a snapshot for every other player (30 Hz
/// snapshots at 60 Hz write half the room each tick), each a delta against what that viewer
/// holds, the id list of what it held before handed back for reuse as the room does.
fn snapshot_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    for players in SIZES {
        let (mut world, keys, mut dice, mut frame) = played_arena(players);
        let mut scratch = Scratch::default();
        let viewers: Vec<_> = keys.iter().copied().step_by(2).collect();
        let position = |world: &skirmish_server::world::World, key| {
            world.player(key).map(|p| p.pos).unwrap_or_default()
        };
        frame.capture(&world, None);
        let mut out = Vec::new();
        let known: Vec<Known> = viewers
            .iter()
            .map(|&key| {
                out.clear();
                let view = View::at(position(&world, key), None);
                frame.write_for(&world, view, &mut scratch, &mut out)
            })
            .collect();
        let previous = frame.tick();
        for t in 120..122 {
            let inputs = arena_inputs(&keys, t, &mut dice);
            world.tick(&inputs);
        }
        frame.capture(&world, Some(previous));
        let mut bytes = 0;
        group.bench_with_input(
            BenchmarkId::new("write_half_the_room", players),
            &players,
            |b, _| {
                b.iter(|| {
                    bytes = 0;
                    for (&key, known) in viewers.iter().zip(&known) {
                        out.clear();
                        let view = View::at(position(&world, key), Some(known));
                        let next = frame.write_for(&world, view, &mut scratch, &mut out);
                        bytes += out.len();
                        scratch.recycle(next);
                    }
                    bytes
                })
            },
        );
        println!(
            "snapshot/write_half_the_room/{players}: {} viewers, {:.1} bytes a snapshot",
            viewers.len(),
            bytes as f64 / viewers.len() as f64
        );
    }
    group.finish();
}

fn view_at(
    full: &[u8],
    map: &std::sync::Arc<skirmish_shared::map::Map>,
    params: skirmish_shared::physics::MoveParams,
) -> ClientView {
    let mut view = ClientView::new(map.clone(), params);
    if let Ok(ServerMsg::Snapshot(s)) = decode_server(full) {
        let _ = view.apply(&s);
    }
    view
}

/// Bots the fill-bot benchmarks play with (0: the room's cost without any).
const BOT_COUNTS: [usize; 3] = [0, 4, 32];

/// A room with one human (whose snapshots are taken, never acknowledged late: the slow-reader
/// timeout is out of reach) and `bots` fill bots, warmed up for two seconds of play.
fn room_with_bots(bots: usize) -> (Room, Arc<PlayerLink>) {
    let mut config = RoomConfig::from(&ServerConfig::default_for_tests());
    config.fill_bots = bots + 1;
    config.capacity = 64;
    config.slow_reader_timeout = std::time::Duration::from_secs(1 << 30);
    let shared = Arc::new(RoomShared::new(RoomId(1), "BENCH".into(), 1));
    let mut room = Room::new(shared, config, Arc::new(Metrics::default()), 9);
    let link = Arc::new(PlayerLink::new());
    room.join("human".into(), link.clone());
    for _ in 0..120 {
        room.tick(Instant::now());
        let _ = link.take_outbound();
    }
    (room, link)
}

fn fill_bots(c: &mut Criterion) {
    let mut group = c.benchmark_group("room_tick_bots");
    for bots in BOT_COUNTS {
        let (mut room, link) = room_with_bots(bots);
        assert_eq!(room.bot_ids().len(), bots);
        group.bench_with_input(BenchmarkId::from_parameter(bots), &bots, |b, _| {
            b.iter(|| {
                room.tick(Instant::now());
                link.take_outbound().map_or(0, |bytes| bytes.len())
            })
        });
        println!(
            "room_tick_bots/{bots}: {} projectiles in flight, {} shots fired so far",
            room.world().projectiles().len(),
            room.world().shot_counts().fired
        );
    }
    group.finish();
    let mut group = c.benchmark_group("bot_brains");
    for bots in BOT_COUNTS.into_iter().filter(|&n| n > 0) {
        let (mut world, keys) = populated_world(bots, 13);
        let rate = TickRate::new(60).unwrap_or_else(|| unreachable!());
        let mut brains: Vec<BotBrain> = (0..bots as u64).map(|i| BotBrain::new(rate, i)).collect();
        // Two seconds of play first, so they have targets, paths and projectiles to dodge.
        for _ in 0..120 {
            let inputs: Vec<_> = keys
                .iter()
                .zip(&mut brains)
                .map(|(&key, brain)| (key, brain.think(&world, key, VIEW_RADIUS)))
                .collect();
            world.tick(&inputs);
        }
        group.bench_with_input(BenchmarkId::new("think", bots), &bots, |b, _| {
            b.iter(|| {
                keys.iter()
                    .zip(&mut brains)
                    .map(|(&key, brain)| u32::from(brain.think(&world, key, VIEW_RADIUS).aim))
                    .sum::<u32>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, world_tick, snapshots, snapshot_group, fill_bots);
criterion_main!(benches);
