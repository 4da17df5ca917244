//! Client-side prediction and reconciliation of the player's own avatar.
//!
//! Every local tick the client applies its own input with the shared movement step at once, and
//! remembers it until the server acknowledges it. On each snapshot the prediction restarts from the
//! server's position and replays the inputs the server has not applied yet. The difference between the
//! old and new prediction becomes a visual offset that decays over [`SMOOTHING_MS`], so small corrections
//! glide instead of snapping; large ones (a respawn, say) snap.
//!
//! Inputs stamped with their server tick are replayed only for ticks after the snapshot's: one the
//! server has not applied by then came late, and the server ran its tick with the player's previous
//! input instead (and applies at most the newest late input, and only if the next tick's is late
//! too). Replaying it on top of the server's position would count its tick twice.

use crate::fixed::{coord_to_units, Pos};
use crate::map::{Map, TILE_SIZE};
use crate::physics::{step_player, Dir, MoveParams};
use crate::time::Tick;
use std::collections::VecDeque;

/// Time constant of the correction smoothing, in milliseconds.
pub const SMOOTHING_MS: f64 = 100.0;

/// Corrections larger than this (in coords) snap instead of gliding.
pub const SNAP_DISTANCE: i32 = 3 * TILE_SIZE;

/// Most unacknowledged inputs remembered (two seconds at 60 Hz); older ones are forgotten.
pub const MAX_PENDING: usize = 120;

/// The predicted state of the player's own avatar.
#[derive(Debug, Clone, Default)]
pub struct Predictor {
    /// Inputs not acknowledged yet: sequence number, the tick they are stamped for (0: unstamped),
    /// direction.
    pending: VecDeque<(u32, Tick, Dir)>,
    predicted: Pos,
    /// The prediction one local tick earlier: the avatar is drawn between this and `predicted`,
    /// by how far the frame is into the next tick, so its motion is even at any display rate.
    previous: Pos,
    /// Visual offset in world units still to be smoothed away (old prediction minus new).
    offset: (f64, f64),
    started: bool,
    /// Whether the avatar was dead at the last reconciliation: the dead do not move, so inputs are
    /// remembered (the server applies those for ticks after the respawn) but not stepped.
    dead: bool,
    /// Reconciliations that moved the prediction, and the largest move, in world units.
    corrections: Corrections,
}

/// How often, and how far, reconciliation moved the predicted avatar: each one is something the
/// player may see (a glide, or a snap when large). With the client's clock ahead of the server's
/// and nothing in the way, there should be none.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Corrections {
    /// Reconciliations that changed the predicted position.
    pub count: u32,
    /// The largest change, in world units (the longer axis).
    pub largest: f64,
    /// Changes over [`SNAP_REPORT_UNITS`]: the ones a player sees as a jump.
    pub snaps: u32,
}

/// Corrections longer than this, in world units, count as snaps in [`Corrections::snaps`] (a
/// player notices them; the netcode budget allows none in ordinary play).
pub const SNAP_REPORT_UNITS: f64 = 4.0;

impl Predictor {
    /// A predictor with no state until the first reconciliation.
    pub fn new() -> Predictor {
        Predictor::default()
    }

    /// Whether a server position has been seen.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Applies a local unstamped input at once and remembers it until acknowledged.
    pub fn apply_input(&mut self, map: &Map, params: &MoveParams, seq: u32, dir: Dir) {
        self.apply_stamped_input(map, params, seq, Tick(0), dir);
    }

    /// Applies a local input stamped for server tick `tick` (`Tick(0)`: unstamped) at once, and
    /// remembers it until acknowledged.
    pub fn apply_stamped_input(
        &mut self,
        map: &Map,
        params: &MoveParams,
        seq: u32,
        tick: Tick,
        dir: Dir,
    ) {
        if !self.started {
            return;
        }
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back((seq, tick, dir));
        self.previous = self.predicted;
        if !self.dead {
            self.predicted = step_player(map, params, self.predicted, dir);
        }
    }

    /// Restarts from the server's position after it applied input `ack`, replaying later inputs.
    /// `alive` false (dead, waiting to respawn): the avatar stays at the server's position and the
    /// pending inputs are not replayed, but kept: those for ticks after the respawn, which the
    /// client does not know of yet, the server applies, and they are replayed once a snapshot shows
    /// the avatar alive again.
    pub fn reconcile(
        &mut self,
        map: &Map,
        params: &MoveParams,
        server: Pos,
        ack: u32,
        alive: bool,
    ) {
        self.reconcile_at(map, params, server, Tick(0), ack, alive);
    }

    /// Like [`Predictor::reconcile`] for the server's position at `tick` (the snapshot's): stamped
    /// inputs for that tick or earlier that the server has not applied are not replayed (see the
    /// module docs). `Tick(0)` replays every input after `ack`.
    pub fn reconcile_at(
        &mut self,
        map: &Map,
        params: &MoveParams,
        server: Pos,
        tick: Tick,
        ack: u32,
        alive: bool,
    ) {
        while self.pending.front().is_some_and(|&(seq, _, _)| seq <= ack) {
            self.pending.pop_front();
        }
        self.dead = !alive;
        let mut pos = server;
        let mut previous = server;
        let replayed = self
            .pending
            .iter()
            .filter(|&&(_, stamp, _)| alive && (stamp == Tick(0) || stamp > tick));
        for &(_, _, dir) in replayed {
            previous = pos;
            pos = step_player(map, params, pos, dir);
        }
        if self.started {
            let dx = self.predicted.x - pos.x;
            let dy = self.predicted.y - pos.y;
            let moved = dx.abs().max(dy.abs());
            if moved > 0 {
                self.corrections.count += 1;
                let units = f64::from(coord_to_units(moved));
                self.corrections.largest = self.corrections.largest.max(units);
                if units > SNAP_REPORT_UNITS {
                    self.corrections.snaps += 1;
                }
            }
            if moved > SNAP_DISTANCE {
                self.offset = (0.0, 0.0);
                previous = pos; // a teleport is not drawn as a glide
            } else {
                self.offset.0 += f64::from(coord_to_units(dx));
                self.offset.1 += f64::from(coord_to_units(dy));
            }
        }
        if !self.started {
            previous = pos;
        }
        self.predicted = pos;
        self.previous = previous;
        self.started = true;
    }

    /// Lets `elapsed_ms` of smoothing pass.
    pub fn decay(&mut self, elapsed_ms: f64) {
        let keep = (-elapsed_ms / SMOOTHING_MS).exp();
        self.offset.0 *= keep;
        self.offset.1 *= keep;
        if self.offset.0.abs() < 0.01 && self.offset.1.abs() < 0.01 {
            self.offset = (0.0, 0.0);
        }
    }

    /// The exact predicted position.
    pub fn predicted(&self) -> Pos {
        self.predicted
    }

    /// Where to draw the avatar, in world units: the prediction plus the remaining correction.
    pub fn render_position(&self) -> (f64, f64) {
        self.render_position_at(1.0)
    }

    /// Where to draw the avatar `alpha` (0..=1) of the way from the previous local tick to the
    /// latest, plus the remaining correction. Drawing at `alpha` = the fraction of a tick the frame
    /// is into the next one makes the motion even whatever the display's rate, where drawing the
    /// latest tick moves the avatar in whole-tick steps.
    pub fn render_position_at(&self, alpha: f64) -> (f64, f64) {
        let alpha = alpha.clamp(0.0, 1.0);
        let lerp = |from: i32, to: i32| {
            let (from, to) = (
                f64::from(coord_to_units(from)),
                f64::from(coord_to_units(to)),
            );
            from + (to - from) * alpha
        };
        (
            lerp(self.previous.x, self.predicted.x) + self.offset.0,
            lerp(self.previous.y, self.predicted.y) + self.offset.1,
        )
    }

    /// Inputs sent but not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The corrections reconciliation has made so far.
    pub fn corrections(&self) -> Corrections {
        self.corrections
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::tile_centre;
    use crate::netcode::test_support::{arena, params};

    #[test]
    fn replays_unacknowledged_inputs_on_top_of_the_server_state() {
        let (map, params) = (arena(), params());
        let start = tile_centre(3, 3);
        let mut server = start;
        let mut p = Predictor::new();
        p.reconcile(&map, &params, start, 0, true);
        for seq in 1..=10 {
            p.apply_input(&map, &params, seq, Dir::East);
        }
        // The server has applied inputs 1..=4 so far.
        for _ in 1..=4 {
            server = step_player(&map, &params, server, Dir::East);
        }
        let before = p.predicted();
        p.reconcile(&map, &params, server, 4, true);
        assert_eq!(p.pending(), 6);
        assert_eq!(p.predicted(), before, "an agreeing server changes nothing");
        assert_eq!(
            p.corrections(),
            Corrections::default(),
            "and is no correction"
        );
        assert_eq!(
            p.render_position(),
            (
                f64::from(coord_to_units(before.x)),
                f64::from(coord_to_units(before.y))
            )
        );
    }

    #[test]
    fn small_corrections_are_smoothed_and_large_ones_snap() {
        let (map, params) = (arena(), params());
        let start = tile_centre(3, 3);
        let mut p = Predictor::new();
        p.reconcile(&map, &params, start, 0, true);
        p.apply_input(&map, &params, 1, Dir::East);
        // The server did not move us (say we were blocked): prediction corrects to the server's.
        p.reconcile(&map, &params, start, 1, true);
        assert_eq!(p.predicted(), start);
        let step = f64::from(coord_to_units(
            step_player(&map, &params, start, Dir::East).x - start.x,
        ));
        assert_eq!(
            p.corrections(),
            Corrections {
                count: 1,
                largest: step,
                snaps: 0,
            },
            "one correction of one step"
        );
        let (x, _) = p.render_position();
        let exact = f64::from(coord_to_units(start.x));
        assert!(x > exact, "the correction glides from the old prediction");
        p.decay(1_000.0);
        assert_eq!(
            p.render_position().0,
            exact,
            "and has settled after a second"
        );
        // A respawn across the map snaps.
        let far = tile_centre(50, 40);
        p.reconcile(&map, &params, far, 1, true);
        assert_eq!(p.render_position().0, f64::from(coord_to_units(far.x)));
    }

    /// The distance the avatar is drawn moving in each display frame of `frame_ms`, walking east
    /// for half a second (clear of walls) at 60 ticks a second, drawn with `draw` (given the fraction of a tick the
    /// frame is into the next one).
    fn per_frame_motion(frame_ms: f64, draw: impl Fn(&Predictor, f64) -> f64) -> Vec<f64> {
        let (map, params) = (arena(), params());
        let tick_ms = 1000.0 / 60.0;
        let mut p = Predictor::new();
        p.reconcile(&map, &params, tile_centre(3, 10), 0, true);
        let (mut accumulator, mut seq, mut last) = (0.0, 0, None);
        let mut steps = Vec::new();
        for _ in 0..(500.0 / frame_ms) as usize {
            accumulator += frame_ms;
            while accumulator >= tick_ms {
                accumulator -= tick_ms;
                seq += 1;
                p.apply_input(&map, &params, seq, Dir::East);
            }
            let x = draw(&p, accumulator / tick_ms);
            if let Some(last) = last {
                steps.push(x - last);
            }
            last = Some(x);
        }
        steps
    }

    #[test]
    fn own_motion_is_even_at_any_display_rate() {
        for hz in [60.0, 120.0, 144.0, 75.0] {
            let frame_ms = 1000.0 / hz;
            let even = per_frame_motion(frame_ms, |p, alpha| p.render_position_at(alpha).0);
            let (min, max) = even
                .iter()
                .skip(2)
                .fold((f64::MAX, f64::MIN), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
            assert!(max - min < 0.05 * max, "{hz} Hz: steps from {min} to {max}");
            if hz == 60.0 {
                continue; // one tick a frame: the old way is even only here, in this ideal timing
            }
            // Drawn at the latest tick instead, some frames move a whole tick more than others.
            let stepped = per_frame_motion(frame_ms, |p, _| p.render_position().0);
            let (min, max) = stepped
                .iter()
                .skip(2)
                .fold((f64::MAX, f64::MIN), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
            assert!(
                max - min > 0.5 * max,
                "{hz} Hz: the old way judders ({min}..{max})"
            );
        }
    }

    #[test]
    fn the_dead_hold_still_and_inputs_after_the_respawn_replay() {
        let (map, params) = (arena(), params());
        let mut p = Predictor::new();
        let body = tile_centre(3, 3);
        p.reconcile(&map, &params, body, 0, true);
        p.apply_input(&map, &params, 1, Dir::South);
        p.apply_input(&map, &params, 2, Dir::South);
        // Killed before applying them: the avatar stays where it fell, and walking while dead
        // moves nothing (no correction follows each snapshot while dead).
        p.reconcile(&map, &params, body, 0, false);
        assert_eq!(p.predicted(), body);
        for seq in 3..=6 {
            p.apply_input(&map, &params, seq, Dir::East);
        }
        assert_eq!(p.predicted(), body);
        let before = p.corrections();
        p.reconcile(&map, &params, body, 4, false);
        assert_eq!(
            p.corrections(),
            before,
            "holding still while dead is no correction"
        );
        // Respawned far away at the tick of input 4; the server applied 5 there, and 6 is pending.
        let spawn = tile_centre(40, 30);
        let after_five = step_player(&map, &params, spawn, Dir::East);
        p.reconcile(&map, &params, after_five, 5, true);
        assert_eq!(p.pending(), 1);
        assert_eq!(
            p.predicted(),
            step_player(&map, &params, after_five, Dir::East),
            "the input after the respawn is replayed from the new position"
        );
    }

    /// The server's side of ticks `101..=until` for inputs `(tick, dir)` stamped one per tick,
    /// one of which (`late`) arrives only after its tick: the server runs that tick with the
    /// previous input and then applies the newest due (so the late one is dropped). Returns the
    /// position and the last applied sequence number (inputs are numbered from 1 at tick 101).
    fn server_side(start: Pos, dirs: &[Dir], late: u32, until: u32) -> (Pos, u32) {
        let (map, params) = (arena(), params());
        let (mut pos, mut held, mut ack) = (start, Dir::Still, 0);
        for tick in 101..=until {
            let seq = tick - 100;
            if tick != late {
                held = dirs[seq as usize - 1];
                ack = seq;
            }
            pos = step_player(&map, &params, pos, held);
        }
        (pos, ack)
    }

    #[test]
    fn a_late_input_is_not_replayed_twice() {
        let (map, params) = (arena(), params());
        let start = tile_centre(10, 10);
        // Ten inputs east for ticks 101..=110; the one for 104 reaches the server late.
        let dirs = [Dir::East; 10];
        let predict = |p: &mut Predictor| {
            p.reconcile_at(&map, &params, start, Tick(100), 0, true);
            for (i, dir) in dirs.iter().enumerate() {
                let seq = i as u32 + 1;
                p.apply_stamped_input(&map, &params, seq, Tick(100 + seq), *dir);
            }
        };
        let mut by_tick = Predictor::new();
        predict(&mut by_tick);
        let truth = by_tick.predicted();
        // The snapshot of tick 104: four steps east (the held input ran tick 104), 3 acknowledged.
        let (at_104, ack) = server_side(start, &dirs, 104, 104);
        assert_eq!(ack, 3);
        by_tick.reconcile_at(&map, &params, at_104, Tick(104), ack, true);
        assert_eq!(
            by_tick.predicted(),
            truth,
            "ticks 105..=110 replayed, not 104 again"
        );
        let (at_106, ack) = server_side(start, &dirs, 104, 106);
        by_tick.reconcile_at(&map, &params, at_106, Tick(106), ack, true);
        assert_eq!(by_tick.predicted(), truth);
        assert_eq!(
            by_tick.corrections(),
            Corrections::default(),
            "nothing to correct"
        );
        // Replaying by sequence alone counts tick 104 twice: a step too far, then back.
        let mut by_seq = Predictor::new();
        predict(&mut by_seq);
        by_seq.reconcile(&map, &params, at_104, 3, true);
        assert_ne!(by_seq.predicted(), truth);
        by_seq.reconcile(&map, &params, at_106, 6, true);
        assert_eq!(by_seq.predicted(), truth);
        assert_eq!(by_seq.corrections().count, 2);
    }

    #[test]
    fn a_late_turn_is_corrected_to_where_the_server_will_be() {
        let (map, params) = (arena(), params());
        let start = tile_centre(10, 10);
        // East for ticks 101..=103, then south; the first south input (tick 104) is late.
        let mut dirs = [Dir::South; 10];
        dirs[..3].fill(Dir::East);
        let mut p = Predictor::new();
        p.reconcile_at(&map, &params, start, Tick(100), 0, true);
        for (i, dir) in dirs.iter().enumerate() {
            let seq = i as u32 + 1;
            p.apply_stamped_input(&map, &params, seq, Tick(100 + seq), *dir);
        }
        let (at_104, ack) = server_side(start, &dirs, 104, 104);
        p.reconcile_at(&map, &params, at_104, Tick(104), ack, true);
        let corrected = p.predicted();
        assert_eq!(p.corrections().count, 1, "the server went east once more");
        // Once the server has run every tick, the prediction made at tick 104 was right.
        let (at_110, ack) = server_side(start, &dirs, 104, 110);
        assert_eq!(corrected, at_110);
        p.reconcile_at(&map, &params, at_110, Tick(110), ack, true);
        assert_eq!(p.predicted(), at_110);
        assert_eq!(p.corrections().count, 1, "and needed no second correction");
    }
}
