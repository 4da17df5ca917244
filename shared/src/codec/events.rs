//! The packed form of a snapshot's events (protocol 9).
//!
//! The events travel inside the bincode message as one byte string holding them back to back up to
//! its end, so no count is needed. Integers are LEB128 varints (as in
//! [`sections`](super::sections)), and a player id is rotated right by one bit (player ids are
//! even, so it is halved). Each event opens with one varint, `first << 4 | kind`: its kind (its
//! variant's index in [`GameEvent`]) and its first field, so that a kill in a room of up to 1,024
//! players takes 4 bytes, and one in a room of 64 takes 2 or 3. Then:
//! - `Roster` (0): first the count; then per player its id as a gap from the one before (as
//!   `updated` writes them), `name length << 1 | bot`, and the name's UTF-8 bytes;
//! - `PlayerJoined` (1): first the id; then `name length << 1 | bot`, the name;
//! - `PlayerLeft` (2): first the id;
//! - `Chat` (3): first the speaker's id; then the text's length, the text;
//! - `Hit` (4): first the victim's id; then its hit points (a byte);
//! - `Kill` (5): first the victim's id; then the killer's id plus one, or 0 for none;
//! - `Leaderboard` (6): first the count; then per entry its id, score, kills and deaths;
//! - `YourScore` (7): first the id; then score, kills, deaths;
//! - `Notice` (8): first the text's length; then the text.
//!
//! Kinds 9 to 15 are invalid. The kill feed is most of a crowded room's events: bincode took 8
//! bytes a kill in a room of 1,000.

use super::sections::{put_varint, IdGaps, Reader, SectionError};
use crate::protocol::{EntityId, GameEvent, RosterEntry, ScoreEntry};

const ROSTER: u64 = 0;
const PLAYER_JOINED: u64 = 1;
const PLAYER_LEFT: u64 = 2;
const CHAT: u64 = 3;
const HIT: u64 = 4;
const KILL: u64 = 5;
const LEADERBOARD: u64 = 6;
const YOUR_SCORE: u64 = 7;
const NOTICE: u64 = 8;

/// Bits of an event's opening varint that hold its kind.
const KIND_BITS: u32 = 4;

fn half(id: EntityId) -> u64 {
    u64::from(id.0.rotate_right(1))
}

fn put_head(out: &mut Vec<u8>, kind: u64, first: u64) {
    put_varint(out, first << KIND_BITS | kind);
}

fn put_name(out: &mut Vec<u8>, entry: &RosterEntry) {
    put_varint(out, (entry.name.len() as u64) << 1 | u64::from(entry.bot));
    out.extend_from_slice(entry.name.as_bytes());
}

fn put_counts(out: &mut Vec<u8>, entry: &ScoreEntry) {
    for value in [entry.score, entry.kills, entry.deaths] {
        put_varint(out, u64::from(value));
    }
}

/// Appends one packed event.
pub fn put_event(out: &mut Vec<u8>, event: &GameEvent) {
    match event {
        GameEvent::Roster(entries) => {
            put_head(out, ROSTER, entries.len() as u64);
            let mut ids = IdGaps::default();
            for entry in entries {
                ids.put(out, entry.id);
                put_name(out, entry);
            }
        }
        GameEvent::PlayerJoined(entry) => {
            put_head(out, PLAYER_JOINED, half(entry.id));
            put_name(out, entry);
        }
        GameEvent::PlayerLeft(id) => put_head(out, PLAYER_LEFT, half(*id)),
        GameEvent::Chat { from, text } => {
            put_head(out, CHAT, half(*from));
            put_varint(out, text.len() as u64);
            out.extend_from_slice(text.as_bytes());
        }
        GameEvent::Hit { victim, hp } => {
            put_head(out, HIT, half(*victim));
            out.push(*hp);
        }
        GameEvent::Kill { killer, victim } => {
            put_head(out, KILL, half(*victim));
            put_varint(out, killer.map_or(0, |k| half(k) + 1));
        }
        GameEvent::Leaderboard(entries) => {
            put_head(out, LEADERBOARD, entries.len() as u64);
            for entry in entries {
                put_varint(out, half(entry.id));
                put_counts(out, entry);
            }
        }
        GameEvent::YourScore(entry) => {
            put_head(out, YOUR_SCORE, half(entry.id));
            put_counts(out, entry);
        }
        GameEvent::Notice(text) => {
            put_head(out, NOTICE, text.len() as u64);
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// Packs a list of events (what [`read_events`] reads).
pub fn put_events(out: &mut Vec<u8>, events: &[GameEvent]) {
    for event in events {
        put_event(out, event);
    }
}

/// A player id from its halved form (which must fit 32 bits).
fn id_from(value: u64) -> Result<EntityId, SectionError> {
    let rotated = u32::try_from(value).map_err(|_| SectionError::BadVarint)?;
    Ok(EntityId(rotated.rotate_left(1)))
}

fn read_text(r: &mut Reader<'_>, len: u64) -> Result<String, SectionError> {
    let len = usize::try_from(len).map_err(|_| SectionError::Truncated)?;
    let bytes = r.take(len)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| SectionError::BadUtf8)
}

fn read_name(r: &mut Reader<'_>, id: EntityId) -> Result<RosterEntry, SectionError> {
    let word = r.varint(64)?;
    Ok(RosterEntry {
        id,
        name: read_text(r, word >> 1)?,
        bot: word & 1 == 1,
    })
}

fn read_counts(r: &mut Reader<'_>, id: EntityId) -> Result<ScoreEntry, SectionError> {
    Ok(ScoreEntry {
        id,
        score: r.u32()?,
        kills: r.u32()?,
        deaths: r.u32()?,
    })
}

/// A count of entries of at least two bytes each, never more than the bytes left could hold (so a
/// count cannot claim memory the message does not back).
fn count_within(r: &Reader<'_>, count: u64) -> Result<usize, SectionError> {
    if count > (r.left() / 2) as u64 {
        return Err(SectionError::Truncated);
    }
    Ok(count as usize)
}

fn read_event(r: &mut Reader<'_>) -> Result<GameEvent, SectionError> {
    let head = r.varint(64)?;
    let first = head >> KIND_BITS;
    Ok(match head & ((1 << KIND_BITS) - 1) {
        ROSTER => {
            let count = count_within(r, first)?;
            let mut ids = IdGaps::default();
            let mut entries = Vec::with_capacity(count);
            for _ in 0..count {
                let id = ids.read(r)?;
                entries.push(read_name(r, id)?);
            }
            GameEvent::Roster(entries)
        }
        PLAYER_JOINED => GameEvent::PlayerJoined(read_name(r, id_from(first)?)?),
        PLAYER_LEFT => GameEvent::PlayerLeft(id_from(first)?),
        CHAT => {
            let from = id_from(first)?;
            let len = r.varint(64)?;
            GameEvent::Chat {
                from,
                text: read_text(r, len)?,
            }
        }
        HIT => GameEvent::Hit {
            victim: id_from(first)?,
            hp: r.byte()?,
        },
        KILL => {
            let victim = id_from(first)?;
            let killer = match r.varint(33)? {
                0 => None,
                value => Some(id_from(value - 1)?),
            };
            GameEvent::Kill { killer, victim }
        }
        LEADERBOARD => {
            let count = count_within(r, first)?;
            let mut entries = Vec::with_capacity(count);
            for _ in 0..count {
                let id = id_from(r.varint(32)?)?;
                entries.push(read_counts(r, id)?);
            }
            GameEvent::Leaderboard(entries)
        }
        YOUR_SCORE => GameEvent::YourScore(read_counts(r, id_from(first)?)?),
        NOTICE => GameEvent::Notice(read_text(r, first)?),
        _ => return Err(SectionError::BadEvent),
    })
}

/// Decodes a snapshot's packed events.
pub fn read_events(bytes: &[u8]) -> Result<Vec<GameEvent>, SectionError> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while !r.done() {
        out.push(read_event(&mut r)?);
    }
    Ok(out)
}
