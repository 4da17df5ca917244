//! The packed form of a snapshot's entity sections (`entered`, `updated` and `left`).
//!
//! Each section travels inside the bincode message as a byte string (its length, then its bytes)
//! holding its entries back to back up to its end, so no section needs a count. Inside:
//! - integers are LEB128 varints (7 bits a byte, least significant first): values below 128 take
//!   one byte, below 16,384 two; an overlong form (a needless zero byte at the end) is invalid, so
//!   bytes mean exactly one thing;
//! - an id is written as its gap from the id before it in the same list and of the same kind
//!   (players and projectiles apart, each starting from 0 and 1), halved: ids ascend and each kind
//!   keeps its parity (players even, projectiles odd), so gaps are even, and a gap of up to 126 ids
//!   takes a byte (254 in `updated`, which needs no kind bit). Any order and any ids still come out as they went in: the gap is a wrapping
//!   difference, rotated right by one bit rather than halved, so an odd gap (a player with an odd
//!   id, say) costs five bytes but is not lost. In `entered` and `left` the varint carries the kind
//!   (or the parity) in its lowest bit;
//! - an aim is 2 bytes, little-endian;
//! - a direction is its index in [`Dir`]'s order (`Still` 0, `East` 1, ... `NorthEast` 8).
//!
//! Entries:
//! - `entered`, player: id (kind 0), the motion key's age, x and y (as `u32`: positions are never
//!   negative in a room, and a negative one costs 5 bytes), one 16-bit word of aim (12 bits) and
//!   direction (the top 4), then `status << 8 | hp` (one byte for a living, unprotected player);
//! - `entered`, projectile: id (kind 1), then a form word; launched from a point, `age << 2`, then
//!   x, y and the aim; from its shooter, `age << 2 | 1`, then the shooter's id rotated right by one
//!   bit (an even id is halved) and the aim; from its shooter at the shooter's aim
//!   ([`Launch::ShooterAim`]), `(age << 4 | offset + 8) << 2 | 2`, then the shooter's id, and no
//!   aim (a fresh shot's form word is then one byte: 4 bytes in all where 6 took the aim). Form 3
//!   is invalid;
//! - `updated`: the player's id (one kind, so no kind bit), then a field byte: below 32, field bits
//!   ([`field_bits`]) followed by the fields present in the bits' order: `Motion` (age, x, y,
//!   direction), `Turn` (`age * 9 + direction`: one byte up to age 13), `Aim`, `Hp`, `Status`;
//!   from 32, the commonest updates in the byte itself: `32 + (with_aim * 4 + age) * 9 + direction`
//!   is a turn of age below 4, alone or followed by an aim (what field bits would say then is
//!   invalid, so that bytes mean one thing). 104 and above are invalid;
//! - `left`: ids, each with its parity as its kind (an id whose parity is not its kind bit is
//!   invalid, so that bytes still mean one thing).
//!
//! The server splices entries whose bodies (everything after the id) it encoded once per frame:
//! [`IdGaps`] writes the ids per viewer, the body writers here write the rest.

use crate::physics::{Dir, Pos};
use crate::protocol::{
    EntityId, EntityState, Launch, PlayerField, PlayerState, PlayerUpdate, ProjectileState,
    WireMotion,
};

/// The bits of an update's field byte, in the order the fields follow it.
pub mod field_bits {
    /// `PlayerField::Motion`.
    pub const MOTION: u8 = 1;
    /// `PlayerField::Turn`.
    pub const TURN: u8 = 2;
    /// `PlayerField::Aim`.
    pub const AIM: u8 = 4;
    /// `PlayerField::Hp`.
    pub const HP: u8 = 8;
    /// `PlayerField::Status`.
    pub const STATUS: u8 = 16;
    /// Every defined bit; others must be zero.
    pub const ALL: u8 = 31;
}

/// The kind bit of a player in `entered`.
pub const KIND_PLAYER: u8 = 0;
/// The kind bit of a projectile in `entered`.
pub const KIND_PROJECTILE: u8 = 1;

/// The widest an entered player can be: a 5-byte id, age, x and y, the aim word, 3 bytes of life.
pub const MAX_PLAYER_BYTES: usize = 5 * 4 + 2 + 3;
/// The widest an entered projectile can be: a 5-byte id, age and form, x and y, then the aim.
pub const MAX_PROJECTILE_BYTES: usize = 5 * 4 + 2;
/// The widest an update can be: id, field bits, every field at its widest.
pub const MAX_UPDATE_BYTES: usize = 5 + 1 + (5 * 3 + 1) + 6 + 2 + 1 + 1;
/// The widest a left id can be.
pub const MAX_LEFT_BYTES: usize = 5;

/// Why a section could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SectionError {
    /// It ends inside an entry.
    #[error("a snapshot section ends inside an entry")]
    Truncated,
    /// A varint is overlong or larger than its field.
    #[error("a bad varint in a snapshot section")]
    BadVarint,
    /// A direction index past `NorthEast`.
    #[error("a bad direction in a snapshot section")]
    BadDir,
    /// A left id whose parity is not its kind bit.
    #[error("a left id of the wrong parity in a snapshot section")]
    BadParity,
    /// Field bits outside [`field_bits::ALL`].
    #[error("unknown field bits in a snapshot section")]
    BadFields,
    /// A projectile of no known form.
    #[error("an unknown projectile form in a snapshot section")]
    BadForm,
    /// An event of no known kind.
    #[error("an unknown event kind in a snapshot's events")]
    BadEvent,
    /// A string that is not UTF-8.
    #[error("a string that is not UTF-8 in a snapshot's events")]
    BadUtf8,
}

/// Appends `value` as a LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_aim(out: &mut Vec<u8>, aim: u16) {
    out.extend_from_slice(&aim.to_le_bytes());
}

fn dir_index(dir: Dir) -> u8 {
    dir as u8
}

fn dir_from(index: u64) -> Result<Dir, SectionError> {
    Dir::ALL
        .get(index as usize)
        .copied()
        .ok_or(SectionError::BadDir)
}

/// Writes the ids of one list as gaps (see the module notes).
#[derive(Debug, Clone, Copy)]
pub struct IdGaps {
    /// The previous id of each kind.
    prev: [u32; 2],
}

impl Default for IdGaps {
    fn default() -> IdGaps {
        IdGaps { prev: [0, 1] }
    }
}

impl IdGaps {
    /// Appends `id` of kind `kind` (0 or 1) with its kind in the lowest bit (`entered`, `left`).
    pub fn put_kind(&mut self, out: &mut Vec<u8>, id: EntityId, kind: u8) {
        let kind = usize::from(kind & 1);
        let gap = id.0.wrapping_sub(self.prev[kind]).rotate_right(1);
        self.prev[kind] = id.0;
        put_varint(out, u64::from(gap) << 1 | kind as u64);
    }

    /// Appends `id` without a kind bit (`updated`, where every id is a player's).
    pub fn put(&mut self, out: &mut Vec<u8>, id: EntityId) {
        let gap = id.0.wrapping_sub(self.prev[0]).rotate_right(1);
        self.prev[0] = id.0;
        put_varint(out, u64::from(gap));
    }

    fn read_kind(&mut self, r: &mut Reader<'_>) -> Result<(EntityId, u8), SectionError> {
        let value = r.varint(33)?;
        let kind = (value & 1) as usize;
        let id = self.prev[kind].wrapping_add(((value >> 1) as u32).rotate_left(1));
        self.prev[kind] = id;
        Ok((EntityId(id), kind as u8))
    }

    pub(super) fn read(&mut self, r: &mut Reader<'_>) -> Result<EntityId, SectionError> {
        let gap = r.varint(32)? as u32;
        let id = self.prev[0].wrapping_add(gap.rotate_left(1));
        self.prev[0] = id;
        Ok(EntityId(id))
    }
}

/// Appends a player's `entered` body (everything after its id).
pub fn put_player_body(out: &mut Vec<u8>, player: &PlayerState) {
    put_varint(out, u64::from(player.motion.age));
    put_varint(out, u64::from(player.motion.pos.x as u32));
    put_varint(out, u64::from(player.motion.pos.y as u32));
    put_aim(
        out,
        player.aim & 0x0FFF | u16::from(dir_index(player.motion.dir)) << 12,
    );
    put_varint(out, u64::from(player.status) << 8 | u64::from(player.hp));
}

/// Appends a projectile's `entered` body (everything after its id).
pub fn put_projectile_body(out: &mut Vec<u8>, projectile: &ProjectileState) {
    let age = u64::from(projectile.age);
    match projectile.launch {
        Launch::At(pos) => {
            put_varint(out, age << 2 | FORM_POINT);
            put_varint(out, u64::from(pos.x as u32));
            put_varint(out, u64::from(pos.y as u32));
            put_aim(out, projectile.aim);
        }
        Launch::Shooter(shooter) => {
            put_varint(out, age << 2 | FORM_SHOOTER);
            put_varint(out, u64::from(shooter.0.rotate_right(1)));
            put_aim(out, projectile.aim);
        }
        Launch::ShooterAim(shooter, offset) => {
            debug_assert!((-8..=7).contains(&offset), "aim offset {offset}");
            let offset = u64::from((offset as u8).wrapping_add(8) & 15);
            put_varint(out, (age << 4 | offset) << 2 | FORM_SHOOTER_AIM);
            put_varint(out, u64::from(shooter.0.rotate_right(1)));
        }
    }
}

/// A projectile's form ([`put_projectile_body`]): from a point.
const FORM_POINT: u64 = 0;
/// From its shooter, with its aim.
const FORM_SHOOTER: u64 = 1;
/// From its shooter, at the shooter's aim and an offset.
const FORM_SHOOTER_AIM: u64 = 2;

fn put_motion(out: &mut Vec<u8>, motion: &WireMotion) {
    put_varint(out, u64::from(motion.age));
    put_varint(out, u64::from(motion.pos.x as u32));
    put_varint(out, u64::from(motion.pos.y as u32));
    out.push(dir_index(motion.dir));
}

/// Appends one field's bytes (without its bit).
pub fn put_field(out: &mut Vec<u8>, field: &PlayerField) {
    match field {
        PlayerField::Motion(motion) => put_motion(out, motion),
        PlayerField::Turn { age, dir } => {
            put_varint(out, u64::from(*age) * 9 + u64::from(dir_index(*dir)));
        }
        PlayerField::Aim(aim) => put_aim(out, *aim),
        PlayerField::Hp(hp) => out.push(*hp),
        PlayerField::Status(status) => out.push(*status),
    }
}

/// A field's bit in [`field_bits`].
pub fn field_bit(field: &PlayerField) -> u8 {
    match field {
        PlayerField::Motion(_) => field_bits::MOTION,
        PlayerField::Turn { .. } => field_bits::TURN,
        PlayerField::Aim(_) => field_bits::AIM,
        PlayerField::Hp(_) => field_bits::HP,
        PlayerField::Status(_) => field_bits::STATUS,
    }
}

/// Appends an update's body (field bits and fields), the fields in their bits' order, each kind
/// once (the first of a kind, if `fields` repeats one).
pub fn put_update_body(out: &mut Vec<u8>, fields: &[PlayerField]) {
    let find = |bit| fields.iter().find(|f| field_bit(f) == bit);
    let mut bits = 0;
    for bit in [1, 2, 4, 8, 16] {
        if find(bit).is_some() {
            bits |= bit;
        }
    }
    // The commonest updates, a recent turn with or without an aim, fit the field byte itself.
    if let Some(&PlayerField::Turn { age, dir }) = find(field_bits::TURN) {
        if age < TURN_CODE_AGES && bits & !(field_bits::TURN | field_bits::AIM) == 0 {
            let with_aim = u32::from(bits & field_bits::AIM != 0);
            out.push((TURN_CODES + (with_aim * TURN_CODE_AGES + age) * 9) as u8 + dir_index(dir));
            if let Some(aim) = find(field_bits::AIM) {
                put_field(out, aim);
            }
            return;
        }
    }
    out.push(bits);
    for bit in [1, 2, 4, 8, 16] {
        if let Some(field) = find(bit) {
            put_field(out, field);
        }
    }
}

/// The first field byte that stands for a turn ([`put_update_body`]).
const TURN_CODES: u32 = 32;
/// Turns up to this age (exclusive) fit the field byte: at 60 Hz ticks and 20 Hz snapshots or
/// faster, every turn since the last snapshot.
const TURN_CODE_AGES: u32 = 4;

/// Encodes an `entered` section.
pub fn put_entered(out: &mut Vec<u8>, entered: &[EntityState]) {
    let mut ids = IdGaps::default();
    for state in entered {
        match state {
            EntityState::Player(p) => {
                ids.put_kind(out, p.id, KIND_PLAYER);
                put_player_body(out, p);
            }
            EntityState::Projectile(p) => {
                ids.put_kind(out, p.id, KIND_PROJECTILE);
                put_projectile_body(out, p);
            }
        }
    }
}

/// Encodes an `updated` section.
pub fn put_updated(out: &mut Vec<u8>, updated: &[PlayerUpdate]) {
    let mut ids = IdGaps::default();
    for update in updated {
        ids.put(out, update.id);
        put_update_body(out, &update.fields);
    }
}

/// Encodes a `left` section.
pub fn put_left(out: &mut Vec<u8>, left: &[EntityId]) {
    let mut ids = IdGaps::default();
    for &id in left {
        ids.put_kind(out, id, (id.0 & 1) as u8);
    }
}

/// Reads a section's bytes, never past their end.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    pub(super) fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    /// How many bytes are left.
    pub(super) fn left(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    /// The next `len` bytes.
    pub(super) fn take(&mut self, len: usize) -> Result<&'a [u8], SectionError> {
        if len > self.left() {
            return Err(SectionError::Truncated);
        }
        let bytes = &self.bytes[self.at..self.at + len];
        self.at += len;
        Ok(bytes)
    }

    pub(super) fn byte(&mut self) -> Result<u8, SectionError> {
        let b = *self.bytes.get(self.at).ok_or(SectionError::Truncated)?;
        self.at += 1;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, SectionError> {
        Ok(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }

    /// A varint of at most `bits` bits.
    pub(super) fn varint(&mut self, bits: u32) -> Result<u64, SectionError> {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            let part = u64::from(b & 0x7F);
            if shift >= bits || (shift > 0 && b == 0) || (part << shift) >> shift != part {
                return Err(SectionError::BadVarint);
            }
            value |= part << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        if bits < 64 && value >> bits != 0 {
            return Err(SectionError::BadVarint);
        }
        Ok(value)
    }

    pub(super) fn u32(&mut self) -> Result<u32, SectionError> {
        Ok(self.varint(32)? as u32)
    }

    fn coord(&mut self) -> Result<i32, SectionError> {
        Ok(self.u32()? as i32)
    }

    fn pos(&mut self) -> Result<Pos, SectionError> {
        Ok(Pos::new(self.coord()?, self.coord()?))
    }
}

/// Decodes an `entered` section.
pub fn read_entered(bytes: &[u8]) -> Result<Vec<EntityState>, SectionError> {
    let mut r = Reader::new(bytes);
    let mut ids = IdGaps::default();
    let mut out = Vec::new();
    while !r.done() {
        let (id, kind) = ids.read_kind(&mut r)?;
        if kind == KIND_PLAYER {
            let age = r.u32()?;
            let pos = r.pos()?;
            let word = r.u16()?;
            let life = r.varint(16)?;
            out.push(EntityState::Player(PlayerState {
                id,
                motion: WireMotion {
                    age,
                    pos,
                    dir: dir_from(u64::from(word >> 12))?,
                },
                aim: word & 0x0FFF,
                hp: life as u8,
                status: (life >> 8) as u8,
            }));
        } else {
            let word = r.varint(38)?;
            let (form, rest) = (word & 3, word >> 2);
            let (age, launch, aim) = match form {
                FORM_POINT => (rest, Launch::At(r.pos()?), r.u16()?),
                FORM_SHOOTER => {
                    let shooter = EntityId(r.u32()?.rotate_left(1));
                    (rest, Launch::Shooter(shooter), r.u16()?)
                }
                FORM_SHOOTER_AIM => {
                    let offset = (rest & 15) as i8 - 8;
                    let shooter = EntityId(r.u32()?.rotate_left(1));
                    (rest >> 4, Launch::ShooterAim(shooter, offset), 0)
                }
                _ => return Err(SectionError::BadForm),
            };
            out.push(EntityState::Projectile(ProjectileState {
                id,
                age: u32::try_from(age).map_err(|_| SectionError::BadVarint)?,
                launch,
                aim,
            }));
        }
    }
    Ok(out)
}

/// Decodes an `updated` section.
pub fn read_updated(bytes: &[u8]) -> Result<Vec<PlayerUpdate>, SectionError> {
    let mut r = Reader::new(bytes);
    let mut ids = IdGaps::default();
    let mut out = Vec::new();
    while !r.done() {
        let id = ids.read(&mut r)?;
        let bits = r.byte()?;
        if u32::from(bits) >= TURN_CODES {
            let code = u32::from(bits) - TURN_CODES;
            let (turn, with_aim) = (code % (9 * TURN_CODE_AGES), code / (9 * TURN_CODE_AGES));
            if with_aim > 1 {
                return Err(SectionError::BadFields);
            }
            let mut fields = vec![PlayerField::Turn {
                age: turn / 9,
                dir: dir_from(u64::from(turn % 9))?,
            }];
            if with_aim == 1 {
                fields.push(PlayerField::Aim(r.u16()?));
            }
            out.push(PlayerUpdate { id, fields });
            continue;
        }
        // A field byte is the turn code's when that fits: bytes mean one thing.
        let turn_and_aim = field_bits::TURN | field_bits::AIM;
        if bits & !field_bits::ALL != 0 {
            return Err(SectionError::BadFields);
        }
        let mut fields = Vec::with_capacity(bits.count_ones() as usize);
        if bits & field_bits::MOTION != 0 {
            let age = r.u32()?;
            let pos = r.pos()?;
            let dir = dir_from(u64::from(r.byte()?))?;
            fields.push(PlayerField::Motion(WireMotion { age, pos, dir }));
        }
        if bits & field_bits::TURN != 0 {
            let value = r.varint(36)?;
            let age = u32::try_from(value / 9).map_err(|_| SectionError::BadVarint)?;
            if age < TURN_CODE_AGES && bits & !turn_and_aim == 0 {
                return Err(SectionError::BadFields);
            }
            fields.push(PlayerField::Turn {
                age,
                dir: dir_from(value % 9)?,
            });
        }
        if bits & field_bits::AIM != 0 {
            fields.push(PlayerField::Aim(r.u16()?));
        }
        if bits & field_bits::HP != 0 {
            fields.push(PlayerField::Hp(r.byte()?));
        }
        if bits & field_bits::STATUS != 0 {
            fields.push(PlayerField::Status(r.byte()?));
        }
        out.push(PlayerUpdate { id, fields });
    }
    Ok(out)
}

/// Decodes a `left` section.
pub fn read_left(bytes: &[u8]) -> Result<Vec<EntityId>, SectionError> {
    let mut r = Reader::new(bytes);
    let mut ids = IdGaps::default();
    let mut out = Vec::new();
    while !r.done() {
        let (id, kind) = ids.read_kind(&mut r)?;
        if (id.0 & 1) as u8 != kind {
            return Err(SectionError::BadParity);
        }
        out.push(id);
    }
    Ok(out)
}
