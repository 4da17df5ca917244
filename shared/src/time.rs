//! Simulation time. The simulation advances in whole ticks; durations are counted in ticks.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A simulation tick number. Tick 0 is the first tick of a room; it counts up by one per step.
///
/// At 60 Hz a `u32` lasts over two years of continuous play, so wrapping is not handled.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Tick(pub u32);

impl Tick {
    /// The tick after this one.
    pub fn next(self) -> Tick {
        Tick(self.0.saturating_add(1))
    }

    /// This tick plus `ticks`.
    pub fn plus(self, ticks: u32) -> Tick {
        Tick(self.0.saturating_add(ticks))
    }

    /// This tick minus `ticks`, stopping at tick 0.
    pub fn minus(self, ticks: u32) -> Tick {
        Tick(self.0.saturating_sub(ticks))
    }

    /// Ticks elapsed from `earlier` to `self` (0 if `earlier` is later).
    pub fn since(self, earlier: Tick) -> u32 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A rate in events per second, for the simulation tick or the snapshot rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickRate {
    hz: u16,
}

impl TickRate {
    /// Slowest simulation rate the movement step is tuned for (a player moves less than a tile per tick).
    pub const MIN_HZ: u16 = 10;
    /// Fastest supported rate.
    pub const MAX_HZ: u16 = 240;

    /// A rate of `hz` per second, if it lies within [`Self::MIN_HZ`]..=[`Self::MAX_HZ`].
    pub fn new(hz: u16) -> Option<TickRate> {
        (Self::MIN_HZ..=Self::MAX_HZ)
            .contains(&hz)
            .then_some(TickRate { hz })
    }

    /// Events per second.
    pub fn hz(self) -> u16 {
        self.hz
    }

    /// Time between two events.
    pub fn period(self) -> Duration {
        Duration::from_secs(1) / u32::from(self.hz)
    }

    /// The number of whole ticks covering `millis` milliseconds (rounded up, at least 1).
    pub fn ticks_for_millis(self, millis: u32) -> u32 {
        let ticks = (u64::from(millis) * u64::from(self.hz)).div_ceil(1000);
        u32::try_from(ticks).unwrap_or(u32::MAX).max(1)
    }

    /// Milliseconds covered by `ticks` ticks (as a float, for display and interpolation).
    pub fn ticks_to_millis(self, ticks: f64) -> f64 {
        ticks * 1000.0 / f64::from(self.hz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_bounded() {
        assert!(TickRate::new(9).is_none());
        assert!(TickRate::new(241).is_none());
        let rate = TickRate::new(60).expect("60 Hz is valid");
        assert_eq!(rate.period(), Duration::from_nanos(16_666_666));
        assert_eq!(rate.ticks_for_millis(250), 15);
        assert_eq!(rate.ticks_for_millis(1), 1);
        assert_eq!(rate.ticks_for_millis(0), 1);
    }

    #[test]
    fn tick_arithmetic_saturates() {
        assert_eq!(Tick(5).since(Tick(7)), 0);
        assert_eq!(Tick(7).since(Tick(5)), 2);
        assert_eq!(Tick(u32::MAX).next(), Tick(u32::MAX));
        assert_eq!(Tick(3).minus(10), Tick(0));
    }
}
