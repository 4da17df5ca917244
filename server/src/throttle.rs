//! Log lines kept in bounds: a line that a peer or a failing dependency could repeat many times a
//! second is written at most every few seconds, with the count of those it stood for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A log line kept to one every [`Throttled::EVERY`], saying how many it stood for.
#[derive(Debug, Default)]
pub struct Throttled {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl Throttled {
    /// The shortest time between two lines.
    pub const EVERY: Duration = Duration::from_secs(10);

    /// `Some(n)` when a line is due now (`n` the occurrences not logged since the last one).
    pub fn due(&self) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < Self::EVERY) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(now);
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_line_is_due_once_then_counts_what_it_stands_for() {
        let line = Throttled::default();
        assert_eq!(line.due(), Some(0));
        assert_eq!(line.due(), None);
        assert_eq!(line.due(), None);
        assert_eq!(line.suppressed.load(Ordering::Relaxed), 2);
    }
}
