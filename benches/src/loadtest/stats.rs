//! Counters the bots fill and the sampler reads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use super::malformed::Kind;

/// One bot's counters.
#[derive(Debug, Default)]
pub struct BotStats {
    /// Welcomed.
    pub connected: AtomicBool,
    /// Snapshots received.
    pub snapshots: AtomicU64,
    /// Payload bytes received.
    pub bytes_down: AtomicU64,
    /// Payload bytes sent.
    pub bytes_up: AtomicU64,
}

/// Counters over all bots.
#[derive(Debug, Default)]
pub struct Totals {
    /// Bots welcomed (ever).
    pub connected: AtomicU64,
    /// Connections the server closed or that failed after joining, with no malformed message to
    /// explain it.
    pub disconnects: AtomicU64,
    /// Failed connects, refusals and undecodable messages.
    pub errors: AtomicU64,
    /// Snapshots received.
    pub snapshots: AtomicU64,
    /// Payload bytes received.
    pub bytes_down: AtomicU64,
    /// Payload bytes sent.
    pub bytes_up: AtomicU64,
    /// Messages sent.
    pub messages_up: AtomicU64,
    /// The snapshot rate the server announced.
    pub snapshot_hz: AtomicU64,
    /// The tick rate the server announced.
    pub tick_hz: AtomicU64,
    /// Bots joined right now.
    pub live: AtomicU64,
    /// Players that left on the churn signal.
    pub churned: AtomicU64,
    /// Resumes that got the same entity back.
    pub resumed: AtomicU64,
    /// Resumes welcomed as a different entity (the seat was lost).
    pub resume_lost: AtomicU64,
    /// Malformed messages sent, by [`Kind`] (its index in [`Kind::ALL`]).
    pub malformed_sent: [AtomicU64; Kind::ALL.len()],
    /// Fatal malformed messages the server closed with the right code.
    pub malformed_closed: AtomicU64,
    /// Fatal malformed messages the server answered with another code, or by dropping the socket.
    pub malformed_wrong_close: AtomicU64,
    /// Fatal malformed messages the server left open past the deadline.
    pub malformed_not_closed: AtomicU64,
    /// Snapshots after which a bot's view matched the snapshot's check.
    pub views_verified: AtomicU64,
    /// Snapshots after which a bot's view did not match the snapshot's check.
    pub desyncs: AtomicU64,
    /// Snapshots that did not apply to a bot's view (a baseline it does not hold, say).
    pub view_errors: AtomicU64,
    rtts: Mutex<Vec<f32>>,
}

impl Totals {
    /// Records a round trip.
    pub fn record_rtt(&self, ms: f64) {
        self.rtts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ms as f32);
    }

    /// Takes the round trips recorded so far.
    pub fn take_rtts(&self) -> Vec<f32> {
        std::mem::take(&mut *self.rtts.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A snapshot of the plain counters: (snapshots, bytes down, bytes up).
    pub fn flow(&self) -> (u64, u64, u64) {
        (
            self.snapshots.load(Relaxed),
            self.bytes_down.load(Relaxed),
            self.bytes_up.load(Relaxed),
        )
    }
}

/// The `q` quantile (0..=1) of `values` (sorted in place); 0 when empty.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = (q * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_ranks() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), 51.0);
        assert_eq!(quantile(&mut v, 0.99), 99.0);
        assert_eq!(quantile(&mut v, 0.0), 1.0);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
    }
}
