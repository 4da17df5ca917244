//! `skirmish-loadtest`: N bots that play over real WebSockets and report what the server delivered.
//!
//! Each bot joins, then sends inputs at `--input-hz` (wandering in a random direction that changes
//! every second or so, aiming around and firing) and reads every snapshot. At the end it prints
//! snapshots per bot per second, bytes per snapshot, and the server's tick time from `/metrics`.

use clap::Parser;
use skirmish_bench::metrics_scrape::scrape;
use skirmish_server::client::GameClient;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "skirmish-loadtest",
    about = "Load-test a Skirmish server with bots"
)]
struct Args {
    /// Server address (host:port); bots connect to ws://ADDR/ws.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Number of bots.
    #[arg(long, default_value_t = 100)]
    bots: usize,
    /// Seconds to measure after all bots have joined.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Inputs per second per bot.
    #[arg(long, default_value_t = 30)]
    input_hz: u32,
}

#[derive(Default)]
struct Totals {
    snapshots: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

async fn bot(
    url: String,
    index: usize,
    input_hz: u32,
    stop: Arc<tokio::sync::Notify>,
    totals: Arc<Totals>,
    ready: tokio::sync::mpsc::Sender<()>,
) {
    let mut client = match GameClient::connect(&url, &format!("bot{index}")).await {
        Ok(client) => client,
        Err(e) => {
            eprintln!("bot {index}: {e}");
            totals.errors.fetch_add(1, Relaxed);
            let _ = ready.send(()).await;
            return;
        }
    };
    let _ = ready.send(()).await;
    let mut state = (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut roll = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut interval =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(input_hz.max(1))));
    let (mut dx, mut dy, mut aim) = (0i8, 0i8, 0u16);
    let mut counted_from = client.bytes_received();
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = interval.tick() => {
                if roll(u64::from(input_hz)) == 0 {
                    dx = roll(3) as i8 - 1;
                    dy = roll(3) as i8 - 1;
                }
                aim = aim.wrapping_add(roll(2000) as u16);
                let fire = u8::from(roll(4) == 0);
                if client.send_input(dx, dy, aim, fire).await.is_err() {
                    totals.errors.fetch_add(1, Relaxed);
                    break;
                }
            }
            snapshot = client.next_snapshot() => match snapshot {
                Ok(_) => {
                    totals.snapshots.fetch_add(1, Relaxed);
                    let now = client.bytes_received();
                    totals.bytes.fetch_add(now - counted_from, Relaxed);
                    counted_from = now;
                    client.events().clear();
                }
                Err(e) => {
                    eprintln!("bot {index}: {e}");
                    totals.errors.fetch_add(1, Relaxed);
                    break;
                }
            },
        }
    }
    client.close().await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = format!("ws://{}/ws", args.addr);
    let stop = Arc::new(tokio::sync::Notify::new());
    let totals = Arc::new(Totals::default());
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(args.bots.max(1));
    let mut tasks = Vec::new();
    for i in 0..args.bots {
        tasks.push(tokio::spawn(bot(
            url.clone(),
            i,
            args.input_hz,
            stop.clone(),
            totals.clone(),
            ready_tx.clone(),
        )));
    }
    for _ in 0..args.bots {
        ready_rx.recv().await;
    }
    // Measure a window after everyone joined.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = scrape(&args.addr).await?;
    let (s0, b0) = (totals.snapshots.load(Relaxed), totals.bytes.load(Relaxed));
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let after = scrape(&args.addr).await?;
    let (s1, b1) = (totals.snapshots.load(Relaxed), totals.bytes.load(Relaxed));
    stop.notify_waiters();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    let delta = |name: &str| {
        after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
    };
    let ticks = delta("skirmish_tick_duration_seconds_count");
    let tick_mean_ms = if ticks > 0.0 {
        delta("skirmish_tick_duration_seconds_sum") / ticks * 1e3
    } else {
        0.0
    };
    let snapshots = (s1 - s0) as f64;
    println!(
        "bots: {} (errors {})",
        args.bots,
        totals.errors.load(Relaxed)
    );
    println!("window: {elapsed:.1} s");
    println!(
        "snapshots per bot per second: {:.2}",
        snapshots / elapsed / args.bots.max(1) as f64
    );
    println!(
        "bytes per snapshot (payload, mean): {:.1}",
        (b1 - b0) as f64 / snapshots.max(1.0)
    );
    println!(
        "bytes down per bot per second: {:.0}",
        (b1 - b0) as f64 / elapsed / args.bots.max(1) as f64
    );
    println!("server ticks per second: {:.1}", ticks / elapsed);
    println!("server tick mean: {tick_mean_ms:.3} ms");
    let mut last = 0.0;
    for le in [
        "0.00025", "0.0005", "0.001", "0.002", "0.004", "0.008", "0.016",
    ] {
        let cumulative = delta(&format!(
            "skirmish_tick_duration_seconds_bucket{{le=\"{le}\"}}"
        ));
        if cumulative > last {
            println!(
                "  ticks <= {:>7} ms: {:5.1}%",
                seconds_text_to_ms(le),
                100.0 * cumulative / ticks.max(1.0)
            );
            last = cumulative;
        }
    }
    println!(
        "server tick overruns: {}",
        delta("skirmish_tick_overruns_total")
    );
    println!(
        "server snapshots skipped: {}",
        delta("skirmish_snapshots_skipped_total")
    );
    println!(
        "server cpu seconds per second: {:.3}",
        delta("process_cpu_seconds_total") / elapsed
    );
    println!(
        "server rss: {:.1} MB",
        after
            .get("process_resident_memory_bytes")
            .copied()
            .unwrap_or(0.0)
            / 1e6
    );
    Ok(())
}

/// Milliseconds from seconds written as text.
fn seconds_text_to_ms(seconds: &str) -> f64 {
    seconds.parse::<f64>().unwrap_or(0.0) * 1e3
}
