//! Skirmish's measuring tools: criterion micro-benchmarks (`benches/`), the `skirmish-loadtest` bots,
//! which play over real WebSockets with the real protocol, and the bare transport floor.

pub mod fuzz;
pub mod loadtest;
pub mod metrics_scrape;
pub mod scenario;
