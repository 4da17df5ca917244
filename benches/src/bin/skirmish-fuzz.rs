//! `skirmish-fuzz --target client|server|map|view|replay --seconds N [--seed S]`: mutation fuzzing of the
//! decoders on stable Rust. Exits 1 if any input panicked or broke a round trip.

use clap::Parser;
use skirmish_bench::fuzz::{run, Target};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "skirmish-fuzz",
    about = "Mutation fuzzing of Skirmish's decoders"
)]
struct Args {
    /// What to fuzz.
    #[arg(long, value_enum)]
    target: Target,
    /// How long.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() {
    let args = Args::parse();
    let outcome = run(args.target, Duration::from_secs(args.seconds), args.seed);
    println!(
        "{:?}: {} cases in {} s, {} accepted, {} failures",
        args.target, outcome.cases, args.seconds, outcome.accepted, outcome.failures
    );
    if let Some(input) = outcome.first_failure {
        println!("first failing input: {input:02x?}");
        std::process::exit(1);
    }
}
