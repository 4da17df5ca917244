//! Per-connection rate limits, applied before a message is decoded.
//!
//! Each kind of client message has its own token bucket, chosen by the message's first byte (its
//! variant index), so decoding costs nothing for messages that are over the limit. A message over its
//! limit is dropped and costs a strike; a connection that keeps hitting the limits runs out of strikes
//! and is closed (1008).

use tokio::time::Instant;

/// A token bucket: up to `burst` tokens, refilled at `rate` per second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    burst: f64,
    rate: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: f64, rate: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: burst,
            burst,
            rate,
            last: now,
        }
    }

    /// Takes a token if one is there.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limits: decode and handle it.
    Allow,
    /// Over its limit: drop it unread.
    Drop,
    /// Over the limits for too long: close the connection (1008).
    Abuse,
}

/// Chat lines a seat may send in a burst, and per second after. The room holds this bucket with the
/// seat, so a reconnect does not refill it; each connection also has one as a flood guard.
pub const SEAT_CHAT: (f64, f64) = (5.0, 0.5);
/// The first byte of an encoded `ClientMsg::Chat` (its variant index).
pub const CHAT_TAG: u8 = 2;
/// Pings in a burst, and per second after (clients ping four times a second for their first two
/// seconds while their clock learns, then about once a second: `netcode::clock::QUICK_PINGS`).
const PINGS: (f64, f64) = (8.0, 4.0);
/// WebSocket pings and pongs from the client in a burst, and per second after (browsers send none;
/// tungstenite answers each ping with a pong, so they cost a write too).
const CONTROL: (f64, f64) = (8.0, 2.0);
/// Other messages (`Hello`, `RequestFullSnapshot`) in a burst, and per second after.
const OTHER: (f64, f64) = (4.0, 1.0);
/// Dropped messages tolerated in a burst, and forgiven per second, before the connection is closed.
const STRIKES: (f64, f64) = (100.0, 2.0);

/// One connection's buckets.
#[derive(Debug, Clone)]
pub struct RateLimits {
    inputs: TokenBucket,
    chat: TokenBucket,
    pings: TokenBucket,
    other: TokenBucket,
    control: TokenBucket,
    strikes: TokenBucket,
}

/// What arrived: a data message, by its first byte (a `ClientMsg` variant index), or a WebSocket
/// control frame (ping or pong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A binary message whose first byte is this.
    Data(u8),
    /// A ping or pong frame.
    Control,
}

impl RateLimits {
    /// Limits for a room ticking at `tick_hz`: a second of inputs in a burst, and a quarter more than
    /// one per tick sustained (clients send one per tick; jitter bunches them).
    pub fn new(tick_hz: u16, now: Instant) -> RateLimits {
        let hz = f64::from(tick_hz);
        let bucket = |(burst, rate): (f64, f64)| TokenBucket::new(burst, rate, now);
        RateLimits {
            inputs: TokenBucket::new(hz, hz * 1.25, now),
            chat: bucket(SEAT_CHAT),
            pings: bucket(PINGS),
            other: bucket(OTHER),
            control: bucket(CONTROL),
            strikes: bucket(STRIKES),
        }
    }

    /// The verdict for a message of this kind.
    pub fn check(&mut self, kind: MessageKind, now: Instant) -> Verdict {
        let bucket = match kind {
            MessageKind::Data(1) => &mut self.inputs,
            MessageKind::Data(CHAT_TAG) => &mut self.chat,
            MessageKind::Data(3) => &mut self.pings,
            MessageKind::Data(_) => &mut self.other,
            MessageKind::Control => &mut self.control,
        };
        if bucket.take(now) {
            Verdict::Allow
        } else if self.strikes.take(now) {
            Verdict::Drop
        } else {
            Verdict::Abuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skirmish_shared::codec::encode_client;
    use skirmish_shared::protocol::{ClientMsg, InputFrame};
    use std::time::Duration;

    #[test]
    fn tags_match_the_client_message_variants() {
        let tag = |msg: &ClientMsg| encode_client(msg)[0];
        assert_eq!(tag(&ClientMsg::Input(InputFrame::default())), 1);
        assert_eq!(tag(&ClientMsg::Chat { text: "x".into() }), CHAT_TAG);
        assert_eq!(
            tag(&ClientMsg::Ping {
                nonce: 1,
                acked_tick: 0,
                proof: 0
            }),
            3
        );
    }

    #[test]
    fn each_kind_has_its_own_budget_and_floods_end_in_abuse() {
        let start = Instant::now();
        let mut limits = RateLimits::new(60, start);
        // A second's worth of inputs passes at once; chat still has its own budget.
        for _ in 0..60 {
            assert_eq!(limits.check(MessageKind::Data(1), start), Verdict::Allow);
        }
        assert_eq!(limits.check(MessageKind::Data(1), start), Verdict::Drop);
        assert_eq!(limits.check(MessageKind::Data(2), start), Verdict::Allow);
        // One input per tick is sustainable indefinitely.
        for tick in 1..600u64 {
            let now = start + Duration::from_micros(tick * 16_667);
            assert_eq!(
                limits.check(MessageKind::Data(1), now),
                Verdict::Allow,
                "tick {tick}"
            );
        }
        // A flood is dropped, then closed.
        let now = start + Duration::from_secs(10);
        let verdicts: Vec<Verdict> = (0..400)
            .map(|_| limits.check(MessageKind::Data(3), now))
            .collect();
        assert!(verdicts.contains(&Verdict::Drop));
        assert_eq!(verdicts.last(), Some(&Verdict::Abuse));
        // Control frames have their own allowance, and a flood of them ends the same way.
        let mut limits = RateLimits::new(60, start);
        let pings: Vec<Verdict> = (0..400)
            .map(|_| limits.check(MessageKind::Control, start))
            .collect();
        assert_eq!(pings[0], Verdict::Allow);
        assert_eq!(pings.last(), Some(&Verdict::Abuse));
    }
}
