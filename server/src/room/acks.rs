//! How long a client leaves the snapshots it was sent unacknowledged.
//!
//! A socket that is not read does not push back at once: the kernel's send buffer and the client's
//! receive buffer take hundreds of kilobytes first, so waiting for the outbox to stall would let a
//! player that never reads hold a connection (and that kernel memory) for minutes. Instead clients
//! acknowledge the newest snapshot tick they received (in each `Ping`, about once a second), and a
//! player whose oldest unacknowledged snapshot is older than the slow-reader timeout is dropped.
//!
//! A snapshot's age counts from when it could have reached the client at the rate it asked for
//! (a large snapshot to a client on a slow link takes seconds to cross it), at most
//! [`MAX_LINK_TIME`] after it was taken.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// Snapshots taken within this long of each other share one checkpoint, which bounds the memory a
/// seat spends here (a timeout of 60 s needs at most 240) at the cost of timing a snapshot from up
/// to this long before it was taken.
const CHECKPOINT_SPACING: Duration = Duration::from_millis(250);

/// The most a snapshot's time on a slow client's link (its bytes at the client's rate) delays the
/// start of its acknowledgement deadline: a client asking for a low rate cannot make the server wait
/// longer than this plus the slow-reader timeout for what it never reads.
pub const MAX_LINK_TIME: Duration = Duration::from_secs(20);

/// Checkpoints of the snapshots a session took: each is the newest tick taken in its window and
/// when the window opened.
#[derive(Debug, Default)]
pub struct AckClock {
    checkpoints: VecDeque<(u32, Instant)>,
}

impl AckClock {
    /// The session took the snapshot of `tick` at `now`.
    pub fn taken(&mut self, tick: u32, now: Instant) {
        match self.checkpoints.back_mut() {
            Some((newest, opened))
                if now.saturating_duration_since(*opened) < CHECKPOINT_SPACING =>
            {
                *newest = (*newest).max(tick);
            }
            _ => self.checkpoints.push_back((tick, now)),
        }
    }

    /// Whether the client, having acknowledged up to `acked`, has left a snapshot unacknowledged for
    /// `timeout` or longer.
    pub fn overdue(&mut self, acked: u32, now: Instant, timeout: Duration) -> bool {
        while self
            .checkpoints
            .front()
            .is_some_and(|(tick, _)| *tick <= acked)
        {
            self.checkpoints.pop_front();
        }
        self.checkpoints
            .front()
            .is_some_and(|(_, since)| now.saturating_duration_since(*since) >= timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_that_acknowledges_once_a_second_is_never_overdue() {
        let start = Instant::now();
        let timeout = Duration::from_secs(3);
        let mut clock = AckClock::default();
        let mut acked = 0;
        // 30 snapshots a second for a minute; each second the client acknowledges what it had
        // received 200 ms earlier.
        for step in 0..1800u32 {
            let now = start + Duration::from_millis(u64::from(step) * 33);
            let tick = 2 * step + 2;
            clock.taken(tick, now);
            if step % 30 == 29 {
                acked = tick.saturating_sub(12);
            }
            assert!(!clock.overdue(acked, now, timeout), "step {step}");
        }
        assert!(clock.checkpoints.len() <= 8, "{}", clock.checkpoints.len());
    }

    #[test]
    fn a_client_that_stops_acknowledging_is_overdue_within_the_timeout() {
        let start = Instant::now();
        let timeout = Duration::from_secs(3);
        let mut clock = AckClock::default();
        clock.taken(10, start);
        assert!(!clock.overdue(10, start, timeout));
        // Acknowledgements stop at tick 10; snapshots keep being taken.
        let mut first_overdue = None;
        for step in 1..200u32 {
            let now = start + Duration::from_millis(u64::from(step) * 33);
            clock.taken(10 + 2 * step, now);
            if clock.overdue(10, now, timeout) {
                first_overdue = Some(now - start);
                break;
            }
        }
        let at = first_overdue.expect("dropped");
        // The first unacknowledged snapshot was taken at 33 ms.
        assert!(
            at >= timeout && at <= timeout + Duration::from_millis(100),
            "{at:?}"
        );
        // Nothing sent since the last acknowledgement: nothing overdue.
        let mut idle = AckClock::default();
        idle.taken(4, start);
        assert!(!idle.overdue(4, start + Duration::from_secs(60), timeout));
        let mut unread = AckClock::default();
        unread.taken(4, start);
        assert!(!unread.overdue(3, start + timeout / 2, timeout));
        assert!(unread.overdue(3, start + timeout, timeout));
    }
}
