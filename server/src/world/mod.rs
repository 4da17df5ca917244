//! The simulation of one room: players, projectiles and the game rules, advanced one tick at a time.
//!
//! [`World::tick`] is pure: it takes this tick's inputs and returns what happened. It never awaits, reads
//! a clock, touches a socket or encodes bytes, so it can be tested, replayed and benchmarked alone. Its
//! randomness comes from a seeded generator owned by the world.
//!
//! Every player keeps a [`PlayerMotion`] key that clients extrapolate with the shared movement step. The
//! key changes only when extrapolation would go wrong (the direction changed, or the player was placed
//! somewhere), and each field records the tick it last changed, so snapshots send only what a client
//! cannot work out for itself.
//!
//! # Lag compensation
//! A client draws the other players some ticks in the past, and its inputs say how many
//! (`InputFrame::view_lag`). A projectile fired by such an input records its rewind `d`: the view
//! lag, capped by the world's maximum rewind (`--max-rewind-ms`; 0 turns compensation off) and by
//! the history recorded so far. Each step of its flight, at age `a` (ticks since launch), is tested
//! against the players as they stood at tick `launch + a - d`, which is what the shooter saw at that
//! moment of the flight. The world keeps the positions of the last few ticks in a ring of small
//! tables ([`history`]).
//!
//! The whole flight is judged in the shooter's time, not only its first `d` ticks: judged against
//! the present from age `d` on, a shot that lands later than that (a target farther than about
//! `d` ticks of flight, 150 units at a 200 ms rewind) is judged against a target that has moved on
//! by `d` ticks since the shooter led it, and misses as if there were no compensation at all (the
//! feel report measured 0.31 of shots hitting at 150 ms against 0.46 at 0 ms that way, and 0.41
//! against 0.51 judging the whole flight; docs/PERFORMANCE.md has the current figures). The cap bounds what a victim can suffer: never hit where
//! it stood more than `--max-rewind-ms` ago.
//!
//! Rules for a rewound test: the target must have been hittable at the rewound tick (in the room,
//! alive, not spawn-protected) and must still be in the room in the same placement (same player,
//! not respawned or moved by the room since), so a player who left, respawned or joined since is
//! not hit where it stood. If it is alive now the shot hurts it; if it has died since (killed by a
//! shot its shooter had not seen yet), the shot stops on its body and does no harm: the dead are
//! not killed twice, and the shooter, who saw it alive, sees its shot land where it aimed instead
//! of flying through and hitting someone behind (`ShotCounts::hits_on_fallen`). The shooter never
//! hits itself, and walls stop projectiles along their real path whatever the rewind.

mod combat;
mod history;
pub mod rng;

use history::History;
use rng::Rng;
use skirmish_shared::map::Map;
use skirmish_shared::physics::{step_player, Dir, MoveParams, PlayerMotion, Pos, ProjectileMotion};
use skirmish_shared::protocol::{status, EntityId, InputFrame, ScoreEntry};
use skirmish_shared::time::{Tick, TickRate};
use slab::Slab;
use std::sync::Arc;
use std::time::Duration;

/// A player's index in the world (a slab key; reused after the player leaves, unlike [`EntityId`]).
pub type PlayerKey = usize;

/// Full hit points.
pub const MAX_HP: u8 = 100;
/// Hit points one projectile takes.
pub const PROJECTILE_DAMAGE: u8 = 25;
pub use skirmish_shared::physics::FIRE_COOLDOWN_MS;
/// Milliseconds a dead player waits to respawn.
pub const RESPAWN_DELAY_MS: u32 = 2_000;
/// Milliseconds a fresh spawn cannot be hurt (ends early when the player fires).
pub const SPAWN_PROTECTION_MS: u32 = 1_500;
/// A spawn point is free when no living player is within this many coords.
pub const SPAWN_CLEARANCE: i32 = 3 * skirmish_shared::map::TILE_SIZE;
/// Default longest rewind of lag compensation, in milliseconds (`--max-rewind-ms`).
pub const DEFAULT_MAX_REWIND_MS: u32 = 200;
/// The longest rewind a server may be configured with, in milliseconds: beyond it victims would be
/// hit where they stood too long ago, and the history would grow past what it is for.
pub const MAX_REWIND_LIMIT_MS: u32 = 1_000;

/// The whole ticks within `max_rewind` at `rate` (rounded down: it is a cap).
pub fn rewind_ticks(rate: TickRate, max_rewind: Duration) -> u32 {
    let ticks = max_rewind.as_millis() * u128::from(rate.hz()) / 1000;
    u32::try_from(ticks).unwrap_or(u32::MAX)
}

/// Game rule durations converted to ticks once.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Ticks between two shots (the shared rule, `MoveParams::fire_cooldown`).
    pub fire_cooldown: u32,
    /// Ticks from death to respawn.
    pub respawn_delay: u32,
    /// Ticks of spawn protection.
    pub spawn_protection: u32,
    /// Ticks a projectile lives.
    pub projectile_lifetime: u32,
}

impl Rules {
    /// The rules at a tick rate.
    pub fn new(rate: TickRate) -> Rules {
        let params = MoveParams::new(rate);
        Rules {
            fire_cooldown: params.fire_cooldown,
            respawn_delay: rate.ticks_for_millis(RESPAWN_DELAY_MS),
            spawn_protection: rate.ticks_for_millis(SPAWN_PROTECTION_MS),
            projectile_lifetime: params.projectile_lifetime,
        }
    }
}

/// The tick at which each player field last changed (what snapshots compare against baselines).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FieldTicks {
    /// The motion key.
    pub motion: Tick,
    /// The aim.
    pub aim: Tick,
    /// Hit points.
    pub hp: Tick,
    /// Status bits.
    pub status: Tick,
}

impl FieldTicks {
    fn all(tick: Tick) -> FieldTicks {
        FieldTicks {
            motion: tick,
            aim: tick,
            hp: tick,
            status: tick,
        }
    }

    /// The latest of the four.
    pub fn latest(&self) -> Tick {
        self.motion.max(self.aim).max(self.hp).max(self.status)
    }
}

/// A player's avatar and standing.
#[derive(Debug, Clone)]
pub struct Player {
    /// Entity and player id.
    pub id: EntityId,
    /// Sanitized display name.
    pub name: String,
    /// Position now.
    pub pos: Pos,
    /// The motion key clients extrapolate; `motion.position_at(now) == pos` always holds.
    pub motion: PlayerMotion,
    /// Aim angle.
    pub aim: u16,
    /// The aim as snapshots carry it (12 bits); its changes are what `changed.aim` tracks.
    pub aim_wire: u16,
    /// Hit points.
    pub hp: u8,
    /// Status bits (`protocol::status`).
    pub status: u8,
    /// The input in force (the last one applied; held while no new one arrives).
    pub input: InputFrame,
    /// The tick from which the player may fire again.
    pub fire_ready: Tick,
    /// When dead: the tick of respawn.
    pub respawn_at: Option<Tick>,
    /// Spawn protection lasts until this tick.
    pub protected_until: Tick,
    /// Points, kills, deaths.
    pub score: ScoreEntry,
    /// When each field last changed.
    pub changed: FieldTicks,
    /// The current motion key continues the previous one (a turn, or a halt where the player
    /// stood): a client holding the previous key can work out the new key's position itself.
    pub motion_is_turn: bool,
    /// When the previous motion key was set (the value `changed.motion` had before the last change).
    pub previous_motion_changed: Tick,
    /// When the player was last placed (joined, respawned or was moved by the room): since then it
    /// has only walked, and maybe fallen where it stood. Lag compensation hits a player where it
    /// stood only within the same placement.
    pub placed_at: Tick,
}

impl Player {
    /// Whether the player is alive.
    pub fn alive(&self) -> bool {
        self.status & status::DEAD == 0
    }
}

/// A projectile in flight. Its motion never changes: it flies straight until it hits or fades.
#[derive(Debug, Clone)]
pub struct Projectile {
    /// Entity id.
    pub id: EntityId,
    /// Who fired it.
    pub owner: EntityId,
    /// The shooter's key when fired (checked against `owner` before crediting a kill).
    pub owner_key: PlayerKey,
    /// Launch point, tick and velocity.
    pub motion: ProjectileMotion,
    /// The aim it was fired at (its velocity follows from it).
    pub aim: u16,
    /// Position now.
    pub pos: Pos,
    /// The tick at which it fades.
    pub expires: Tick,
    /// Lag compensation: it is tested against players as they stood this many ticks ago (see the
    /// module notes). 0: never rewound.
    pub rewind: u32,
}

/// Something that happened during a tick that the room must tell players about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorldEvent {
    /// A player died; `killer` is `None` when the shooter has left.
    Kill {
        /// The shooter.
        killer: Option<EntityId>,
        /// The player who died.
        victim: EntityId,
    },
    /// A player's score entry changed.
    ScoreChanged(PlayerKey),
    /// A projectile hurt a living player (before the `Kill` it may cause): for the shooter alone.
    Hit {
        /// The shooter (still in the room: a shot whose shooter left hits no one's marker).
        shooter: PlayerKey,
        /// Who was hurt.
        victim: EntityId,
        /// Its hit points after the hit (0: the shot killed it).
        hp: u8,
    },
}

/// One room's game state.
#[derive(Debug)]
pub struct World {
    map: Arc<Map>,
    params: MoveParams,
    rules: Rules,
    tick: Tick,
    players: Slab<Player>,
    projectiles: Slab<Projectile>,
    /// Next player id (even).
    next_player_id: u32,
    /// Next projectile id (odd).
    next_projectile_id: u32,
    /// Projectiles that stopped on a player recently, by id: the only projectile ends snapshots must
    /// announce (walls and fading are worked out by clients).
    /// Values: the tick of the hit, and the tick the projectile would have ended by itself.
    recent_hits: std::collections::HashMap<EntityId, (Tick, Tick)>,
    rng: Rng,
    events: Vec<WorldEvent>,
    /// Scratch for hit tests: living players bucketed by position.
    hit_grid: crate::grid::Grid,
    /// Scratch: player keys by hit grid item index.
    hit_keys: Vec<PlayerKey>,
    /// Hittable players' positions over the last ticks, for lag compensation.
    history: History,
    /// Shots fired and shots that hit a player, since the world began.
    shots: ShotCounts,
}

/// Shots fired and shots that hit a player, counted since the world began (the room turns them into
/// the server's `skirmish_shots_fired_total`, `skirmish_shot_hits_total` and
/// `skirmish_shot_hits_on_fallen_total`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ShotCounts {
    /// Projectiles fired.
    pub fired: u64,
    /// Projectiles that stopped on a living player (and hurt it).
    pub hits: u64,
    /// Rewound projectiles that stopped on a player as their shooter saw it, alive, that had died
    /// since (killed by another shot the shooter had not yet seen): no damage.
    pub hits_on_fallen: u64,
}

impl World {
    /// An empty world on `map` at `tick_rate`, with a seeded random generator, compensating lag up to
    /// [`DEFAULT_MAX_REWIND_MS`] (see [`World::with_max_rewind`]).
    pub fn new(map: Arc<Map>, tick_rate: TickRate, seed: u64) -> World {
        let hit_grid = crate::grid::Grid::new(
            map.width_coords(),
            map.height_coords(),
            skirmish_shared::map::TILE_SIZE * 2,
        );
        World {
            map,
            params: MoveParams::new(tick_rate),
            rules: Rules::new(tick_rate),
            tick: Tick(0),
            players: Slab::new(),
            projectiles: Slab::new(),
            next_player_id: 2,
            next_projectile_id: 1,
            recent_hits: std::collections::HashMap::new(),
            rng: Rng::new(seed),
            events: Vec::new(),
            hit_grid,
            hit_keys: Vec::new(),
            shots: ShotCounts::default(),
            history: History::new(rewind_ticks(
                tick_rate,
                Duration::from_millis(DEFAULT_MAX_REWIND_MS.into()),
            )),
        }
    }

    /// The same world compensating lag up to `max_rewind` ticks (0: off; at most
    /// [`MAX_REWIND_LIMIT_MS`] at the fastest tick rate). Call before the first tick: the history
    /// starts over.
    pub fn with_max_rewind(mut self, max_rewind: u32) -> World {
        let limit = TickRate::new(TickRate::MAX_HZ).map_or(0, |fastest| {
            rewind_ticks(fastest, Duration::from_millis(MAX_REWIND_LIMIT_MS.into()))
        });
        self.history = History::new(max_rewind.min(limit));
        self
    }

    /// The longest rewind, in ticks, lag compensation applies (0: off).
    pub fn max_rewind(&self) -> u32 {
        self.history.depth()
    }

    /// The last completed tick.
    pub fn tick_number(&self) -> Tick {
        self.tick
    }

    /// The map.
    pub fn map(&self) -> &Arc<Map> {
        &self.map
    }

    /// Per-tick movement distances.
    pub fn params(&self) -> &MoveParams {
        &self.params
    }

    /// Rule durations in ticks.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Players by key.
    pub fn players(&self) -> &Slab<Player> {
        &self.players
    }

    /// Projectiles by key.
    pub fn projectiles(&self) -> &Slab<Projectile> {
        &self.projectiles
    }

    /// A player by key.
    pub fn player(&self, key: PlayerKey) -> Option<&Player> {
        self.players.get(key)
    }

    /// A new player id (even, never reused).
    fn allocate_player_id(&mut self) -> EntityId {
        let id = EntityId(self.next_player_id);
        self.next_player_id = self.next_player_id.wrapping_add(2).max(2);
        id
    }

    /// A new projectile id (odd, never reused).
    fn allocate_projectile_id(&mut self) -> EntityId {
        let id = EntityId(self.next_projectile_id);
        self.next_projectile_id = self.next_projectile_id.wrapping_add(2).max(1);
        id
    }

    /// Shots fired and hits since the world began.
    pub fn shot_counts(&self) -> ShotCounts {
        self.shots
    }

    /// Projectiles that recently stopped on a player, with the tick each would have ended by itself
    /// (`ProjectileMotion::natural_end`): until then, clients must be told it is gone.
    pub fn recent_hits(&self) -> impl Iterator<Item = (EntityId, Tick)> + '_ {
        self.recent_hits.iter().map(|(id, (_, end))| (*id, *end))
    }

    /// Adds a player at a free spawn point, protected for a moment. Returns its key.
    pub fn add_player(&mut self, name: String) -> PlayerKey {
        let id = self.allocate_player_id();
        let pos = self.choose_spawn();
        let now = self.tick;
        self.players.insert(Player {
            id,
            name,
            pos,
            motion: PlayerMotion {
                tick: now,
                pos,
                dir: Dir::Still,
            },
            aim: 0,
            aim_wire: 0,
            hp: MAX_HP,
            status: status::PROTECTED,
            input: InputFrame::default(),
            fire_ready: now,
            respawn_at: None,
            protected_until: now.plus(self.rules.spawn_protection),
            score: ScoreEntry {
                id,
                ..ScoreEntry::default()
            },
            changed: FieldTicks::all(now),
            motion_is_turn: false,
            previous_motion_changed: now,
            placed_at: now,
        })
    }

    /// Removes a player. Its projectiles fly on, but credit no one.
    pub fn remove_player(&mut self, key: PlayerKey) -> Option<Player> {
        self.players.try_remove(key)
    }

    /// Replaces a player's held input with standing still, not firing (its connection dropped).
    pub fn clear_input(&mut self, key: PlayerKey) {
        if let Some(player) = self.players.get_mut(key) {
            player.input = InputFrame {
                seq: player.input.seq,
                aim: player.input.aim,
                ..InputFrame::default()
            };
        }
    }

    /// Moves a player to `pos` (which must not overlap a wall) standing still, as of the last tick.
    pub fn place_player(&mut self, key: PlayerKey, pos: Pos) {
        let now = self.tick;
        if let Some(player) = self.players.get_mut(key) {
            player.place(pos, now);
        }
    }

    /// Advances the world by one tick and returns what happened.
    ///
    /// `inputs` holds at most one new input per player (later duplicates win); players without one keep
    /// the input they had. Input values must already be validated (axes in range).
    pub fn tick(&mut self, inputs: &[(PlayerKey, InputFrame)]) -> &[WorldEvent] {
        // Phases, in order:
        // 1. inputs: record each player's new input and aim;
        // 2. life: respawn the dead whose time has come, end spawn protection;
        // 3. movement: step living players with the shared movement code, renewing motion keys on turns;
        // 4. combat: fire (cooldown; each shot records its lag-compensation rewind), record who can
        //    be hit where (the history), fly projectiles (against the players as their shooter saw
        //    them), apply hits, deaths and scores.
        let now = self.tick.next();
        self.tick = now;
        self.events.clear();
        self.apply_inputs(inputs, now);
        self.update_life(now);
        self.move_players(now);
        self.fire(now);
        self.fly_projectiles(now);
        &self.events
    }

    fn apply_inputs(&mut self, inputs: &[(PlayerKey, InputFrame)], now: Tick) {
        for &(key, input) in inputs {
            let Some(player) = self.players.get_mut(key) else {
                continue;
            };
            player.input = input;
            if player.alive() && player.aim != input.aim {
                player.aim = input.aim;
                let wire = skirmish_shared::fixed::aim_to_wire(input.aim);
                if wire != player.aim_wire {
                    player.aim_wire = wire;
                    player.changed.aim = now;
                }
            }
        }
    }

    fn update_life(&mut self, now: Tick) {
        let mut respawning = Vec::new();
        for (key, player) in &mut self.players {
            if player.respawn_at.is_some_and(|at| at <= now) {
                respawning.push(key);
            }
            if player.status & status::PROTECTED != 0 && now >= player.protected_until {
                player.status &= !status::PROTECTED;
                player.changed.status = now;
            }
        }
        for key in respawning {
            let pos = self.choose_spawn();
            let protection = self.rules.spawn_protection;
            if let Some(player) = self.players.get_mut(key) {
                player.respawn_at = None;
                player.hp = MAX_HP;
                player.status = status::PROTECTED;
                player.protected_until = now.plus(protection);
                player.place(pos, now);
                player.changed.hp = now;
                player.changed.status = now;
            }
        }
    }

    fn move_players(&mut self, now: Tick) {
        for (_, player) in &mut self.players {
            if !player.alive() {
                continue;
            }
            let dir = player.input.dir().unwrap_or(Dir::Still);
            let next = step_player(&self.map, &self.params, player.pos, dir);
            if dir != player.motion.dir {
                // The new key starts at the previous tick's position, which the old key gives, so a
                // client holding the old key needs only the turn's tick and direction.
                player.motion = PlayerMotion {
                    tick: now.minus(1),
                    pos: player.pos,
                    dir,
                };
                player.previous_motion_changed = player.changed.motion;
                player.changed.motion = now;
                player.motion_is_turn = true;
            }
            player.pos = next;
        }
    }

    /// Picks a random spawn point with no living player near it; if none is free, the one whose nearest
    /// living player is farthest away.
    fn choose_spawn(&mut self) -> Pos {
        let spawns = self.map.spawns();
        let clearance = i64::from(SPAWN_CLEARANCE) * i64::from(SPAWN_CLEARANCE);
        let nearest: Vec<i64> = spawns
            .iter()
            .map(|spawn| {
                self.players
                    .iter()
                    .filter(|(_, p)| p.alive())
                    .map(|(_, p)| p.pos.distance_squared(*spawn))
                    .min()
                    .unwrap_or(i64::MAX)
            })
            .collect();
        let free: Vec<usize> = (0..spawns.len())
            .filter(|&i| nearest[i] > clearance)
            .collect();
        let index = if free.is_empty() {
            (0..spawns.len()).max_by_key(|&i| nearest[i]).unwrap_or(0)
        } else {
            free[self.rng.below(free.len())]
        };
        spawns[index]
    }
}

impl Player {
    /// Puts the player at `pos` standing still, with a fresh motion key.
    fn place(&mut self, pos: Pos, now: Tick) {
        self.halt(pos, now);
        self.placed_at = now;
    }

    /// Stops the player at `pos` from `now` on (a new motion key) without a new placement: a player
    /// that dies halts where it fell, and lag compensation still knows its body as the one it shot.
    fn halt(&mut self, pos: Pos, now: Tick) {
        // Halting where the current key has the player (a death: it falls where it stood)
        // continues that key, as a turn does: a client holding it works out the new key's
        // position itself, so snapshots send a turn to `Still` instead of a whole key.
        let continues = pos == self.pos;
        self.pos = pos;
        self.motion = PlayerMotion {
            tick: now,
            pos,
            dir: Dir::Still,
        };
        self.previous_motion_changed = self.changed.motion;
        self.changed.motion = now;
        self.motion_is_turn = continues;
    }
}

#[cfg(test)]
mod rewind_tests;
#[cfg(test)]
mod tests;
