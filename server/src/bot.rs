//! Fill bots' brains: what a server-side bot (`--fill-bots`) does each tick.
//!
//! A brain lives outside the [`World`]: each tick it reads what a client of its player could see (the
//! players within the view radius, and the projectiles near it) and writes one [`InputFrame`], which
//! the room puts in the same input list as its players' inputs. The world cannot tell a bot from a
//! player, so bots kill, die, respawn and score like anyone.
//!
//! What a bot does, in order of priority:
//! - **dodge**: a projectile about to hit it makes it step aside (not always: a roll per strafe
//!   period decides whether it noticed);
//! - **fight**: the nearest player in sight (within the view radius, no wall between) becomes its
//!   target. It turns toward where the shot would meet the target (leading a moving target by the
//!   projectile's flight time), fires once its reaction time has passed and its aim is close,
//!   keeps a middle distance and strafes sideways, switching side now and then;
//! - **roam**: otherwise it walks a shortest path over the map's tiles to where it last saw a
//!   target, or to a random spawn point, picking a new goal when it arrives or gets stuck.
//!
//! It is beatable on purpose: it reacts only some hundreds of milliseconds after a target appears,
//! turns at a bounded rate, and aims with an error of a few degrees that drifts over time.

use crate::world::rng::Rng;
use crate::world::{PlayerKey, World};
use skirmish_shared::fixed::Pos;
use skirmish_shared::map::{tile_centre, Map, TILE_SIZE};
use skirmish_shared::physics::{step_player, Dir, MoveParams, PLAYER_HALF_SIZE, PROJECTILE_RADIUS};
use skirmish_shared::protocol::{buttons, status, EntityId, InputFrame};
use skirmish_shared::time::{Tick, TickRate};
use std::collections::VecDeque;

/// Names fill bots are given (as "Bot Ada", made distinct within the room).
pub const BOT_NAMES: [&str; 16] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia", "Dennis",
    "Frances", "Niklaus", "Hedy", "John", "Lynn", "Tony",
];

/// Shortest time, in milliseconds, between a target coming into sight and the first shot at it.
pub const REACTION_MIN_MS: u32 = 250;
/// Longest reaction time, in milliseconds (each new target draws one in between).
pub const REACTION_MAX_MS: u32 = 450;
/// Largest aim error, in 65,536ths of a turn (about 5 degrees): a shot at a player 250 units away
/// misses by up to 22 units, about a player's width.
pub const MAX_AIM_ERROR: i32 = 900;
/// How often, in milliseconds, the aim error drifts to a new value.
const AIM_ERROR_PERIOD_MS: u32 = 300;
/// Fastest turn, in 65,536ths of a turn per second (two turns a second).
const TURN_RATE: u32 = 2 * 65_536;
/// A bot fires only when its aim is within this of where it wants to aim (about 8 degrees).
const FIRE_TOLERANCE: i32 = 1_500;
/// The distance, in coords, a bot tries to keep from its target.
const PREFERRED_RANGE: f32 = 240.0 * 16.0;
/// Beyond or within this much of the preferred range, it closes in or backs off.
const RANGE_SLACK: f32 = 80.0 * 16.0;
/// Shortest and longest time, in milliseconds, a bot strafes one way before it may switch.
const STRAFE_MIN_MS: u32 = 400;
const STRAFE_MAX_MS: u32 = 1_300;
/// Projectiles within this distance, in coords, heading at the bot make it dodge.
const DODGE_RANGE: f32 = 220.0 * 16.0;
/// The chance, per strafe period, that the bot notices the projectiles coming at it.
const DODGE_CHANCE: u64 = 60;
/// Ticks without progress after which a roaming bot picks a new goal.
const STUCK_TICKS: u32 = 45;
/// Milliseconds between two path searches of one bot, at least.
const SEARCH_PAUSE_MS: u32 = 250;
/// Most tiles one path search visits (a 512x512 map has 262,144).
const MAX_SEARCH_TILES: usize = 1 << 18;

/// One bot's brain: its memory between ticks. See the module notes.
#[derive(Debug, Clone)]
pub struct BotBrain {
    rng: Rng,
    /// Ticks per second of its room.
    hz: u32,
    /// The last input's sequence number.
    seq: u32,
    /// The aim it holds (it turns toward where it wants to aim at a bounded rate).
    aim: u16,
    /// The player it is fighting.
    target: Option<EntityId>,
    /// Ticks the target has been in sight.
    tracked: u32,
    /// Ticks the target must be in sight before the first shot.
    reaction: u32,
    /// The current aim error, in 65,536ths of a turn, and when it drifts next.
    aim_error: i32,
    next_aim_error: Tick,
    /// The side it strafes to (1 or -1), and when it may switch.
    strafe: i8,
    next_strafe: Tick,
    /// Whether it notices projectiles this strafe period.
    alert: bool,
    /// Where it last saw a target (it goes there when the target leaves its sight).
    last_seen: Option<Pos>,
    /// The tiles to walk, next first, to its goal.
    path: VecDeque<(i32, i32)>,
    /// No path search before this tick (one that found nothing waits a moment before the next).
    next_search: Tick,
    /// Where it stood, and for how many ticks it has not moved while it meant to.
    last_pos: Pos,
    stuck: u32,
}

/// What a bot sees of a player.
#[derive(Debug, Clone, Copy)]
struct Seen {
    id: EntityId,
    pos: Pos,
    dir: Dir,
    protected: bool,
    distance: f32,
}

impl BotBrain {
    /// A fresh brain for a room ticking at `rate`, its randomness from `seed`.
    pub fn new(rate: TickRate, seed: u64) -> BotBrain {
        let mut rng = Rng::new(seed);
        let strafe = if rng.below(2) == 0 { 1 } else { -1 };
        BotBrain {
            rng,
            hz: u32::from(rate.hz()),
            seq: 0,
            aim: 0,
            target: None,
            tracked: 0,
            reaction: 0,
            aim_error: 0,
            next_aim_error: Tick(0),
            strafe,
            next_strafe: Tick(0),
            alert: true,
            last_seen: None,
            path: VecDeque::new(),
            next_search: Tick(0),
            last_pos: Pos::default(),
            stuck: 0,
        }
    }

    /// The player it is fighting, if any.
    pub fn target(&self) -> Option<EntityId> {
        self.target
    }

    fn ticks(&self, millis: u32) -> u32 {
        (millis * self.hz).div_ceil(1000).max(1)
    }

    fn between(&mut self, low: u32, high: u32) -> u32 {
        low + self.rng.below((high - low + 1) as usize) as u32
    }

    /// This tick's input for the bot playing `me` in `world`, which sees players within
    /// `view_radius` coords. A bot that is dead (or gone) stands still and holds its aim.
    pub fn think(&mut self, world: &World, me: PlayerKey, view_radius: i32) -> InputFrame {
        self.seq = self.seq.wrapping_add(1);
        let now = world.tick_number();
        let mut input = InputFrame {
            seq: self.seq,
            tick: now.next(),
            aim: self.aim,
            ..InputFrame::default()
        };
        let Some(player) = world.player(me) else {
            return input;
        };
        if !player.alive() {
            self.target = None;
            self.path.clear();
            return input;
        }
        let (map, params) = (world.map().as_ref(), world.params());
        let pos = player.pos;
        if now >= self.next_strafe {
            let period = self.between(STRAFE_MIN_MS, STRAFE_MAX_MS);
            self.next_strafe = now.plus(self.ticks(period));
            if self.rng.below(3) > 0 {
                self.strafe = -self.strafe;
            }
            self.alert = (self.rng.below(100) as u64) < DODGE_CHANCE;
        }
        if now >= self.next_aim_error {
            self.next_aim_error = now.plus(self.ticks(AIM_ERROR_PERIOD_MS));
            self.aim_error = self.rng.below(2 * MAX_AIM_ERROR as usize + 1) as i32 - MAX_AIM_ERROR;
        }
        let target = self.choose_target(world, player.id, pos, view_radius);
        let mut want = if let Some(target) = target {
            self.last_seen = Some(target.pos);
            self.path.clear();
            let wanted_aim = lead_aim(params, pos, target.pos, target.dir);
            let aim = wanted_aim.wrapping_add(self.aim_error as u16);
            self.turn_toward(aim);
            let off = angle_between(self.aim, aim);
            let range = (params.projectile_step as f32) * params.projectile_lifetime as f32 * 0.9;
            if self.tracked >= self.reaction
                && off <= FIRE_TOLERANCE
                && !target.protected
                && target.distance < range
            {
                input.buttons = buttons::FIRE;
            }
            let (dx, dy) = unit(target.pos, pos);
            let radial = if target.distance > PREFERRED_RANGE + RANGE_SLACK {
                1.0
            } else if target.distance < PREFERRED_RANGE - RANGE_SLACK {
                -1.0
            } else {
                0.0
            };
            let side = f32::from(self.strafe);
            (dx * radial - dy * side, dy * radial + dx * side)
        } else {
            let want = self.roam(map, pos, now);
            if want != (0.0, 0.0) {
                // Look where it walks, as a player would.
                self.turn_toward(angle_of(want.0, want.1));
            }
            want
        };
        if let Some(dodge) = self.dodge(world, player.id, pos) {
            want = dodge;
        }
        let dir = self.steer(map, params, pos, want);
        let (move_x, move_y) = dir.axes();
        input.move_x = move_x;
        input.move_y = move_y;
        input.aim = self.aim;
        // Stuck: it meant to move and did not, for a while: forget the path.
        if dir != Dir::Still && pos == self.last_pos {
            self.stuck += 1;
            if self.stuck >= STUCK_TICKS {
                self.stuck = 0;
                self.path.clear();
                self.last_seen = None;
                self.strafe = -self.strafe;
            }
        } else {
            self.stuck = 0;
        }
        self.last_pos = pos;
        input
    }

    /// The nearest living player in sight, sticking with the current target while it stays in
    /// sight and no one is much nearer. Updates the reaction bookkeeping.
    fn choose_target(
        &mut self,
        world: &World,
        me: EntityId,
        pos: Pos,
        view_radius: i32,
    ) -> Option<Seen> {
        let map = world.map();
        let radius = view_radius as f32;
        // Everyone within the view radius, nearest first; walls are tested only until the nearest
        // in sight is found (and for the current target), not for everyone.
        let mut near: Vec<Seen> = world
            .players()
            .iter()
            .filter(|(_, other)| other.id != me && other.alive())
            .map(|(_, other)| Seen {
                id: other.id,
                pos: other.pos,
                dir: other.motion.dir,
                protected: other.status & status::PROTECTED != 0,
                distance: distance(pos, other.pos),
            })
            .filter(|seen| seen.distance <= radius)
            .collect();
        near.sort_unstable_by(|a, b| a.distance.total_cmp(&b.distance));
        let nearest = near
            .iter()
            .find(|seen| clear_line(map, pos, seen.pos))
            .copied();
        let current = match (self.target, nearest) {
            (Some(id), Some(nearest)) if nearest.id == id => Some(nearest),
            (Some(id), _) => near
                .iter()
                .find(|seen| seen.id == id)
                .filter(|seen| clear_line(map, pos, seen.pos))
                .copied(),
            (None, _) => None,
        };
        let chosen = match (current, nearest) {
            (Some(current), Some(nearest)) if nearest.distance < current.distance * 0.6 => {
                Some(nearest)
            }
            (Some(current), _) => Some(current),
            (None, nearest) => nearest,
        };
        match chosen {
            Some(seen) if Some(seen.id) == self.target => self.tracked += 1,
            Some(seen) => {
                self.target = Some(seen.id);
                self.tracked = 0;
                let reaction = self.between(REACTION_MIN_MS, REACTION_MAX_MS);
                self.reaction = self.ticks(reaction);
            }
            None => {
                self.target = None;
                self.tracked = 0;
            }
        }
        chosen
    }

    /// Turns the held aim toward `aim`, at most the turn rate allows in one tick.
    fn turn_toward(&mut self, aim: u16) {
        let step = (TURN_RATE / self.hz.max(1)) as i32;
        let delta = aim.wrapping_sub(self.aim) as i16 as i32;
        self.aim = self.aim.wrapping_add(delta.clamp(-step, step) as u16);
    }

    /// A direction away from the line of a projectile about to hit it, if it notices one.
    fn dodge(&self, world: &World, me: EntityId, pos: Pos) -> Option<(f32, f32)> {
        if !self.alert {
            return None;
        }
        let danger = 2.0 * (PLAYER_HALF_SIZE + PROJECTILE_RADIUS) as f32;
        for (_, shot) in world.projectiles() {
            if shot.owner == me {
                continue;
            }
            let (rx, ry) = ((pos.x - shot.pos.x) as f32, (pos.y - shot.pos.y) as f32);
            if rx * rx + ry * ry > DODGE_RANGE * DODGE_RANGE {
                continue;
            }
            let (vx, vy) = (shot.motion.velocity.0 as f32, shot.motion.velocity.1 as f32);
            let speed = (vx * vx + vy * vy).sqrt();
            if speed == 0.0 || rx * vx + ry * vy <= 0.0 {
                continue; // flying away
            }
            let cross = (vx * ry - vy * rx) / speed;
            if cross.abs() < danger {
                // Step to the side of the line it already leans to.
                let side = if cross >= 0.0 { 1.0 } else { -1.0 };
                return Some((-vy / speed * side, vx / speed * side));
            }
        }
        None
    }

    /// Where to walk when no one is in sight: along a path to where a target was last seen, or to a
    /// random spawn point.
    fn roam(&mut self, map: &Map, pos: Pos, now: Tick) -> (f32, f32) {
        let here = tile_of(pos);
        while self.path.front() == Some(&here) && self.path.len() > 1 {
            self.path.pop_front();
        }
        if self.path.front() == Some(&here) && near_centre(pos, here) {
            self.path.pop_front();
            self.last_seen = None;
        }
        if self.path.is_empty() {
            if now < self.next_search {
                return (0.0, 0.0);
            }
            self.next_search = now.plus(self.ticks(SEARCH_PAUSE_MS));
            let goal = match self.last_seen.take() {
                Some(seen) => tile_of(seen),
                None => {
                    let spawns = map.spawns();
                    if spawns.is_empty() {
                        return (0.0, 0.0);
                    }
                    tile_of(spawns[self.rng.below(spawns.len())])
                }
            };
            self.path = find_path(map, here, goal);
            if self.path.is_empty() {
                return (0.0, 0.0);
            }
        }
        let Some(&(column, row)) = self.path.front() else {
            return (0.0, 0.0);
        };
        let to = tile_centre(column, row);
        let (dx, dy) = ((to.x - pos.x) as f32, (to.y - pos.y) as f32);
        if dx == 0.0 && dy == 0.0 {
            return (0.0, 0.0);
        }
        (dx, dy)
    }

    /// The direction closest to `want` that makes progress (walls slide or stop a player): the
    /// eight directions nearest first. Standing still if `want` is zero or nothing moves.
    fn steer(&mut self, map: &Map, params: &MoveParams, pos: Pos, want: (f32, f32)) -> Dir {
        if want.0 == 0.0 && want.1 == 0.0 {
            return Dir::Still;
        }
        let sector =
            ((want.1.atan2(want.0) / std::f32::consts::FRAC_PI_4).round() as i32).rem_euclid(8);
        let required = params.player_step / 2;
        for offset in [0, 1, -1, 2, -2] {
            let dir = Dir::compass()[(sector + offset).rem_euclid(8) as usize];
            let next = step_player(map, params, pos, dir);
            if (next.x - pos.x).abs() + (next.y - pos.y).abs() >= required {
                if offset.abs() == 2 {
                    // Blocked ahead: strafe the other way next.
                    self.strafe = -self.strafe;
                }
                return dir;
            }
        }
        Dir::Still
    }
}

/// The aim, in 65,536ths of a turn, that meets a target at `target` moving in `dir` with a shot from
/// `from`: the target's position when a projectile at the shared projectile speed would reach it.
pub fn lead_aim(params: &MoveParams, from: Pos, target: Pos, dir: Dir) -> u16 {
    let (vx, vy) = params.player_velocity(dir);
    let (vx, vy) = (vx as f32, vy as f32);
    let (dx, dy) = ((target.x - from.x) as f32, (target.y - from.y) as f32);
    let speed = params.projectile_step as f32;
    // |d + v t| = s t: (v.v - s²) t² + 2 (d.v) t + d.d = 0, the smallest positive t.
    let a = vx * vx + vy * vy - speed * speed;
    let b = 2.0 * (dx * vx + dy * vy);
    let c = dx * dx + dy * dy;
    let t = if a.abs() < 1e-6 {
        if b < 0.0 {
            -c / b
        } else {
            0.0
        }
    } else {
        let disc = b * b - 4.0 * a * c;
        if disc < 0.0 {
            0.0
        } else {
            let root = disc.sqrt();
            let (t1, t2) = ((-b - root) / (2.0 * a), (-b + root) / (2.0 * a));
            match (t1 > 0.0, t2 > 0.0) {
                (true, true) => t1.min(t2),
                (true, false) => t1,
                (false, true) => t2,
                (false, false) => 0.0,
            }
        }
    };
    // The shot leaves at the next tick, from where the shooter stands then: one tick more.
    let t = if t.is_finite() { t + 1.0 } else { 0.0 };
    angle_of(dx + vx * t, dy + vy * t)
}

/// The aim of a vector, in 65,536ths of a turn, 0 along +x, growing toward +y.
fn angle_of(x: f32, y: f32) -> u16 {
    if (x == 0.0 && y == 0.0) || !x.is_finite() || !y.is_finite() {
        return 0;
    }
    let turns = y.atan2(x) / std::f32::consts::TAU;
    (turns.rem_euclid(1.0) * 65_536.0).round() as u32 as u16
}

/// How far apart two aims are, in 65,536ths of a turn (0..=32,768).
pub fn angle_between(a: u16, b: u16) -> i32 {
    (a.wrapping_sub(b) as i16 as i32).abs()
}

fn distance(a: Pos, b: Pos) -> f32 {
    (a.distance_squared(b) as f32).sqrt()
}

/// The unit vector from `from` to `to` (zero if they coincide).
fn unit(to: Pos, from: Pos) -> (f32, f32) {
    let (dx, dy) = ((to.x - from.x) as f32, (to.y - from.y) as f32);
    let length = (dx * dx + dy * dy).sqrt();
    if length == 0.0 {
        (0.0, 0.0)
    } else {
        (dx / length, dy / length)
    }
}

/// Whether no wall lies on the segment between two points (sampled every quarter tile).
pub fn clear_line(map: &Map, from: Pos, to: Pos) -> bool {
    let (dx, dy) = ((to.x - from.x) as i64, (to.y - from.y) as i64);
    let length = ((dx * dx + dy * dy) as f64).sqrt();
    let samples = (length / f64::from(TILE_SIZE / 4)).ceil() as i64;
    (1..samples).all(|i| {
        let x = from.x as i64 + dx * i / samples;
        let y = from.y as i64 + dy * i / samples;
        !map.is_solid_at(x as i32, y as i32)
    })
}

fn tile_of(pos: Pos) -> (i32, i32) {
    (pos.x.div_euclid(TILE_SIZE), pos.y.div_euclid(TILE_SIZE))
}

fn near_centre(pos: Pos, tile: (i32, i32)) -> bool {
    let centre = tile_centre(tile.0, tile.1);
    (centre.x - pos.x).abs() <= TILE_SIZE / 8 && (centre.y - pos.y).abs() <= TILE_SIZE / 8
}

/// The tiles from `from` (excluded) to `to` (included) along a shortest path over floor tiles moving
/// between edge neighbours (a player fits through a one-tile gap that way); empty if there is none.
pub fn find_path(map: &Map, from: (i32, i32), to: (i32, i32)) -> VecDeque<(i32, i32)> {
    let (width, height) = (i32::from(map.width()), i32::from(map.height()));
    let inside = |(c, r): (i32, i32)| c >= 0 && r >= 0 && c < width && r < height;
    if from == to || !inside(from) || !inside(to) || map.is_solid(to.0, to.1) {
        return VecDeque::new();
    }
    let index = |(c, r): (i32, i32)| (r * width + c) as usize;
    let mut came_from = vec![u32::MAX; (width * height) as usize];
    let mut queue = VecDeque::from([from]);
    came_from[index(from)] = index(from) as u32;
    let mut visited = 0;
    while let Some(tile) = queue.pop_front() {
        visited += 1;
        if tile == to || visited > MAX_SEARCH_TILES {
            break;
        }
        for (dc, dr) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
            let next = (tile.0 + dc, tile.1 + dr);
            if inside(next) && !map.is_solid(next.0, next.1) && came_from[index(next)] == u32::MAX {
                came_from[index(next)] = index(tile) as u32;
                queue.push_back(next);
            }
        }
    }
    if came_from[index(to)] == u32::MAX {
        return VecDeque::new();
    }
    let mut path = VecDeque::new();
    let mut tile = to;
    while tile != from {
        path.push_front(tile);
        let previous = came_from[index(tile)] as i32;
        tile = (previous % width, previous / width);
    }
    path
}

#[cfg(test)]
mod tests;
