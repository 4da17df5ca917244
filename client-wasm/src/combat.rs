//! What the player is told about combat, as pure state: hit markers, kill confirmations, the kill
//! feed, damage, the own death and respawn, and the spawn-protection hint.
//!
//! No DOM, no clock, no sound: events and the own avatar's state come in with the time (`now`, ms
//! on the page's clock), and the sounds to play come out as [`Cue`]s, so the rules are tested
//! natively. The browser side (`web::feedback`) draws and plays what this holds.

use skirmish_shared::protocol::EntityId;
use std::collections::VecDeque;

/// Kill-feed lines kept at most.
pub const FEED_LINES: usize = 5;
/// Milliseconds a kill-feed line stays.
pub const FEED_MS: f64 = 5_000.0;
/// Milliseconds the kill banner shows.
pub const BANNER_MS: f64 = 2_200.0;
/// Lethal hits remembered while their `Kill` events are awaited (normally the same snapshot's).
const LETHAL_HITS_KEPT: usize = 16;
/// Milliseconds the spawn-protection hint takes to fade once protection ends or the player fires.
pub const HINT_FADE_MS: f64 = 600.0;

/// A sound the player should hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// The own shot left the barrel.
    Fire,
    /// An own shot hit someone (not fatally).
    HitMarker,
    /// The own avatar was hit.
    Hurt,
    /// The own shot eliminated someone.
    Kill,
    /// The own avatar was eliminated.
    Death,
    /// The own avatar is back in the arena.
    Respawn,
}

/// The own avatar as the last snapshot showed it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Own {
    /// Hit points, 0..=100.
    pub hp: u8,
    /// Dead, waiting to respawn.
    pub dead: bool,
    /// Spawn-protected.
    pub protected: bool,
    /// Where it is drawn (world units).
    pub position: (f64, f64),
}

/// The own death being shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Death {
    /// Who fired the shot (`None` when unknown or the shooter left).
    pub killer: Option<EntityId>,
    /// The shooter's name, once the `Kill` event named it.
    pub killer_name: Option<String>,
    /// When the death was seen (ms).
    pub at_ms: f64,
    /// Kills of the life that ended.
    pub kills: u32,
    /// Where the avatar fell (the camera stays there until the respawn); `None` until the snapshot
    /// showing the death was applied.
    pub position: Option<(f64, f64)>,
}

/// One kill-feed line.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedLine {
    /// The shooter's name ("—" when it left the room).
    pub killer: String,
    /// The victim's name.
    pub victim: String,
    /// The own player is the shooter or the victim (highlighted).
    pub mine: bool,
    /// When it happened (ms).
    pub at_ms: f64,
}

/// The spawn-protection hint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Hint {
    /// Nothing to show.
    Hidden,
    /// Protected since the given time (ms).
    Shown {
        /// When protection was first seen.
        since: f64,
    },
    /// Protection ended (or the player fired) at the given time: fading out.
    Fading {
        /// When the fade started.
        since: f64,
    },
}

/// The combat feedback state of one page.
#[derive(Debug, Clone)]
pub struct Combat {
    /// Hit markers shown so far (own hits; a kill's last hit counts once).
    pub hit_markers: u32,
    /// When the last hit marker started, and whether it was lethal.
    pub last_hit: Option<(f64, bool)>,
    /// Own kills so far.
    pub kills_confirmed: u32,
    /// The kill banner's text and start.
    pub banner: Option<(String, f64)>,
    /// When the own hit points last dropped.
    pub hurt_at: Option<f64>,
    /// The kill feed, oldest first.
    pub feed: VecDeque<FeedLine>,
    /// The own death, while dead.
    pub death: Option<Death>,
    /// The spawn-protection hint.
    pub hint: Hint,
    /// Victims of lethal `Hit`s whose `Kill` has not come yet, so it adds no second marker.
    lethal_hits: Vec<EntityId>,
    /// Hit points at the last update (`None` before the first, and after a respawn).
    last_hp: Option<u8>,
    kills_this_life: u32,
    /// Own shots predicted so far (a new one is a fire cue).
    shots_seen: u32,
}

impl Default for Combat {
    fn default() -> Combat {
        Combat::new()
    }
}

impl Combat {
    /// Nothing seen yet.
    pub fn new() -> Combat {
        Combat {
            hit_markers: 0,
            last_hit: None,
            kills_confirmed: 0,
            banner: None,
            hurt_at: None,
            feed: VecDeque::new(),
            death: None,
            hint: Hint::Hidden,
            lethal_hits: Vec::new(),
            last_hp: None,
            kills_this_life: 0,
            shots_seen: 0,
        }
    }

    /// A new session starts: the own avatar's state is forgotten; the feed and counts stay.
    pub fn reset_session(&mut self) {
        self.death = None;
        self.last_hp = None;
        self.kills_this_life = 0;
        self.hint = Hint::Hidden;
        self.shots_seen = 0;
    }

    /// An own shot hit `victim`, leaving it `hp` hit points.
    pub fn on_hit(&mut self, victim: EntityId, hp: u8, now: f64) -> Option<Cue> {
        self.hit_markers += 1;
        self.last_hit = Some((now, hp == 0));
        if hp == 0 {
            // The Kill event that follows confirms it (and plays the kill cue).
            if self.lethal_hits.len() == LETHAL_HITS_KEPT {
                self.lethal_hits.remove(0);
            }
            self.lethal_hits.push(victim);
            None
        } else {
            Some(Cue::HitMarker)
        }
    }

    /// A kill in the room; `me` is the own player, names are resolved by the caller.
    pub fn on_kill(
        &mut self,
        me: EntityId,
        killer: Option<(EntityId, String)>,
        victim: (EntityId, String),
        now: f64,
    ) -> Option<Cue> {
        let killer_id = killer.as_ref().map(|(id, _)| *id);
        self.feed.push_back(FeedLine {
            killer: killer
                .as_ref()
                .map_or_else(|| "—".to_string(), |(_, n)| n.clone()),
            victim: victim.1.clone(),
            mine: killer_id == Some(me) || victim.0 == me,
            at_ms: now,
        });
        while self.feed.len() > FEED_LINES {
            self.feed.pop_front();
        }
        if victim.0 == me {
            let death = self.death_at(now);
            death.killer = killer_id;
            death.killer_name = killer.map(|(_, n)| n);
            None
        } else if killer_id == Some(me) {
            self.kills_confirmed += 1;
            self.kills_this_life += 1;
            match self.lethal_hits.iter().position(|v| *v == victim.0) {
                Some(i) => {
                    self.lethal_hits.remove(i);
                }
                // No lethal Hit came before it (a server without Hit events): the kill is a hit too.
                None => self.hit_markers += 1,
            }
            self.last_hit = Some((now, true));
            self.banner = Some((format!("Eliminated {}", victim.1), now));
            Some(Cue::Kill)
        } else {
            None
        }
    }

    /// The current death, begun at `now` with this life's kills if none is under way.
    fn death_at(&mut self, now: f64) -> &mut Death {
        let kills = self.kills_this_life;
        self.death.get_or_insert(Death {
            killer: None,
            killer_name: None,
            at_ms: now,
            kills,
            position: None,
        })
    }

    /// Follows the own avatar once a frame: `fire` says fire is held, `shots` counts the own shots
    /// predicted this session. Returns the sounds to play.
    pub fn update(&mut self, own: Option<Own>, now: f64, fire: bool, shots: u32) -> Vec<Cue> {
        let mut cues = Vec::new();
        if shots > self.shots_seen {
            cues.push(Cue::Fire);
        }
        self.shots_seen = shots;
        self.feed.retain(|l| now - l.at_ms < FEED_MS);
        if self
            .banner
            .as_ref()
            .is_some_and(|(_, at)| now - at > BANNER_MS)
        {
            self.banner = None;
        }
        let Some(own) = own else {
            return cues;
        };
        if own.dead {
            let death = self.death_at(now);
            if death.position.is_none() {
                death.position = Some(own.position);
                cues.push(Cue::Death);
            }
            self.last_hp = Some(0);
            self.hint = Hint::Hidden;
            return cues;
        }
        if self.death.take().is_some() {
            // Respawned: a fresh life with full hit points (not a "hurt" change) and protection.
            cues.push(Cue::Respawn);
            self.kills_this_life = 0;
            self.last_hp = None;
            self.hint = Hint::Hidden;
        }
        if self.last_hp.is_some_and(|last| own.hp < last) {
            self.hurt_at = Some(now);
            cues.push(Cue::Hurt);
        }
        self.last_hp = Some(own.hp);
        self.hint = match self.hint {
            Hint::Hidden if own.protected && !fire => Hint::Shown { since: now },
            Hint::Shown { .. } if !own.protected || fire => Hint::Fading { since: now },
            Hint::Fading { since } if now - since > HINT_FADE_MS && !own.protected => Hint::Hidden,
            other => other,
        };
        cues
    }

    /// Where the camera must stay: where the avatar fell, while dead.
    pub fn camera_override(&self) -> Option<(f64, f64)> {
        self.death.as_ref().and_then(|d| d.position)
    }

    /// Milliseconds until the respawn, while dead, given the room's respawn delay.
    pub fn respawn_in_ms(&self, now: f64, respawn_delay_ms: u32) -> Option<f64> {
        self.death
            .as_ref()
            .map(|d| (f64::from(respawn_delay_ms) - (now - d.at_ms)).max(0.0))
    }

    /// The death screen's lines, while dead: who, the kills of the life, the countdown.
    pub fn death_text(&self, now: f64, respawn_delay_ms: u32) -> Option<String> {
        let death = self.death.as_ref()?;
        let left = self.respawn_in_ms(now, respawn_delay_ms)?;
        let by = death.killer_name.as_deref().map_or_else(
            || "Eliminated".to_string(),
            |n| format!("Eliminated by {n}"),
        );
        let kills = match death.kills {
            1 => "1 kill this life".to_string(),
            n => format!("{n} kills this life"),
        };
        let respawn = if left > 0.0 {
            format!("Respawning in {:.1} s", left / 1000.0)
        } else {
            "Respawning…".to_string()
        };
        Some(format!("{by}\n{kills}\n{respawn}"))
    }

    /// The protection hint's text while it is up (not fading), given the protection's length.
    pub fn hint_text(&self, now: f64, protection_ms: u32) -> Option<String> {
        match self.hint {
            Hint::Shown { since } => {
                let left = (f64::from(protection_ms) - (now - since)).max(0.0) / 1000.0;
                Some(format!("Protected for {left:.1} s — firing ends it"))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: EntityId = EntityId(1);
    const ALICE: EntityId = EntityId(2);
    const BOB: EntityId = EntityId(3);

    fn alive(hp: u8) -> Option<Own> {
        Some(Own {
            hp,
            dead: false,
            protected: false,
            position: (100.0, 200.0),
        })
    }

    fn named(id: EntityId, name: &str) -> (EntityId, String) {
        (id, name.to_string())
    }

    #[test]
    fn the_kill_feed_keeps_five_lines_for_five_seconds() {
        let mut c = Combat::new();
        for i in 0..7 {
            c.on_kill(
                ME,
                Some(named(ALICE, "alice")),
                named(BOB, &format!("bob{i}")),
                f64::from(i),
            );
        }
        assert_eq!(c.feed.len(), FEED_LINES);
        assert_eq!(c.feed.front().map(|l| l.victim.as_str()), Some("bob2"));
        assert!(c.feed.iter().all(|l| !l.mine));
        c.update(alive(100), 4_000.0, false, 0);
        assert_eq!(c.feed.len(), FEED_LINES, "still there after 4 s");
        c.update(alive(100), 5_004.5, false, 0);
        assert_eq!(c.feed.len(), 2, "lines older than 5 s went");
        c.on_kill(ME, None, named(BOB, "bob"), 6_000.0);
        assert_eq!(c.feed.back().map(|l| l.killer.as_str()), Some("—"));
    }

    #[test]
    fn hits_then_a_kill_give_one_marker_each_and_a_confirmation() {
        let mut c = Combat::new();
        assert_eq!(c.on_hit(BOB, 75, 0.0), Some(Cue::HitMarker));
        assert_eq!(c.on_hit(BOB, 0, 10.0), None, "the kill cue plays instead");
        let cue = c.on_kill(ME, Some(named(ME, "me")), named(BOB, "bob"), 10.0);
        assert_eq!(cue, Some(Cue::Kill));
        assert_eq!((c.hit_markers, c.kills_confirmed), (2, 1));
        // A later kill of bob without a lethal Hit before it is a marker of its own.
        c.on_kill(ME, Some(named(ME, "me")), named(BOB, "bob"), 10.0);
        assert_eq!((c.hit_markers, c.kills_confirmed), (3, 2));
        assert_eq!(
            c.banner.as_ref().map(|(t, _)| t.as_str()),
            Some("Eliminated bob")
        );
        assert!(c.feed.back().is_some_and(|l| l.mine));
        // The banner goes after its time.
        c.update(alive(100), 10.0 + BANNER_MS + 1.0, false, 0);
        assert_eq!(c.banner, None);
    }

    #[test]
    fn a_kill_without_hit_events_still_shows_a_marker() {
        let mut c = Combat::new();
        c.on_kill(ME, Some(named(ME, "me")), named(BOB, "bob"), 0.0);
        assert_eq!((c.hit_markers, c.kills_confirmed), (1, 1));
        assert_eq!(c.last_hit, Some((0.0, true)));
    }

    #[test]
    fn damage_flashes_but_a_respawn_to_full_health_does_not() {
        let mut c = Combat::new();
        assert!(c.update(alive(100), 0.0, false, 0).is_empty());
        assert_eq!(c.update(alive(75), 100.0, false, 0), vec![Cue::Hurt]);
        assert_eq!(c.hurt_at, Some(100.0));
        assert!(c.update(alive(75), 200.0, false, 0).is_empty());
        let dead = Some(Own {
            dead: true,
            hp: 0,
            ..alive(0).expect("own")
        });
        assert_eq!(c.update(dead, 300.0, false, 0), vec![Cue::Death]);
        assert_eq!(c.update(alive(100), 2_300.0, false, 0), vec![Cue::Respawn]);
        assert_eq!(c.hurt_at, Some(100.0), "no flash for the respawn");
    }

    #[test]
    fn the_death_screen_names_the_killer_counts_down_and_holds_the_camera() {
        let mut c = Combat::new();
        c.update(alive(100), 0.0, false, 0);
        c.on_kill(ME, Some(named(ME, "me")), named(BOB, "bob"), 50.0);
        // The Kill event comes with the snapshot that shows the death; the frame follows.
        assert_eq!(
            c.on_kill(ME, Some(named(ALICE, "alice")), named(ME, "me"), 1_000.0),
            None
        );
        let dead = Own {
            dead: true,
            hp: 0,
            position: (300.0, 400.0),
            protected: false,
        };
        assert_eq!(c.update(Some(dead), 1_010.0, false, 0), vec![Cue::Death]);
        let death = c.death.clone().expect("dead");
        assert_eq!((death.killer, death.kills), (Some(ALICE), 1));
        assert_eq!(c.camera_override(), Some((300.0, 400.0)));
        assert_eq!(c.respawn_in_ms(1_500.0, 2_000), Some(1_500.0));
        assert_eq!(
            c.death_text(1_500.0, 2_000).as_deref(),
            Some("Eliminated by alice\n1 kill this life\nRespawning in 1.5 s")
        );
        assert_eq!(c.respawn_in_ms(9_000.0, 2_000), Some(0.0), "never negative");
        // Respawned: the screen goes and the next life counts from zero.
        c.update(alive(100), 3_000.0, false, 0);
        assert_eq!((c.death.clone(), c.camera_override()), (None, None));
        c.update(Some(dead), 4_000.0, false, 0);
        assert_eq!(
            c.death.as_ref().map(|d| (d.kills, d.killer)),
            Some((0, None))
        );
        assert!(c
            .death_text(4_000.0, 2_000)
            .is_some_and(|t| t.starts_with("Eliminated\n0 kills")));
    }

    #[test]
    fn the_protection_hint_counts_down_and_fades_on_fire_or_when_it_ends() {
        let protected = Some(Own {
            protected: true,
            ..alive(100).expect("own")
        });
        let mut c = Combat::new();
        c.update(protected, 0.0, false, 0);
        assert_eq!(
            c.hint_text(500.0, 1_500).as_deref(),
            Some("Protected for 1.0 s — firing ends it")
        );
        // Firing: the hint fades at once, before the server says protection ended.
        c.update(protected, 600.0, true, 1);
        assert_eq!(c.hint, Hint::Fading { since: 600.0 });
        assert_eq!(c.hint_text(600.0, 1_500), None);
        c.update(alive(100), 700.0, false, 1);
        c.update(alive(100), 600.0 + HINT_FADE_MS + 1.0, false, 1);
        assert_eq!(c.hint, Hint::Hidden);
        // Without firing it fades when protection ends.
        let mut c = Combat::new();
        c.update(protected, 0.0, false, 0);
        c.update(alive(100), 1_500.0, false, 0);
        assert_eq!(c.hint, Hint::Fading { since: 1_500.0 });
    }

    #[test]
    fn each_new_shot_is_a_fire_cue() {
        let mut c = Combat::new();
        assert_eq!(c.update(alive(100), 0.0, true, 1), vec![Cue::Fire]);
        assert!(c.update(alive(100), 10.0, true, 1).is_empty());
        assert_eq!(c.update(alive(100), 260.0, true, 2), vec![Cue::Fire]);
        c.reset_session();
        assert!(c.update(alive(100), 300.0, false, 0).is_empty());
    }
}
