//! A room's simulation tick and one player's snapshot, at 100 players.

use criterion::{criterion_group, criterion_main, Criterion};
use skirmish_server::snapshot::{Known, Scratch, SnapshotFrame};
use skirmish_server::world::World;
use skirmish_shared::codec::EncodedList;
use skirmish_shared::map::Map;
use skirmish_shared::protocol::InputFrame;
use skirmish_shared::time::TickRate;
use std::sync::Arc;

fn world_with(players: usize) -> (World, Vec<usize>) {
    let map = Arc::new(Map::parse(include_str!("../../assets/maps/arena.map")).expect("arena"));
    let mut world = World::new(map, TickRate::new(60).expect("60 Hz"), 1);
    let keys = (0..players)
        .map(|i| world.add_player(format!("p{i}")))
        .collect();
    (world, keys)
}

fn inputs(keys: &[usize], t: u32) -> Vec<(usize, InputFrame)> {
    keys.iter()
        .enumerate()
        .map(|(i, &k)| {
            let phase = (t / 30 + i as u32) % 9;
            let frame = InputFrame {
                seq: t,
                move_x: (phase % 3) as i8 - 1,
                move_y: (phase / 3) as i8 - 1,
                aim: (t * 500 + i as u32 * 7000) as u16,
                buttons: u8::from(i % 3 == 0),
            };
            (k, frame)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (mut world, keys) = world_with(100);
    let mut t = 0;
    c.bench_function("world_tick_100_players", |b| {
        b.iter(|| {
            t += 1;
            let inputs = inputs(&keys, t);
            world.tick(&inputs).len()
        })
    });
    let map = world.map().clone();
    let mut frame = SnapshotFrame::new(map.width_coords(), map.height_coords(), 640 * 16);
    let previous = world.tick_number();
    world.tick(&inputs(&keys, t + 1));
    frame.capture(&world, Some(previous));
    let viewer = world.player(keys[0]).expect("present").pos;
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    let baseline = frame.write_for(
        &world,
        viewer,
        None,
        0,
        EncodedList::default(),
        &mut scratch,
        &mut out,
    );
    let baseline = Known {
        tick: previous,
        ..baseline
    };
    c.bench_function("snapshot_one_viewer_100_players", |b| {
        b.iter(|| {
            out.clear();
            frame
                .write_for(
                    &world,
                    viewer,
                    Some(&baseline),
                    0,
                    EncodedList::default(),
                    &mut scratch,
                    &mut out,
                )
                .ids
                .len()
        })
    });
    println!("delta snapshot for one viewer: {} bytes", out.len());
}

criterion_group!(benches, bench);
criterion_main!(benches);
