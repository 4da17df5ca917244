//! The `feel` of play: a bot that runs the browser client's own netcode (`skirmish_shared::netcode`:
//! the server clock and the input clock that leads it, prediction and reconciliation of the own
//! avatar, the playout clock and interpolation of the others) and aims at other players where that
//! code draws them, so a load run can report what players would feel: corrections of the own avatar,
//! snaps, interpolation underruns, desyncs and (with the server's counters) late inputs and the hit
//! ratio of shots aimed at targets as drawn.

use skirmish_shared::fixed::coord_to_units;
use skirmish_shared::map::Map;
use skirmish_shared::netcode::clock::{InputClock, TickClock};
use skirmish_shared::netcode::interp::InterpolationBuffer;
use skirmish_shared::netcode::playout::{DelayPolicy, PlayoutClock};
use skirmish_shared::netcode::predict::Predictor;
use skirmish_shared::physics::{Dir, MoveParams};
use skirmish_shared::protocol::{buttons, status, EntityId, InputFrame, Snapshot, Welcome};
use skirmish_shared::time::{Tick, TickRate};
use skirmish_shared::view::{Checked, ClientView};
use std::sync::Arc;

/// Targets farther than this share of the view radius are not shot at (they may leave the view
/// before the shot arrives).
const RANGE_SHARE: f64 = 0.8;

/// What one feel bot measured.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct FeelFigures {
    /// Reconciliations that moved the own avatar while it lived on (deaths and respawns excluded).
    pub corrections: u32,
    /// Of those, the ones over 4 units.
    pub snaps: u32,
    /// The largest, in units.
    pub largest: f64,
    /// Reconciliations at a death or respawn (a teleport the player expects), not counted above.
    pub respawn_corrections: u32,
    /// Runs of frames whose render time passed the newest snapshot.
    pub underruns: u32,
    /// Input ticks sent.
    pub inputs: u32,
    /// Input ticks with the fire button held at a target as drawn.
    pub firing_ticks: u32,
    /// The view lags of those inputs summed, ms: how far behind its own input tick the shooter drew
    /// its target, what lag compensation rewinds (up to its cap).
    pub firing_view_lag_ms: u32,
}

/// A bot's client: the same netcode objects the browser's session holds.
pub struct FeelClient {
    me: EntityId,
    tick_ms: f64,
    map: Arc<Map>,
    params: MoveParams,
    reach: f64,
    view: ClientView,
    clock: TickClock,
    inputs: InputClock,
    playout: PlayoutClock,
    interp: InterpolationBuffer,
    predictor: Predictor,
    next_seq: u32,
    /// Whether the own avatar was alive at the last snapshot.
    alive: bool,
    /// The render tick of the last frame.
    render_tick: Option<f64>,
    figures: FeelFigures,
}

impl FeelClient {
    /// A client for the session `welcome` opened (`None` if its tick rate is out of range).
    pub fn new(welcome: &Welcome) -> Option<FeelClient> {
        let rate = TickRate::new(welcome.tick_rate)?;
        let map = Arc::new(welcome.map.clone());
        let params = MoveParams::new(rate);
        Some(FeelClient {
            me: welcome.player_id,
            tick_ms: 1000.0 / f64::from(rate.hz()),
            view: ClientView::new(map.clone(), params)
                .with_viewer(welcome.player_id, welcome.view_radius),
            reach: f64::from(coord_to_units(welcome.view_radius)) * RANGE_SHARE,
            map,
            params,
            clock: TickClock::new(rate.hz()),
            inputs: InputClock::new(rate.hz()),
            playout: PlayoutClock::new(rate.hz(), DelayPolicy::Adaptive),
            interp: InterpolationBuffer::new(),
            predictor: Predictor::new(),
            next_seq: 1,
            alive: true,
            render_tick: None,
            figures: FeelFigures::default(),
        })
    }

    /// The figures so far.
    pub fn figures(&self) -> FeelFigures {
        FeelFigures {
            underruns: self.playout.underruns(),
            ..self.figures
        }
    }

    /// The input clock's lead over the server estimate and the interpolation delay, ms.
    pub fn timing(&self) -> (Option<f64>, f64) {
        (self.inputs.lead_ms(&self.clock), self.playout.delay_ms())
    }

    /// How long to wait before the next ping, ms (the shared clock's cadence).
    pub fn ping_interval_ms(&self) -> f64 {
        self.clock.ping_interval_ms()
    }

    /// A pong for a ping sent at `sent_ms` arrived at `now_ms`.
    pub fn on_pong(&mut self, sent_ms: f64, now_ms: f64, tick: Tick) {
        self.clock.on_pong(sent_ms, now_ms, tick.0);
    }

    /// A snapshot arrived at `arrived_ms`; returns what it did to the view (`Checked::reply` says
    /// what to tell the server).
    pub fn on_snapshot(&mut self, snapshot: &Snapshot, arrived_ms: f64) -> Checked {
        let checked = self.view.apply_checked(snapshot);
        if checked != Checked::Held {
            return checked;
        }
        self.clock.on_snapshot(arrived_ms, snapshot.tick.0);
        self.playout.on_snapshot(snapshot.tick, arrived_ms);
        for (id, player) in self.view.players() {
            if *id != self.me {
                self.interp.record(*id, player.motion);
            }
        }
        let view = &self.view;
        self.interp.retain(|id| view.players().contains_key(&id));
        let Some(&own) = self.view.players().get(&self.me) else {
            return checked;
        };
        let server = own
            .motion
            .position_at(&self.map, &self.params, snapshot.tick);
        let alive = own.status & status::DEAD == 0;
        let before = self.predictor.corrections();
        let predicted = self.predictor.predicted();
        self.predictor.reconcile_at(
            &self.map,
            &self.params,
            server,
            snapshot.tick,
            snapshot.ack_input_seq,
            alive,
        );
        let after = self.predictor.corrections();
        let (count, snaps) = (after.count - before.count, after.snaps - before.snaps);
        let now = self.predictor.predicted();
        let moved = (now.x - predicted.x).abs().max((now.y - predicted.y).abs());
        if alive && self.alive {
            self.figures.corrections += count;
            self.figures.snaps += snaps;
            self.figures.largest = self
                .figures
                .largest
                .max(f64::from(coord_to_units(moved)) * f64::from(count.min(1)));
        } else {
            self.figures.respawn_corrections += count;
        }
        self.alive = alive;
        checked
    }

    /// Runs the client's frame at `now_ms`: moves the playout clock, and returns one input for each
    /// input tick due, moving in `dir`, aimed (and firing) at the nearest other player as drawn,
    /// each predicted at once.
    pub fn frame(&mut self, now_ms: f64, dir: Dir) -> Vec<InputFrame> {
        if let Some(playout) = self.playout.advance(now_ms) {
            self.render_tick = Some(playout.render_tick);
        }
        let due = self.inputs.advance(now_ms, &self.clock);
        if !self.predictor.started() {
            return Vec::new();
        }
        let mut frames = Vec::with_capacity(due.len());
        for tick in due {
            let (aim, fire) = self.aim();
            let (move_x, move_y) = dir.axes();
            let view_lag = self
                .render_tick
                .map_or(0.0, |render| (f64::from(tick) - render).round())
                .clamp(0.0, f64::from(u16::MAX)) as u16;
            let input = InputFrame {
                seq: self.next_seq,
                tick: Tick(tick),
                view_lag,
                move_x,
                move_y,
                aim,
                buttons: if fire { buttons::FIRE } else { 0 },
            };
            self.next_seq += 1;
            self.predictor
                .apply_stamped_input(&self.map, &self.params, input.seq, input.tick, dir);
            self.figures.inputs += 1;
            self.figures.firing_ticks += u32::from(fire);
            if fire {
                self.figures.firing_view_lag_ms += (f64::from(view_lag) * self.tick_ms) as u32;
            }
            frames.push(input);
        }
        frames
    }

    /// The sequence number of the last input made (0 before the first).
    pub fn last_seq(&self) -> u32 {
        self.next_seq - 1
    }

    /// Milliseconds until the next input tick is due (when to call [`FeelClient::frame`] next).
    pub fn ms_until_next(&self) -> Option<f64> {
        self.inputs.ms_until_next()
    }

    /// The aim at the nearest living, unprotected other player as drawn now, led by its drawn
    /// velocity so that the shot meets it (what a player does on screen), and whether to fire.
    fn aim(&self) -> (u16, bool) {
        let Some(render) = self.render_tick else {
            return (0, false);
        };
        let own = self.predictor.predicted();
        let (ox, oy) = (
            f64::from(coord_to_units(own.x)),
            f64::from(coord_to_units(own.y)),
        );
        let mut best: Option<(f64, f64, f64, f64)> = None;
        for (id, p) in self.view.players() {
            if *id == self.me || p.status & (status::DEAD | status::PROTECTED) != 0 {
                continue;
            }
            let drawn = |tick: f64| self.interp.position(&self.map, &self.params, *id, tick);
            let (Some((x, y)), Some((x1, y1))) = (drawn(render), drawn(render + 1.0)) else {
                continue;
            };
            let (dx, dy) = (x - ox, y - oy);
            let distance = dx.hypot(dy);
            if distance > self.reach || best.is_some_and(|b| b.0.hypot(b.1) <= distance) {
                continue;
            }
            best = Some((dx, dy, x1 - x, y1 - y));
        }
        let Some((dx, dy, vx, vy)) = best else {
            return (0, false);
        };
        // Lead: the tick t at which a shot at speed s meets a target at d moving at v.
        let s = f64::from(coord_to_units(self.params.projectile_step));
        let a = vx * vx + vy * vy - s * s;
        let b = 2.0 * (dx * vx + dy * vy);
        let c = dx * dx + dy * dy;
        let t = if a.abs() < 1e-9 {
            -c / b.min(-1e-9)
        } else {
            let disc = (b * b - 4.0 * a * c).max(0.0);
            ((-b - disc.sqrt()) / (2.0 * a)).max((-b + disc.sqrt()) / (2.0 * a))
        }
        .max(0.0);
        let (ax, ay) = (dx + vx * t, dy + vy * t);
        let turns = ay.atan2(ax) / std::f64::consts::TAU;
        ((turns.rem_euclid(1.0) * 65_536.0) as u32 as u16, true)
    }
}
