//! The room's log of broadcast events, encoded once and shared by every player's snapshots.

use skirmish_shared::codec::encode_append;
use skirmish_shared::protocol::GameEvent;
use std::collections::VecDeque;

/// Most broadcast events held for players who have not received them yet. A player further behind
/// than this is disconnected as too slow.
pub const MAX_EVENT_BACKLOG: usize = 4096;

/// Most private events held for one player.
pub const MAX_PRIVATE_BACKLOG: usize = 256;

/// Encodes one event.
pub fn encode(event: &GameEvent) -> Vec<u8> {
    let mut out = Vec::new();
    encode_append(event, &mut out);
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

    /// The sequence number the next event will get.
    pub fn end(&self) -> u64 {
        self.first + self.entries.len() as u64
    }

    /// Events from sequence number `from` on (those still held).
    pub fn since(&self, from: u64) -> impl Iterator<Item = &[u8]> {
        let skip = from.saturating_sub(self.first) as usize;
        self.entries.iter().skip(skip).map(Vec::as_slice)
    }

    /// Forgets events before `upto` (every player has them).
    pub fn trim(&mut self, upto: u64) {
        while self.first < upto && self.entries.pop_front().is_some() {
            self.first += 1;
        }
    }
}
