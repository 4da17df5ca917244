//! A client's picture of the world, rebuilt from snapshots.
//!
//! [`ClientView`] applies each [`Snapshot`] to the state of the one before it. It holds motion keys, not
//! positions: [`ClientView::player_position`] extrapolates a key with the shared movement step, so the
//! position it gives at a tick is exactly the server's for as long as the key holds.
//!
//! Every snapshot carries a [`ViewCheck`] of the view the client must hold after applying it; the
//! server sums it from what it believes the client holds, and the client from what it does hold, so
//! any disagreement (a bug in either, or bytes altered on the way) shows at the first snapshot after
//! it, and the client asks for a full snapshot.

use crate::fixed::{aim_from_wire, Coord};
use crate::map::Map;
use crate::physics::{MoveParams, PlayerMotion, Pos, ProjectileMotion};
use crate::protocol::{
    outer_view_radius, ClientMsg, EntityId, EntityState, Launch, PlayerField, Snapshot, WireMotion,
};
use crate::time::Tick;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A projectile from its shooter's aim, as `entered` says it: its own, or the shooter's (as held
/// once `updated` is applied) plus an offset.
#[derive(Debug, Clone, Copy)]
enum ShotAim {
    Own(u16),
    Shooter(i8),
}

/// A player as the client knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlayerView {
    /// Motion key, with an absolute tick.
    pub motion: PlayerMotion,
    /// Aim angle in 4,096ths of a turn (`fixed::aim_from_wire` gives the 16-bit angle).
    pub aim: u16,
    /// Hit points.
    pub hp: u8,
    /// Status bits (`protocol::status`).
    pub status: u8,
}

/// A projectile as the client knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProjectileView {
    /// Launch point, tick and velocity.
    pub motion: ProjectileMotion,
}

/// An order-independent checksum of a view: the wrapping sum of one well-mixed word per entity, so
/// the server can add up the words of the entities a viewer holds in any order, each word computed
/// once per tick for all viewers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ViewCheck(u32);

/// Mixes `words` into one 32-bit value (a 64-bit multiply-xorshift chain, seeded per kind).
fn mix(seed: u64, words: &[u64]) -> u32 {
    let mut h = seed;
    for &w in words {
        h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 29;
    }
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (h ^ (h >> 32)) as u32
}

fn pos_word(pos: Pos) -> u64 {
    (u64::from(pos.x as u32) << 32) | u64::from(pos.y as u32)
}

impl ViewCheck {
    /// The word of a player: its id, motion key, aim (wire form), hit points and status.
    pub fn player_word(id: EntityId, motion: &PlayerMotion, aim: u16, hp: u8, status: u8) -> u32 {
        let (dx, dy) = motion.dir.axes();
        let dir = u64::from((dx + 1) as u8 * 3 + (dy + 1) as u8);
        mix(
            1,
            &[
                u64::from(id.0),
                u64::from(motion.tick.0),
                pos_word(motion.pos),
                dir | u64::from(aim) << 8 | u64::from(hp) << 24 | u64::from(status) << 32,
            ],
        )
    }

    /// The word of a projectile: its id and motion.
    pub fn projectile_word(id: EntityId, motion: &ProjectileMotion) -> u32 {
        let (vx, vy) = motion.velocity;
        mix(
            2,
            &[
                u64::from(id.0),
                u64::from(motion.tick.0),
                pos_word(motion.pos),
                pos_word(Pos::new(vx, vy)),
            ],
        )
    }

    /// Adds one entity's word.
    pub fn add(&mut self, word: u32) {
        self.0 = self.0.wrapping_add(word);
    }

    /// The bytes a snapshot carries.
    pub fn to_wire(self) -> [u8; 4] {
        self.0.to_le_bytes()
    }

    /// The check a snapshot carries.
    pub fn from_wire(bytes: [u8; 4]) -> ViewCheck {
        ViewCheck(u32::from_le_bytes(bytes))
    }
}

/// What applying and checking one snapshot came to ([`ClientView::apply_checked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The view applied it and holds what its check says.
    Held,
    /// The view applied it but disagrees with its check: a desync.
    Desynced,
    /// It did not apply (a baseline the view does not hold, say).
    Lost,
}

impl Checked {
    /// What to tell the server after a snapshot of `tick` came to this: a desync report, a request
    /// for a full snapshot, or nothing.
    pub fn reply(self, tick: Tick) -> Option<ClientMsg> {
        match self {
            Checked::Held => None,
            Checked::Desynced => Some(ClientMsg::Desync { tick }),
            Checked::Lost => Some(ClientMsg::RequestFullSnapshot),
        }
    }
}

/// Why a snapshot could not be applied. The view is then unreliable: ask for a full snapshot.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ViewError {
    /// A delta's baseline is not the snapshot the view holds.
    #[error("delta against tick {baseline:?} but the view holds tick {held:?}")]
    BaselineMismatch {
        /// The delta's baseline.
        baseline: Tick,
        /// The tick of the snapshot the view holds, if any.
        held: Option<Tick>,
    },
    /// A snapshot is older than the one held.
    #[error("snapshot for tick {got:?} after tick {held:?}")]
    TickWentBack {
        /// The snapshot's tick.
        got: Tick,
        /// The held tick.
        held: Tick,
    },
    /// An entity entered that the view already holds.
    #[error("entity {0:?} entered twice")]
    DuplicateEntity(EntityId),
    /// An update or removal named an entity the view does not hold.
    #[error("unknown entity {0:?}")]
    UnknownEntity(EntityId),
    /// A motion key's age reaches before tick 0.
    #[error("motion key older than the room")]
    BadAge,
}

/// Entities in view, keyed by id, as of the last applied snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientView {
    map: Arc<Map>,
    params: MoveParams,
    /// The player whose view this is and its view radius: entities beyond the outer radius from it
    /// are dropped on each snapshot.
    viewer: Option<(EntityId, Coord)>,
    tick: Option<Tick>,
    ack_input_seq: u32,
    players: BTreeMap<EntityId, PlayerView>,
    projectiles: BTreeMap<EntityId, ProjectileView>,
}

fn absolute(tick: Tick, age: u32) -> Result<Tick, ViewError> {
    tick.0.checked_sub(age).map(Tick).ok_or(ViewError::BadAge)
}

fn player_motion(tick: Tick, wire: &WireMotion) -> Result<PlayerMotion, ViewError> {
    Ok(PlayerMotion {
        tick: absolute(tick, wire.age)?,
        pos: wire.pos,
        dir: wire.dir,
    })
}

impl ClientView {
    /// An empty view on `map` at the room's movement parameters; it expects a full snapshot first.
    pub fn new(map: Arc<Map>, params: MoveParams) -> ClientView {
        ClientView {
            map,
            params,
            viewer: None,
            tick: None,
            ack_input_seq: 0,
            players: BTreeMap::new(),
            projectiles: BTreeMap::new(),
        }
    }

    /// This view belongs to player `me` with view radius `view_radius` (from `Welcome`): entities
    /// that drift beyond the outer radius are dropped as the server expects.
    pub fn with_viewer(mut self, me: EntityId, view_radius: Coord) -> ClientView {
        self.viewer = Some((me, view_radius));
        self
    }

    /// The map.
    pub fn map(&self) -> &Arc<Map> {
        &self.map
    }

    /// The movement parameters.
    pub fn params(&self) -> &MoveParams {
        &self.params
    }

    /// Forgets everything (the next snapshot must be full).
    pub fn reset(&mut self) {
        self.tick = None;
        self.players.clear();
        self.projectiles.clear();
    }

    /// The tick of the last applied snapshot.
    pub fn tick(&self) -> Option<Tick> {
        self.tick
    }

    /// The last input sequence number the server has applied.
    pub fn ack_input_seq(&self) -> u32 {
        self.ack_input_seq
    }

    /// Players in view.
    pub fn players(&self) -> &BTreeMap<EntityId, PlayerView> {
        &self.players
    }

    /// Projectiles in view.
    pub fn projectiles(&self) -> &BTreeMap<EntityId, ProjectileView> {
        &self.projectiles
    }

    /// A player's exact position at `tick`, if the player is in view.
    pub fn player_position(&self, id: EntityId, tick: Tick) -> Option<Pos> {
        self.players
            .get(&id)
            .map(|p| p.motion.position_at(&self.map, &self.params, tick))
    }

    /// The checksum of everything in view (compare with the snapshot's [`Snapshot::check`]).
    pub fn check(&self) -> ViewCheck {
        let mut check = ViewCheck::default();
        for (&id, p) in &self.players {
            check.add(ViewCheck::player_word(id, &p.motion, p.aim, p.hp, p.status));
        }
        for (&id, shot) in &self.projectiles {
            check.add(ViewCheck::projectile_word(id, &shot.motion));
        }
        check
    }

    /// Whether the view holds what `snapshot` (just applied) says it must.
    pub fn matches(&self, snapshot: &Snapshot) -> bool {
        self.check() == ViewCheck::from_wire(snapshot.check)
    }

    /// Applies a snapshot and checks the view against its check. Unless it is held, the view is
    /// reset to wait for the full snapshot that [`Checked::reply`] asks for.
    pub fn apply_checked(&mut self, snapshot: &Snapshot) -> Checked {
        let checked = match self.apply(snapshot) {
            Ok(()) if self.matches(snapshot) => Checked::Held,
            Ok(()) => Checked::Desynced,
            Err(_) => Checked::Lost,
        };
        if checked != Checked::Held {
            self.reset();
        }
        checked
    }

    /// Applies a snapshot (see [`Snapshot`] for the rules). Projectiles gone of their own accord by
    /// the snapshot's tick (`ProjectileMotion::gone_at`) are dropped first. On error the view must be
    /// rebuilt from a full snapshot.
    pub fn apply(&mut self, snapshot: &Snapshot) -> Result<(), ViewError> {
        let tick = snapshot.tick;
        match snapshot.baseline {
            None => {
                if let Some(held) = self.tick.filter(|&held| tick < held) {
                    return Err(ViewError::TickWentBack { got: tick, held });
                }
                self.players.clear();
                self.projectiles.clear();
            }
            Some(baseline) if Some(baseline) != self.tick => {
                return Err(ViewError::BaselineMismatch {
                    baseline,
                    held: self.tick,
                });
            }
            Some(baseline) if tick < baseline => {
                return Err(ViewError::TickWentBack {
                    got: tick,
                    held: baseline,
                });
            }
            Some(_) => {}
        }
        // Projectiles launched from a shooter are placed once the shooter's key is current.
        let mut from_shooters = Vec::new();
        for state in &snapshot.entered {
            let id = state.id();
            if self.players.contains_key(&id) || self.projectiles.contains_key(&id) {
                return Err(ViewError::DuplicateEntity(id));
            }
            match state {
                EntityState::Player(p) => {
                    let view = PlayerView {
                        motion: player_motion(tick, &p.motion)?,
                        aim: p.aim,
                        hp: p.hp,
                        status: p.status,
                    };
                    self.players.insert(id, view);
                }
                EntityState::Projectile(p) => {
                    let launched = absolute(tick, p.age)?;
                    match p.launch {
                        Launch::At(pos) => {
                            let motion =
                                ProjectileMotion::fired(&self.params, launched, pos, p.aim);
                            self.projectiles.insert(id, ProjectileView { motion });
                        }
                        Launch::Shooter(shooter) => {
                            from_shooters.push((id, launched, shooter, ShotAim::Own(p.aim)));
                        }
                        Launch::ShooterAim(shooter, offset) => {
                            from_shooters.push((id, launched, shooter, ShotAim::Shooter(offset)));
                        }
                    }
                }
            }
        }
        for update in &snapshot.updated {
            let player = self
                .players
                .get_mut(&update.id)
                .ok_or(ViewError::UnknownEntity(update.id))?;
            for field in &update.fields {
                match field {
                    PlayerField::Motion(m) => player.motion = player_motion(tick, m)?,
                    PlayerField::Turn { age, dir } => {
                        let at = absolute(tick, *age)?;
                        player.motion = PlayerMotion {
                            tick: at,
                            pos: player.motion.position_at(&self.map, &self.params, at),
                            dir: *dir,
                        };
                    }
                    PlayerField::Aim(aim) => player.aim = *aim,
                    PlayerField::Hp(hp) => player.hp = *hp,
                    PlayerField::Status(status) => player.status = *status,
                }
            }
        }
        for (id, launched, shooter, aim) in from_shooters {
            let from = self
                .player_position(shooter, launched)
                .ok_or(ViewError::UnknownEntity(shooter))?;
            let aim = match aim {
                ShotAim::Own(aim) => aim,
                ShotAim::Shooter(offset) => {
                    let held = self
                        .players
                        .get(&shooter)
                        .ok_or(ViewError::UnknownEntity(shooter))?;
                    aim_from_wire(held.aim).wrapping_add(offset as i16 as u16)
                }
            };
            let motion = ProjectileMotion::fired(&self.params, launched, from, aim);
            if self.players.contains_key(&id) || self.projectiles.contains_key(&id) {
                return Err(ViewError::DuplicateEntity(id));
            }
            self.projectiles.insert(id, ProjectileView { motion });
        }
        for id in &snapshot.left {
            let known = self.players.remove(id).is_some() || self.projectiles.remove(id).is_some();
            if !known {
                return Err(ViewError::UnknownEntity(*id));
            }
        }
        self.drop_implicitly(tick);
        self.tick = Some(tick);
        self.ack_input_seq = snapshot.ack_input_seq;
        Ok(())
    }

    /// Drops what the server no longer sends without saying so: projectiles gone by the shared rule,
    /// and projectiles beyond the outer view radius from this view's player. (Players leave only by
    /// `left`: once out of view one may move in ways this view is not told of.)
    fn drop_implicitly(&mut self, tick: Tick) {
        let (map, params) = (&self.map, &self.params);
        self.projectiles
            .retain(|_, shot| !shot.motion.gone_at(map, params, tick));
        let Some((me, radius)) = self.viewer else {
            return;
        };
        let Some(centre) = self
            .players
            .get(&me)
            .map(|p| p.motion.position_at(map, params, tick))
        else {
            return;
        };
        let outer = i64::from(outer_view_radius(radius));
        let near = |pos: Pos| pos.distance_squared(centre) <= outer * outer;
        self.projectiles
            .retain(|_, shot| shot.motion.position_at(map, tick).is_some_and(near));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::tile_centre;
    use crate::physics::{step_player, Dir};
    use crate::protocol::{PlayerState, PlayerUpdate, ProjectileState};
    use crate::time::TickRate;

    /// A 12 x 5 open map.
    fn view() -> ClientView {
        let map =
            Map::parse("############\n#S.........#\n#..........#\n#..........#\n############\n")
                .expect("valid");
        ClientView::new(
            Arc::new(map),
            MoveParams::new(TickRate::new(60).expect("valid")),
        )
    }

    fn player(id: u32, age: u32) -> EntityState {
        EntityState::Player(PlayerState {
            id: EntityId(id),
            motion: WireMotion {
                age,
                pos: tile_centre(2, 2),
                dir: Dir::East,
            },
            aim: 0,
            hp: 100,
            status: 0,
        })
    }

    #[test]
    fn applies_full_then_deltas() {
        let mut view = view();
        let full = Snapshot {
            tick: Tick(10),
            entered: vec![player(1, 4), player(2, 0)],
            ..Snapshot::default()
        };
        view.apply(&full).expect("full applies");
        assert_eq!(view.players()[&EntityId(1)].motion.tick, Tick(6));
        let delta = Snapshot {
            tick: Tick(12),
            proof: 0,
            baseline: Some(Tick(10)),
            ack_input_seq: 7,
            entered: vec![EntityState::Projectile(ProjectileState {
                id: EntityId(3),
                age: 1,
                launch: Launch::At(tile_centre(3, 3)),
                aim: 0,
            })],
            updated: vec![PlayerUpdate {
                id: EntityId(1),
                fields: vec![PlayerField::Hp(75), PlayerField::Aim(9)],
            }],
            left: vec![EntityId(2)],
            events: vec![],
            check: [0; 4],
        };
        view.apply(&delta).expect("delta applies");
        assert_eq!(view.tick(), Some(Tick(12)));
        assert_eq!(view.ack_input_seq(), 7);
        assert_eq!(view.players().len(), 1);
        assert_eq!(view.players()[&EntityId(1)].hp, 75);
        assert_eq!(view.players()[&EntityId(1)].aim, 9);
        assert_eq!(view.projectiles()[&EntityId(3)].motion.tick, Tick(11));
        // The projectile enters the east wall (column 11, 7.5 tiles away) within a second and is
        // dropped without a message; a turn continues from where the old key put the player.
        let before = view.players()[&EntityId(1)].motion;
        let later = Snapshot {
            tick: Tick(80),
            baseline: Some(Tick(12)),
            updated: vec![PlayerUpdate {
                id: EntityId(1),
                fields: vec![PlayerField::Turn {
                    age: 3,
                    dir: Dir::North,
                }],
            }],
            ..Snapshot::default()
        };
        view.apply(&later).expect("later delta applies");
        assert!(view.projectiles().is_empty(), "gone by the shared rule");
        let turned = view.players()[&EntityId(1)].motion;
        assert_eq!(turned.tick, Tick(77));
        assert_eq!(turned.dir, Dir::North);
        let (map, params) = (view.map().clone(), *view.params());
        assert_eq!(turned.pos, before.position_at(&map, &params, Tick(77)));
        let expected = step_player(&map, &params, turned.pos, Dir::North);
        assert_eq!(view.player_position(EntityId(1), Tick(78)), Some(expected));
    }

    #[test]
    fn a_shot_at_its_shooters_aim_takes_the_aim_held_after_the_updates() {
        let mut view = view();
        let full = Snapshot {
            tick: Tick(10),
            entered: vec![player(2, 0)],
            ..Snapshot::default()
        };
        view.apply(&full).expect("full applies");
        // The shooter's aim changes in the same snapshot: the shot takes the new one, plus its
        // offset, wrapping below 0.
        for (wire_aim, offset, expected) in
            [(1_000, 3, 16_003), (1_000, -8, 15_992), (0, -1, 65_535)]
        {
            let delta = Snapshot {
                tick: Tick(12),
                baseline: view.tick(),
                entered: vec![EntityState::Projectile(ProjectileState {
                    id: EntityId(3),
                    age: 1,
                    launch: Launch::ShooterAim(EntityId(2), offset),
                    aim: 0,
                })],
                updated: vec![PlayerUpdate {
                    id: EntityId(2),
                    fields: vec![PlayerField::Aim(wire_aim)],
                }],
                ..Snapshot::default()
            };
            let mut shot_view = view.clone();
            shot_view.apply(&delta).expect("delta applies");
            let from = shot_view
                .player_position(EntityId(2), Tick(11))
                .expect("held");
            let params = *shot_view.params();
            assert_eq!(
                shot_view.projectiles()[&EntityId(3)].motion,
                ProjectileMotion::fired(&params, Tick(11), from, expected),
                "aim {wire_aim}, offset {offset}"
            );
        }
    }

    #[test]
    fn checked_application_tells_held_desynced_and_lost_apart() {
        let mut view = view();
        let mut full = Snapshot {
            tick: Tick(10),
            entered: vec![player(1, 0)],
            ..Snapshot::default()
        };
        let mut expected = ViewCheck::default();
        if let EntityState::Player(p) = &full.entered[0] {
            let motion = player_motion(Tick(10), &p.motion).expect("valid");
            expected.add(ViewCheck::player_word(p.id, &motion, p.aim, p.hp, p.status));
        }
        full.check = expected.to_wire();
        assert_eq!(view.apply_checked(&full), Checked::Held);
        assert_eq!(Checked::Held.reply(Tick(10)), None);
        // The same entities under a wrong check: a desync, and the view starts over.
        let mut wrong = full.clone();
        wrong.tick = Tick(11);
        wrong.check[0] ^= 1;
        assert_eq!(view.apply_checked(&wrong), Checked::Desynced);
        assert_eq!(view.tick(), None, "reset");
        assert_eq!(
            Checked::Desynced.reply(Tick(11)),
            Some(ClientMsg::Desync { tick: Tick(11) })
        );
        // A delta against a baseline the view does not hold is lost.
        let delta = Snapshot {
            tick: Tick(12),
            baseline: Some(Tick(11)),
            ..Snapshot::default()
        };
        assert_eq!(view.apply_checked(&delta), Checked::Lost);
        assert_eq!(
            Checked::Lost.reply(Tick(12)),
            Some(ClientMsg::RequestFullSnapshot)
        );
    }

    #[test]
    fn rejects_inconsistent_snapshots() {
        let mut view = view();
        let delta = Snapshot {
            tick: Tick(5),
            baseline: Some(Tick(4)),
            ..Snapshot::default()
        };
        assert!(matches!(
            view.apply(&delta),
            Err(ViewError::BaselineMismatch { .. })
        ));
        let full = Snapshot {
            tick: Tick(5),
            entered: vec![player(1, 0), player(1, 0)],
            ..Snapshot::default()
        };
        assert_eq!(
            view.apply(&full),
            Err(ViewError::DuplicateEntity(EntityId(1)))
        );
        let full = Snapshot {
            tick: Tick(5),
            entered: vec![player(1, 6)],
            ..Snapshot::default()
        };
        assert_eq!(view.apply(&full), Err(ViewError::BadAge));
        let ok = Snapshot {
            tick: Tick(5),
            ..Snapshot::default()
        };
        view.apply(&ok).expect("empty full applies");
        let gone = Snapshot {
            tick: Tick(6),
            baseline: Some(Tick(5)),
            left: vec![EntityId(9)],
            ..Snapshot::default()
        };
        assert_eq!(
            view.apply(&gone),
            Err(ViewError::UnknownEntity(EntityId(9)))
        );
        let older = Snapshot {
            tick: Tick(4),
            ..Snapshot::default()
        };
        assert!(matches!(
            view.apply(&older),
            Err(ViewError::TickWentBack { .. })
        ));
    }
}
