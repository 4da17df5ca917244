//! Snapshot building: interest management, delta encoding, and the bytes each player is sent.
//!
//! Once per snapshot tick the room builds a [`SnapshotFrame`]: every entity with its position in a
//! spatial grid, its full state encoded once, and (for players that changed since the previous
//! snapshot tick) its update encoded once. Per viewer, [`SnapshotFrame::write_for`] then only chooses:
//! it queries the grid around the viewer, merges the result with what the viewer already knows
//! ([`Known`]), and splices the shared encodings into one message.
//!
//! Interest has hysteresis: an entity enters a view within the view radius and leaves it beyond
//! [`outer_view_radius`] (the radius plus `VIEW_MARGIN_PERCENT`), so entities on the edge do not
//! flicker in and out. A player leaving the view is announced in `left`: once out of view it may move
//! in ways the client is not told of (a respawn far away), so the client cannot tell by itself. A
//! projectile leaving the view is not: it never changes in flight, so the client drops it beyond the
//! outer radius by the same rule (the same function).
//!
//! Each snapshot carries the [`ViewCheck`] of what the viewer holds after it: the sum of one word per
//! entity, each computed once per frame.
//!
//! A viewer whose view radius covers the whole map sees every entity. Its delta against the common
//! baseline is the same as every other such viewer's, so it is written once per frame and spliced
//! whole; such a viewer's [`Known`] is just "everything at tick T". That keeps per-viewer work flat
//! when everyone sees everyone.

use crate::grid::Grid;
use crate::world::{Player, PlayerKey, World};
use skirmish_shared::codec::{encode_append, write_snapshot, EncodedList, SnapshotParts};
use skirmish_shared::fixed::{Coord, Pos};
use skirmish_shared::protocol::{
    outer_view_radius, EntityId, EntityState, PlayerField, PlayerState, PlayerUpdate,
    ProjectileState, WireMotion,
};
use skirmish_shared::time::Tick;
use skirmish_shared::view::ViewCheck;
use std::collections::VecDeque;
use std::ops::Range;

/// Cell size of the interest grid, in coords (8 tiles).
const GRID_CELL: Coord = 8 * skirmish_shared::map::TILE_SIZE;

/// How many recent frames' entity lists are kept, to expand an "everything" baseline into ids.
const HISTORY: usize = 64;

/// The entities a client holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// These ids, ascending.
    Listed(Vec<EntityId>),
    /// Every entity in the world at the snapshot's tick.
    Everything,
}

/// What a client holds after applying a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The snapshot's tick.
    pub tick: Tick,
    /// The entities in view.
    pub held: Held,
}

impl Known {
    /// The held ids, if listed (`None` for everything).
    pub fn listed(&self) -> Option<&[EntityId]> {
        match &self.held {
            Held::Listed(ids) => Some(ids),
            Held::Everything => None,
        }
    }
}

/// A delta or full listing shared by every viewer that sees everything, written once per frame.
#[derive(Debug, Default)]
struct SharedSections {
    entered: Vec<u8>,
    entered_count: usize,
    updated: Vec<u8>,
    updated_count: usize,
    left: Vec<EntityId>,
}

/// The header fields of one snapshot: tick, proof, baseline, acknowledged input and view check.
type Header = (Tick, u8, Option<Tick>, u32, ViewCheck);

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
    /// The entity's [`ViewCheck`] word.
    check: u32,
}

/// Per-viewer scratch buffers, reused across viewers and ticks.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Bit per frame entity: within the outer (leave) radius. Walking set bits visits entities in
    /// ascending id order, which is what the merge with listed ids needs, without sorting.
    near: Vec<u64>,
    /// Bit per frame entity: within the view radius (may enter).
    inner: Vec<u64>,
    entered: Vec<u8>,
    updated: Vec<u8>,
    left: Vec<EntityId>,
}

/// One viewer's side of a snapshot: where it stands, what it holds, and what goes with it.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The viewer's position (the centre of its interest).
    pub viewer: Pos,
    /// What the viewer holds now; `None` sends a full snapshot.
    pub baseline: Option<&'a Known>,
    /// The last input of the viewer's that the world applied.
    pub ack_input_seq: u32,
    /// The snapshot's proof byte (what the client's acknowledgement must echo).
    pub proof: u8,
    /// The viewer's pending events, already encoded.
    pub events: EncodedList<'a>,
}

impl<'a> View<'a> {
    /// A viewer at `viewer` holding `baseline`, with no input acknowledged and no events.
    pub fn at(viewer: Pos, baseline: Option<&'a Known>) -> View<'a> {
        View {
            viewer,
            baseline,
            ack_input_seq: 0,
            proof: 0,
            events: EncodedList::default(),
        }
    }
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
    /// Map size in coords (entities never leave it).
    map_size: (Coord, Coord),
    /// Entity ids of recent frames, newest last.
    history: VecDeque<(Tick, Vec<EntityId>)>,
    /// Everything-viewers' deltas written this frame, by baseline tick.
    everything_deltas: Vec<(Tick, SharedSections)>,
    /// Everything-viewers' full listing, once written this frame.
    everything_full: Option<SharedSections>,
    /// Projectiles that stopped on a player and are not yet gone by the shared rule: the projectile
    /// ends clients must be told of (ascending).
    announced_hits: Vec<EntityId>,
    /// The check of a view holding every entity.
    everything_check: ViewCheck,
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
        // One turn since the baseline: the client holds the key the turn continues from.
        let one_turn = player.motion_is_turn && player.previous_motion_changed <= since;
        fields.push(if one_turn {
            PlayerField::Turn {
                age: tick.since(player.motion.tick),
                dir: player.motion.dir,
            }
        } else {
            PlayerField::Motion(wire_motion(player, tick))
        });
    }
    if changed.aim > since {
        fields.push(PlayerField::Aim(player.aim_wire));
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
            map_size: (width, height),
            history: VecDeque::with_capacity(HISTORY),
            everything_deltas: Vec::new(),
            everything_full: None,
            announced_hits: Vec::new(),
            everything_check: ViewCheck::default(),
        }
    }

    /// Whether a client holding `id`, which is no longer near it, must be told it left. Always for a
    /// player (in the room or not: only the server knows where one out of view went). For a
    /// projectile, only if it stopped on a player: one still in flight is beyond the outer radius,
    /// which the client works out, and one ended by the shared rule (a wall, its lifetime) the
    /// client ends itself.
    fn announce_left(&self, id: EntityId) -> bool {
        if id.0 % 2 == 0 {
            return true;
        }
        self.entities.binary_search_by_key(&id, |e| e.id).is_err()
            && self.announced_hits.binary_search(&id).is_ok()
    }

    /// Whether a view centred at `viewer` covers the whole map (every entity is within the radius).
    fn sees_everything(&self, viewer: Pos) -> bool {
        let (w, h) = self.map_size;
        let r = i64::from(self.view_radius);
        [
            Pos::new(0, 0),
            Pos::new(w, 0),
            Pos::new(0, h),
            Pos::new(w, h),
        ]
        .iter()
        .all(|corner| corner.distance_squared(viewer) <= r * r)
    }

    /// The ids of the frame at `tick`, if still remembered.
    fn ids_at(&self, tick: Tick) -> Option<&[EntityId]> {
        self.history
            .iter()
            .rev()
            .find(|(t, _)| *t == tick)
            .map(|(_, ids)| ids.as_slice())
    }

    /// Writes (once per frame) the full listing every everything-viewer gets on a full snapshot.
    fn everything_full(&mut self) -> &SharedSections {
        if self.everything_full.is_none() {
            let mut sections = SharedSections::default();
            for entity in &self.entities {
                sections
                    .entered
                    .extend_from_slice(&self.buf[entity.full.clone()]);
            }
            sections.entered_count = self.entities.len();
            self.everything_full = Some(sections);
        }
        self.everything_full
            .get_or_insert_with(SharedSections::default)
    }

    /// Writes (once per frame and baseline) the delta every everything-viewer holding everything at
    /// `base` gets; `None` if that frame's entity list is no longer remembered. Viewers that fell
    /// behind share deltas too, so a burst of slow readers costs one pass per distinct baseline, not
    /// one per viewer.
    fn everything_delta(&mut self, world: &World, base: Tick) -> Option<&SharedSections> {
        if let Some(i) = self.everything_deltas.iter().position(|(t, _)| *t == base) {
            return Some(&self.everything_deltas[i].1);
        }
        let before = self.ids_at(base)?;
        let common = self.common_baseline == Some(base);
        let mut sections = SharedSections::default();
        let mut k = 0;
        for entity in &self.entities {
            while k < before.len() && before[k] < entity.id {
                if self.announce_left(before[k]) {
                    sections.left.push(before[k]);
                }
                k += 1;
            }
            if k < before.len() && before[k] == entity.id {
                k += 1;
                let wrote = if common {
                    sections
                        .updated
                        .extend_from_slice(&self.buf[entity.update.clone()]);
                    !entity.update.is_empty()
                } else if let EntityRef::Player(key) = entity.what {
                    world
                        .player(key)
                        .is_some_and(|p| encode_update(p, base, self.tick, &mut sections.updated))
                } else {
                    false
                };
                sections.updated_count += usize::from(wrote);
            } else {
                sections
                    .entered
                    .extend_from_slice(&self.buf[entity.full.clone()]);
                sections.entered_count += 1;
            }
        }
        for &id in &before[k..] {
            if self.announce_left(id) {
                sections.left.push(id);
            }
        }
        self.everything_deltas.push((base, sections));
        self.everything_deltas.last().map(|(_, sections)| sections)
    }

    /// Turns `known`, if it holds everything at a tick this frame still remembers, into the ids that
    /// stands for. A client that will wait long for its next snapshot (its byte budget is in debt)
    /// then still gets a delta once the frame history has moved past its tick, not a full snapshot.
    pub fn pin(&self, known: &mut Known) {
        if known.held != Held::Everything {
            return;
        }
        if let Some(ids) = self.ids_at(known.tick) {
            known.held = Held::Listed(ids.to_vec());
        }
    }

    /// Writes a snapshot of every entity, the same for every reader: a delta against the frame at
    /// `baseline`, or full without one (a broadcast feed frame: proof and acknowledged input 0, the
    /// check of the whole room). `false`, with nothing written, if the baseline's frame is no longer
    /// remembered.
    pub fn write_everything(
        &mut self,
        world: &World,
        baseline: Option<Tick>,
        events: EncodedList<'_>,
        out: &mut Vec<u8>,
    ) -> bool {
        let header = (self.tick, 0, baseline, 0, self.everything_check);
        let sections = match baseline {
            None => self.everything_full(),
            Some(base) => match self.everything_delta(world, base) {
                Some(sections) => sections,
                None => return false,
            },
        };
        write_sections(out, header, sections, events);
        true
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
                aim: player.aim_wire,
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
                check: ViewCheck::player_word(
                    player.id,
                    &player.motion,
                    player.aim_wire,
                    player.hp,
                    player.status,
                ),
            });
        }
        for (_, shot) in world.projectiles() {
            let start = self.buf.len();
            let state = EntityState::Projectile(ProjectileState {
                id: shot.id,
                age: tick.since(shot.motion.tick),
                pos: shot.motion.pos,
                aim: shot.aim,
            });
            encode_append(&state, &mut self.buf);
            self.entities.push(FrameEntity {
                id: shot.id,
                pos: shot.pos,
                what: EntityRef::Projectile,
                full: start..self.buf.len(),
                update: 0..0,
                check: ViewCheck::projectile_word(shot.id, &shot.motion),
            });
        }
        self.everything_check = ViewCheck::default();
        for entity in &self.entities {
            self.everything_check.add(entity.check);
        }
        // Ascending ids, so that grid items (indices) sort in id order and merge with listed ids.
        self.entities.sort_unstable_by_key(|e| e.id);
        self.grid.rebuild(self.entities.iter().map(|e| e.pos));
        let mut ids = if self.history.len() >= HISTORY {
            self.history
                .pop_front()
                .map(|(_, ids)| ids)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        ids.clear();
        ids.extend(self.entities.iter().map(|e| e.id));
        self.history.push_back((tick, ids));
        self.everything_deltas.clear();
        self.everything_full = None;
        self.announced_hits.clear();
        self.announced_hits.extend(
            world
                .recent_hits()
                .filter(|&(_, natural_end)| tick < natural_end)
                .map(|(id, _)| id),
        );
        self.announced_hits.sort_unstable();
    }

    /// Writes one viewer's snapshot into `out` and returns what the viewer will hold after it.
    pub fn write_for(
        &mut self,
        world: &World,
        view: View<'_>,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Known {
        let View {
            viewer,
            baseline,
            ack_input_seq,
            proof,
            events,
        } = view;
        let tick = self.tick;
        let everything = self.sees_everything(viewer);
        let check = self.everything_check;
        if everything {
            let shared = match baseline {
                None => Some((None, self.everything_full())),
                Some(Known {
                    tick: base,
                    held: Held::Everything,
                }) => self
                    .everything_delta(world, *base)
                    .map(|sections| (Some(*base), sections)),
                _ => None,
            };
            if let Some((base, sections)) = shared {
                let header = (tick, proof, base, ack_input_seq, check);
                write_sections(out, header, sections, events);
                return Known {
                    tick,
                    held: Held::Everything,
                };
            }
        }
        // Expand an "everything" baseline into ids; if that frame is forgotten, start over in full.
        let mut baseline = baseline;
        let expanded;
        if let Some(Known {
            tick: base,
            held: Held::Everything,
        }) = baseline
        {
            expanded = self.ids_at(*base).map(|ids| Known {
                tick: *base,
                held: Held::Listed(ids.to_vec()),
            });
            baseline = expanded.as_ref();
        }
        let view = View {
            viewer,
            baseline,
            ack_input_seq,
            proof,
            events,
        };
        let known = self.write_listed(world, view, scratch, out);
        if everything {
            Known {
                tick,
                held: Held::Everything,
            }
        } else {
            known
        }
    }

    /// The general path: query the grid, merge with the listed baseline, splice.
    fn write_listed(
        &self,
        world: &World,
        view: View<'_>,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Known {
        let View {
            viewer,
            baseline,
            ack_input_seq,
            proof,
            events,
        } = view;
        let radius = self.view_radius;
        let outer = outer_view_radius(radius);
        let inner_sq = i64::from(radius) * i64::from(radius);
        let outer_sq = i64::from(outer) * i64::from(outer);
        let entities = &self.entities;
        let words = entities.len().div_ceil(64);
        scratch.near.clear();
        scratch.near.resize(words, 0);
        scratch.inner.clear();
        scratch.inner.resize(words, 0);
        let (near, inner) = (&mut scratch.near, &mut scratch.inner);
        self.grid.query(viewer, outer, |item| {
            let distance = entities[item as usize].pos.distance_squared(viewer);
            if distance <= outer_sq {
                let (word, bit) = (item as usize / 64, 1u64 << (item % 64));
                near[word] |= bit;
                if distance <= inner_sq {
                    inner[word] |= bit;
                }
            }
        });
        scratch.entered.clear();
        scratch.updated.clear();
        scratch.left.clear();
        let (mut entered, mut updated) = (0, 0);
        let empty = Vec::new();
        let known = baseline.and_then(Known::listed).unwrap_or(&empty);
        let mut ids = Vec::with_capacity(known.len() + 16);
        let mut check = ViewCheck::default();
        let mut k = 0;
        let set_bits = scratch.near.iter().enumerate().flat_map(|(word, &bits)| {
            std::iter::successors((bits != 0).then_some(bits), |b| {
                let rest = b & (b - 1);
                (rest != 0).then_some(rest)
            })
            .map(move |b| word * 64 + b.trailing_zeros() as usize)
        });
        for item in set_bits {
            let entity = &entities[item];
            let within_radius = scratch.inner[item / 64] & (1 << (item % 64)) != 0;
            while k < known.len() && known[k] < entity.id {
                if self.announce_left(known[k]) {
                    scratch.left.push(known[k]);
                }
                k += 1;
            }
            if k < known.len() && known[k] == entity.id {
                k += 1;
                ids.push(entity.id);
                check.add(entity.check);
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
            } else if within_radius {
                ids.push(entity.id);
                check.add(entity.check);
                scratch
                    .entered
                    .extend_from_slice(&self.buf[entity.full.clone()]);
                entered += 1;
            }
        }
        for &id in &known[k..] {
            if self.announce_left(id) {
                scratch.left.push(id);
            }
        }
        let parts = SnapshotParts {
            tick: self.tick,
            proof,
            baseline: baseline.map(|b| b.tick),
            ack_input_seq,
            check: check.to_wire(),
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
            held: Held::Listed(ids),
        }
    }
}

/// Writes a snapshot whose entity sections were written once for many viewers.
fn write_sections(
    out: &mut Vec<u8>,
    header: Header,
    sections: &SharedSections,
    events: EncodedList<'_>,
) {
    let (tick, proof, baseline, ack_input_seq, check) = header;
    let parts = SnapshotParts {
        tick,
        proof,
        baseline,
        ack_input_seq,
        check: check.to_wire(),
        entered: EncodedList {
            count: sections.entered_count,
            bytes: &sections.entered,
        },
        updated: EncodedList {
            count: sections.updated_count,
            bytes: &sections.updated,
        },
        left: &sections.left,
        events,
    };
    write_snapshot(out, &parts);
}

#[cfg(test)]
mod tests;
