//! Bounded binary encoding of [`ClientMsg`] and [`ServerMsg`].
//!
//! The format is bincode 2's standard configuration (little-endian, variable-length integers) through
//! serde. Decoding checks the length before anything else, decodes under a byte limit (so a length
//! prefix cannot claim more memory than the message holds), and rejects trailing bytes: a message means
//! exactly one thing.
//!
//! The server assembles snapshots from parts encoded once per tick and shared by every viewer;
//! [`write_snapshot`] splices such parts into the exact bytes `encode_server(&ServerMsg::Snapshot(..))`
//! would produce.

use crate::protocol::{ClientMsg, EntityId, ServerMsg, MAX_CLIENT_MSG_BYTES, MAX_SERVER_MSG_BYTES};
use crate::time::Tick;
use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};
use serde::de::DeserializeOwned;
use serde::Serialize;

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

/// A list section of a snapshot made of pre-encoded elements: `count` values whose encodings are
/// concatenated in `bytes`.
#[derive(Clone, Copy, Debug, Default)]
pub struct EncodedList<'a> {
    /// How many elements.
    pub count: usize,
    /// Their encodings, back to back.
    pub bytes: &'a [u8],
}

/// The parts of a snapshot, with its lists pre-encoded: `entered` holds `EntityState`s, `updated`
/// `PlayerUpdate`s and `events` `GameEvent`s.
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
    /// Encoded entities that entered the view.
    pub entered: EncodedList<'a>,
    /// Encoded player updates.
    pub updated: EncodedList<'a>,
    /// Entities that left the view.
    pub left: &'a [EntityId],
    /// Encoded events.
    pub events: EncodedList<'a>,
}

/// Appends an encoded `ServerMsg::Snapshot` assembled from pre-encoded parts. The bytes are identical
/// to encoding the equivalent [`crate::protocol::Snapshot`].
pub fn write_snapshot(out: &mut Vec<u8>, parts: &SnapshotParts<'_>) {
    encode_append(&SNAPSHOT_VARIANT, out);
    encode_append(&parts.tick, out);
    encode_append(&parts.proof, out);
    encode_append(&parts.baseline, out);
    encode_append(&parts.ack_input_seq, out);
    encode_append(&parts.check, out);
    for list in [parts.entered, parts.updated] {
        encode_append(&(list.count as u64), out);
        out.extend_from_slice(list.bytes);
    }
    encode_append(parts.left, out);
    encode_append(&(parts.events.count as u64), out);
    out.extend_from_slice(parts.events.bytes);
}

#[cfg(test)]
mod tests;
