//! Skirmish's measuring tools: criterion micro-benchmarks (`benches/`), the `skirmish-loadtest` bots,
//! which play over real WebSockets with the real protocol, the bare transport floor, and what the
//! kernel holds for TCP (`kernel_tcp`, for the `non_readers` example).

pub mod fuzz;
pub mod kernel_tcp;
pub mod loadtest;
pub mod metrics_scrape;
pub mod scenario;
