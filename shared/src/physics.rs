//! The deterministic movement and collision step, shared by the server simulation and client prediction.
//!
//! Everything here is integer arithmetic on [`Coord`]s: the same inputs give the same outputs on every
//! platform, so a client that knows an entity's [`PlayerMotion`] or [`ProjectileMotion`] key can
//! reproduce the server's position at any later tick exactly, until the key changes.
//!
//! Players are axis-aligned boxes of half-width [`PLAYER_HALF_SIZE`]; they move along x, then along y,
//! and stop flush against the first wall in their way. Projectiles are points that move in sub-steps of at
//! most [`MAX_SUBSTEP`] coords and stop when they enter a wall.

pub use crate::fixed::Pos;
use crate::fixed::{cos_q14, sin_q14, Coord, SUBUNITS};
use crate::map::{Map, TILE_SIZE};
use crate::time::{Tick, TickRate};
use serde::{Deserialize, Serialize};

/// Player speed along one axis, in coords per second (240 units/s).
pub const PLAYER_SPEED: Coord = 240 * SUBUNITS;
/// Half the side of a player's collision box, and the radius projectiles hit (12 units).
pub const PLAYER_HALF_SIZE: Coord = 12 * SUBUNITS;
/// Projectile speed in coords per second (720 units/s).
pub const PROJECTILE_SPEED: Coord = 720 * SUBUNITS;
/// Radius of a projectile for hits (3 units).
pub const PROJECTILE_RADIUS: Coord = 3 * SUBUNITS;
/// Milliseconds a projectile flies before it fades.
pub const PROJECTILE_LIFETIME_MS: u32 = 1_200;
/// Milliseconds between two shots of one player. The server enforces it and a client predicting its
/// own shots applies the same rule ([`MoveParams::fire_cooldown`]), so both fire on the same ticks.
pub const FIRE_COOLDOWN_MS: u32 = 250;
/// Longest projectile sub-step, well below a player's width and a tile, so nothing is tunnelled through.
pub const MAX_SUBSTEP: Coord = 256;
/// `1/sqrt(2)` in 1/256ths, for diagonal movement.
const DIAGONAL_256: Coord = 181;

/// A movement direction: one of eight compass directions or standing still.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dir {
    /// Not moving.
    #[default]
    Still,
    /// +x.
    East,
    /// +x +y.
    SouthEast,
    /// +y.
    South,
    /// -x +y.
    SouthWest,
    /// -x.
    West,
    /// -x -y.
    NorthWest,
    /// -y.
    North,
    /// +x -y.
    NorthEast,
}

impl Dir {
    /// Every direction: standing still, then the eight headings counterclockwise from +x in screen
    /// terms (+y is down), by sector of 45°. The wire numbers a direction by its place here.
    pub const ALL: [Dir; 9] = [
        Dir::Still,
        Dir::East,
        Dir::SouthEast,
        Dir::South,
        Dir::SouthWest,
        Dir::West,
        Dir::NorthWest,
        Dir::North,
        Dir::NorthEast,
    ];

    /// The eight headings (moving), as in [`Dir::ALL`].
    pub fn compass() -> &'static [Dir] {
        &Dir::ALL[1..]
    }

    /// The direction of movement axes, each -1, 0 or 1 (+y is down). `None` for any other value.
    pub fn from_axes(x: i8, y: i8) -> Option<Dir> {
        Some(match (x, y) {
            (0, 0) => Dir::Still,
            (1, 0) => Dir::East,
            (1, 1) => Dir::SouthEast,
            (0, 1) => Dir::South,
            (-1, 1) => Dir::SouthWest,
            (-1, 0) => Dir::West,
            (-1, -1) => Dir::NorthWest,
            (0, -1) => Dir::North,
            (1, -1) => Dir::NorthEast,
            _ => return None,
        })
    }

    /// The axes of this direction, each -1, 0 or 1.
    pub fn axes(self) -> (i8, i8) {
        match self {
            Dir::Still => (0, 0),
            Dir::East => (1, 0),
            Dir::SouthEast => (1, 1),
            Dir::South => (0, 1),
            Dir::SouthWest => (-1, 1),
            Dir::West => (-1, 0),
            Dir::NorthWest => (-1, -1),
            Dir::North => (0, -1),
            Dir::NorthEast => (1, -1),
        }
    }
}

/// Per-tick distances derived once from the tick rate. Client and server derive them from the same rate
/// (sent in `Welcome`), so they agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoveParams {
    /// Coords a player moves per tick along one axis.
    pub player_step: Coord,
    /// Coords a player moves per tick along each axis when moving diagonally.
    pub player_diagonal_step: Coord,
    /// Coords a projectile travels per tick.
    pub projectile_step: Coord,
    /// Ticks a projectile flies before it fades.
    pub projectile_lifetime: u32,
    /// Ticks between two shots of one player: a player that fires at tick `t` may fire again from
    /// tick `t + fire_cooldown` on.
    pub fire_cooldown: u32,
}

impl MoveParams {
    /// The per-tick distances at a tick rate.
    pub fn new(tick_rate: TickRate) -> MoveParams {
        let hz = Coord::from(tick_rate.hz());
        let player_step = PLAYER_SPEED / hz;
        debug_assert!(player_step < TILE_SIZE / 2, "a player must not skip a tile");
        MoveParams {
            player_step,
            player_diagonal_step: player_step * DIAGONAL_256 / 256,
            projectile_step: PROJECTILE_SPEED / hz,
            projectile_lifetime: tick_rate.ticks_for_millis(PROJECTILE_LIFETIME_MS),
            fire_cooldown: tick_rate.ticks_for_millis(FIRE_COOLDOWN_MS),
        }
    }

    /// A player's velocity in coords per tick for a direction.
    pub fn player_velocity(&self, dir: Dir) -> (Coord, Coord) {
        let (ax, ay) = dir.axes();
        let step = if ax != 0 && ay != 0 {
            self.player_diagonal_step
        } else {
            self.player_step
        };
        (Coord::from(ax) * step, Coord::from(ay) * step)
    }

    /// A projectile's velocity in coords per tick for an aim angle.
    pub fn projectile_velocity(&self, aim: u16) -> (Coord, Coord) {
        let scale = |q14: i32| ((i64::from(self.projectile_step) * i64::from(q14)) >> 14) as Coord;
        (scale(cos_q14(aim)), scale(sin_q14(aim)))
    }
}

/// Whether a player box centred at `pos` overlaps a solid tile.
pub fn player_overlaps_wall(map: &Map, pos: Pos) -> bool {
    let (c0, c1) = tile_span(pos.x);
    let (r0, r1) = tile_span(pos.y);
    (r0..=r1).any(|row| (c0..=c1).any(|column| map.is_solid(column, row)))
}

/// The first and last tile a player box centred at `centre` covers along one axis.
fn tile_span(centre: Coord) -> (i32, i32) {
    (
        (centre - PLAYER_HALF_SIZE).div_euclid(TILE_SIZE),
        (centre + PLAYER_HALF_SIZE - 1).div_euclid(TILE_SIZE),
    )
}

/// Moves one axis of a player box by `delta` coords, stopping flush against a wall.
/// `along` is the moving component, `across` the fixed one; `solid(along_tile, across_tile)`.
fn move_axis(along: Coord, across: Coord, delta: Coord, solid: impl Fn(i32, i32) -> bool) -> Coord {
    if delta == 0 {
        return along;
    }
    let target = along + delta;
    let (a0, a1) = tile_span(across);
    let leading = if delta > 0 {
        (target + PLAYER_HALF_SIZE - 1).div_euclid(TILE_SIZE)
    } else {
        (target - PLAYER_HALF_SIZE).div_euclid(TILE_SIZE)
    };
    if (a0..=a1).any(|a| solid(leading, a)) {
        if delta > 0 {
            leading * TILE_SIZE - PLAYER_HALF_SIZE
        } else {
            (leading + 1) * TILE_SIZE + PLAYER_HALF_SIZE
        }
    } else {
        target
    }
}

/// One tick of player movement: x first, then y, each stopping flush against walls.
///
/// Invariant: if the box at `pos` does not overlap a wall, neither does the result.
pub fn step_player(map: &Map, params: &MoveParams, pos: Pos, dir: Dir) -> Pos {
    let (vx, vy) = params.player_velocity(dir);
    let x = move_axis(pos.x, pos.y, vx, |c, r| map.is_solid(c, r));
    let y = move_axis(pos.y, x, vy, |r, c| map.is_solid(c, r));
    Pos { x, y }
}

/// A player's motion key: where it was at `tick` and the direction it has held since. The position at
/// any later tick is [`step_player`] applied once per tick, which [`PlayerMotion::position_at`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlayerMotion {
    /// The tick at which the player stood at `pos`.
    pub tick: Tick,
    /// Position at `tick`.
    pub pos: Pos,
    /// Direction held from `tick` on.
    pub dir: Dir,
}

impl PlayerMotion {
    /// The position at `tick` (`pos` for any tick at or before the key's own).
    ///
    /// Stops early once the player stands still (against a wall, or not moving), so an old key costs
    /// at most the steps to cross the map.
    pub fn position_at(&self, map: &Map, params: &MoveParams, tick: Tick) -> Pos {
        let mut pos = self.pos;
        if self.dir == Dir::Still {
            return pos;
        }
        for _ in 0..tick.since(self.tick) {
            let next = step_player(map, params, pos, self.dir);
            if next == pos {
                break;
            }
            pos = next;
        }
        pos
    }
}

/// What a projectile did in one tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectileStep {
    /// It flew on to this position.
    Flying(Pos),
    /// It entered a wall at this position and is gone.
    HitWall(Pos),
    /// The `stop` callback claimed it at this position (it hit something).
    Stopped(Pos),
}

/// One tick of projectile flight in sub-steps of at most [`MAX_SUBSTEP`] coords. After each sub-step,
/// `stop(pos)` may claim the projectile (a hit); a wall ends the flight first.
pub fn step_projectile(
    map: &Map,
    pos: Pos,
    velocity: (Coord, Coord),
    mut stop: impl FnMut(Pos) -> bool,
) -> ProjectileStep {
    let longest = velocity.0.abs().max(velocity.1.abs());
    let substeps = (longest + MAX_SUBSTEP - 1) / MAX_SUBSTEP;
    if substeps == 0 {
        return if stop(pos) {
            ProjectileStep::Stopped(pos)
        } else {
            ProjectileStep::Flying(pos)
        };
    }
    for i in 1..=substeps {
        let at = Pos {
            x: pos.x + velocity.0 * i / substeps,
            y: pos.y + velocity.1 * i / substeps,
        };
        if map.is_solid_at(at.x, at.y) {
            return ProjectileStep::HitWall(at);
        }
        if stop(at) {
            return ProjectileStep::Stopped(at);
        }
    }
    ProjectileStep::Flying(Pos {
        x: pos.x + velocity.0,
        y: pos.y + velocity.1,
    })
}

/// A projectile's motion key: it was at `pos` at `tick` and flies at a constant `velocity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProjectileMotion {
    /// The tick at which it was at `pos`.
    pub tick: Tick,
    /// Position at `tick`.
    pub pos: Pos,
    /// Velocity in coords per tick.
    pub velocity: (Coord, Coord),
}

impl ProjectileMotion {
    /// The projectile a player standing at `shooter` (its position after that tick's move) fires at
    /// `tick` with aim `aim`: it starts at the shooter's centre and first moves on the next tick. The
    /// server launches every projectile by this rule, so a client predicting its own shot gets the
    /// same motion.
    pub fn fired(params: &MoveParams, tick: Tick, shooter: Pos, aim: u16) -> ProjectileMotion {
        ProjectileMotion {
            tick,
            pos: shooter,
            velocity: params.projectile_velocity(aim),
        }
    }

    /// The position at `tick`, or `None` if it has entered a wall by then.
    pub fn position_at(&self, map: &Map, tick: Tick) -> Option<Pos> {
        let mut pos = self.pos;
        for _ in 0..tick.since(self.tick) {
            match step_projectile(map, pos, self.velocity, |_| false) {
                ProjectileStep::Flying(next) => pos = next,
                ProjectileStep::HitWall(_) | ProjectileStep::Stopped(_) => return None,
            }
        }
        Some(pos)
    }
}

impl ProjectileMotion {
    /// Whether the projectile is gone by `tick` of its own accord: its lifetime is over, or it has
    /// entered a wall. Server and clients both apply this rule, so such an end needs no message.
    pub fn gone_at(&self, map: &Map, params: &MoveParams, tick: Tick) -> bool {
        tick.since(self.tick) >= params.projectile_lifetime || self.position_at(map, tick).is_none()
    }

    /// The first tick at which [`ProjectileMotion::gone_at`] holds: when it enters a wall, or its
    /// lifetime ends, whichever is first.
    pub fn natural_end(&self, map: &Map, params: &MoveParams) -> Tick {
        let mut pos = self.pos;
        for age in 1..params.projectile_lifetime {
            match step_projectile(map, pos, self.velocity, |_| false) {
                ProjectileStep::Flying(next) => pos = next,
                ProjectileStep::HitWall(_) | ProjectileStep::Stopped(_) => {
                    return self.tick.plus(age)
                }
            }
        }
        self.tick.plus(params.projectile_lifetime)
    }
}

/// Whether a projectile at `shot` hits a player centred at `player`.
pub fn projectile_hits_player(shot: Pos, player: Pos) -> bool {
    let reach = i64::from(PLAYER_HALF_SIZE + PROJECTILE_RADIUS);
    shot.distance_squared(player) <= reach * reach
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::tile_centre;

    fn map() -> Map {
        // 7 x 5 tiles, a pillar at (3, 2).
        Map::parse("#######\n#S....#\n#..#..#\n#.....#\n#######\n").expect("valid")
    }

    fn params() -> MoveParams {
        MoveParams::new(TickRate::new(60).expect("valid"))
    }

    #[test]
    fn every_direction_is_listed_at_its_own_number() {
        for (number, dir) in Dir::ALL.iter().enumerate() {
            assert_eq!(*dir as usize, number);
        }
        let axes: std::collections::HashSet<_> = Dir::ALL.iter().map(|d| d.axes()).collect();
        assert_eq!(axes.len(), 9, "each listed once");
        assert!(!Dir::compass().contains(&Dir::Still));
    }

    #[test]
    fn directions_round_trip_through_axes() {
        for x in -1..=1 {
            for y in -1..=1 {
                let dir = Dir::from_axes(x, y).expect("unit axes are valid");
                assert_eq!(dir.axes(), (x, y));
            }
        }
        assert_eq!(Dir::from_axes(2, 0), None);
        assert_eq!(Dir::from_axes(0, -128), None);
    }

    #[test]
    fn players_move_at_the_tabled_speed() {
        let (map, p) = (map(), params());
        assert_eq!(p.player_step, 64);
        let start = tile_centre(1, 3);
        let moved = step_player(&map, &p, start, Dir::East);
        assert_eq!(moved, Pos::new(start.x + 64, start.y));
        let diagonal = step_player(&map, &p, start, Dir::NorthEast);
        assert_eq!(diagonal, Pos::new(start.x + 45, start.y - 45));
        assert_eq!(step_player(&map, &p, start, Dir::Still), start);
    }

    #[test]
    fn players_stop_flush_against_walls() {
        let (map, p) = (map(), params());
        // Walk west from (1,3) into the border wall at column 0.
        let mut pos = tile_centre(1, 3);
        for _ in 0..20 {
            pos = step_player(&map, &p, pos, Dir::West);
            assert!(!player_overlaps_wall(&map, pos));
        }
        assert_eq!(pos.x, TILE_SIZE + PLAYER_HALF_SIZE);
        // Walk east along row 2 into the pillar at column 3.
        let mut pos = tile_centre(1, 2);
        for _ in 0..20 {
            pos = step_player(&map, &p, pos, Dir::East);
        }
        assert_eq!(pos.x, 3 * TILE_SIZE - PLAYER_HALF_SIZE);
        // Sliding: moving diagonally into a wall keeps the free axis moving.
        let before = Pos::new(TILE_SIZE + PLAYER_HALF_SIZE, tile_centre(1, 3).y);
        let slid = step_player(&map, &p, before, Dir::NorthWest);
        assert_eq!(slid.x, before.x);
        assert!(slid.y < before.y);
    }

    #[test]
    fn a_motion_key_reproduces_stepping() {
        let (map, p) = (map(), params());
        let key = PlayerMotion {
            tick: Tick(100),
            pos: tile_centre(1, 1),
            dir: Dir::SouthEast,
        };
        let mut pos = key.pos;
        for t in 0..60 {
            assert_eq!(key.position_at(&map, &p, Tick(100 + t)), pos, "tick {t}");
            pos = step_player(&map, &p, pos, key.dir);
        }
        assert_eq!(key.position_at(&map, &p, Tick(50)), key.pos);
    }

    #[test]
    fn projectiles_fly_straight_and_stop_in_walls() {
        let (map, p) = (map(), params());
        let velocity = p.projectile_velocity(0);
        assert_eq!(velocity, (p.projectile_step, 0));
        let start = tile_centre(1, 1);
        let motion = ProjectileMotion {
            tick: Tick(0),
            pos: start,
            velocity,
        };
        assert_eq!(
            motion.position_at(&map, Tick(2)),
            Some(Pos::new(start.x + 2 * velocity.0, start.y))
        );
        // Column 6 is the wall, 5 tiles away: gone well within 20 ticks.
        assert_eq!(motion.position_at(&map, Tick(20)), None);
        match step_projectile(
            &map,
            Pos::new(6 * TILE_SIZE - 10, start.y),
            velocity,
            |_| false,
        ) {
            ProjectileStep::HitWall(at) => assert!(map.is_solid_at(at.x, at.y)),
            other => panic!("expected a wall hit, got {other:?}"),
        }
    }

    #[test]
    fn the_natural_end_is_the_first_tick_a_projectile_is_gone() {
        let (map, p) = (map(), params());
        for aim in [0u16, 9_000, 16_384, 30_000, 47_000, 60_000] {
            for start in [tile_centre(1, 1), tile_centre(4, 3), tile_centre(5, 1)] {
                let motion = ProjectileMotion {
                    tick: Tick(10),
                    pos: start,
                    velocity: p.projectile_velocity(aim),
                };
                let end = motion.natural_end(&map, &p);
                for t in 10..10 + p.projectile_lifetime + 5 {
                    assert_eq!(
                        motion.gone_at(&map, &p, Tick(t)),
                        Tick(t) >= end,
                        "aim {aim} tick {t}"
                    );
                }
            }
        }
    }

    #[test]
    fn projectiles_stop_at_the_first_substep_that_hits() {
        let map = map();
        let target = Pos::new(tile_centre(3, 1).x, tile_centre(3, 1).y);
        let shot = Pos::new(target.x - PLAYER_HALF_SIZE - 600, target.y);
        let result = step_projectile(&map, shot, (1000, 0), |at| {
            projectile_hits_player(at, target)
        });
        match result {
            ProjectileStep::Stopped(at) => {
                assert!(projectile_hits_player(at, target));
                assert!(at.x < shot.x + 1000);
            }
            other => panic!("expected a hit, got {other:?}"),
        }
    }
}
