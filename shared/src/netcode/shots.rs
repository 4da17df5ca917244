//! The player's own projectiles, shown the moment it fires and reconciled with the server's.
//!
//! The server launches a projectile by a rule the client can apply itself: a living player holding
//! fire at tick `t` fires if `t` is at or past its cooldown (`MoveParams::fire_cooldown` ticks after its
//! last shot), from its position after that tick's move, along its aim
//! (`ProjectileMotion::fired`). So the client predicts its own shot with the same motion the server
//! will give it and draws it at once, rather than a round trip later.
//!
//! Snapshots carry no owner for projectiles, so a prediction is matched to the server's projectile by
//! what it is: the same velocity (aim), a launch tick within [`MATCH_TICKS`] and a launch point within
//! [`MATCH_DISTANCE`]. A matched prediction is dropped, and the server's projectile is remembered as
//! the player's own ([`ShotPredictor::is_own`]) so the client can keep drawing it on the same
//! timeline as its avatar. An unmatched prediction is dropped when a snapshot [`MATCH_TICKS`] past
//! its launch tick arrives without it (the server did not fire then, or the shot already hit), or
//! [`EXPIRY_MARGIN_MS`] after a round trip with no such snapshot.
//!
//! What a client calls, per local tick and per snapshot, is listed on [`ShotPredictor`].

use crate::fixed::{Coord, Pos};
use crate::map::Map;
use crate::physics::{MoveParams, ProjectileMotion, PLAYER_HALF_SIZE};
use crate::protocol::EntityId;
use crate::time::Tick;
use crate::view::ClientView;
use std::collections::VecDeque;

/// Most predictions held at once (a projectile lives 1.2 s and the cooldown is 250 ms, so about five
/// are ever in flight); the oldest gives way.
pub const MAX_PREDICTED: usize = 16;

/// Most server projectiles remembered as the player's own; the oldest is forgotten first.
pub const MAX_OWN: usize = 16;

/// A server projectile launched up to this many ticks from a prediction's launch tick may be it (an
/// input the server applied a tick or two from the one the client stamped).
pub const MATCH_TICKS: u32 = 2;

/// A server projectile launched up to this many coords (per axis) from a prediction's launch point
/// may be it: the client's position prediction may be a little off, or a late input launched from a
/// step or two further on.
pub const MATCH_DISTANCE: Coord = PLAYER_HALF_SIZE;

/// How long past one round trip an unmatched prediction is kept when no snapshot settles it, in ms.
pub const EXPIRY_MARGIN_MS: f64 = 100.0;

/// A projectile the client expects the server to have fired for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictedShot {
    /// Launch tick, point and velocity: what the server's projectile will have.
    pub motion: ProjectileMotion,
    /// The aim it was fired at.
    pub aim: u16,
    /// Local time (ms) after which it is dropped if still unmatched.
    deadline_ms: f64,
}

/// One local input tick, as the shot predictor needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FireInput {
    /// The server tick the input is for (its `InputFrame::tick`).
    pub tick: Tick,
    /// The own avatar's predicted position after this tick's move.
    pub position: Pos,
    /// The input's aim.
    pub aim: u16,
    /// Whether the input holds fire.
    pub fire: bool,
    /// Whether the own avatar is alive (the dead do not fire).
    pub alive: bool,
}

/// Counts of what became of the predictions (for the HUD and test reports).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShotStats {
    /// Shots predicted.
    pub predicted: u32,
    /// Predictions the server's projectiles confirmed.
    pub matched: u32,
    /// Predictions dropped unmatched: the server did not fire then, or the shot ended before a
    /// snapshot showed it.
    pub dropped: u32,
}

/// Predicts the player's own shots and reconciles them with the server's projectiles.
///
/// What a client calls:
/// 1. each local input tick, after predicting its own movement for that tick:
///    [`ShotPredictor::on_input`] with the input's tick, the predicted position, the aim and fire
///    button, and whether the avatar is alive; it returns the new prediction, if the shot fires;
/// 2. after each snapshot that applied cleanly to its [`ClientView`]: [`ShotPredictor::reconcile`];
/// 3. when drawing at local (predicted) tick `t`: [`ShotPredictor::positions_at`] for the predictions
///    not yet confirmed, and every server projectile for which [`ShotPredictor::is_own`] holds at `t`
///    too (not at the remote players' interpolation tick), so the shot does not jump back when the
///    server's projectile takes over.
#[derive(Debug, Clone, Default)]
pub struct ShotPredictor {
    /// The first tick at which the player may fire again, by the shared cooldown rule.
    fire_ready: Tick,
    /// Unconfirmed predictions, oldest first.
    predicted: VecDeque<PredictedShot>,
    /// Server projectiles matched to predictions, oldest first.
    own: VecDeque<EntityId>,
    stats: ShotStats,
}

impl ShotPredictor {
    /// A predictor with nothing fired.
    pub fn new() -> ShotPredictor {
        ShotPredictor::default()
    }

    /// Applies the server's firing rule to a local input tick; a shot is predicted, and returned, if
    /// it fires. `rtt_ms` (the smoothed round trip, 0 if unknown yet) sets how long it waits for the
    /// server's projectile.
    pub fn on_input(
        &mut self,
        params: &MoveParams,
        input: &FireInput,
        now_ms: f64,
        rtt_ms: f64,
    ) -> Option<ProjectileMotion> {
        if !input.alive || !input.fire || input.tick < self.fire_ready {
            return None;
        }
        self.fire_ready = input.tick.plus(params.fire_cooldown);
        let motion = ProjectileMotion::fired(params, input.tick, input.position, input.aim);
        if self.predicted.len() >= MAX_PREDICTED {
            self.predicted.pop_front();
            self.stats.dropped += 1;
        }
        self.predicted.push_back(PredictedShot {
            motion,
            aim: input.aim,
            deadline_ms: now_ms + rtt_ms.max(0.0) + EXPIRY_MARGIN_MS,
        });
        self.stats.predicted += 1;
        Some(motion)
    }

    /// Matches predictions with the server's projectiles in `view` (just updated by a snapshot),
    /// drops the ones the snapshot shows the server did not fire, and forgets own projectiles that
    /// left the view.
    pub fn reconcile(&mut self, view: &ClientView, now_ms: f64) {
        let Some(snapshot_tick) = view.tick() else {
            return;
        };
        let projectiles = view.projectiles();
        self.own.retain(|id| projectiles.contains_key(id));
        let mut index = 0;
        while index < self.predicted.len() {
            let shot = self.predicted[index];
            let found = projectiles
                .iter()
                .filter(|(id, _)| !self.own.contains(id))
                .filter_map(|(&id, server)| {
                    let server = &server.motion;
                    let ticks = server.tick.0.abs_diff(shot.motion.tick.0);
                    let dx = (server.pos.x - shot.motion.pos.x).abs();
                    let dy = (server.pos.y - shot.motion.pos.y).abs();
                    let near = server.velocity == shot.motion.velocity
                        && ticks <= MATCH_TICKS
                        && dx.max(dy) <= MATCH_DISTANCE;
                    near.then_some((ticks, dx.max(dy), id, server.tick))
                })
                .min();
            if let Some((_, _, id, launched)) = found {
                self.predicted.remove(index);
                if self.own.len() >= MAX_OWN {
                    self.own.pop_front();
                }
                self.own.push_back(id);
                self.stats.matched += 1;
                // The server's launch tick is the truth: its cooldown runs from there.
                let cooldown = view.params().fire_cooldown;
                self.fire_ready = self.fire_ready.max(launched.plus(cooldown));
                continue;
            }
            if snapshot_tick >= shot.motion.tick.plus(MATCH_TICKS) {
                self.predicted.remove(index);
                self.stats.dropped += 1;
                continue;
            }
            index += 1;
        }
        self.expire(now_ms);
    }

    /// Drops predictions still unmatched a round trip and a margin after they were fired (call once
    /// a frame, so they go even when snapshots stop).
    pub fn expire(&mut self, now_ms: f64) {
        let before = self.predicted.len();
        self.predicted.retain(|shot| now_ms < shot.deadline_ms);
        self.stats.dropped += (before - self.predicted.len()) as u32;
    }

    /// The predictions not yet confirmed, oldest first.
    pub fn predicted(&self) -> impl Iterator<Item = &PredictedShot> + '_ {
        self.predicted.iter()
    }

    /// Where the unconfirmed predictions are at `tick` (those gone by then, into a wall or past
    /// their lifetime, are left out).
    pub fn positions_at<'a>(
        &'a self,
        map: &'a Map,
        params: &'a MoveParams,
        tick: Tick,
    ) -> impl Iterator<Item = Pos> + 'a {
        self.predicted
            .iter()
            .filter(move |shot| !shot.motion.gone_at(map, params, tick))
            .filter_map(move |shot| shot.motion.position_at(map, tick))
    }

    /// Whether the server projectile `id` is one of the player's own (it matched a prediction).
    pub fn is_own(&self, id: EntityId) -> bool {
        self.own.contains(&id)
    }

    /// What became of the predictions so far.
    pub fn stats(&self) -> ShotStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::{tile_centre, TILE_SIZE};
    use crate::netcode::test_support::{arena, params};
    use crate::protocol::{EntityState, Launch, ProjectileState, Snapshot};
    use std::sync::Arc;

    /// Round trip used throughout, in ms.
    const RTT: f64 = 150.0;

    fn fire_at(tick: u32, position: Pos, aim: u16) -> FireInput {
        FireInput {
            tick: Tick(tick),
            position,
            aim,
            fire: true,
            alive: true,
        }
    }

    /// A view holding, as of `tick`, the server projectiles `(id, launch tick, launch point, aim)`.
    fn view_with(tick: u32, shots: &[(u32, u32, Pos, u16)]) -> ClientView {
        let mut view = ClientView::new(Arc::new(arena()), params());
        let snapshot = Snapshot {
            tick: Tick(tick),
            entered: shots
                .iter()
                .map(|&(id, launched, pos, aim)| {
                    EntityState::Projectile(ProjectileState {
                        id: EntityId(id),
                        age: tick - launched,
                        launch: Launch::At(pos),
                        aim,
                    })
                })
                .collect(),
            ..Snapshot::default()
        };
        view.apply(&snapshot).expect("applies");
        assert_eq!(view.projectiles().len(), shots.len(), "all still flying");
        view
    }

    #[test]
    fn shots_follow_the_servers_cooldown_and_launch_rule() {
        let params = params();
        assert_eq!(params.fire_cooldown, 15, "250 ms at 60 Hz");
        let mut shots = ShotPredictor::new();
        let start = tile_centre(3, 1);
        let mut fired = Vec::new();
        for tick in 100..140 {
            let input = FireInput {
                alive: tick != 130,
                ..fire_at(
                    tick,
                    Pos::new(start.x + 64 * (tick as i32 - 100), start.y),
                    9_000,
                )
            };
            if let Some(motion) = shots.on_input(&params, &input, 0.0, RTT) {
                fired.push(motion);
            }
        }
        // Held fire shoots every 15 ticks; dead at tick 130, the next shot waits for life.
        let ticks: Vec<u32> = fired.iter().map(|m| m.tick.0).collect();
        assert_eq!(ticks, [100, 115, 131]);
        assert_eq!(
            fired[1],
            ProjectileMotion {
                tick: Tick(115),
                pos: Pos::new(start.x + 64 * 15, start.y),
                velocity: params.projectile_velocity(9_000),
            },
            "from the shooter's position that tick, along its aim"
        );
        // Not holding fire fires nothing.
        let mut idle = ShotPredictor::new();
        let input = FireInput {
            fire: false,
            ..fire_at(100, start, 0)
        };
        assert_eq!(idle.on_input(&params, &input, 0.0, RTT), None);
        assert_eq!(shots.stats().predicted, 3);
        assert_eq!(shots.predicted().count(), 3);
    }

    #[test]
    fn a_matching_server_projectile_replaces_the_prediction() {
        let (map, params) = (arena(), params());
        let start = tile_centre(3, 1);
        let mut shots = ShotPredictor::new();
        let motion = shots
            .on_input(&params, &fire_at(200, start, 0), 1_000.0, RTT)
            .expect("fires");
        // Drawn at once, and moving on the local timeline.
        let drawn: Vec<Pos> = shots.positions_at(&map, &params, Tick(203)).collect();
        assert_eq!(
            drawn,
            [Pos::new(start.x + 3 * params.projectile_step, start.y)]
        );
        // A snapshot of tick 201 has a remote player's shot (elsewhere, another aim) and ours.
        let remote = tile_centre(10, 1);
        let view = view_with(
            201,
            &[
                (9, 200, remote, 0),
                (11, 200, start, 16_000),
                (13, 200, start, 0),
            ],
        );
        shots.reconcile(&view, 1_160.0);
        assert!(shots.is_own(EntityId(13)));
        assert!(!shots.is_own(EntityId(9)) && !shots.is_own(EntityId(11)));
        assert_eq!(
            shots.predicted().count(),
            0,
            "the server's projectile takes over"
        );
        assert_eq!(view.projectiles()[&EntityId(13)].motion, motion);
        assert_eq!(
            shots.stats(),
            ShotStats {
                predicted: 1,
                matched: 1,
                dropped: 0
            }
        );
        // Once it leaves the view it is forgotten.
        let later = view_with(230, &[]);
        shots.reconcile(&later, 1_700.0);
        assert!(!shots.is_own(EntityId(13)));
    }

    #[test]
    fn a_slightly_late_or_displaced_launch_still_matches() {
        let params = params();
        let start = tile_centre(3, 1);
        let mut shots = ShotPredictor::new();
        shots.on_input(&params, &fire_at(200, start, 0), 0.0, RTT);
        shots.on_input(&params, &fire_at(215, start, 0), 0.0, RTT);
        // The server applied the first input a tick late, a step further on; the second as stamped
        // but 8 units off (a small misprediction of our position).
        let step = Pos::new(start.x + params.player_step, start.y);
        let off = Pos::new(start.x, start.y + 8 * 16);
        let view = view_with(216, &[(21, 201, step, 0), (23, 215, off, 0)]);
        shots.reconcile(&view, 200.0);
        assert!(shots.is_own(EntityId(21)) && shots.is_own(EntityId(23)));
        assert_eq!(shots.stats().matched, 2);
        // But not three ticks off, nor a tile away.
        let mut shots = ShotPredictor::new();
        shots.on_input(&params, &fire_at(200, start, 0), 0.0, RTT);
        let far = Pos::new(start.x + TILE_SIZE, start.y);
        let view = view_with(201, &[(31, 197, start, 0), (33, 200, far, 0)]);
        shots.reconcile(&view, 100.0);
        assert!(!shots.is_own(EntityId(31)) && !shots.is_own(EntityId(33)));
        assert_eq!(shots.predicted().count(), 1, "still waiting for its own");
    }

    #[test]
    fn unmatched_predictions_expire() {
        let params = params();
        let start = tile_centre(3, 1);
        let mut shots = ShotPredictor::new();
        shots.on_input(&params, &fire_at(200, start, 0), 1_000.0, RTT);
        // A snapshot from before the shot settles nothing, nor one just after its tick.
        shots.reconcile(&view_with(198, &[]), 1_050.0);
        shots.reconcile(&view_with(201, &[]), 1_100.0);
        assert_eq!(shots.predicted().count(), 1);
        // The snapshot for two ticks on, without it: the server did not fire (or it already hit).
        shots.reconcile(&view_with(202, &[]), 1_120.0);
        assert_eq!(shots.predicted().count(), 0);
        assert_eq!(shots.stats().dropped, 1);

        // With no snapshot at all, it goes a round trip and a margin after it was fired.
        let mut shots = ShotPredictor::new();
        shots.on_input(&params, &fire_at(300, start, 0), 1_000.0, RTT);
        shots.expire(1_000.0 + RTT + EXPIRY_MARGIN_MS - 1.0);
        assert_eq!(shots.predicted().count(), 1);
        shots.expire(1_000.0 + RTT + EXPIRY_MARGIN_MS);
        assert_eq!(shots.predicted().count(), 0);
        assert_eq!(
            shots.stats(),
            ShotStats {
                predicted: 1,
                matched: 0,
                dropped: 1
            }
        );
    }

    #[test]
    fn predictions_are_not_drawn_past_a_wall() {
        let (map, params) = (arena(), params());
        // Tile (3, 1) aiming west: the border wall is two tiles away.
        let mut shots = ShotPredictor::new();
        shots.on_input(&params, &fire_at(10, tile_centre(3, 1), 32_768), 0.0, RTT);
        assert_eq!(shots.positions_at(&map, &params, Tick(11)).count(), 1);
        assert_eq!(shots.positions_at(&map, &params, Tick(30)).count(), 0);
    }

    #[test]
    fn predictions_and_own_ids_are_bounded() {
        let params = params();
        let start = tile_centre(3, 1);
        let mut shots = ShotPredictor::new();
        for i in 0..40 {
            shots.on_input(&params, &fire_at(100 + i * 15, start, 0), 0.0, 1e9);
        }
        assert_eq!(shots.predicted().count(), MAX_PREDICTED);
        assert_eq!(shots.stats().dropped, 40 - MAX_PREDICTED as u32);
    }
}
