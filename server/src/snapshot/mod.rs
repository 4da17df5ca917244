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
//! The entity sections are packed (`codec::sections`): each entity's body (everything after its id)
//! is packed once per frame, and per viewer only the ids are written, as gaps from the id before.
//! Frame entities, and the id lists of what viewers hold, run in [`order`]: players first, then
//! projectiles, each ascending. So when a viewer's projectiles are chosen, which players it will
//! hold is already known, and a projectile fired by one of them is sent from its shooter
//! (`Launch::Shooter`: the client works the launch point out from the shooter's key) rather than
//! from a point, when the shooter's key already held at the launch; and at the shooter's aim
//! (`Launch::ShooterAim`) when that has not moved since the shot, since a viewer holding the
//! shooter after the snapshot holds its current aim.
//!
//! A viewer whose view radius covers the whole map sees every entity. Its delta against the common
//! baseline is the same as every other such viewer's, so it is written once per frame and spliced
//! whole; such a viewer's [`Known`] is just "everything at tick T". That keeps per-viewer work flat
//! when everyone sees everyone.

use crate::grid::{CellReach, Grid};
use crate::world::{Player, PlayerKey, World};
use skirmish_shared::codec::sections::{self, IdGaps, KIND_PLAYER, KIND_PROJECTILE};
use skirmish_shared::codec::{write_snapshot, SnapshotParts};
use skirmish_shared::fixed::{aim_from_wire, Coord, Pos};
use skirmish_shared::protocol::{
    outer_view_radius, EntityId, Launch, PlayerField, PlayerState, ProjectileState, WireMotion,
};
use skirmish_shared::time::Tick;
use skirmish_shared::view::ViewCheck;
use std::collections::VecDeque;
use std::ops::Range;

/// Cell size of the interest grid, in coords (8 tiles).
const GRID_CELL: Coord = 8 * skirmish_shared::map::TILE_SIZE;

/// How many recent frames' entity lists are kept, to expand an "everything" baseline into ids.
const HISTORY: usize = 64;

/// The order of a frame's entities and of held id lists: players (even ids) before projectiles
/// (odd), each ascending.
pub fn order(id: EntityId) -> u64 {
    u64::from(id.0 & 1) << 32 | u64::from(id.0)
}

/// The entities a client holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// These ids, in [`order`].
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

/// A delta or full listing shared by every viewer that sees everything, written once per frame:
/// packed sections.
#[derive(Debug, Default)]
struct SharedSections {
    entered: Vec<u8>,
    updated: Vec<u8>,
    left: Vec<u8>,
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
    /// Packed `entered` body (after the id), in `buf`; a projectile's from its launch point.
    full: Range<usize>,
    /// A projectile's packed `entered` body from its shooter, in `buf`, when the shooter is in the
    /// frame and its key held at the launch; empty otherwise.
    from_shooter: Range<usize>,
    /// That shooter's id, then (once the frame is sorted) its index in the frame.
    shooter: u32,
    /// Packed update body (field bits and fields, after the id) since the common baseline, in
    /// `buf` (empty if nothing changed).
    update: Range<usize>,
    /// The entity's [`ViewCheck`] word.
    check: u32,
}

impl FrameEntity {
    fn kind(&self) -> u8 {
        match self.what {
            EntityRef::Player(_) => KIND_PLAYER,
            EntityRef::Projectile => KIND_PROJECTILE,
        }
    }
}

/// Per-viewer scratch buffers, reused across viewers and ticks.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Bit per frame entity: within the outer (leave) radius. Walking set bits visits entities in
    /// [`order`], which is what the merge with listed ids needs, without sorting.
    near: Vec<u64>,
    /// Bit per frame entity: within the view radius (may enter).
    inner: Vec<u64>,
    /// Bit per frame entity: the viewer holds it after this snapshot.
    held: Vec<u64>,
    entered: Vec<u8>,
    updated: Vec<u8>,
    left: Vec<u8>,
    /// Id lists of snapshots no client holds any longer, to list the next ones in.
    spare_ids: Vec<Vec<EntityId>>,
}

/// How many spare id lists [`Scratch`] keeps.
const SPARE_ID_LISTS: usize = 64;

impl Scratch {
    /// Takes back what a client no longer holds (it holds a newer snapshot), so that its id list is
    /// reused for a later snapshot instead of a new one allocated.
    pub fn recycle(&mut self, known: Known) {
        if let Held::Listed(mut ids) = known.held {
            if self.spare_ids.len() < SPARE_ID_LISTS && ids.capacity() > 0 {
                ids.clear();
                self.spare_ids.push(ids);
            }
        }
    }

    fn id_list(&mut self, capacity: usize) -> Vec<EntityId> {
        let mut ids = self.spare_ids.pop().unwrap_or_default();
        ids.reserve(capacity);
        ids
    }
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
    /// The viewer's pending events, already packed (`codec::events`).
    pub events: &'a [u8],
}

impl<'a> View<'a> {
    /// A viewer at `viewer` holding `baseline`, with no input acknowledged and no events.
    pub fn at(viewer: Pos, baseline: Option<&'a Known>) -> View<'a> {
        View {
            viewer,
            baseline,
            ack_input_seq: 0,
            proof: 0,
            events: &[],
        }
    }
}

/// Everything about one snapshot tick that all viewers share.
#[derive(Debug)]
pub struct SnapshotFrame {
    tick: Tick,
    common_baseline: Option<Tick>,
    entities: Vec<FrameEntity>,
    /// Each entity's [`ViewCheck`] word, by index (what every viewer's walk reads of every entity
    /// in its view, kept apart from the rest so that the walk stays within a few cache lines).
    checks: Vec<u32>,
    /// Bit per entity: a player with an update since the common baseline.
    has_update: Vec<u64>,
    /// How many of the entities are players (they come first).
    players: usize,
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

/// Appends the packed update body (the field byte and fields) of the fields of `player` that
/// changed after `since`; nothing, and `false`, if none did.
fn put_update(player: &Player, since: Tick, tick: Tick, out: &mut Vec<u8>) -> bool {
    let changed = &player.changed;
    if changed.latest() <= since {
        return false;
    }
    let mut fields = [PlayerField::Hp(0); 4];
    let mut count = 0;
    let mut push = |field| {
        fields[count] = field;
        count += 1;
    };
    if changed.motion > since {
        // One turn since the baseline: the client holds the key the turn continues from.
        let one_turn = player.motion_is_turn && player.previous_motion_changed <= since;
        push(if one_turn {
            PlayerField::Turn {
                age: tick.since(player.motion.tick),
                dir: player.motion.dir,
            }
        } else {
            PlayerField::Motion(wire_motion(player, tick))
        });
    }
    if changed.aim > since {
        push(PlayerField::Aim(player.aim_wire));
    }
    if changed.hp > since {
        push(PlayerField::Hp(player.hp));
    }
    if changed.status > since {
        push(PlayerField::Status(player.status));
    }
    sections::put_update_body(out, &fields[..count]);
    true
}

/// Appends a projectile's entered entry (its id, then the body at `full` or, when `from_shooter`
/// and it has one, the body from its shooter).
fn put_entered(
    out: &mut Vec<u8>,
    ids: &mut IdGaps,
    buf: &[u8],
    entity: &FrameEntity,
    from_shooter: bool,
) {
    ids.put_kind(out, entity.id, entity.kind());
    let body = if from_shooter && !entity.from_shooter.is_empty() {
        entity.from_shooter.clone()
    } else {
        entity.full.clone()
    };
    out.extend_from_slice(&buf[body]);
}

impl SnapshotFrame {
    /// An empty frame for a map of `width` x `height` coords.
    pub fn new(width: Coord, height: Coord, view_radius: Coord) -> SnapshotFrame {
        SnapshotFrame {
            tick: Tick(0),
            common_baseline: None,
            entities: Vec::new(),
            checks: Vec::new(),
            has_update: Vec::new(),
            players: 0,
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
        self.entities
            .binary_search_by_key(&order(id), |e| order(e.id))
            .is_err()
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

    /// This frame's entity ids, by index (the newest entry of the history).
    fn frame_ids(&self) -> &[EntityId] {
        self.history.back().map_or(&[], |(_, ids)| ids.as_slice())
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
            let mut ids = IdGaps::default();
            for entity in &self.entities {
                put_entered(&mut sections.entered, &mut ids, &self.buf, entity, true);
            }
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
        let (mut entered_ids, mut updated_ids, mut left_ids) =
            (IdGaps::default(), IdGaps::default(), IdGaps::default());
        let mut left = |sections: &mut SharedSections, id: EntityId| {
            if self.announce_left(id) {
                left_ids.put_kind(&mut sections.left, id, (id.0 & 1) as u8);
            }
        };
        let mut k = 0;
        for entity in &self.entities {
            while k < before.len() && order(before[k]) < order(entity.id) {
                left(&mut sections, before[k]);
                k += 1;
            }
            if k < before.len() && before[k] == entity.id {
                k += 1;
                if common {
                    if !entity.update.is_empty() {
                        updated_ids.put(&mut sections.updated, entity.id);
                        sections
                            .updated
                            .extend_from_slice(&self.buf[entity.update.clone()]);
                    }
                } else if let Some(player) = match entity.what {
                    EntityRef::Player(key) => world.player(key),
                    EntityRef::Projectile => None,
                } {
                    let mark = sections.updated.len();
                    let before_ids = updated_ids;
                    updated_ids.put(&mut sections.updated, entity.id);
                    if !put_update(player, base, self.tick, &mut sections.updated) {
                        sections.updated.truncate(mark);
                        updated_ids = before_ids;
                    }
                }
            } else {
                put_entered(
                    &mut sections.entered,
                    &mut entered_ids,
                    &self.buf,
                    entity,
                    true,
                );
            }
        }
        for &id in &before[k..] {
            left(&mut sections, id);
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
        events: &[u8],
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
            let state = PlayerState {
                id: player.id,
                motion: wire_motion(player, tick),
                aim: player.aim_wire,
                hp: player.hp,
                status: player.status,
            };
            sections::put_player_body(&mut self.buf, &state);
            let full = start..self.buf.len();
            let update_start = self.buf.len();
            if let Some(since) = common_baseline {
                put_update(player, since, tick, &mut self.buf);
            }
            self.entities.push(FrameEntity {
                id: player.id,
                pos: player.pos,
                what: EntityRef::Player(key),
                full,
                from_shooter: 0..0,
                shooter: 0,
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
            let mut state = ProjectileState {
                id: shot.id,
                age: tick.since(shot.motion.tick),
                launch: Launch::At(shot.motion.pos),
                aim: shot.aim,
            };
            sections::put_projectile_body(&mut self.buf, &state);
            let full = start..self.buf.len();
            // Its shooter's key gives the launch point if it already held at the launch: keys set
            // later start at their own tick or the tick before (a turn), so a key of an earlier
            // tick was set before the shot; one of the launch tick itself (a turn on the next
            // tick, or a placement after the shot) gives its own point for that tick.
            let launch = shot.motion.tick;
            let shooter = world.player(shot.owner_key).filter(|p| {
                p.id == shot.owner
                    && (p.motion.tick < launch
                        || (p.motion.tick == launch && p.motion.pos == shot.motion.pos))
            });
            let from_start = self.buf.len();
            if let Some(shooter) = shooter {
                debug_assert_eq!(
                    shooter
                        .motion
                        .position_at(world.map(), world.params(), launch),
                    shot.motion.pos
                );
                // At the shooter's aim as the viewer will hold it, when that is within an offset
                // (the shooter has not turned its aim since the shot): the aim costs no bytes.
                let offset = shot.aim.wrapping_sub(aim_from_wire(shooter.aim_wire)) as i16;
                state.launch = match i8::try_from(offset) {
                    Ok(offset) if (-8..=7).contains(&offset) => {
                        Launch::ShooterAim(shooter.id, offset)
                    }
                    _ => Launch::Shooter(shooter.id),
                };
                sections::put_projectile_body(&mut self.buf, &state);
            }
            self.entities.push(FrameEntity {
                id: shot.id,
                pos: shot.pos,
                what: EntityRef::Projectile,
                full,
                from_shooter: from_start..self.buf.len(),
                shooter: shooter.map_or(0, |p| p.id.0),
                update: 0..0,
                check: ViewCheck::projectile_word(shot.id, &shot.motion),
            });
        }
        self.everything_check = ViewCheck::default();
        for entity in &self.entities {
            self.everything_check.add(entity.check);
        }
        // In `order`, so that grid items (indices) sort in that order and merge with listed ids.
        self.entities.sort_unstable_by_key(|e| order(e.id));
        let players = self
            .entities
            .partition_point(|e| matches!(e.what, EntityRef::Player(_)));
        for i in players..self.entities.len() {
            if self.entities[i].from_shooter.is_empty() {
                continue;
            }
            let shooter = EntityId(self.entities[i].shooter);
            match self.entities[..players].binary_search_by_key(&shooter, |e| e.id) {
                Ok(index) => self.entities[i].shooter = index as u32,
                Err(_) => self.entities[i].from_shooter = 0..0,
            }
        }
        self.players = players;
        self.checks.clear();
        self.checks.extend(self.entities.iter().map(|e| e.check));
        self.has_update.clear();
        self.has_update.resize(self.entities.len().div_ceil(64), 0);
        for (i, entity) in self.entities[..players].iter().enumerate() {
            if !entity.update.is_empty() {
                self.has_update[i / 64] |= 1 << (i % 64);
            }
        }
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
        let (ids_now, checks) = (self.frame_ids(), &self.checks);
        let words = entities.len().div_ceil(64);
        for bits in [&mut scratch.near, &mut scratch.inner, &mut scratch.held] {
            bits.clear();
            bits.resize(words, 0);
        }
        let (near, inner) = (&mut scratch.near, &mut scratch.inner);
        let set = |bits: &mut Vec<u64>, item: u32| {
            bits[item as usize / 64] |= 1u64 << (item % 64);
        };
        // Cells wholly within the radius need no distance test; cells wholly beyond the outer
        // radius are skipped.
        self.grid.query_reach(
            viewer,
            radius,
            outer,
            |items, positions, reach| match reach {
                CellReach::Inner => {
                    for &item in items {
                        set(near, item);
                        set(inner, item);
                    }
                }
                CellReach::Outer => {
                    for (&item, pos) in items.iter().zip(positions) {
                        set(near, item);
                        if pos.distance_squared(viewer) <= inner_sq {
                            set(inner, item);
                        }
                    }
                }
                CellReach::Partly => {
                    for (&item, pos) in items.iter().zip(positions) {
                        let distance = pos.distance_squared(viewer);
                        if distance <= outer_sq {
                            set(near, item);
                            if distance <= inner_sq {
                                set(inner, item);
                            }
                        }
                    }
                }
            },
        );
        scratch.entered.clear();
        scratch.updated.clear();
        scratch.left.clear();
        let (mut entered_ids, mut updated_ids, mut left_ids) =
            (IdGaps::default(), IdGaps::default(), IdGaps::default());
        let empty = Vec::new();
        let known = baseline.and_then(Known::listed).unwrap_or(&empty);
        let mut ids = scratch.id_list(known.len() + 16);
        let mut check = ViewCheck::default();
        let mut k = 0;
        let Scratch {
            near,
            inner,
            held,
            entered,
            updated,
            left,
            ..
        } = scratch;
        let set_bits = near.iter().enumerate().flat_map(|(word, &bits)| {
            std::iter::successors((bits != 0).then_some(bits), |b| {
                let rest = b & (b - 1);
                (rest != 0).then_some(rest)
            })
            .map(move |b| word * 64 + b.trailing_zeros() as usize)
        });
        let mut gone = |id: EntityId, left: &mut Vec<u8>| {
            if self.announce_left(id) {
                left_ids.put_kind(left, id, (id.0 & 1) as u8);
            }
        };
        let on_common = baseline.is_some_and(|b| Some(b.tick) == self.common_baseline);
        let bit = |bits: &[u64], item: usize| bits[item / 64] & (1 << (item % 64)) != 0;
        for item in set_bits {
            let id = ids_now[item];
            let key = order(id);
            while k < known.len() && order(known[k]) < key {
                gone(known[k], left);
                k += 1;
            }
            if k < known.len() && known[k] == id {
                k += 1;
                ids.push(id);
                held[item / 64] |= 1 << (item % 64);
                check.add(checks[item]);
                if item >= self.players {
                    continue; // projectiles never change in flight
                }
                if on_common {
                    if bit(&self.has_update, item) {
                        updated_ids.put(updated, id);
                        updated.extend_from_slice(&self.buf[entities[item].update.clone()]);
                    }
                } else if let (EntityRef::Player(key), Some(base)) = (entities[item].what, baseline)
                {
                    let Some(player) = world.player(key) else {
                        continue;
                    };
                    let mark = updated.len();
                    let before = updated_ids;
                    updated_ids.put(updated, id);
                    if !put_update(player, base.tick, self.tick, updated) {
                        updated.truncate(mark);
                        updated_ids = before;
                    }
                }
            } else if bit(inner, item) {
                let entity = &entities[item];
                ids.push(id);
                held[item / 64] |= 1 << (item % 64);
                check.add(checks[item]);
                // Players come first: whether the viewer holds the shooter is settled.
                let shooter = entity.shooter as usize;
                let from_shooter = !entity.from_shooter.is_empty()
                    && held[shooter / 64] & (1 << (shooter % 64)) != 0;
                put_entered(entered, &mut entered_ids, &self.buf, entity, from_shooter);
            }
        }
        for &id in &known[k..] {
            gone(id, left);
        }
        let parts = SnapshotParts {
            tick: self.tick,
            proof,
            baseline: baseline.map(|b| b.tick),
            ack_input_seq,
            check: check.to_wire(),
            entered,
            updated,
            left,
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
fn write_sections(out: &mut Vec<u8>, header: Header, sections: &SharedSections, events: &[u8]) {
    let (tick, proof, baseline, ack_input_seq, check) = header;
    let parts = SnapshotParts {
        tick,
        proof,
        baseline,
        ack_input_seq,
        check: check.to_wire(),
        entered: &sections.entered,
        updated: &sections.updated,
        left: &sections.left,
        events,
    };
    write_snapshot(out, &parts);
}

#[cfg(test)]
mod tests;
