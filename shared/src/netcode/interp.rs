//! Interpolation of remote entities: drawn a little in the past, between known states.
//!
//! How far in the past is [`super::playout`]'s business; this module answers where a player was at a
//! given (fractional) tick.
//!
//! Remote players are described by motion keys; the buffer keeps the keys each player has had, so the
//! position at any past tick uses the key in force then, and positions between two ticks are blended
//! linearly. Jumps larger than [`TELEPORT_DISTANCE`] (a respawn) are not blended.

use crate::fixed::{coord_to_units, Pos};
use crate::map::{Map, TILE_SIZE};
use crate::physics::{MoveParams, PlayerMotion};
use crate::protocol::EntityId;
use crate::time::Tick;
use std::collections::{HashMap, VecDeque};

/// A delay at which remote entities are drawn before arrival jitter has been measured, in ms
/// ([`super::playout`] starts at it, then follows the jitter).
pub const DEFAULT_DELAY_MS: f64 = 100.0;

/// Moves between two ticks longer than this (in coords) are shown as a jump, not a glide.
pub const TELEPORT_DISTANCE: i32 = 2 * TILE_SIZE;

/// Most keys remembered per player.
const MAX_KEYS: usize = 32;

/// Motion keys per remote player, oldest first.
#[derive(Debug, Default, Clone)]
pub struct InterpolationBuffer {
    keys: HashMap<EntityId, VecDeque<PlayerMotion>>,
}

impl InterpolationBuffer {
    /// An empty buffer.
    pub fn new() -> InterpolationBuffer {
        InterpolationBuffer::default()
    }

    /// Records a player's current key (no-op if unchanged).
    pub fn record(&mut self, id: EntityId, key: PlayerMotion) {
        let keys = self.keys.entry(id).or_default();
        if keys.back() == Some(&key) {
            return;
        }
        // A key older than the newest one would reorder history: start over from it.
        if keys.back().is_some_and(|last| last.tick > key.tick) {
            keys.clear();
        }
        if keys.len() >= MAX_KEYS {
            keys.pop_front();
        }
        keys.push_back(key);
    }

    /// Forgets players not in `present`.
    pub fn retain(&mut self, present: impl Fn(EntityId) -> bool) {
        self.keys.retain(|id, _| present(*id));
    }

    /// Forgets keys that can no longer matter for drawing at `tick` or later (keeps the one in force).
    pub fn trim(&mut self, tick: Tick) {
        for keys in self.keys.values_mut() {
            while keys.len() > 1 && keys[1].tick <= tick {
                keys.pop_front();
            }
        }
    }

    /// The exact position of a player at a whole tick, from the key in force then.
    fn at_tick(&self, map: &Map, params: &MoveParams, id: EntityId, tick: Tick) -> Option<Pos> {
        let keys = self.keys.get(&id)?;
        let key = keys
            .iter()
            .rev()
            .find(|k| k.tick <= tick)
            .or_else(|| keys.front())?;
        Some(key.position_at(map, params, tick))
    }

    /// A player's position in world units at a fractional tick, blended between whole ticks.
    pub fn position(
        &self,
        map: &Map,
        params: &MoveParams,
        id: EntityId,
        tick: f64,
    ) -> Option<(f64, f64)> {
        let base = tick.max(0.0).floor();
        let t0 = Tick(base as u32);
        let a = self.at_tick(map, params, id, t0)?;
        let b = self.at_tick(map, params, id, t0.next())?;
        let frac = tick - base;
        let jump = (a.x - b.x).abs().max((a.y - b.y).abs()) > TELEPORT_DISTANCE;
        let (from, to, frac) = if jump { (b, b, 0.0) } else { (a, b, frac) };
        let lerp = |p: i32, q: i32| {
            f64::from(coord_to_units(p))
                + (f64::from(coord_to_units(q)) - f64::from(coord_to_units(p))) * frac
        };
        Some((lerp(from.x, to.x), lerp(from.y, to.y)))
    }

    /// Number of players tracked.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no player is tracked.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::tile_centre;
    use crate::netcode::test_support::{arena, params};
    use crate::physics::Dir;

    fn key(tick: u32, pos: Pos, dir: Dir) -> PlayerMotion {
        PlayerMotion {
            tick: Tick(tick),
            pos,
            dir,
        }
    }

    #[test]
    fn blends_between_ticks_along_the_key_in_force() {
        let (map, params) = (arena(), params());
        let mut buffer = InterpolationBuffer::new();
        let id = EntityId(1);
        let start = tile_centre(5, 5);
        buffer.record(id, key(100, start, Dir::East));
        let step = f64::from(coord_to_units(params.player_step));
        let x0 = f64::from(coord_to_units(start.x));
        let (x, y) = buffer.position(&map, &params, id, 102.5).expect("known");
        assert!((x - (x0 + 2.5 * step)).abs() < 1e-9, "{x}");
        assert_eq!(y, f64::from(coord_to_units(start.y)));
        // The player turned south at tick 104: before it, the old key; after, the new one.
        let turn = key(
            104,
            Pos::new(start.x + 4 * params.player_step, start.y),
            Dir::South,
        );
        buffer.record(id, turn);
        let (x, _) = buffer.position(&map, &params, id, 103.0).expect("known");
        assert!((x - (x0 + 3.0 * step)).abs() < 1e-9);
        let (x, y) = buffer.position(&map, &params, id, 106.0).expect("known");
        assert!((x - (x0 + 4.0 * step)).abs() < 1e-9);
        assert!((y - (f64::from(coord_to_units(start.y)) + 2.0 * step)).abs() < 1e-9);
    }

    #[test]
    fn teleports_are_not_blended_and_history_is_trimmed() {
        let (map, params) = (arena(), params());
        let mut buffer = InterpolationBuffer::new();
        let id = EntityId(2);
        buffer.record(id, key(10, tile_centre(3, 3), Dir::Still));
        let far = tile_centre(40, 30);
        buffer.record(id, key(20, far, Dir::Still));
        let (x, _) = buffer.position(&map, &params, id, 19.5).expect("known");
        assert_eq!(
            x,
            f64::from(coord_to_units(far.x)),
            "shown at the destination, not mid-way"
        );
        buffer.trim(Tick(25));
        let (x, _) = buffer
            .position(&map, &params, id, 12.0)
            .expect("the key in force is kept");
        assert_eq!(x, f64::from(coord_to_units(far.x)));
        buffer.retain(|other| other != id);
        assert!(buffer.is_empty());
    }
}
