//! Replay files: a room's broadcast feed, recorded frame by frame.
//!
//! A replay holds the same frames a spectator is sent (see [`crate::protocol`]): keyframes (full
//! snapshots whose events start with a roster and a leaderboard) every few seconds, and between them
//! deltas against the frame before. Playing one back is applying its frames to a [`ClientView`] in
//! order; seeking is starting over at the last keyframe at or before the wanted tick and applying the
//! deltas from there ([`ReplayCursor`]).
//!
//! # Layout
//! All integers little-endian.
//! - [`MAGIC`] (16 bytes), then the format version (`u16`, [`FORMAT_VERSION`]), then the header's
//!   length (`u32`) and the header ([`ReplayHeader`], bincode like the protocol).
//! - Frames, back to back, each a 13-byte head and a payload: the payload's length (`u32`), the
//!   frame's tick (`u32`), its kind (`u8`: 0 keyframe, 1 delta), the CRC-32 (IEEE) of the tick, kind
//!   and payload bytes (`u32`); then the payload, an encoded `ServerMsg::Snapshot`.
//!
//! The recorder appends each frame whole, so a file cut short (the server was killed while
//! recording) ends with at most one incomplete frame: [`Replay::parse`] accepts it and plays up to
//! the last complete frame. A complete frame whose checksum fails, a file that is not a replay, or one
//! of another format or protocol version is refused with a [`ReplayError`] that says which; nothing
//! in a file can make the reader panic or allocate more than the file's size.

use crate::codec::{decode_bounded, decode_server, encode_append, CodecError};
use crate::map::Map;
use crate::physics::MoveParams;
use crate::protocol::{
    GameEvent, RosterEntry, ServerMsg, Snapshot, MAX_SERVER_MSG_BYTES, PROTOCOL_VERSION,
};
use crate::time::{Tick, TickRate};
use crate::view::{Checked, ClientView};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;

/// The first 16 bytes of every replay file.
pub const MAGIC: &[u8; 16] = b"SKIRMISH REPLAY\n";

/// The file format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;

/// The suffix of replay file names (`ID.skreplay`).
pub const FILE_SUFFIX: &str = ".skreplay";

/// Bytes before the header: magic, format version, header length.
const PREAMBLE: usize = MAGIC.len() + 2 + 4;

/// Bytes of a frame's head: length, tick, kind, checksum.
pub const FRAME_HEAD: usize = 4 + 4 + 1 + 4;

/// Largest header in bytes (it carries the map, like a `Welcome`).
pub const MAX_HEADER_BYTES: usize = MAX_SERVER_MSG_BYTES;

/// What a replay is of, written once at its start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayHeader {
    /// The protocol version of the frames' encoding ([`PROTOCOL_VERSION`] when recorded).
    pub protocol_version: u16,
    /// The code of the room recorded.
    pub room_code: String,
    /// The room's map.
    pub map: Map,
    /// The room's simulation ticks per second.
    pub tick_rate: u16,
    /// Frames per second (the spectator feed's rate).
    pub feed_rate: u16,
    /// Wall-clock time of the first frame, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// The room's tick at the first frame.
    pub start_tick: Tick,
    /// Which part of the room's recording this file is (a long-lived room's recording is split into
    /// parts of bounded length), from 1.
    pub part: u32,
    /// The players in the room when the recording started (later ones join in the frames' events).
    pub players: Vec<RosterEntry>,
}

/// Why a replay cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplayError {
    /// The file does not start with [`MAGIC`].
    #[error("not a Skirmish replay (the file does not start with the replay signature)")]
    NotAReplay,
    /// The file is in another format version.
    #[error("replay format version {found}; this build reads version {FORMAT_VERSION}")]
    FormatVersion {
        /// The file's version.
        found: u16,
    },
    /// The frames were encoded with another protocol version.
    #[error("recorded with protocol {found}; this build speaks protocol {PROTOCOL_VERSION}")]
    ProtocolVersion {
        /// The file's protocol version.
        found: u16,
    },
    /// The file ends before its header does.
    #[error("the file ends inside its header ({len} bytes): nothing was recorded")]
    CutHeader {
        /// The file's length.
        len: usize,
    },
    /// The header does not decode.
    #[error("the replay's header is corrupt: {0}")]
    BadHeader(String),
    /// A complete frame is damaged.
    #[error("frame {index} (at byte {offset}) is corrupt: {why}")]
    CorruptFrame {
        /// The frame's index.
        index: usize,
        /// Its offset in the file.
        offset: usize,
        /// What is wrong.
        why: String,
    },
}

/// Where one frame is, and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameEntry {
    /// The tick the frame shows.
    pub tick: Tick,
    /// A keyframe (a full snapshot) rather than a delta.
    pub keyframe: bool,
    /// Its payload's bytes in the file.
    payload: Range<usize>,
    /// The frame's offset in the file.
    offset: usize,
}

/// A parsed replay: its header and an index of its complete frames. Frames are decoded when asked
/// for, so a long replay costs its bytes and an index, not its decoded snapshots.
#[derive(Clone, Debug)]
pub struct Replay {
    bytes: Vec<u8>,
    header: ReplayHeader,
    rate: TickRate,
    frames: Vec<FrameEntry>,
    trailing: usize,
}

/// The CRC-32 (IEEE 802.3, as zip and PNG use) lookup table.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

/// CRC-32 of the concatenation of `parts`.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &byte in *part {
            crc = CRC_TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
        }
    }
    !crc
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
}

/// Appends a replay's preamble and header.
pub fn write_header(header: &ReplayHeader, out: &mut Vec<u8>) {
    let mut encoded = Vec::new();
    encode_append(header, &mut encoded);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
    out.extend_from_slice(&encoded);
}

/// Appends one frame: `payload` is the encoded `ServerMsg::Snapshot` of `tick`.
pub fn write_frame(tick: Tick, keyframe: bool, payload: &[u8], out: &mut Vec<u8>) {
    let tick_bytes = tick.0.to_le_bytes();
    let kind = [u8::from(!keyframe)];
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&tick_bytes);
    out.extend_from_slice(&kind);
    out.extend_from_slice(&crc32(&[&tick_bytes, &kind, payload]).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Reads the preamble and header of `bytes`; returns the header and where the frames start.
fn read_header(bytes: &[u8]) -> Result<(ReplayHeader, usize, TickRate), ReplayError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        // A file shorter than the magic but agreeing with it so far was cut inside its header.
        return if !bytes.is_empty() && MAGIC.starts_with(bytes) {
            Err(ReplayError::CutHeader { len: bytes.len() })
        } else {
            Err(ReplayError::NotAReplay)
        };
    }
    let cut = ReplayError::CutHeader { len: bytes.len() };
    let version = bytes
        .get(MAGIC.len()..MAGIC.len() + 2)
        .map(|v| u16::from_le_bytes([v[0], v[1]]))
        .ok_or(ReplayError::CutHeader { len: bytes.len() })?;
    if version != FORMAT_VERSION {
        return Err(ReplayError::FormatVersion { found: version });
    }
    let len = u32_at(bytes, MAGIC.len() + 2).ok_or(cut)? as usize;
    if len > MAX_HEADER_BYTES {
        return Err(ReplayError::BadHeader(format!(
            "a header of {len} bytes is over the limit of {MAX_HEADER_BYTES}"
        )));
    }
    let end = PREAMBLE + len;
    let encoded = bytes
        .get(PREAMBLE..end)
        .ok_or(ReplayError::CutHeader { len: bytes.len() })?;
    let header: ReplayHeader = decode_bounded::<_, MAX_HEADER_BYTES>(encoded)
        .map_err(|e: CodecError| ReplayError::BadHeader(e.to_string()))?;
    if header.protocol_version != PROTOCOL_VERSION {
        return Err(ReplayError::ProtocolVersion {
            found: header.protocol_version,
        });
    }
    let rate = TickRate::new(header.tick_rate)
        .filter(|rate| (1..=rate.hz()).contains(&header.feed_rate))
        .ok_or_else(|| {
            ReplayError::BadHeader(format!(
                "tick rate {} or feed rate {} out of range",
                header.tick_rate, header.feed_rate
            ))
        })?;
    Ok((header, end, rate))
}

impl Replay {
    /// Parses a replay file: its header, and the index of its complete frames (each checked against
    /// its checksum, the first a keyframe, ticks increasing). Bytes after the last complete frame (a
    /// recording cut short) are left out and counted in [`Replay::trailing_bytes`].
    pub fn parse(bytes: Vec<u8>) -> Result<Replay, ReplayError> {
        let (header, mut at, rate) = read_header(&bytes)?;
        let mut frames: Vec<FrameEntry> = Vec::new();
        while bytes.len() - at >= FRAME_HEAD {
            let offset = at;
            let corrupt = |why: String| ReplayError::CorruptFrame {
                index: frames.len(),
                offset,
                why,
            };
            let len = u32_at(&bytes, at).unwrap_or(u32::MAX) as usize;
            let tick = Tick(u32_at(&bytes, at + 4).unwrap_or(0));
            let kind = bytes[at + 8];
            let crc = u32_at(&bytes, at + 9).unwrap_or(0);
            if len > MAX_SERVER_MSG_BYTES {
                return Err(corrupt(format!("a length of {len} bytes")));
            }
            if kind > 1 {
                return Err(corrupt(format!("unknown kind {kind}")));
            }
            let start = at + FRAME_HEAD;
            let Some(payload) = bytes.get(start..start + len) else {
                break; // cut short: the recording ends at the frame before
            };
            if crc32(&[&bytes[at + 4..at + 9], payload]) != crc {
                return Err(corrupt("its checksum does not match".into()));
            }
            let keyframe = kind == 0;
            if frames.is_empty() && !keyframe {
                return Err(corrupt("the first frame is not a keyframe".into()));
            }
            if frames.last().is_some_and(|last| tick <= last.tick) {
                return Err(corrupt(format!("tick {} does not follow the last", tick.0)));
            }
            frames.push(FrameEntry {
                tick,
                keyframe,
                payload: start..start + len,
                offset,
            });
            at = start + len;
        }
        let trailing = bytes.len() - at;
        Ok(Replay {
            bytes,
            header,
            rate,
            frames,
            trailing,
        })
    }

    /// The header.
    pub fn header(&self) -> &ReplayHeader {
        &self.header
    }

    /// The complete frames, in order.
    pub fn frames(&self) -> &[FrameEntry] {
        &self.frames
    }

    /// Bytes after the last complete frame (0 unless the recording was cut short).
    pub fn trailing_bytes(&self) -> usize {
        self.trailing
    }

    /// The file's length in bytes.
    pub fn len_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The first frame's tick and the last's (`None` without frames).
    pub fn ticks(&self) -> Option<(Tick, Tick)> {
        Some((self.frames.first()?.tick, self.frames.last()?.tick))
    }

    /// Milliseconds from the first frame to the last.
    pub fn duration_ms(&self) -> u64 {
        self.ticks().map_or(0, |(first, last)| {
            u64::from(last.since(first)) * 1000 / u64::from(self.rate.hz())
        })
    }

    /// The encoded `ServerMsg::Snapshot` of frame `index`.
    pub fn payload(&self, index: usize) -> Option<&[u8]> {
        let frame = self.frames.get(index)?;
        self.bytes.get(frame.payload.clone())
    }

    /// Decodes frame `index`'s snapshot.
    pub fn snapshot(&self, index: usize) -> Result<Snapshot, ReplayError> {
        let frame = self.frames.get(index).ok_or(ReplayError::CorruptFrame {
            index,
            offset: self.bytes.len(),
            why: "there is no such frame".into(),
        })?;
        let corrupt = |why: String| ReplayError::CorruptFrame {
            index,
            offset: frame.offset,
            why,
        };
        match decode_server(&self.bytes[frame.payload.clone()]) {
            Ok(ServerMsg::Snapshot(snapshot)) if snapshot.tick == frame.tick => Ok(snapshot),
            Ok(ServerMsg::Snapshot(_)) => Err(corrupt("its snapshot is of another tick".into())),
            Ok(_) => Err(corrupt("it holds a message other than a snapshot".into())),
            Err(e) => Err(corrupt(e.to_string())),
        }
    }

    /// The index of the last keyframe at or before `tick` (the first keyframe if `tick` is before
    /// it; `None` without frames).
    pub fn keyframe_for(&self, tick: Tick) -> Option<usize> {
        let upto = self.frames.partition_point(|f| f.tick <= tick);
        self.frames[..upto]
            .iter()
            .rposition(|f| f.keyframe)
            .or_else(|| (!self.frames.is_empty()).then_some(0))
    }

    /// A view to play this replay into: the replay's map at its tick rate, seeing everything.
    pub fn new_view(&self) -> ClientView {
        ClientView::new(
            Arc::new(self.header.map.clone()),
            MoveParams::new(self.rate),
        )
    }

    /// Every player named in the replay (the header's, and those a roster or a join names later),
    /// by id, in the order first seen. Decodes every frame.
    pub fn players(&self) -> Result<Vec<RosterEntry>, ReplayError> {
        let mut players: Vec<RosterEntry> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut add = |entry: &RosterEntry| {
            if seen.insert(entry.id) {
                players.push(entry.clone());
            }
        };
        self.header.players.iter().for_each(&mut add);
        for index in 0..self.frames.len() {
            for event in self.snapshot(index)?.events {
                match &event {
                    GameEvent::Roster(entries) => entries.iter().for_each(&mut add),
                    GameEvent::PlayerJoined(entry) => add(entry),
                    _ => {}
                }
            }
        }
        Ok(players)
    }
}

/// Plays a [`Replay`] into a [`ClientView`]: frame by frame, or by seeking.
#[derive(Clone, Debug)]
pub struct ReplayCursor {
    view: ClientView,
    /// The index of the next frame to apply.
    next: usize,
}

impl ReplayCursor {
    /// A cursor before the first frame of `replay`.
    pub fn new(replay: &Replay) -> ReplayCursor {
        ReplayCursor {
            view: replay.new_view(),
            next: 0,
        }
    }

    /// The view as of the last frame applied.
    pub fn view(&self) -> &ClientView {
        &self.view
    }

    /// The index of the next frame [`ReplayCursor::step`] applies.
    pub fn next_index(&self) -> usize {
        self.next
    }

    /// Applies the next frame, checking the view against the frame's check; returns its snapshot
    /// (for its events), or `None` at the end.
    pub fn step(&mut self, replay: &Replay) -> Option<Result<Snapshot, ReplayError>> {
        let index = self.next;
        let frame = replay.frames.get(index)?;
        self.next += 1;
        let applied =
            replay
                .snapshot(index)
                .and_then(|snapshot| match self.view.apply_checked(&snapshot) {
                    Checked::Held => Ok(snapshot),
                    checked => Err(ReplayError::CorruptFrame {
                        index,
                        offset: frame.offset,
                        why: format!("the view does not hold what it says ({checked:?})"),
                    }),
                });
        Some(applied)
    }

    /// Moves to the last frame at or before `tick` (the first frame if `tick` is before it): from
    /// the keyframe at or before it, applying the deltas after it. Every snapshot applied is handed to
    /// `seen` in order (a player needs their events: the roster, names, scores).
    pub fn seek(
        &mut self,
        replay: &Replay,
        tick: Tick,
        mut seen: impl FnMut(&Snapshot),
    ) -> Result<(), ReplayError> {
        let Some(key) = replay.keyframe_for(tick) else {
            return Ok(());
        };
        self.view.reset();
        self.next = key;
        while let Some(frame) = replay.frames.get(self.next) {
            if frame.tick > tick && self.next > key {
                break;
            }
            match self.step(replay) {
                Some(Ok(snapshot)) => seen(&snapshot),
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
