//! Every message on the wire.
//!
//! Each WebSocket binary message carries exactly one [`ClientMsg`] (client to server) or [`ServerMsg`]
//! (server to client), encoded by [`crate::codec`]. A connection starts with [`ClientMsg::Hello`]; the
//! server answers [`ServerMsg::Welcome`] or [`ServerMsg::Refused`]. Then the client sends
//! [`InputFrame`]s (one per client tick), and the server sends one [`Snapshot`] per snapshot tick, which
//! also carries the reliable [`GameEvent`]s (chat, kills, scores) in order.
//!
//! A spectator (a `Hello` with `watch`) is sent the room's *broadcast feed* instead: the same
//! [`Snapshot`] bytes to every spectator of the room, encoded once per feed frame, showing every
//! entity in the room, delayed by the server's spectator delay. A feed frame's `proof` and
//! `ack_input_seq` are 0, its `check` sums the whole room, and its events are the room's broadcast
//! events (never `Hit` or `YourScore`). Every few seconds a frame is a *keyframe*: a full snapshot
//! whose events start with a `Roster` and a `Leaderboard`, so a spectator (or a replay seeking) can
//! start there; the frames between are deltas against the frame before. A spectator that joins is
//! sent the last keyframe and the deltas since, then follows. Replays (`crate::replay`) are files of
//! the same frames.
//!
//! Positions are quantized [`Coord`]s (1/16 unit), angles `u16` (65,536 to the turn).

use crate::fixed::Coord;
use crate::map::Map;
use crate::physics::{Dir, Pos};
use crate::time::Tick;
use serde::{Deserialize, Serialize};

/// The protocol version. Bumped on every incompatible change; a mismatch is refused at `Hello`.
pub const PROTOCOL_VERSION: u16 = 9;

/// Longest player name, in characters (after sanitizing).
pub const MAX_NAME_CHARS: usize = 20;

/// Characters of a room code ([`room_code`]): a server tag of [`ROOM_TAG_CHARS`], then the room's own.
pub const ROOM_CODE_CHARS: usize = 6;

/// Characters of the server tag that starts every room code of a server ([`room_code::tag`]).
pub const ROOM_TAG_CHARS: usize = 2;

/// Longest chat message, in characters (after sanitizing).
pub const MAX_CHAT_CHARS: usize = 160;

/// Largest encoded client message in bytes. A `Hello` with a maximal name and a chat message with a
/// maximal text (4 bytes a character) fit with room to spare.
pub const MAX_CLIENT_MSG_BYTES: usize = 1024;

/// Largest encoded server message in bytes (a `Welcome` carrying a 512x512 map is the largest).
pub const MAX_SERVER_MSG_BYTES: usize = 1 << 20;

/// WebSocket close codes the server uses, and what each means. Codes below 4000 are the standard ones
/// from RFC 6455; 4000-4999 are Skirmish's own.
pub mod close_code {
    /// The session ended normally (the client closed, or a clean server-side close).
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A WebSocket protocol violation (bad framing, unmasked frames, bad control frames).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text frame: the protocol is binary only.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A message that does not decode, or carries invalid values.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Sustained rate-limit abuse or a message out of place (a second `Hello`).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A frame or message over the size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// A server error.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The client speaks another protocol version (a `Refused` message says which).
    pub const VERSION_MISMATCH: u16 = 4000;
    /// No seat is free and no room can be made.
    pub const SERVER_FULL: u16 = 4001;
    /// The resume token is unknown, expired or already used.
    pub const BAD_RESUME_TOKEN: u16 = 4002;
    /// The client did not read its snapshots for too long.
    pub const TOO_SLOW: u16 = 4003;
    /// No `Hello` arrived within the join deadline.
    pub const JOIN_TIMEOUT: u16 = 4004;
    /// Another connection took over this seat.
    pub const REPLACED: u16 = 4005;
    /// An operator removed the player (the reason says why); it may join again.
    pub const KICKED: u16 = 4006;
    /// The player's address is banned for a while; reconnecting is refused until it ends.
    pub const BANNED: u16 = 4007;
    /// The client's address already holds as many seats (connected or held for a resume) as one
    /// address may, or joins faster than one address may: leave a seat, or wait.
    pub const ADDRESS_LIMIT: u16 = 4008;
}

/// How far beyond the view radius an entity already in view stays in view, in percent of the radius
/// (hysteresis, so entities on the edge do not flicker).
pub const VIEW_MARGIN_PERCENT: Coord = 12;

/// The distance beyond which an entity leaves a view of `view_radius`.
pub fn outer_view_radius(view_radius: Coord) -> Coord {
    view_radius + view_radius * VIEW_MARGIN_PERCENT / 100
}

/// A world entity's id, unique within a room for the room's lifetime (never reused).
/// A player's id is the id of its avatar entity. Player ids are even and projectile ids odd, so players
/// (few, long-lived) keep small ids that encode in fewer bytes.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct EntityId(pub u32);

/// A room's id, unique within a server process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomId(pub u32);

/// Room codes: what players share to play together (`/?room=K7MPQR`). A code is
/// [`ROOM_CODE_CHARS`] characters from [`room_code::ALPHABET`] (capitals and digits without the
/// look-alikes I, L, O, 0 and 1), unique among a server's open rooms. Its first [`ROOM_TAG_CHARS`]
/// are the tag of the server that holds the room, so a code says which server it belongs to: the
/// fleet's directory finds the server by its tag (an Agones label) without a shared database.
pub mod room_code {
    use super::{ROOM_CODE_CHARS, ROOM_TAG_CHARS};

    /// The characters a code is made of.
    pub const ALPHABET: &[u8; 31] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

    /// The code a player typed or a link carried, in its canonical form (capitals; spaces and dashes
    /// around or inside ignored), or `None` if it cannot be a room code.
    pub fn parse(text: &str) -> Option<String> {
        let mut code = String::with_capacity(ROOM_CODE_CHARS);
        for c in text.chars().filter(|c| !c.is_whitespace() && *c != '-') {
            let c = c.to_ascii_uppercase();
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || code.len() == ROOM_CODE_CHARS {
                return None;
            }
            code.push(c);
        }
        (code.len() == ROOM_CODE_CHARS).then_some(code)
    }

    /// `chars` characters of the alphabet for a random `value` (any 64 bits).
    fn draw(mut value: u64, chars: usize) -> String {
        (0..chars)
            .map(|_| {
                let c = ALPHABET[(value % ALPHABET.len() as u64) as usize];
                value /= ALPHABET.len() as u64;
                char::from(c)
            })
            .collect()
    }

    /// A server tag for a random `value` (any 64 bits; the server draws one at start).
    pub fn random_tag(value: u64) -> String {
        draw(value, ROOM_TAG_CHARS)
    }

    /// The server tag written or typed as `text` (any case), or `None` if it cannot be one.
    pub fn parse_tag(text: &str) -> Option<String> {
        let tag = text.trim().to_ascii_uppercase();
        (tag.len() == ROOM_TAG_CHARS && tag.bytes().all(|c| ALPHABET.contains(&c))).then_some(tag)
    }

    /// The code for a room of the server tagged `tag` (from [`random_tag`] or [`parse_tag`]), its own
    /// characters from a random `value` (the server draws them from its secret source).
    pub fn from_random(tag: &str, value: u64) -> String {
        let mut code = String::with_capacity(ROOM_CODE_CHARS);
        code.push_str(tag);
        code.push_str(&draw(value, ROOM_CODE_CHARS - ROOM_TAG_CHARS));
        code
    }

    /// The tag of the server holding the room whose canonical `code` (from [`parse`]) this is.
    pub fn tag(code: &str) -> &str {
        code.get(..ROOM_TAG_CHARS).unwrap_or(code)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn codes_parse_in_any_case_and_only_from_the_alphabet() {
            let code = from_random("XY", 0x1234_5678_9ABC);
            assert_eq!(code.len(), ROOM_CODE_CHARS);
            assert_eq!(parse(&code).as_deref(), Some(code.as_str()));
            assert_eq!(parse(&code.to_lowercase()).as_deref(), Some(code.as_str()));
            assert_eq!(parse(" k7m-pqr ").as_deref(), Some("K7MPQR"));
            for bad in [
                "",
                "K7MPQ",
                "K7MPQRS",
                "K7MPQ0",
                "K7MPQI",
                "K7MPQé",
                "K7MPQ\u{0}",
            ] {
                assert_eq!(parse(bad), None, "{bad:?}");
            }
            // Every value gives a code that parses, starting with its server's tag.
            for value in [0, 1, u64::MAX, 31u64.pow(6) - 1] {
                let tag = random_tag(value.rotate_left(17));
                let code = from_random(&tag, value);
                assert_eq!(parse(&code).as_deref(), Some(code.as_str()));
                assert_eq!(super::tag(&code), tag);
            }
        }

        #[test]
        fn tags_are_two_characters_of_the_alphabet() {
            assert_eq!(parse_tag(" k7 ").as_deref(), Some("K7"));
            for bad in ["", "K", "K7M", "I7", "K0", "é7"] {
                assert_eq!(parse_tag(bad), None, "{bad:?}");
            }
            assert_eq!(tag("K7MPQR"), "K7");
            assert_eq!(random_tag(0).len(), ROOM_TAG_CHARS);
        }
    }
}

/// An opaque secret that lets a dropped player take its seat back. Never shown to other players.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResumeToken(pub [u8; 16]);

impl std::fmt::Debug for ResumeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResumeToken(..)")
    }
}

/// A message from a client to the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// The first message on a connection: who is joining, speaking which protocol.
    Hello(Hello),
    /// One tick's worth of player input.
    Input(InputFrame),
    /// A chat line for the room.
    Chat {
        /// The text; sanitized and capped at [`MAX_CHAT_CHARS`] by the server.
        text: String,
    },
    /// A round-trip probe; the server answers [`ServerMsg::Pong`] at once. Clients send one about
    /// once a second: it also tells the server how far the client has read.
    Ping {
        /// Echoed back unchanged (the client's send time, for example).
        nonce: u32,
        /// The tick of the newest snapshot the client has received (0: none yet). A player whose
        /// pings stop acknowledging the snapshots it was sent is dropped as a slow reader (4003),
        /// however much the network buffers hold.
        acked_tick: u32,
        /// That snapshot's [`Snapshot::proof`] (anything when `acked_tick` is 0). A wrong one is a
        /// forged acknowledgement: the connection is closed (1008).
        proof: u8,
    },
    /// Asks for the next snapshot to be a full one (a client that lost track of its view).
    RequestFullSnapshot,
    /// The view the client built from the snapshot at `tick` does not match that snapshot's
    /// [`Snapshot::check`]: the server counts a desync and sends a full snapshot next.
    Desync {
        /// The snapshot whose check failed.
        tick: Tick,
    },
    /// The player leaves: its seat is freed at once instead of held for a resume. (A close frame
    /// with code 1000 means the same.)
    Leave,
}

/// The handshake request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The client's [`PROTOCOL_VERSION`].
    pub protocol_version: u16,
    /// The wanted display name. The server sanitizes it (`text::sanitize_name`: invisible characters
    /// and stacked combining marks removed, at most [`MAX_NAME_CHARS`]), replaces it with `player`
    /// when nothing visible is left, and numbers it (`Ada (2)`) when the room already has the name,
    /// ignoring case.
    pub name: String,
    /// A token from an earlier [`Welcome`] to take back a held seat, if any.
    pub resume_token: Option<ResumeToken>,
    /// The snapshot bytes per second the client's link can take (0: the server's default). The
    /// server caps it by its own limit and, when a snapshot would exceed it, sends the next one later
    /// instead: fewer complete snapshots, never a backlog.
    pub rate: u32,
    /// The code of the room to join ([`room_code`]), or `None` for any room with a free seat. A
    /// code no open room has is refused ([`RefuseReason::NoSuchRoom`]), as is a full room
    /// ([`RefuseReason::RoomFull`]). Ignored when resuming.
    pub room: Option<String>,
    /// Watch instead of play: the client takes no seat and has no avatar, and is sent the room's
    /// broadcast feed (every entity, delayed by the server's spectator delay) instead of snapshots of
    /// its own. `room` names the room to watch (`None`: the room with the most players). A
    /// spectator's `Input` and `Chat` messages are rejected (counted, the connection kept); `Ping`,
    /// `RequestFullSnapshot` and `Leave` work as for a player.
    pub watch: bool,
}

/// Button bits in [`InputFrame::buttons`].
pub mod buttons {
    /// Fire the weapon (held: fire whenever the cooldown allows).
    pub const FIRE: u8 = 1;
    /// Every defined bit; others must be zero.
    pub const ALL: u8 = FIRE;
}

/// One client tick of input. The client numbers them and stamps each with the server tick it is
/// for, one input per tick number; the server buffers them and applies each at its tick (at most one
/// per player per tick), acknowledging the last applied in [`Snapshot::ack_input_seq`].
///
/// The rule, in the step that produces tick `T`: every buffered input stamped `tick <= T` is due, and
/// the newest of them (highest `seq`) is applied; the others are dropped unapplied. Each due input
/// stamped before `T` arrived after its tick: it is *late*, and counted
/// (`skirmish_late_inputs_total`). Inputs stamped after `T` wait, except one stamped more than a
/// second of ticks past `T`, which is due at once (a clock that far off is broken). A player whose
/// tick has no input keeps the one it had. Unstamped inputs (`tick` = `Tick(0)`) are applied one
/// per tick in the order they came, and make the stamped inputs sent before them due.
///
/// So an input at or below the acknowledged `seq` has been applied or never will be. The client
/// replays, on the snapshot's position, the inputs after it that are stamped for ticks after the
/// snapshot's: one for an earlier tick came late, and its tick ran with the previous input
/// (`netcode::predict::Predictor::reconcile_at`). To be on time, the client runs its input clock ahead of the
/// server's by half the round trip plus a margin learned from jitter
/// (`netcode::clock::InputClock`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFrame {
    /// Sequence number, increasing by one per frame from 1.
    pub seq: u32,
    /// The server tick this input is for (`Tick(0)`: unstamped, applied in order one per tick). The
    /// client runs its clock ahead of the server's by about half the round trip plus a margin, so
    /// that the input arrives before its tick.
    pub tick: Tick,
    /// Ticks between `tick` and the tick at which the client was drawing other players when it took
    /// this input: the server tests this player's shots, early in their flight, against the others
    /// where the player saw them (lag compensation, capped by the server).
    pub view_lag: u16,
    /// Horizontal movement axis: -1 (left), 0 or 1 (right).
    pub move_x: i8,
    /// Vertical movement axis: -1 (up), 0 or 1 (down).
    pub move_y: i8,
    /// Aim angle, 65,536 to the turn, 0 along +x, growing toward +y.
    pub aim: u16,
    /// Button bits from [`buttons`].
    pub buttons: u8,
}

impl InputFrame {
    /// The movement direction, or `None` if an axis is out of range.
    pub fn dir(&self) -> Option<Dir> {
        Dir::from_axes(self.move_x, self.move_y)
    }

    /// Whether every field is in range (axes in -1..=1, only known button bits).
    pub fn is_valid(&self) -> bool {
        self.dir().is_some() && self.buttons & !buttons::ALL == 0
    }

    /// Whether the fire button is held.
    pub fn fire(&self) -> bool {
        self.buttons & buttons::FIRE != 0
    }
}

/// A message from the server to a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// The handshake answer: the client is in a room.
    Welcome(Box<Welcome>),
    /// The handshake was refused; the server closes the connection after this.
    Refused {
        /// Why, as a code a client can act on.
        reason: RefuseReason,
        /// Why, for people.
        detail: String,
    },
    /// What the player can see at one tick, as a delta against an earlier snapshot.
    Snapshot(Snapshot),
    /// The answer to [`ClientMsg::Ping`].
    Pong {
        /// The ping's nonce.
        nonce: u32,
        /// The room's current tick, for the client's tick clock.
        tick: Tick,
    },
}

/// Why a handshake was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefuseReason {
    /// The client speaks another protocol version.
    VersionMismatch {
        /// The server's version.
        server: u16,
    },
    /// Every room is full and no room can be created.
    ServerFull,
    /// The resume token is unknown, expired or already used.
    BadResumeToken,
    /// The first message was not a `Hello`.
    ExpectedHello,
    /// The client's address holds as many seats as one address may, or joins too fast.
    AddressLimit,
    /// The room asked for by code has no seat a human can take.
    RoomFull,
    /// No open room has the code asked for (it closed, or never was).
    NoSuchRoom,
    /// The room asked to watch has as many spectators as it admits.
    SpectatorsFull,
}

/// The handshake answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The player's id, which is also its avatar's entity id.
    pub player_id: EntityId,
    /// The room the player is in.
    pub room: RoomId,
    /// Its code, for friends to join ([`room_code`]).
    pub room_code: String,
    /// Simulation ticks per second.
    pub tick_rate: u16,
    /// Snapshots per second (at most one per tick).
    pub snapshot_rate: u16,
    /// Radius in coords within which entities are sent.
    pub view_radius: Coord,
    /// The room's map.
    pub map: Map,
    /// The token to take this seat back after a disconnect.
    pub resume_token: ResumeToken,
    /// Milliseconds from a death to the respawn.
    pub respawn_delay_ms: u32,
    /// Milliseconds a respawned player cannot be hurt (unless it fires first).
    pub spawn_protection_ms: u32,
    /// `Some(delay)` for a spectator (a `Hello` with `watch`): it has no avatar (`player_id` is
    /// [`SPECTATOR_ID`], the resume token is unused), and it is sent the room's broadcast feed,
    /// `delay` milliseconds behind the room, at `snapshot_rate` frames a second. `None` for a player.
    pub spectator_delay_ms: Option<u32>,
}

/// The `player_id` of a spectator's `Welcome`: no player has it (player ids start at 2).
pub const SPECTATOR_ID: EntityId = EntityId(0);

/// What one player sees at one tick.
///
/// Applying a snapshot: if `baseline` is `None`, forget every entity first (a full snapshot); otherwise
/// the client must hold exactly the state of the snapshot at tick `baseline`. Then insert `entered`,
/// apply `updated`, remove `left`, and drop, without being told, (a) every projectile gone by the
/// shared rule (`ProjectileMotion::gone_at`) and (b) every projectile farther from the player's own
/// position at the snapshot's tick than [`outer_view_radius`]. Then handle `events` in order. `left`
/// names every player that left the view or the room, and projectiles that hit a player. (Players
/// are never dropped by distance on the client's side: a player can move in ways the client is not
/// told of once out of view, such as a respawn, so only the server knows when one leaves the view.)
/// The view then holds exactly what `check` sums. A projectile entering with
/// [`Launch::Shooter`] is placed once `updated` is applied (its shooter's key is then current).
///
/// On the wire (`codec`) the baseline is sent as its age (ticks before `tick`), and `entered`,
/// `updated` and `left` in a packed form of their own (`codec::sections`): ids as gaps within
/// each list, player update fields behind a byte of field bits. `entered` lists players before
/// projectiles, each in ascending id order, and `updated` and `left` ascend too (any order decodes
/// as it was sent, but costs more bytes); an update's fields come in `PlayerField`'s order, each
/// kind at most once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The server tick this snapshot shows.
    pub tick: Tick,
    /// A byte the client cannot know without receiving this snapshot: a `Ping` acknowledging `tick`
    /// must carry it (see [`ClientMsg::Ping`]).
    pub proof: u8,
    /// The tick of the snapshot this one is a delta against; `None` for a full snapshot.
    pub baseline: Option<Tick>,
    /// The sequence number of the last input applied for this player (0 before the first).
    pub ack_input_seq: u32,
    /// A checksum of the view the client must hold after applying this snapshot
    /// (`view::ViewCheck`): a client whose view disagrees has desynced, and says so with
    /// [`ClientMsg::Desync`].
    pub check: [u8; 4],
    /// Entities that came into view (or all visible ones, in a full snapshot), in full.
    pub entered: Vec<EntityState>,
    /// Players in view whose fields changed since the baseline: only the changed fields.
    pub updated: Vec<PlayerUpdate>,
    /// Entities that left the view or the world since the baseline.
    pub left: Vec<EntityId>,
    /// Reliable events since the previous delivered snapshot, in order.
    pub events: Vec<GameEvent>,
}

/// A motion key on the wire: the key's tick is sent as an age relative to the snapshot's tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireMotion {
    /// Ticks between the key's tick and the snapshot's tick.
    pub age: u32,
    /// Position at the key's tick.
    pub pos: Pos,
    /// Direction held since the key's tick.
    pub dir: Dir,
}

/// Player status bits in [`PlayerState::status`].
pub mod status {
    /// The player is dead, waiting to respawn.
    pub const DEAD: u8 = 1;
    /// The player has just spawned and cannot be hurt.
    pub const PROTECTED: u8 = 2;
}

/// Full state of an entity that came into view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntityState {
    /// A player's avatar.
    Player(PlayerState),
    /// A projectile in flight.
    Projectile(ProjectileState),
}

impl EntityState {
    /// The entity's id.
    pub fn id(&self) -> EntityId {
        match self {
            EntityState::Player(p) => p.id,
            EntityState::Projectile(p) => p.id,
        }
    }
}

/// A player avatar in full.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerState {
    /// Entity (and player) id.
    pub id: EntityId,
    /// Motion key: position at a tick and the direction held since.
    pub motion: WireMotion,
    /// Aim angle in 4,096ths of a turn (12 bits, `fixed::aim_to_wire`).
    pub aim: u16,
    /// Hit points, 0..=100.
    pub hp: u8,
    /// Status bits from [`status`].
    pub status: u8,
}

/// A projectile in full. Projectiles never change in flight, so they are never in `updated`; one
/// that enters a wall or outlives its lifetime is gone without a `left` entry (both sides know when,
/// from `physics::projectile_gone`), so `left` names only projectiles that hit a player or flew out
/// of view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectileState {
    /// Entity id.
    pub id: EntityId,
    /// Ticks between launch and the snapshot's tick.
    pub age: u32,
    /// Where it was launched.
    pub launch: Launch,
    /// The aim it was fired at; its velocity is `MoveParams::projectile_velocity(aim)`. With
    /// [`Launch::ShooterAim`] it is not sent (0): the shooter's aim and the offset give it.
    pub aim: u16,
}

/// Where a projectile was launched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Launch {
    /// At this point.
    At(Pos),
    /// From where this player stood at the launch tick (its position after that tick's move,
    /// `ProjectileMotion::fired`): the client works the point out from the shooter's motion key as
    /// it holds it after the snapshot's `updated` are applied. The server sends this form only when
    /// the viewer holds the shooter after the snapshot and the shooter's key then already held at
    /// the launch tick, so the point comes out exact.
    Shooter(EntityId),
    /// As `Shooter`, and fired at the shooter's aim as the viewer holds it after `updated`
    /// (`fixed::aim_from_wire`) plus this offset, -8..=7 (16-bit angle steps, wrapping): the aim
    /// then costs no bytes. The projectile's own `aim` is not sent with this form (it reads as 0);
    /// the client works it out. The server sends this form when the shooter's aim has not moved
    /// since the shot (at most a wire step's rounding apart).
    ShooterAim(EntityId, i8),
}

/// The fields of a player that changed since the baseline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerUpdate {
    /// Which player.
    pub id: EntityId,
    /// The changed fields, each at most once.
    pub fields: Vec<PlayerField>,
}

/// One changed player field. An update lists its fields in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlayerField {
    /// A new motion key (the player was placed somewhere, or turned more than once since the baseline).
    Motion(WireMotion),
    /// The player turned once since the baseline: a new key at `age` ticks before the snapshot, at the
    /// position the client's current key gives for that tick, holding `dir`.
    Turn {
        /// Ticks between the turn and the snapshot's tick.
        age: u32,
        /// The new direction.
        dir: Dir,
    },
    /// A new aim angle, in 4,096ths of a turn (12 bits).
    Aim(u16),
    /// New hit points.
    Hp(u8),
    /// New status bits.
    Status(u8),
}

/// A reliable event, delivered once, in order, inside snapshots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GameEvent {
    /// Everyone in the room when this player joined.
    Roster(Vec<RosterEntry>),
    /// A player joined the room.
    PlayerJoined(RosterEntry),
    /// A player left the room.
    PlayerLeft(EntityId),
    /// A chat line.
    Chat {
        /// Who said it.
        from: EntityId,
        /// The sanitized text.
        text: String,
    },
    /// A shot of this player's hit `victim` (sent to the shooter alone): a hit marker, and with
    /// `hp` 0 a kill confirmation.
    Hit {
        /// Who was hit.
        victim: EntityId,
        /// Its hit points after the hit.
        hp: u8,
    },
    /// A player was killed.
    Kill {
        /// Who fired the shot (`None` if the shooter has left the room).
        killer: Option<EntityId>,
        /// Who died.
        victim: EntityId,
    },
    /// The room's top scores changed.
    Leaderboard(Vec<ScoreEntry>),
    /// This player's own score changed.
    YourScore(ScoreEntry),
    /// A message from the server or its operators (a broadcast, or notice of a shutdown).
    Notice(String),
}

/// A player's name, as listed in the room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    /// The player's id.
    pub id: EntityId,
    /// The sanitized display name, distinct (ignoring case) from every other name in the room.
    pub name: String,
    /// A server-side bot (`--fill-bots`), playing while the room has few humans.
    pub bot: bool,
}

/// A player's score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreEntry {
    /// The player's id.
    pub id: EntityId,
    /// Points (one per kill).
    pub score: u32,
    /// Kills.
    pub kills: u32,
    /// Deaths.
    pub deaths: u32,
}
