//! The room's log of broadcast events, encoded once and shared by every player's snapshots, and the
//! budget that caps how many bytes of events one snapshot carries.

use skirmish_shared::codec::events::put_event;
use skirmish_shared::protocol::{GameEvent, MAX_SERVER_MSG_BYTES};
use std::collections::VecDeque;

/// Most broadcast events held for players who have not received them yet. A player further behind
/// than this is disconnected as too slow.
pub const MAX_EVENT_BACKLOG: usize = 4096;

/// Most private events held for one player.
pub const MAX_PRIVATE_BACKLOG: usize = 256;

/// Most bytes of encoded events one snapshot carries: a quarter of [`MAX_SERVER_MSG_BYTES`].
///
/// A player that fell behind (it stopped reading while the room chatted) has more events pending than
/// one message may hold; they are sent over the following snapshots, in order, at most this many bytes
/// in each, and none is lost. A single event larger than this is sent alone, so nothing waits forever;
/// the largest is a roster (a player's id and name per player).
///
/// The other three quarters (768 KiB) hold the snapshot's header and entity sections. With every
/// integer at its widest, a player costs at most 31 bytes (an update with every field; 27 in full)
/// and a projectile 24, each plus 5 to say it left, and a player has at most 5 projectiles in flight
/// (1,200 ms each, one per 250 ms): at most 181 bytes a player, so views of up to 4,000 players fit
/// (`docs/PERFORMANCE.md` measures 3,000; a room holds 64 by default). The room's tests check this
/// arithmetic.
pub const EVENT_BYTES_PER_SNAPSHOT: usize = MAX_SERVER_MSG_BYTES / 4;

/// The most bytes of events one snapshot to a seat paced at `rate` bytes per second carries: a
/// second of its rate, and never more than [`EVENT_BYTES_PER_SNAPSHOT`]. A slow client catching up
/// on events (after joining a busy room, say) then gets snapshots that each cross its link in about
/// a second, not one that takes minutes and holds everything else back; the events that did not fit
/// come, in order, in the next snapshots. (Not less: each snapshot also carries the entities that
/// changed since the last, which at a low rate can be most of it, and a smaller share for events
/// would let a busy room's events outrun the client.) The default rates are above the cap.
pub fn event_budget(rate: u32) -> usize {
    usize::try_from(rate).map_or(EVENT_BYTES_PER_SNAPSHOT, |rate| {
        rate.min(EVENT_BYTES_PER_SNAPSHOT)
    })
}

/// Whether an encoded event of `len` bytes may join `written` bytes of events already in a snapshot
/// whose event budget is `budget` bytes: if together they stay within it, or if it is the first (an
/// event larger than the budget goes alone, so nothing waits forever).
pub fn fits_budget(written: usize, len: usize, budget: usize) -> bool {
    written == 0 || written + len <= budget
}

/// Encodes one event, packed as snapshots carry it (`codec::events`).
pub fn encode(event: &GameEvent) -> Vec<u8> {
    let mut out = Vec::new();
    put_event(&mut out, event);
    out
}

/// Broadcast events numbered by a sequence number that only grows.
#[derive(Debug, Default)]
pub struct EventLog {
    /// Sequence number of `entries[0]`.
    first: u64,
    entries: VecDeque<Vec<u8>>,
}

impl EventLog {
    /// Appends an event for everyone in the room.
    pub fn push(&mut self, event: &GameEvent) {
        self.entries.push_back(encode(event));
    }

    /// The sequence number of the oldest event held.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The sequence number the next event will get.
    pub fn end(&self) -> u64 {
        self.first + self.entries.len() as u64
    }

    /// Events from sequence number `from` on (those still held), each with its sequence number.
    pub fn since(&self, from: u64) -> impl Iterator<Item = (u64, &[u8])> {
        let skip = from.saturating_sub(self.first) as usize;
        let first = self.first;
        self.entries
            .iter()
            .enumerate()
            .skip(skip)
            .map(move |(i, event)| (first + i as u64, event.as_slice()))
    }

    /// Forgets events before `upto` (every player has them).
    pub fn trim(&mut self, upto: u64) {
        while self.first < upto && self.entries.pop_front().is_some() {
            self.first += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshots_event_budget_is_a_second_of_the_rate_within_the_cap() {
        assert_eq!(event_budget(1_000), 1_000);
        assert_eq!(event_budget(100_000), 100_000);
        assert_eq!(event_budget(1_000_000), EVENT_BYTES_PER_SNAPSHOT);
        assert_eq!(event_budget(u32::MAX), EVENT_BYTES_PER_SNAPSHOT);
        // The first event goes whatever its size; the next only within the budget.
        assert!(fits_budget(0, 10_000, 250));
        assert!(fits_budget(200, 50, 250));
        assert!(!fits_budget(200, 51, 250));
    }
}
