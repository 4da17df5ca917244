//! Snapshot byte rates: what a client may ask for in its `Hello`, and the byte budget that paces each
//! seat's snapshots to it (in the spirit of Quake 3's `rate`).
//!
//! A client on a slow link asks for the bytes per second its link can take. The room then sends it
//! fewer snapshots, each complete and current, instead of more snapshots than the link carries
//! (which would queue in the network and arrive ever later). Each seat has a [`ByteBudget`]: a token
//! bucket counted in bytes, refilled every tick at the seat's rate and holding at most one snapshot
//! interval's worth. A snapshot goes out only when the budget is not in debt, and its bytes are taken
//! from it, into debt if it is larger than what is there: so a snapshot larger than a second's budget
//! still goes out, and the next one waits until the debt is paid.

use skirmish_shared::time::TickRate;
use std::time::Duration;

/// The least rate a seat is paced at, in bytes per second, whatever its client asks (as Quake 3's
/// floor): about one small snapshot a second in a busy arena. Asking for less gets this.
pub const MIN_CLIENT_RATE: u32 = 1_000;

/// The default `--max-client-rate`, in bytes per second (8 Mbit/s): about 80 times what a player in
/// a 1,000-player arena is sent on average (12 KB/s, `docs/PERFORMANCE.md`), so it never paces a
/// normal client on a good link; only a join's full snapshot in a room of thousands waits a tick or
/// two behind it.
pub const DEFAULT_MAX_CLIENT_RATE: u32 = 1_000_000;

/// The most `--max-client-rate` may be set to, in bytes per second (800 Mbit/s).
pub const MAX_CLIENT_RATE_LIMIT: u32 = 100_000_000;

/// The rates a server grants: the one it gives clients that ask for none, and the most any gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRates {
    /// Bytes per second for a client whose `Hello` asks for 0.
    pub default: u32,
    /// The most bytes per second any client is granted.
    pub max: u32,
}

impl Default for ClientRates {
    fn default() -> ClientRates {
        ClientRates {
            default: DEFAULT_MAX_CLIENT_RATE,
            max: DEFAULT_MAX_CLIENT_RATE,
        }
    }
}

impl ClientRates {
    /// The rate a client asking for `asked` bytes per second gets: the default for 0, capped by the
    /// maximum, and at least [`MIN_CLIENT_RATE`].
    pub fn effective(&self, asked: u32) -> u32 {
        let wanted = if asked == 0 { self.default } else { asked };
        wanted.min(self.max).max(MIN_CLIENT_RATE)
    }
}

/// A seat's snapshot byte budget: a token bucket in bytes, refilled once a tick.
///
/// Kept exactly in integers: the balance is in bytes times the tick rate, so a tick adds the rate
/// itself and a snapshot of `n` bytes takes `n * tick_hz`.
#[derive(Debug, Clone)]
pub struct ByteBudget {
    /// Bytes per second.
    rate: u32,
    /// Ticks per second.
    tick_hz: i64,
    /// What may be sent now, in bytes x `tick_hz` (negative: in debt).
    balance: i64,
    /// The most the balance holds: one snapshot interval's worth.
    cap: i64,
}

impl ByteBudget {
    /// A full budget of `rate` bytes per second for a room ticking at `tick_rate` and sending a
    /// snapshot every `interval_ticks` ticks.
    pub fn new(rate: u32, tick_rate: TickRate, interval_ticks: u32) -> ByteBudget {
        let cap = i64::from(rate) * i64::from(interval_ticks.max(1));
        ByteBudget {
            rate,
            tick_hz: i64::from(tick_rate.hz()),
            balance: cap,
            cap,
        }
    }

    /// The rate, in bytes per second.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// One tick has passed: a tick's worth of bytes is added, up to the cap.
    pub fn refill(&mut self) {
        self.balance = (self.balance + i64::from(self.rate)).min(self.cap);
    }

    /// Whether a snapshot may go out now (the budget is not in debt).
    pub fn allows(&self) -> bool {
        self.balance >= 0
    }

    /// A snapshot of `bytes` was handed to the socket: its bytes are taken, into debt if need be.
    pub fn spend(&mut self, bytes: usize) {
        self.balance = self.balance.saturating_sub(self.cost(bytes));
    }

    /// A snapshot of `bytes` that was charged never went out (a newer one replaced it): its bytes
    /// are given back, up to the cap.
    pub fn refund(&mut self, bytes: usize) {
        self.balance = (self.balance + self.cost(bytes)).min(self.cap);
    }

    /// How long the client's link, at the rate, still needs for what was sent: the time until the
    /// budget is out of debt (zero if it is not in debt).
    pub fn time_to_deliver(&self) -> Duration {
        if self.balance >= 0 {
            return Duration::ZERO;
        }
        let per_second = i128::from(self.rate).max(1) * i128::from(self.tick_hz).max(1);
        let nanos = i128::from(self.balance).unsigned_abs() * 1_000_000_000 / per_second as u128;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Clears any debt and fills the budget: for a last message that must go out now (the server
    /// is shutting down and says so).
    pub fn forgive(&mut self) {
        self.balance = self.cap;
    }

    /// `bytes` in balance units.
    fn cost(&self, bytes: usize) -> i64 {
        i64::try_from(bytes)
            .unwrap_or(i64::MAX / 2)
            .saturating_mul(self.tick_hz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hz(n: u16) -> TickRate {
        TickRate::new(n).expect("valid tick rate")
    }

    #[test]
    fn the_effective_rate_is_the_default_for_zero_capped_and_floored() {
        let rates = ClientRates {
            default: 8_000,
            max: 20_000,
        };
        assert_eq!(rates.effective(0), 8_000);
        assert_eq!(rates.effective(12_345), 12_345);
        assert_eq!(rates.effective(1_000_000), 20_000);
        assert_eq!(rates.effective(1), MIN_CLIENT_RATE);
        assert_eq!(rates.effective(u32::MAX), 20_000);
        // A default above the maximum is capped too; nothing goes below the floor.
        let odd = ClientRates {
            default: 50_000,
            max: 20_000,
        };
        assert_eq!(odd.effective(0), 20_000);
        let tiny = ClientRates { default: 0, max: 0 };
        assert_eq!(tiny.effective(0), MIN_CLIENT_RATE);
    }

    /// Sends a snapshot of `size` bytes whenever the budget allows, for `ticks` ticks; returns the
    /// ticks at which one went out.
    fn pace(budget: &mut ByteBudget, size: usize, ticks: u32) -> Vec<u32> {
        let mut sent = Vec::new();
        for tick in 0..ticks {
            budget.refill();
            if budget.allows() {
                budget.spend(size);
                sent.push(tick);
            }
        }
        sent
    }

    #[test]
    fn snapshots_within_the_rate_go_out_every_interval() {
        // 60 Hz ticks, a snapshot every 2: one interval holds 2 x 600 = 1,200 bytes at 36,000 B/s.
        let mut budget = ByteBudget::new(36_000, hz(60), 2);
        let mut sent = 0;
        for tick in 0..600u32 {
            budget.refill();
            if tick % 2 == 0 {
                assert!(budget.allows(), "tick {tick}");
                budget.spend(1_200);
                sent += 1;
            }
        }
        assert_eq!(sent, 300);
    }

    #[test]
    fn a_low_rate_spaces_snapshots_by_their_size() {
        // 2,000 B/s and 500-byte snapshots: one every 15 ticks at 60 Hz, 4 a second.
        let mut budget = ByteBudget::new(2_000, hz(60), 2);
        let sent = pace(&mut budget, 500, 600);
        let gaps: Vec<u32> = sent.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps[1..].iter().all(|&gap| gap == 15), "{gaps:?}");
        // Over ten seconds, never more than the rate plus what the bucket held at the start.
        let bytes = sent.len() * 500;
        assert!(bytes <= 2_000 * 10 + 500 + 2 * 2_000 / 60, "{bytes}");
        assert!(bytes >= 2_000 * 10 - 500, "{bytes}");
    }

    #[test]
    fn halving_the_rate_doubles_the_gap() {
        let gap = |rate| {
            let mut budget = ByteBudget::new(rate, hz(60), 2);
            let sent = pace(&mut budget, 800, 1_200);
            (sent[sent.len() - 1] - sent[1]) as f64 / (sent.len() - 2) as f64
        };
        let (fast, slow) = (gap(8_000), gap(4_000));
        assert!((fast - 6.0).abs() < 0.1, "{fast}");
        assert!((slow - 12.0).abs() < 0.1, "{slow}");
    }

    #[test]
    fn a_snapshot_larger_than_a_seconds_budget_still_goes_out_and_the_debt_is_paid_first() {
        let mut budget = ByteBudget::new(MIN_CLIENT_RATE, hz(60), 2);
        budget.refill();
        assert!(budget.allows());
        budget.spend(5_000); // five seconds' worth
                             // The link needs 4,966.7 bytes' worth of time more: 4.97 s.
        assert_eq!(
            budget.time_to_deliver(),
            Duration::from_nanos(4_966_666_666)
        );
        let mut waited = 0;
        while {
            budget.refill();
            !budget.allows()
        } {
            waited += 1;
        }
        // 5,000 bytes less the 2 ticks' worth held: (5000 - 33.3) / 1000 s at 60 Hz.
        assert_eq!(waited, 297);
        assert_eq!(budget.time_to_deliver(), Duration::ZERO);
    }

    #[test]
    fn a_refund_gives_back_an_unsent_snapshot_up_to_the_cap() {
        let mut budget = ByteBudget::new(6_000, hz(60), 2);
        budget.spend(1_000);
        assert!(!budget.allows());
        budget.refund(1_000);
        assert!(budget.allows());
        // The bucket never holds more than one interval's worth, refunds included.
        budget.refund(1_000_000);
        budget.spend(201);
        assert!(!budget.allows(), "the cap is 2 ticks x 100 bytes");
        // Idle ticks do not pile up a burst either.
        for _ in 0..600 {
            budget.refill();
        }
        budget.spend(201);
        assert!(!budget.allows());
    }
}
