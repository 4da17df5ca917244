//! Log output: `tracing` events to stderr, as text or JSON lines.
//!
//! Every connection runs in a `conn` span with the peer address, and once it joins, the player id and
//! room, so each line about a player says which one.

use crate::config::{ConfigError, LogFormat};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing_subscriber::EnvFilter;

/// Installs the process's log subscriber. `filter` is a level or `tracing` directives.
pub fn init(format: LogFormat, filter: &str, filter_setting: String) -> Result<(), ConfigError> {
    let filter = EnvFilter::try_new(filter).map_err(|e| ConfigError::Invalid {
        setting: filter_setting,
        problem: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let installed = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    // Already installed (an embedding program or a test did it): keep theirs.
    let _ = installed;
    Ok(())
}

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
