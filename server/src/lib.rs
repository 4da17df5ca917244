//! The Skirmish dedicated server.
//!
//! # Layout
//! - [`config`]: flags and the validated [`config::ServerConfig`].
//! - [`world`]: the pure simulation of one room (movement, combat, scores).
//! - [`grid`]: the uniform spatial grid behind interest management and hit tests.
//! - [`metrics`]: counters and the Prometheus rendering.

pub mod config;
pub mod grid;
pub mod link;
pub mod metrics;
pub mod room;
pub mod snapshot;
pub mod world;
