//! The meeting point of a player's session task and its room task.
//!
//! The session pushes validated inputs and chat into the [`PlayerLink`]'s inbox; the room drains it once
//! per tick. The room puts each encoded snapshot into a one-message outbox, replacing one the session
//! has not taken yet (latest wins), and wakes the session's writer. Either side can end the link with a
//! [`Disconnect`]. Every buffer here is bounded, so a player that floods or stops reading costs the
//! server a fixed amount of memory.

use crate::admission::SeatClaim;
use crate::inputs::InputBuffer;
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use skirmish_shared::protocol::{close_code, InputFrame};
use skirmish_shared::time::Tick;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::task::Waker;

/// Most inputs buffered per player: about half a second at 60 Hz. Stamped inputs wait here until
/// their tick, so this bounds how early a client may send them (its lead over its link's delay,
/// which its jitter margin sets: well under this). Older inputs are dropped first, so a flooding
/// client delays only itself.
pub const INPUT_BUFFER: usize = 32;

/// Most chat lines buffered per player between two ticks: more than a seat's chat burst
/// ([`crate::limits::SEAT_CHAT`]), so a burst sent within one tick is not cut.
pub const CHAT_BUFFER: usize = 8;

/// How long a seat is held after its page closed or navigated away (see [`Disconnect::PAGE_GONE`]).
pub const RELOAD_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a link ended, sent to the client as the WebSocket close code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnect {
    /// The close code (`protocol::close_code`).
    pub code: u16,
    /// A short reason for people.
    pub reason: &'static str,
}

impl Disconnect {
    /// The connection ended without a clean leave (it dropped, or closed with a code other than
    /// 1000): the seat is held for a resume.
    pub const CLIENT_CLOSED: Disconnect = Disconnect {
        code: close_code::NORMAL,
        reason: "closed",
    };
    /// The page closed or navigated away (a close with code 1001, which browsers send when a page
    /// goes): a reload, or a tab closed for good, which the page cannot tell apart. The seat is held
    /// for [`RELOAD_GRACE`] (or the reconnect grace, if shorter), long enough for a reload to resume it
    /// and short enough that a closed tab's avatar soon goes.
    pub const PAGE_GONE: Disconnect = Disconnect {
        code: close_code::NORMAL,
        reason: "page closed",
    };
    /// The player left: a `Leave` message, or a close with code 1000. The seat is freed at once.
    pub const LEFT: Disconnect = Disconnect {
        code: close_code::NORMAL,
        reason: "left",
    };
    /// The player left snapshots unread for too long.
    pub const TOO_SLOW: Disconnect = Disconnect {
        code: close_code::TOO_SLOW,
        reason: "not reading snapshots",
    };
    /// Another connection resumed this seat.
    pub const REPLACED: Disconnect = Disconnect {
        code: close_code::REPLACED,
        reason: "another connection took this seat",
    };
    /// The server is shutting down.
    pub const SHUTDOWN: Disconnect = Disconnect {
        code: close_code::GOING_AWAY,
        reason: "server shutting down",
    };
    /// An operator removed the player.
    pub const KICKED: Disconnect = Disconnect {
        code: close_code::KICKED,
        reason: "removed by an operator",
    };
    /// An operator banned the player's address.
    pub const BANNED: Disconnect = Disconnect {
        code: close_code::BANNED,
        reason: "banned by an operator",
    };
}

impl Disconnect {
    /// Whether the player may resume its seat after this: a dropped or slow connection, not a
    /// protocol violation, a replacement or a shutdown.
    pub fn resumable(&self) -> bool {
        *self == Disconnect::CLIENT_CLOSED
            || *self == Disconnect::TOO_SLOW
            || *self == Disconnect::PAGE_GONE
    }

    /// Whether a snapshot waiting in the outbox is sent before the close: yes when the server ends
    /// the session on purpose (shutdown, kick, ban), so the player reads why.
    pub fn flush_first(&self) -> bool {
        matches!(
            self.code,
            close_code::GOING_AWAY | close_code::KICKED | close_code::BANNED
        )
    }
}

/// What a room takes from a player's inbox in one tick.
#[derive(Debug, Default)]
pub struct Drained {
    /// Inputs that were waiting, the one taken included.
    pub queued: usize,
    /// The input this tick applies, if one is due (see [`crate::inputs`]).
    pub input: Option<InputFrame>,
    /// Stamped inputs that left the buffer after their tick had passed.
    pub late: u32,
    /// Inputs that left the buffer unapplied, overtaken by a newer one.
    pub overtaken: u32,
    /// Buffered chat lines, already sanitized.
    pub chat: Vec<String>,
    /// The session dropped a chat line for a rate limit (the connection's or the address's) or a
    /// full buffer since the last drain: the player is told to slow down.
    pub chat_dropped: bool,
    /// The client asked for a full snapshot.
    pub full_snapshot: bool,
}

#[derive(Debug)]
struct Inbox {
    inputs: InputBuffer,
    chat: VecDeque<String>,
    chat_dropped: bool,
    full_snapshot: bool,
}

/// The shared state between one player's session and its room.
#[derive(Debug)]
pub struct PlayerLink {
    inbox: Mutex<Inbox>,
    outbox: Mutex<Option<Bytes>>,
    /// The session's task, woken when the room puts a message in the outbox or the link ends.
    session_waker: AtomicWaker,
    /// Why the link ended, once it has; `ended` says so without taking the lock.
    disconnect: Mutex<Option<Disconnect>>,
    ended: AtomicBool,
    /// The client's address (forwarded by a trusted proxy, or the socket's), if known.
    address: Option<IpAddr>,
    /// The seat this connection's address was allowed, until the room takes it into the seat.
    claim: Mutex<Option<SeatClaim>>,
    /// The tick of the newest snapshot the client has acknowledged (with its proof).
    acked_tick: AtomicU32,
    /// The key of this connection's snapshot proofs (from the OS's random source).
    proof_key: (u64, u64),
    /// The snapshot bytes per second the client asked for in its `Hello` (0: the server's default).
    asked_rate: AtomicU32,
}

impl Default for PlayerLink {
    fn default() -> Self {
        PlayerLink::new()
    }
}

/// 128 bits from the server's secret random source.
fn random_key() -> (u64, u64) {
    (crate::secret::random_u64(), crate::secret::random_u64())
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the data stays consistent:
/// every critical section here is a single push, pop or swap).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PlayerLink {
    /// A fresh link with no known address.
    pub fn new() -> PlayerLink {
        PlayerLink {
            inbox: Mutex::new(Inbox {
                inputs: InputBuffer::new(INPUT_BUFFER),
                chat: VecDeque::new(),
                chat_dropped: false,
                full_snapshot: false,
            }),
            outbox: Mutex::new(None),
            session_waker: AtomicWaker::new(),
            disconnect: Mutex::new(None),
            ended: AtomicBool::new(false),
            address: None,
            claim: Mutex::new(None),
            acked_tick: AtomicU32::new(0),
            proof_key: random_key(),
            asked_rate: AtomicU32::new(0),
        }
    }

    /// A fresh link for a client at `address`.
    pub fn for_address(address: IpAddr) -> PlayerLink {
        PlayerLink {
            address: Some(address),
            ..PlayerLink::new()
        }
    }

    /// The client's address, if known.
    pub fn address(&self) -> Option<IpAddr> {
        self.address
    }

    /// The proof byte of this connection's snapshot of `tick`: a keyed hash (SipHash-2-4 under a
    /// random 128-bit key), which a client can only learn by receiving that snapshot.
    pub fn proof_for(&self, tick: u32) -> u8 {
        use std::hash::Hasher;
        #[allow(deprecated)] // SipHash-2-4 keyed by us is exactly what is wanted here.
        let mut hasher = std::hash::SipHasher::new_with_keys(self.proof_key.0, self.proof_key.1);
        hasher.write_u32(tick);
        hasher.finish() as u8
    }

    /// Session side: the client says it has received the snapshot of `tick` (and those before it),
    /// whose proof is `proof`. `false` if the proof is wrong: a forged acknowledgement (tick 0, "none
    /// yet", needs no proof).
    pub fn acknowledge(&self, tick: u32, proof: u8) -> bool {
        if tick == 0 {
            return true;
        }
        if self.proof_for(tick) != proof {
            return false;
        }
        self.acked_tick.fetch_max(tick, Ordering::Relaxed);
        true
    }

    /// Room side: the tick of the newest snapshot the client acknowledged (0: none).
    pub fn acked_tick(&self) -> u32 {
        self.acked_tick.load(Ordering::Relaxed)
    }

    /// Session side: records the snapshot rate (bytes per second, 0: the server's default) the
    /// client's `Hello` asked for, before the room seats it.
    pub fn set_asked_rate(&self, rate: u32) {
        self.asked_rate.store(rate, Ordering::Relaxed);
    }

    /// Room side: the snapshot rate the client asked for (0: the server's default).
    pub fn asked_rate(&self) -> u32 {
        self.asked_rate.load(Ordering::Relaxed)
    }

    /// Session side: gives the link the seat claim its address was allowed, for the room to keep.
    pub fn set_claim(&self, claim: SeatClaim) {
        *lock(&self.claim) = Some(claim);
    }

    /// Room side: takes the seat claim to keep with the seat for as long as it exists.
    pub fn take_claim(&self) -> Option<SeatClaim> {
        lock(&self.claim).take()
    }

    /// Session side: buffers an input. Returns `false` if the buffer was full and the oldest input was
    /// dropped to make room.
    pub fn push_input(&self, input: InputFrame) -> bool {
        lock(&self.inbox).inputs.push(input)
    }

    /// Session side: buffers a chat line. Returns `false` (and drops the line) if the buffer is full.
    pub fn push_chat(&self, text: String) -> bool {
        let mut inbox = lock(&self.inbox);
        if inbox.chat.len() >= CHAT_BUFFER {
            inbox.chat_dropped = true;
            return false;
        }
        inbox.chat.push_back(text);
        true
    }

    /// Session side: a chat line was dropped for a rate limit (the room tells the player).
    pub fn note_chat_dropped(&self) {
        lock(&self.inbox).chat_dropped = true;
    }

    /// Session side: asks for the next snapshot to be full.
    pub fn request_full_snapshot(&self) {
        lock(&self.inbox).full_snapshot = true;
    }

    /// Room side, in the step that produces tick `step`: takes the input due (at most one; inputs
    /// stamped more than `horizon` ticks ahead count as due) and everything else buffered.
    pub fn drain(&self, step: Tick, horizon: u32) -> Drained {
        let mut inbox = lock(&self.inbox);
        let queued = inbox.inputs.len();
        let taken = inbox.inputs.take(step, horizon);
        Drained {
            queued,
            input: taken.input,
            late: taken.late,
            overtaken: taken.overtaken,
            chat: inbox.chat.drain(..).collect(),
            chat_dropped: std::mem::take(&mut inbox.chat_dropped),
            full_snapshot: std::mem::take(&mut inbox.full_snapshot),
        }
    }

    /// Room side: whether the outbox still holds a message the session has not taken.
    pub fn outbox_pending(&self) -> bool {
        lock(&self.outbox).is_some()
    }

    /// Room side: puts a message in the outbox only if it is empty; returns whether it did.
    pub fn offer_if_empty(&self, message: Bytes) -> bool {
        let mut outbox = lock(&self.outbox);
        if outbox.is_some() {
            return false;
        }
        *outbox = Some(message);
        drop(outbox);
        self.session_waker.wake();
        true
    }

    /// Room side: replaces the outbox's message only if the session has not taken it yet; returns
    /// whether it did (if not, the old message went out and the outbox is left empty).
    pub fn replace_if_pending(&self, message: Bytes) -> bool {
        let mut outbox = lock(&self.outbox);
        if outbox.is_none() {
            return false;
        }
        *outbox = Some(message);
        drop(outbox);
        self.session_waker.wake();
        true
    }

    /// Session side: takes the outbox's message, if any.
    pub fn take_outbound(&self) -> Option<Bytes> {
        lock(&self.outbox).take()
    }

    /// Session side: `waker` is woken when the room next offers a message or the link ends (register
    /// before looking at the outbox and [`PlayerLink::disconnected`], so neither is missed).
    pub fn register_session(&self, waker: &Waker) {
        self.session_waker.register(waker);
    }

    /// Either side: ends the link. The first reason given wins.
    pub fn disconnect(&self, reason: Disconnect) {
        let mut disconnect = lock(&self.disconnect);
        if disconnect.is_none() {
            *disconnect = Some(reason);
            self.ended.store(true, Ordering::Release);
            drop(disconnect);
            self.session_waker.wake();
        }
    }

    /// Why the link ended, if it has (one atomic load while it has not: the room asks every tick).
    pub fn disconnected(&self) -> Option<Disconnect> {
        if !self.ended.load(Ordering::Acquire) {
            return None;
        }
        *lock(&self.disconnect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_keeps_only_the_newest_inputs() {
        let link = PlayerLink::new();
        for seq in 1..=INPUT_BUFFER as u32 + 12 {
            let kept = link.push_input(InputFrame {
                seq,
                ..InputFrame::default()
            });
            assert_eq!(kept, seq as usize <= INPUT_BUFFER);
        }
        let first = link.drain(Tick(1), 60).input.expect("buffered");
        assert_eq!(first.seq, 13);
        // One unstamped input per drain.
        assert_eq!(
            link.drain(Tick(2), 60).input.map(|i| i.seq),
            Some(first.seq + 1)
        );
    }

    #[test]
    fn the_outbox_holds_one_message_and_the_latest_wins() {
        let link = PlayerLink::new();
        assert!(
            !link.replace_if_pending(Bytes::from_static(b"x")),
            "nothing to replace"
        );
        assert!(link.offer_if_empty(Bytes::from_static(b"a")));
        assert!(link.outbox_pending());
        assert!(!link.offer_if_empty(Bytes::from_static(b"b")));
        assert!(link.replace_if_pending(Bytes::from_static(b"c")));
        assert_eq!(link.take_outbound(), Some(Bytes::from_static(b"c")));
        assert_eq!(link.take_outbound(), None);
        assert!(!link.outbox_pending());
    }

    #[test]
    fn the_session_is_woken_by_an_offer_and_by_the_end() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::Arc;
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let link = PlayerLink::new();
        link.register_session(&waker);
        assert!(link.offer_if_empty(Bytes::from_static(b"a")));
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "an offer wakes it");
        assert!(link.take_outbound().is_some());
        link.register_session(&waker);
        link.disconnect(Disconnect::KICKED);
        assert_eq!(count.0.load(Ordering::Relaxed), 2, "the end wakes it");
        link.register_session(&waker);
        link.disconnect(Disconnect::TOO_SLOW);
        assert_eq!(
            count.0.load(Ordering::Relaxed),
            2,
            "a later reason does not"
        );
        assert_eq!(link.disconnected(), Some(Disconnect::KICKED));
    }

    #[test]
    fn the_first_disconnect_reason_wins() {
        let link = PlayerLink::new();
        assert_eq!(link.disconnected(), None);
        link.disconnect(Disconnect::TOO_SLOW);
        link.disconnect(Disconnect::CLIENT_CLOSED);
        assert_eq!(link.disconnected(), Some(Disconnect::TOO_SLOW));
    }

    #[test]
    fn acknowledgements_need_the_snapshots_proof() {
        let link = PlayerLink::new();
        let proof = link.proof_for(600);
        assert!(
            !link.acknowledge(600, proof.wrapping_add(1)),
            "a wrong proof is refused"
        );
        assert_eq!(link.acked_tick(), 0);
        assert!(link.acknowledge(600, proof));
        assert_eq!(link.acked_tick(), 600);
        assert!(link.acknowledge(0, 99), "none yet needs no proof");
        assert_eq!(link.acked_tick(), 600);
        // Another connection's proofs are unrelated.
        let other = PlayerLink::new();
        let differ = (1..200u32)
            .filter(|t| other.proof_for(*t) != link.proof_for(*t))
            .count();
        assert!(differ > 150, "{differ} of 199 differ");
    }

    #[test]
    fn chat_is_bounded() {
        let link = PlayerLink::new();
        for i in 0..CHAT_BUFFER {
            assert!(link.push_chat(format!("{i}")));
        }
        assert!(!link.push_chat("overflow".into()));
        assert_eq!(link.drain(Tick(1), 60).chat.len(), CHAT_BUFFER);
    }
}
