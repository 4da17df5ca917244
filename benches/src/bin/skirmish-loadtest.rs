//! `skirmish-loadtest`: N bots that play over real WebSockets and report what the server delivered.
//! See `skirmish-loadtest --help` and docs/PERFORMANCE.md.

use clap::Parser;
use skirmish_bench::loadtest::{self, html, Args};

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One thread: the harness is meant to be pinned to one core (taskset) beside the server's.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(loadtest::run(&args))?;
    loadtest::print_summary(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html::render(&report))?;
    }
    if !report.budget_failures.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
