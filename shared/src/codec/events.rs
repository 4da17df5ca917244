//! The packed form of a snapshot's events (protocol 9).
//!
//! The events travel inside the bincode message as one byte string holding them back to back up to
//! its end, so no count is needed. Each is a kind byte (its variant's index in [`GameEvent`]), then
//! its fields, integers as LEB128 varints (as in [`sections`](super::sections)) and player ids
//! rotated right by one bit (player ids are even, so they are halved: a room of up to 256 players
//! writes each in a byte, one of up to 32,768 in two):
//! - `Roster` (0): the count, then per player its id as a gap from the one before (as `updated`
//!   writes them), `name length << 1 | bot`, and the name's UTF-8 bytes;
//! - `PlayerJoined` (1): id, `name length << 1 | bot`, name;
//! - `PlayerLeft` (2): id;
//! - `Chat` (3): the speaker's id, the text's length, the text;
//! - `Hit` (4): the victim's id, its hit points (a byte);
//! - `Kill` (5): the victim's id, then the killer's id plus one, or 0 for none;
//! - `Leaderboard` (6): the count, then per entry its id, score, kills and deaths;
//! - `YourScore` (7): one such entry;
//! - `Notice` (8): the text's length, the text.
//!
//! The kill feed is most of a crowded room's events: a kill takes 5 bytes in a room of 1,000
//! players, where bincode took 8.

use super::sections::{put_varint, IdGaps, Reader, SectionError};
use crate::protocol::{EntityId, GameEvent, RosterEntry, ScoreEntry};

const ROSTER: u8 = 0;
const PLAYER_JOINED: u8 = 1;
const PLAYER_LEFT: u8 = 2;
const CHAT: u8 = 3;
const HIT: u8 = 4;
const KILL: u8 = 5;
const LEADERBOARD: u8 = 6;
const YOUR_SCORE: u8 = 7;
const NOTICE: u8 = 8;

fn put_id(out: &mut Vec<u8>, id: EntityId) {
    put_varint(out, u64::from(id.0.rotate_right(1)));
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn put_name(out: &mut Vec<u8>, entry: &RosterEntry) {
    put_varint(out, (entry.name.len() as u64) << 1 | u64::from(entry.bot));
    out.extend_from_slice(entry.name.as_bytes());
}

fn put_score(out: &mut Vec<u8>, entry: &ScoreEntry) {
    put_id(out, entry.id);
    for value in [entry.score, entry.kills, entry.deaths] {
        put_varint(out, u64::from(value));
    }
}

/// Appends one packed event.
pub fn put_event(out: &mut Vec<u8>, event: &GameEvent) {
    match event {
        GameEvent::Roster(entries) => {
            out.push(ROSTER);
            put_varint(out, entries.len() as u64);
            let mut ids = IdGaps::default();
            for entry in entries {
                ids.put(out, entry.id);
                put_name(out, entry);
            }
        }
        GameEvent::PlayerJoined(entry) => {
            out.push(PLAYER_JOINED);
            put_id(out, entry.id);
            put_name(out, entry);
        }
        GameEvent::PlayerLeft(id) => {
            out.push(PLAYER_LEFT);
            put_id(out, *id);
        }
        GameEvent::Chat { from, text } => {
            out.push(CHAT);
            put_id(out, *from);
            put_text(out, text);
        }
        GameEvent::Hit { victim, hp } => {
            out.push(HIT);
            put_id(out, *victim);
            out.push(*hp);
        }
        GameEvent::Kill { killer, victim } => {
            out.push(KILL);
            put_id(out, *victim);
            put_varint(
                out,
                killer.map_or(0, |k| u64::from(k.0.rotate_right(1)) + 1),
            );
        }
        GameEvent::Leaderboard(entries) => {
            out.push(LEADERBOARD);
            put_varint(out, entries.len() as u64);
            for entry in entries {
                put_score(out, entry);
            }
        }
        GameEvent::YourScore(entry) => {
            out.push(YOUR_SCORE);
            put_score(out, entry);
        }
        GameEvent::Notice(text) => {
            out.push(NOTICE);
            put_text(out, text);
        }
    }
}

/// Packs a list of events (what [`read_events`] reads).
pub fn put_events(out: &mut Vec<u8>, events: &[GameEvent]) {
    for event in events {
        put_event(out, event);
    }
}

fn read_id(r: &mut Reader<'_>) -> Result<EntityId, SectionError> {
    Ok(EntityId(r.u32()?.rotate_left(1)))
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

fn read_score(r: &mut Reader<'_>) -> Result<ScoreEntry, SectionError> {
    Ok(ScoreEntry {
        id: read_id(r)?,
        score: r.u32()?,
        kills: r.u32()?,
        deaths: r.u32()?,
    })
}

/// A count of entries of at least two bytes each, never more than the bytes left could hold (so a
/// count cannot claim memory the message does not back).
fn read_count(r: &mut Reader<'_>) -> Result<usize, SectionError> {
    let count = r.varint(64)?;
    if count > (r.left() / 2) as u64 {
        return Err(SectionError::Truncated);
    }
    Ok(count as usize)
}

fn read_event(r: &mut Reader<'_>) -> Result<GameEvent, SectionError> {
    Ok(match r.byte()? {
        ROSTER => {
            let count = read_count(r)?;
            let mut ids = IdGaps::default();
            let mut entries = Vec::with_capacity(count);
            for _ in 0..count {
                let id = ids.read(r)?;
                entries.push(read_name(r, id)?);
            }
            GameEvent::Roster(entries)
        }
        PLAYER_JOINED => {
            let id = read_id(r)?;
            GameEvent::PlayerJoined(read_name(r, id)?)
        }
        PLAYER_LEFT => GameEvent::PlayerLeft(read_id(r)?),
        CHAT => {
            let from = read_id(r)?;
            let len = r.varint(64)?;
            GameEvent::Chat {
                from,
                text: read_text(r, len)?,
            }
        }
        HIT => GameEvent::Hit {
            victim: read_id(r)?,
            hp: r.byte()?,
        },
        KILL => {
            let victim = read_id(r)?;
            let killer = match r.varint(33)? {
                0 => None,
                value => {
                    let rotated = u32::try_from(value - 1).map_err(|_| SectionError::BadVarint)?;
                    Some(EntityId(rotated.rotate_left(1)))
                }
            };
            GameEvent::Kill { killer, victim }
        }
        LEADERBOARD => {
            let count = read_count(r)?;
            let mut entries = Vec::with_capacity(count);
            for _ in 0..count {
                entries.push(read_score(r)?);
            }
            GameEvent::Leaderboard(entries)
        }
        YOUR_SCORE => GameEvent::YourScore(read_score(r)?),
        NOTICE => {
            let len = r.varint(64)?;
            GameEvent::Notice(read_text(r, len)?)
        }
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
