//! The room's fill bots (`--fill-bots N`): while the room has fewer than `N` humans (seated,
//! connected or held), bots play so that humans and bots make `N`, never more than the room's
//! capacity. A joining human takes a bot's place at once (it never waits, and is never refused for
//! a bot); a leaving human's place is taken by a bot. A room without humans has no bots.
//!
//! A bot is a world player with no seat: no link, no snapshots, no private events. Its brain
//! ([`BotBrain`]) writes an input each tick into the same list the players' inputs go to, before
//! the world steps.

use super::Room;
use crate::bot::{BotBrain, BOT_NAMES};
use crate::world::PlayerKey;
use skirmish_shared::protocol::{EntityId, GameEvent, RosterEntry};
use skirmish_shared::text::distinct_name;
use std::sync::atomic::Ordering;

/// One fill bot.
#[derive(Debug)]
pub(super) struct Bot {
    /// Its player's key in the world.
    pub key: PlayerKey,
    /// Its player's id.
    pub id: EntityId,
    pub brain: BotBrain,
}

impl Room {
    /// Whether the player at `key` is a fill bot.
    pub(super) fn is_bot(&self, key: PlayerKey) -> bool {
        self.bots.iter().any(|bot| bot.key == key)
    }

    /// The fill bots' player ids (for tests and benchmarks).
    pub fn bot_ids(&self) -> Vec<EntityId> {
        self.bots.iter().map(|bot| bot.id).collect()
    }

    /// Bots the room should hold with `humans` humans seated.
    fn bots_wanted(&self, humans: usize) -> usize {
        if humans == 0 {
            return 0;
        }
        let fill = self.config.fill_bots.min(self.config.capacity);
        fill.saturating_sub(humans)
    }

    /// Adds or removes bots so the room holds as many as `humans` humans call for (newest bots
    /// leave first).
    pub(super) fn balance_bots(&mut self, humans: usize) {
        let wanted = self.bots_wanted(humans);
        let before = self.bots.len();
        while self.bots.len() > wanted {
            let Some(bot) = self.bots.pop() else { break };
            self.world.remove_player(bot.key);
            self.events.push(&GameEvent::PlayerLeft(bot.id));
            self.scores_dirty = true;
        }
        while self.bots.len() < wanted {
            self.add_bot();
        }
        if self.bots.len() != before {
            let metrics = &self.metrics.bots;
            metrics.fetch_add(self.bots.len() as u64, Ordering::Relaxed);
            metrics.fetch_sub(before as u64, Ordering::Relaxed);
            self.publish_counts();
        }
    }

    fn add_bot(&mut self) {
        let made = self.bots_made;
        self.bots_made += 1;
        let base = BOT_NAMES[(made % BOT_NAMES.len() as u64) as usize];
        let name = distinct_name(
            &format!("Bot {base}"),
            self.world.players().iter().map(|(_, p)| p.name.as_str()),
        );
        let key = self.world.add_player(name.clone());
        let id = self.world.players()[key].id;
        let seed = self.seed ^ made.wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        self.bots.push(Bot {
            key,
            id,
            brain: BotBrain::new(self.config.tick_rate, seed),
        });
        self.events.push(&GameEvent::PlayerJoined(RosterEntry {
            id,
            name,
            bot: true,
        }));
        self.scores_dirty = true;
    }

    /// Each bot's input for the coming tick, added to this tick's inputs.
    pub(super) fn think_for_bots(&mut self) {
        let radius = self.config.view_radius;
        for bot in &mut self.bots {
            let input = bot.brain.think(&self.world, bot.key, radius);
            self.inputs.push((bot.key, input));
        }
    }

    /// Publishes the room's human and bot counts for the lobby (`/api/rooms`).
    pub(super) fn publish_counts(&self) {
        let humans = self.seats.iter().flatten().count();
        self.shared.humans.store(humans, Ordering::Relaxed);
        self.shared.bots.store(self.bots.len(), Ordering::Relaxed);
    }
}
