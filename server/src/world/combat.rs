//! Combat phase of the tick: firing, projectile flight (with lag compensation), hits, deaths and
//! scores.

use super::{PlayerKey, Projectile, World, WorldEvent, PROJECTILE_DAMAGE};
use skirmish_shared::physics::{
    projectile_hits_player, step_projectile, ProjectileMotion, ProjectileStep, PLAYER_HALF_SIZE,
    PROJECTILE_RADIUS,
};
use skirmish_shared::protocol::status;
use skirmish_shared::time::Tick;

impl World {
    /// Spawns a projectile for every living player holding fire whose cooldown has passed, launched
    /// by the shared rule (`ProjectileMotion::fired`) and rewound by its input's view lag (capped).
    /// Firing ends spawn protection.
    pub(super) fn fire(&mut self, now: Tick) {
        let mut shots = Vec::new();
        for (key, player) in &mut self.players {
            if !player.alive() || !player.input.fire() || now < player.fire_ready {
                continue;
            }
            player.fire_ready = now.plus(self.rules.fire_cooldown);
            if player.status & status::PROTECTED != 0 {
                player.status &= !status::PROTECTED;
                player.changed.status = now;
            }
            let rewind = self.history.rewind_for(now, player.input.view_lag);
            shots.push((key, player.id, player.pos, player.aim, rewind));
        }
        for (owner_key, owner, pos, aim, rewind) in shots {
            self.shots.fired += 1;
            let id = self.allocate_projectile_id();
            self.projectiles.insert(Projectile {
                id,
                owner,
                owner_key,
                motion: ProjectileMotion::fired(&self.params, now, pos, aim),
                aim,
                pos,
                expires: now.plus(self.rules.projectile_lifetime),
                rewind,
            });
        }
    }

    /// Moves every projectile launched before this tick; a projectile stops at the first wall or
    /// hittable player (alive, unprotected, not its shooter) along its path. A projectile with a rewind
    /// is tested against the players as they stood that many ticks ago (see the module
    /// notes of `world` for who counts), and also stops, doing no harm, on one that has fallen since.
    pub(super) fn fly_projectiles(&mut self, now: Tick) {
        self.rebuild_hit_grid();
        self.history.record(now, &self.players);
        let player_step = self.params.player_step;
        let horizon = self.rules.projectile_lifetime + 64;
        self.recent_hits
            .retain(|_, (at, _)| now.since(*at) <= horizon);
        let reach = PLAYER_HALF_SIZE + PROJECTILE_RADIUS;
        let mut finished = Vec::new();
        let mut hits = Vec::new();
        for (key, shot) in &mut self.projectiles {
            if shot.motion.tick == now {
                continue; // launched this tick: it first moves on the next one
            }
            let (players, grid, keys) = (&self.players, &self.hit_grid, &self.hit_keys);
            let history = &self.history;
            // The tick whose players this step is tested against: `now - rewind` (now if the
            // shot has no rewind, or that tick is somehow not held).
            let rewound = now.minus(shot.rewind);
            let rewind = (shot.rewind > 0 && history.holds(rewound)).then_some(shot.rewind);
            // A rewound player stood within `rewind` steps (per axis) of where it is now: it has
            // only walked since, in the same placement, or it is not hit.
            let radius = reach + player_step * rewind.unwrap_or(0) as i32;
            // The player hit, and whether it is alive now (not fallen since the rewound tick).
            let mut victim = None;
            let step = step_projectile(&self.map, shot.pos, shot.motion.velocity, |at| {
                grid.query(at, radius, |item| {
                    let player_key = keys[item as usize];
                    let player = &players[player_key];
                    if victim.is_some()
                        || player.id == shot.owner
                        || player.status & status::PROTECTED != 0
                    {
                        return;
                    }
                    let target = match rewind {
                        None => player.alive().then_some(player.pos),
                        Some(_) => history
                            .stand(rewound, player_key)
                            .filter(|then| {
                                then.id == player.id && then.placed_at == player.placed_at
                            })
                            .map(|then| then.pos),
                    };
                    if target.is_some_and(|target| projectile_hits_player(at, target)) {
                        victim = Some((player_key, player.alive()));
                    }
                });
                victim.is_some()
            });
            match step {
                ProjectileStep::Flying(pos) => {
                    shot.pos = pos;
                    if now >= shot.expires {
                        finished.push(key);
                    }
                }
                ProjectileStep::HitWall(_) => finished.push(key),
                ProjectileStep::Stopped(_) => {
                    finished.push(key);
                    let natural_end = shot.motion.natural_end(&self.map, &self.params);
                    self.recent_hits.insert(shot.id, (now, natural_end));
                    match victim {
                        Some((victim, true)) => {
                            self.shots.hits += 1;
                            hits.push((victim, shot.owner_key, shot.owner));
                        }
                        Some((_, false)) => self.shots.hits_on_fallen += 1,
                        None => {}
                    }
                }
            }
        }
        for key in finished {
            self.projectiles.remove(key);
        }
        for (victim, owner_key, owner) in hits {
            self.damage(victim, owner_key, owner, now);
        }
    }

    /// Buckets players by position for this tick's hit tests: the living, and the dead where they
    /// fell (a rewound shot may meet one as its shooter saw it, alive).
    fn rebuild_hit_grid(&mut self) {
        self.hit_keys.clear();
        self.hit_keys
            .extend(self.players.iter().map(|(key, _)| key));
        let players = &self.players;
        self.hit_grid
            .rebuild(self.hit_keys.iter().map(|&key| players[key].pos));
    }

    /// Applies one projectile hit: the shooter, if it is still here, is told (`WorldEvent::Hit`),
    /// and a killing hit scores for it.
    fn damage(
        &mut self,
        victim: PlayerKey,
        owner_key: PlayerKey,
        owner: skirmish_shared::protocol::EntityId,
        now: Tick,
    ) {
        let respawn_delay = self.rules.respawn_delay;
        let Some(player) = self.players.get_mut(victim) else {
            return;
        };
        if !player.alive() {
            return; // two shots in one tick: the first killed
        }
        player.hp = player.hp.saturating_sub(PROJECTILE_DAMAGE);
        player.changed.hp = now;
        let (victim_id, hp) = (player.id, player.hp);
        if owner_key != victim && self.players.get(owner_key).is_some_and(|p| p.id == owner) {
            self.events.push(WorldEvent::Hit {
                shooter: owner_key,
                victim: victim_id,
                hp,
            });
        }
        let Some(player) = self.players.get_mut(victim) else {
            return;
        };
        if player.hp > 0 {
            return;
        }
        player.status = status::DEAD;
        player.changed.status = now;
        player.respawn_at = Some(now.plus(respawn_delay));
        let pos = player.pos;
        player.halt(pos, now);
        player.score.deaths += 1;
        self.events.push(WorldEvent::ScoreChanged(victim));
        let killer = self
            .players
            .get_mut(owner_key)
            .filter(|p| p.id == owner && owner_key != victim);
        let killer_id = killer.map(|killer| {
            killer.score.kills += 1;
            killer.score.score += 1;
            killer.id
        });
        if killer_id.is_some() {
            self.events.push(WorldEvent::ScoreChanged(owner_key));
        }
        self.events.push(WorldEvent::Kill {
            killer: killer_id,
            victim: victim_id,
        });
    }
}
