//! Log output: `tracing` events to stderr, as text or JSON lines.
//!
//! Every connection runs in a `conn` span with the peer address, and once it joins, the player id and
//! room, so each line about a player says which one.

use crate::config::{ConfigError, LogFormat};
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
