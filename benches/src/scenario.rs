//! Worlds populated for benchmarks: players spread over the arena's floor, wandering and firing.

use skirmish_server::world::{PlayerKey, World};
use skirmish_shared::map::{tile_centre, Map};
use skirmish_shared::physics::player_overlaps_wall;
use skirmish_shared::protocol::{buttons, InputFrame};
use skirmish_shared::time::TickRate;
use std::sync::Arc;

/// The default arena, parsed.
pub fn arena() -> Arc<Map> {
    let text = include_str!("../../assets/maps/arena.map");
    Arc::new(Map::parse(text).unwrap_or_else(|e| panic!("the shipped arena is invalid: {e}")))
}

/// A small deterministic generator for scenario choices.
#[derive(Debug, Clone)]
pub struct Dice(u64);

impl Dice {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Dice {
        Dice(seed.max(1))
    }

    /// A number in `0..n`.
    pub fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A world at 60 Hz with `players` players placed at random floor tiles.
pub fn populated_world(players: usize, seed: u64) -> (World, Vec<PlayerKey>) {
    let map = arena();
    let mut world = World::new(
        map.clone(),
        TickRate::new(60).unwrap_or_else(|| unreachable!()),
        seed,
    );
    let mut dice = Dice::new(seed);
    let mut keys = Vec::with_capacity(players);
    for i in 0..players {
        let key = world.add_player(format!("bot{i}"));
        loop {
            let pos = tile_centre(
                dice.roll(u64::from(map.width())) as i32,
                dice.roll(u64::from(map.height())) as i32,
            );
            if !player_overlaps_wall(&map, pos) {
                world.place_player(key, pos);
                break;
            }
        }
        keys.push(key);
    }
    (world, keys)
}

/// Inputs for one tick of `arena` play: each player changes direction about once a second, sweeps its
/// aim, and holds fire a quarter of the time.
pub fn arena_inputs(
    keys: &[PlayerKey],
    tick: u32,
    dice: &mut Dice,
) -> Vec<(PlayerKey, InputFrame)> {
    keys.iter()
        .map(|&key| {
            let phase = (tick / 60 + key as u32 * 7) % 9;
            let input = InputFrame {
                seq: tick,
                move_x: (phase % 3) as i8 - 1,
                move_y: (phase / 3) as i8 - 1,
                aim: (tick.wrapping_mul(300) + key as u32 * 9000) as u16,
                buttons: if dice.roll(4) == 0 { buttons::FIRE } else { 0 },
                ..InputFrame::default()
            };
            (key, input)
        })
        .collect()
}
