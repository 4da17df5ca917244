//! The client's estimate of the server's tick, kept in sync by pings and snapshots.
//!
//! Each pong gives a sample: the server's tick when it answered, plus half the round trip. The estimate
//! is `local_ms * rate + offset`; the offset moves toward each sample smoothly, and jumps when it is far
//! off (at start, or after a stall).

/// Weight of one new sample in the offset.
const SAMPLE_WEIGHT: f64 = 0.1;

/// Samples further than this many ticks from the estimate replace it.
const RESET_TICKS: f64 = 30.0;

/// Round-trip time smoothing weight.
const RTT_WEIGHT: f64 = 0.2;

/// Server tick estimate and round-trip time.
#[derive(Debug, Clone)]
pub struct TickClock {
    ticks_per_ms: f64,
    offset: Option<f64>,
    rtt_ms: Option<f64>,
}

impl TickClock {
    /// A clock for a server running at `tick_rate` Hz.
    pub fn new(tick_rate: u16) -> TickClock {
        TickClock {
            ticks_per_ms: f64::from(tick_rate) / 1000.0,
            offset: None,
            rtt_ms: None,
        }
    }

    fn sample(&mut self, now_ms: f64, server_tick: f64) {
        let offset = server_tick - now_ms * self.ticks_per_ms;
        self.offset = Some(match self.offset {
            Some(old) if (old - offset).abs() < RESET_TICKS => old + (offset - old) * SAMPLE_WEIGHT,
            _ => offset,
        });
    }

    /// A pong for a ping sent at `sent_ms`, answered at server tick `tick`, arrived at `now_ms`.
    pub fn on_pong(&mut self, sent_ms: f64, now_ms: f64, tick: u32) {
        let rtt = (now_ms - sent_ms).max(0.0);
        self.rtt_ms = Some(match self.rtt_ms {
            Some(old) => old + (rtt - old) * RTT_WEIGHT,
            None => rtt,
        });
        self.sample(now_ms, f64::from(tick) + rtt / 2.0 * self.ticks_per_ms);
    }

    /// A snapshot for `tick` arrived at `now_ms`. Used before the first pong, and to recover from a
    /// clock that drifted far.
    pub fn on_snapshot(&mut self, now_ms: f64, tick: u32) {
        let one_way = self.rtt_ms.unwrap_or(0.0) / 2.0 * self.ticks_per_ms;
        let sample = f64::from(tick) + one_way;
        let far = self
            .estimate(now_ms)
            .is_none_or(|estimate| (estimate - sample).abs() >= RESET_TICKS);
        if far {
            self.sample(now_ms, sample);
        }
    }

    /// The estimated server tick now (fractional), once any sample has arrived.
    pub fn estimate(&self, now_ms: f64) -> Option<f64> {
        self.offset
            .map(|offset| now_ms * self.ticks_per_ms + offset)
    }

    /// The smoothed round-trip time.
    pub fn rtt_ms(&self) -> Option<f64> {
        self.rtt_ms
    }

    /// Ticks in `ms` milliseconds.
    pub fn ticks_in(&self, ms: f64) -> f64 {
        ms * self.ticks_per_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pongs_set_and_refine_the_estimate() {
        let mut clock = TickClock::new(60);
        assert_eq!(clock.estimate(0.0), None);
        // Ping at 1000 ms, pong for tick 600 at 1100 ms: the server is at 600 + 3 ticks at 1100 ms.
        clock.on_pong(1_000.0, 1_100.0, 600);
        assert_eq!(clock.rtt_ms(), Some(100.0));
        let estimate = clock.estimate(1_100.0).expect("set");
        assert!((estimate - 603.0).abs() < 1e-9);
        // One second later the estimate has advanced 60 ticks.
        assert!((clock.estimate(2_100.0).expect("set") - 663.0).abs() < 1e-9);
        // A sample two ticks off moves the estimate a little, not all the way.
        clock.on_pong(2_000.0, 2_100.0, 662);
        let moved = clock.estimate(2_100.0).expect("set");
        assert!(moved > 663.0 && moved < 665.0, "{moved}");
        // A snapshot far from the estimate (a stall) resets it.
        clock.on_snapshot(2_100.0, 900);
        assert!((clock.estimate(2_100.0).expect("set") - 903.0).abs() < 1e-6);
    }
}
