//! Bounded binary encoding of [`ClientMsg`] and [`ServerMsg`].
//!
//! The format is bincode 2's standard configuration (little-endian, variable-length integers) through
//! serde. Decoding checks the length before anything else, decodes under a byte limit (so a length
//! prefix cannot claim more memory than the message holds), and rejects trailing bytes: a message means
//! exactly one thing.
//!
//! A snapshot's entity sections are packed by hand ([`sections`]): ids as gaps, fields behind bit
//! masks, varints that take one byte below 128; so are its events ([`events`]). They travel as
//! byte strings inside the bincode message, so the rest of the protocol stays plain bincode.
//!
//! The server assembles snapshots from parts encoded once per tick and shared by every viewer;
//! [`write_snapshot`] splices such parts into the exact bytes `encode_server(&ServerMsg::Snapshot(..))`
//! would produce.

pub mod events;
pub mod sections;

use crate::protocol::{ClientMsg, ServerMsg, Snapshot, MAX_CLIENT_MSG_BYTES, MAX_SERVER_MSG_BYTES};
use crate::time::Tick;
use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why bytes could not be decoded into a message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The message is empty.
    #[error("empty message")]
    Empty,
    /// The message is longer than the protocol allows; it was not decoded.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A whole message decoded but bytes were left over.
    #[error("{extra} trailing bytes after the message")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The bytes are not a valid message (truncated, unknown variant, bad UTF-8, invalid map, ...).
    #[error("invalid message: {0}")]
    Invalid(String),
}

fn encode_config() -> Configuration<LittleEndian, Varint> {
    config::standard()
}

fn decode_config<const N: usize>() -> Configuration<LittleEndian, Varint, Limit<N>> {
    config::standard().with_limit::<N>()
}

/// Decodes one value of `T` from all of `bytes` (at most `N` of them), with no trailing bytes.
pub fn decode_bounded<T: DeserializeOwned, const N: usize>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.is_empty() {
        return Err(CodecError::Empty);
    }
    if bytes.len() > N {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: N,
        });
    }
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(bytes, decode_config::<N>())
        .map_err(|e| CodecError::Invalid(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes {
            extra: bytes.len() - used,
        });
    }
    Ok(value)
}

/// Appends the encoding of any protocol value to `out`.
pub fn encode_append<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and protocol types have no fallible Serialize impls.
    if let Err(e) = bincode::serde::encode_into_std_write(value, out, encode_config()) {
        unreachable!("encoding a protocol value into memory failed: {e}");
    }
}

/// Encodes a client message.
pub fn encode_client(msg: &ClientMsg) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    encode_append(msg, &mut out);
    out
}

/// Encodes a server message.
pub fn encode_server(msg: &ServerMsg) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_append(msg, &mut out);
    out
}

/// Decodes one client message of at most [`MAX_CLIENT_MSG_BYTES`], with no trailing bytes.
pub fn decode_client(bytes: &[u8]) -> Result<ClientMsg, CodecError> {
    decode_bounded::<ClientMsg, MAX_CLIENT_MSG_BYTES>(bytes)
}

/// Decodes one server message of at most [`MAX_SERVER_MSG_BYTES`], with no trailing bytes.
pub fn decode_server(bytes: &[u8]) -> Result<ServerMsg, CodecError> {
    decode_bounded::<ServerMsg, MAX_SERVER_MSG_BYTES>(bytes)
}

/// The variant index of [`ServerMsg::Snapshot`] in the encoding.
const SNAPSHOT_VARIANT: u32 = 2;

/// The tick and proof of an encoded snapshot, read without decoding the rest (`None` if `bytes` is
/// not a snapshot): what a `Ping` acknowledging it carries. Lets a client that skips decoding some
/// snapshots still acknowledge them.
pub fn peek_snapshot_ack(bytes: &[u8]) -> Option<(Tick, u8)> {
    let (variant, used) =
        bincode::serde::decode_from_slice::<u32, _>(bytes, decode_config::<5>()).ok()?;
    if variant != SNAPSHOT_VARIANT {
        return None;
    }
    let rest = bytes.get(used..)?;
    let (tick, used) =
        bincode::serde::decode_from_slice::<Tick, _>(rest, decode_config::<5>()).ok()?;
    let proof = *rest.get(used)?;
    Some((tick, proof))
}

/// The parts of a snapshot, with its entity sections packed ([`sections`]) and its events
/// packed ([`events`]).
#[derive(Clone, Copy, Debug)]
pub struct SnapshotParts<'a> {
    /// The snapshot's tick.
    pub tick: Tick,
    /// The snapshot's [`Snapshot::proof`](crate::protocol::Snapshot::proof).
    pub proof: u8,
    /// The baseline tick, `None` for a full snapshot.
    pub baseline: Option<Tick>,
    /// The last input applied for this player.
    pub ack_input_seq: u32,
    /// The checksum of the view after this snapshot.
    pub check: [u8; 4],
    /// The packed `entered` section.
    pub entered: &'a [u8],
    /// The packed `updated` section.
    pub updated: &'a [u8],
    /// The packed `left` section.
    pub left: &'a [u8],
    /// Packed events, back to back ([`events::put_event`]).
    pub events: &'a [u8],
}

/// The baseline as the wire carries it: 0 for none, else one more than its age before `tick`
/// (wrapping, so any pair round-trips): one byte for a delta against a recent snapshot.
fn baseline_age(tick: Tick, baseline: Option<Tick>) -> u64 {
    baseline.map_or(0, |b| u64::from(tick.0.wrapping_sub(b.0)) + 1)
}

/// Appends an encoded `ServerMsg::Snapshot` assembled from packed and pre-encoded parts. The bytes
/// are identical to encoding the equivalent [`Snapshot`].
pub fn write_snapshot(out: &mut Vec<u8>, parts: &SnapshotParts<'_>) {
    encode_append(&SNAPSHOT_VARIANT, out);
    encode_append(&parts.tick, out);
    encode_append(&parts.proof, out);
    encode_append(&baseline_age(parts.tick, parts.baseline), out);
    encode_append(&parts.ack_input_seq, out);
    encode_append(&parts.check, out);
    for section in [parts.entered, parts.updated, parts.left, parts.events] {
        encode_append(&(section.len() as u64), out);
        out.extend_from_slice(section);
    }
}

/// A packed section: a byte string in the message.
struct Packed<'a>(&'a [u8]);

impl Serialize for Packed<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// A packed section as read.
struct PackedBuf(Vec<u8>);

impl<'de> Deserialize<'de> for PackedBuf {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = PackedBuf;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a packed snapshot section")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<PackedBuf, E> {
                Ok(PackedBuf(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<PackedBuf, E> {
                Ok(PackedBuf(v))
            }
        }
        deserializer.deserialize_bytes(Bytes)
    }
}

/// A snapshot as the wire carries it (see [`Snapshot`] and [`sections`]).
#[derive(Serialize)]
struct WireSnapshot<'a> {
    tick: Tick,
    proof: u8,
    baseline_age: u64,
    ack_input_seq: u32,
    check: [u8; 4],
    entered: Packed<'a>,
    updated: Packed<'a>,
    left: Packed<'a>,
    events: Packed<'a>,
}

/// The same, as read.
#[derive(Deserialize)]
struct WireSnapshotBuf {
    tick: Tick,
    proof: u8,
    baseline_age: u64,
    ack_input_seq: u32,
    check: [u8; 4],
    entered: PackedBuf,
    updated: PackedBuf,
    left: PackedBuf,
    events: PackedBuf,
}

impl Serialize for Snapshot {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (mut entered, mut updated, mut left) = (Vec::new(), Vec::new(), Vec::new());
        sections::put_entered(&mut entered, &self.entered);
        sections::put_updated(&mut updated, &self.updated);
        sections::put_left(&mut left, &self.left);
        let mut packed_events = Vec::new();
        events::put_events(&mut packed_events, &self.events);
        WireSnapshot {
            tick: self.tick,
            proof: self.proof,
            baseline_age: baseline_age(self.tick, self.baseline),
            ack_input_seq: self.ack_input_seq,
            check: self.check,
            entered: Packed(&entered),
            updated: Packed(&updated),
            left: Packed(&left),
            events: Packed(&packed_events),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Snapshot {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = WireSnapshotBuf::deserialize(deserializer)?;
        Ok(Snapshot {
            tick: wire.tick,
            proof: wire.proof,
            baseline: match wire.baseline_age {
                0 => None,
                age => {
                    let age = u32::try_from(age - 1)
                        .map_err(|_| D::Error::custom("a baseline older than tick 0"))?;
                    Some(Tick(wire.tick.0.wrapping_sub(age)))
                }
            },
            ack_input_seq: wire.ack_input_seq,
            check: wire.check,
            entered: sections::read_entered(&wire.entered.0).map_err(D::Error::custom)?,
            updated: sections::read_updated(&wire.updated.0).map_err(D::Error::custom)?,
            left: sections::read_left(&wire.left.0).map_err(D::Error::custom)?,
            events: events::read_events(&wire.events.0).map_err(D::Error::custom)?,
        })
    }
}

#[cfg(test)]
mod tests;
