//! What every connection task shares: configuration, counters, the lobby, bans and the per-address
//! book. Its own module so that the HTTP routes, the session and the admin API can all name it
//! without importing each other.

use crate::admission::{AddressBook, Bans};
use crate::agones::AgonesHandle;
use crate::assets::StaticFiles;
use crate::config::ServerConfig;
use crate::lobby::Lobby;
use crate::metrics::Metrics;
use std::sync::Arc;
use tokio::sync::watch;

/// What every connection task shares.
#[derive(Debug)]
pub struct Context {
    /// The configuration.
    pub config: Arc<ServerConfig>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Rooms and seating.
    pub lobby: Lobby,
    /// The files served over HTTP.
    pub assets: StaticFiles,
    /// Address bans set through the admin API.
    pub bans: Bans,
    /// Turns true when the server starts shutting down.
    pub shutting_down: watch::Receiver<bool>,
    /// Player reports to Agones, with `--agones`.
    pub agones: Option<AgonesHandle>,
    /// Connections, seats and rates per client address.
    pub addresses: Arc<AddressBook>,
    /// Game sockets refused for their page's origin, logged at most every few seconds.
    pub origin_refusals: crate::throttle::Throttled,
}
