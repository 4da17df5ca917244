//! A client's picture of the world, rebuilt from snapshots.
//!
//! [`ClientView`] applies each [`Snapshot`] to the state of the one before it. It holds motion keys, not
//! positions: [`ClientView::player_position`] extrapolates a key with the shared movement step, so the
//! position it gives at a tick is exactly the server's for as long as the key holds.

use crate::map::Map;
use crate::physics::{MoveParams, PlayerMotion, Pos, ProjectileMotion};
use crate::protocol::{EntityId, EntityState, PlayerField, Snapshot, WireMotion};
use crate::time::Tick;
use std::collections::BTreeMap;

/// A player as the client knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlayerView {
    /// Motion key, with an absolute tick.
    pub motion: PlayerMotion,
    /// Aim angle.
    pub aim: u16,
    /// Hit points.
    pub hp: u8,
    /// Status bits (`protocol::status`).
    pub status: u8,
}

/// A projectile as the client knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProjectileView {
    /// Who fired it.
    pub owner: EntityId,
    /// Launch point, tick and velocity.
    pub motion: ProjectileMotion,
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientView {
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
    /// An empty view that expects a full snapshot first.
    pub fn new() -> ClientView {
        ClientView::default()
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
    pub fn player_position(
        &self,
        map: &Map,
        params: &MoveParams,
        id: EntityId,
        tick: Tick,
    ) -> Option<Pos> {
        self.players
            .get(&id)
            .map(|p| p.motion.position_at(map, params, tick))
    }

    /// Applies a snapshot (see [`Snapshot`] for the rules). On error the view must be rebuilt from a
    /// full snapshot.
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
                    let motion = ProjectileMotion {
                        tick: absolute(tick, p.age)?,
                        pos: p.pos,
                        velocity: p.velocity,
                    };
                    let owner = p.owner;
                    self.projectiles
                        .insert(id, ProjectileView { owner, motion });
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
                    PlayerField::Aim(aim) => player.aim = *aim,
                    PlayerField::Hp(hp) => player.hp = *hp,
                    PlayerField::Status(status) => player.status = *status,
                }
            }
        }
        for id in &snapshot.left {
            let known = self.players.remove(id).is_some() || self.projectiles.remove(id).is_some();
            if !known {
                return Err(ViewError::UnknownEntity(*id));
            }
        }
        self.tick = Some(tick);
        self.ack_input_seq = snapshot.ack_input_seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::Dir;
    use crate::protocol::{PlayerState, PlayerUpdate, ProjectileState};

    fn player(id: u32, age: u32) -> EntityState {
        EntityState::Player(PlayerState {
            id: EntityId(id),
            motion: WireMotion {
                age,
                pos: Pos::new(1000, 1000),
                dir: Dir::East,
            },
            aim: 0,
            hp: 100,
            status: 0,
        })
    }

    #[test]
    fn applies_full_then_deltas() {
        let mut view = ClientView::new();
        let full = Snapshot {
            tick: Tick(10),
            entered: vec![player(1, 4), player(2, 0)],
            ..Snapshot::default()
        };
        view.apply(&full).expect("full applies");
        assert_eq!(view.players()[&EntityId(1)].motion.tick, Tick(6));
        let delta = Snapshot {
            tick: Tick(12),
            baseline: Some(Tick(10)),
            ack_input_seq: 7,
            entered: vec![EntityState::Projectile(ProjectileState {
                id: EntityId(3),
                owner: EntityId(1),
                age: 1,
                pos: Pos::new(5, 5),
                velocity: (10, 0),
            })],
            updated: vec![PlayerUpdate {
                id: EntityId(1),
                fields: vec![PlayerField::Hp(75), PlayerField::Aim(9)],
            }],
            left: vec![EntityId(2)],
            events: vec![],
        };
        view.apply(&delta).expect("delta applies");
        assert_eq!(view.tick(), Some(Tick(12)));
        assert_eq!(view.ack_input_seq(), 7);
        assert_eq!(view.players().len(), 1);
        assert_eq!(view.players()[&EntityId(1)].hp, 75);
        assert_eq!(view.players()[&EntityId(1)].aim, 9);
        assert_eq!(view.projectiles()[&EntityId(3)].motion.tick, Tick(11));
    }

    #[test]
    fn rejects_inconsistent_snapshots() {
        let mut view = ClientView::new();
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
