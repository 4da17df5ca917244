//! Snapshot building: interest management, delta encoding, and the bytes each player is sent.
//!
//! Once per snapshot tick the room builds a [`SnapshotFrame`]: every entity with its position in a
//! spatial grid, its full state encoded once, and (for players that changed since the previous
//! snapshot tick) its update encoded once. Per viewer, [`SnapshotFrame::write_for`] then only chooses:
//! it queries the grid around the viewer, merges the result with what the viewer already knows
//! ([`Known`]), and splices the shared encodings into one message.
//!
//! Interest has hysteresis: an entity enters a view within the view radius and leaves it beyond
//! [`VIEW_MARGIN_PERCENT`] more, so entities on the edge do not flicker in and out.

use crate::grid::Grid;
use crate::world::{Player, PlayerKey, World};
use skirmish_shared::codec::{encode_append, write_snapshot, EncodedList, SnapshotParts};
use skirmish_shared::fixed::{Coord, Pos};
use skirmish_shared::protocol::{
    EntityId, EntityState, PlayerField, PlayerState, PlayerUpdate, ProjectileState, WireMotion,
};
use skirmish_shared::time::Tick;
use std::ops::Range;

/// How far beyond the view radius a known entity stays in view, in percent of the radius.
pub const VIEW_MARGIN_PERCENT: Coord = 12;

/// Cell size of the interest grid, in coords (8 tiles).
const GRID_CELL: Coord = 8 * skirmish_shared::map::TILE_SIZE;

/// What a client holds after applying a snapshot: its tick and the ids in view, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// The snapshot's tick.
    pub tick: Tick,
    /// Entities in view, ascending.
    pub ids: Vec<EntityId>,
}

#[derive(Debug, Clone, Copy)]
enum EntityRef {
    Player(PlayerKey),
    Projectile,
}

#[derive(Debug, Clone)]
struct FrameEntity {
    id: EntityId,
    pos: Pos,
    what: EntityRef,
    /// Encoded `EntityState`, in `buf`.
    full: Range<usize>,
    /// Encoded `PlayerUpdate` since the common baseline, in `buf` (empty if nothing changed).
    update: Range<usize>,
}

/// Per-viewer scratch buffers, reused across viewers and ticks.
#[derive(Debug, Default)]
pub struct Scratch {
    candidates: Vec<u32>,
    entered: Vec<u8>,
    updated: Vec<u8>,
    left: Vec<EntityId>,
}

/// Everything about one snapshot tick that all viewers share.
#[derive(Debug)]
pub struct SnapshotFrame {
    tick: Tick,
    common_baseline: Option<Tick>,
    entities: Vec<FrameEntity>,
    grid: Grid,
    buf: Vec<u8>,
    view_radius: Coord,
}

fn wire_motion(player: &Player, tick: Tick) -> WireMotion {
    WireMotion {
        age: tick.since(player.motion.tick),
        pos: player.motion.pos,
        dir: player.motion.dir,
    }
}

/// Encodes the fields of `player` that changed after `since`; nothing if none did.
fn encode_update(player: &Player, since: Tick, tick: Tick, out: &mut Vec<u8>) -> bool {
    let changed = &player.changed;
    if changed.latest() <= since {
        return false;
    }
    let mut fields = Vec::with_capacity(4);
    if changed.motion > since {
        fields.push(PlayerField::Motion(wire_motion(player, tick)));
    }
    if changed.aim > since {
        fields.push(PlayerField::Aim(player.aim));
    }
    if changed.hp > since {
        fields.push(PlayerField::Hp(player.hp));
    }
    if changed.status > since {
        fields.push(PlayerField::Status(player.status));
    }
    encode_append(
        &PlayerUpdate {
            id: player.id,
            fields,
        },
        out,
    );
    true
}

impl SnapshotFrame {
    /// An empty frame for a map of `width` x `height` coords.
    pub fn new(width: Coord, height: Coord, view_radius: Coord) -> SnapshotFrame {
        SnapshotFrame {
            tick: Tick(0),
            common_baseline: None,
            entities: Vec::new(),
            grid: Grid::new(width, height, GRID_CELL),
            buf: Vec::new(),
            view_radius,
        }
    }

    /// The tick this frame shows.
    pub fn tick(&self) -> Tick {
        self.tick
    }

    /// Captures the world at its current tick. `common_baseline` is the room's previous snapshot
    /// tick: updates against it are encoded once here.
    pub fn capture(&mut self, world: &World, common_baseline: Option<Tick>) {
        let tick = world.tick_number();
        self.tick = tick;
        self.common_baseline = common_baseline;
        self.entities.clear();
        self.buf.clear();
        for (key, player) in world.players() {
            let start = self.buf.len();
            let state = EntityState::Player(PlayerState {
                id: player.id,
                motion: wire_motion(player, tick),
                aim: player.aim,
                hp: player.hp,
                status: player.status,
            });
            encode_append(&state, &mut self.buf);
            let full = start..self.buf.len();
            let update_start = self.buf.len();
            if let Some(since) = common_baseline {
                encode_update(player, since, tick, &mut self.buf);
            }
            self.entities.push(FrameEntity {
                id: player.id,
                pos: player.pos,
                what: EntityRef::Player(key),
                full,
                update: update_start..self.buf.len(),
            });
        }
        for (_, shot) in world.projectiles() {
            let start = self.buf.len();
            let state = EntityState::Projectile(ProjectileState {
                id: shot.id,
                owner: shot.owner,
                age: tick.since(shot.motion.tick),
                pos: shot.motion.pos,
                velocity: shot.motion.velocity,
            });
            encode_append(&state, &mut self.buf);
            self.entities.push(FrameEntity {
                id: shot.id,
                pos: shot.pos,
                what: EntityRef::Projectile,
                full: start..self.buf.len(),
                update: 0..0,
            });
        }
        // Ascending ids, so that grid items (indices) sort in id order and merge with `Known::ids`.
        self.entities.sort_unstable_by_key(|e| e.id);
        self.grid.rebuild(self.entities.iter().map(|e| e.pos));
    }

    /// Writes one viewer's snapshot into `out` and returns what the viewer will hold after it.
    ///
    /// `baseline` is what the viewer holds now (`None`: send a full snapshot); `events` are the
    /// viewer's pending events, already encoded.
    #[allow(clippy::too_many_arguments)]
    pub fn write_for(
        &self,
        world: &World,
        viewer: Pos,
        baseline: Option<&Known>,
        ack_input_seq: u32,
        events: EncodedList<'_>,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Known {
        let radius = self.view_radius;
        let outer = radius + radius * VIEW_MARGIN_PERCENT / 100;
        let inner_sq = i64::from(radius) * i64::from(radius);
        let outer_sq = i64::from(outer) * i64::from(outer);
        scratch.candidates.clear();
        let entities = &self.entities;
        self.grid.query(viewer, outer, |item| {
            if entities[item as usize].pos.distance_squared(viewer) <= outer_sq {
                scratch.candidates.push(item);
            }
        });
        scratch.candidates.sort_unstable();
        scratch.entered.clear();
        scratch.updated.clear();
        scratch.left.clear();
        let (mut entered, mut updated) = (0, 0);
        let empty = Vec::new();
        let known = baseline.map_or(&empty, |k| &k.ids);
        let mut ids = Vec::with_capacity(scratch.candidates.len());
        let mut k = 0;
        for &item in &scratch.candidates {
            let entity = &entities[item as usize];
            while k < known.len() && known[k] < entity.id {
                scratch.left.push(known[k]);
                k += 1;
            }
            if k < known.len() && known[k] == entity.id {
                k += 1;
                ids.push(entity.id);
                let (EntityRef::Player(key), Some(base)) = (entity.what, baseline) else {
                    continue; // projectiles never change in flight
                };
                if Some(base.tick) == self.common_baseline {
                    if !entity.update.is_empty() {
                        scratch
                            .updated
                            .extend_from_slice(&self.buf[entity.update.clone()]);
                        updated += 1;
                    }
                } else if let Some(player) = world.player(key) {
                    if encode_update(player, base.tick, self.tick, &mut scratch.updated) {
                        updated += 1;
                    }
                }
            } else if entity.pos.distance_squared(viewer) <= inner_sq {
                ids.push(entity.id);
                scratch
                    .entered
                    .extend_from_slice(&self.buf[entity.full.clone()]);
                entered += 1;
            }
        }
        scratch.left.extend_from_slice(&known[k..]);
        let parts = SnapshotParts {
            tick: self.tick,
            baseline: baseline.map(|b| b.tick),
            ack_input_seq,
            entered: EncodedList {
                count: entered,
                bytes: &scratch.entered,
            },
            updated: EncodedList {
                count: updated,
                bytes: &scratch.updated,
            },
            left: &scratch.left,
            events,
        };
        write_snapshot(out, &parts);
        Known {
            tick: self.tick,
            ids,
        }
    }
}

#[cfg(test)]
mod tests;
