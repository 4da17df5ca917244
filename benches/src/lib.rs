//! Skirmish's measuring tools: criterion micro-benchmarks (`benches/`) and the `skirmish-loadtest`
//! bots, which play over real WebSockets with the real protocol.

pub mod metrics_scrape;
