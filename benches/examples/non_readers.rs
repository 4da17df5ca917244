//! Players that never read: what they cost a server, and how long it keeps them.
//!
//! Opens `--players` WebSocket connections to a game server (`--ramp` a second), sends a `Hello` on
//! each, and never reads from any of them again: after the handshake's HTTP response not one byte is
//! read, not even the `Welcome`, so the server's snapshots pile up in the kernel's buffers on both
//! ends. Joins are counted from the server's side instead (its `/metrics` page). Every second it
//! prints one line:
//!
//! - kernel TCP memory, from the `TCP: ... mem N` field of `/proc/net/sockstat` (pages, shown in MB).
//!   On loopback this counts both ends: the server's send queues and this tool's receive queues.
//!   The counter is global to the machine, so other traffic shows in it too (the baseline is
//!   printed first);
//! - the server's `skirmish_connected_players` and `skirmish_open_connections` gauges (less the
//!   scrape's own connection) and its `skirmish_slow_reader_disconnects_total` counter;
//! - from `/proc/net/tcp` (the kernel's table; no socket is touched): the server's ends still
//!   established, and those the server has closed that the kernel still holds (`FIN_WAIT`: their
//!   data or their FIN not yet taken), with the bytes they have queued; this tool's ends that have
//!   seen the server's FIN (`CLOSE_WAIT`); and the bytes waiting unread in this tool's ends.
//!
//! At the end it closes every connection, waits two seconds, reads the TCP memory once more, and
//! prints a summary (peak and final TCP memory, players connected at 10, 30 and 60 s, when the last
//! player was dropped); `--json PATH` writes it with every sample.
//!
//! ```sh
//! ulimit -n 65536    # one descriptor per connection, in this tool and in the server
//! cargo run --release -p skirmish-bench --example non_readers -- \
//!     --url ws://127.0.0.1:PORT/ws --players 2000 --seconds 60 --json non_readers.json
//! ```
//!
//! Every connection comes from 127.0.0.1, so the server must allow it: `--max-connections-per-ip`
//! above `--players`, and on servers that have them `--connect-rate-per-ip 100000
//! --join-rate-per-ip 100000`. `--protocol-version 3` speaks to servers from before the
//! acknowledged pings (the `Hello` is laid out the same in versions 3 and 4). Loopback only: the
//! tool refuses any other host. `scripts/non_readers.sh` runs it end to end.

use anyhow::{bail, Context as _};
use clap::Parser;
use futures_util::SinkExt;
use skirmish_bench::kernel_tcp::{
    parse_proc_net_tcp, parse_sockstat, ServerSockets, SockstatTcp, PAGE_SIZE,
};
use skirmish_bench::metrics_scrape::scrape;
use skirmish_shared::codec::encode_client;
use skirmish_shared::protocol::{ClientMsg, Hello, PROTOCOL_VERSION};
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{interval_at, timeout, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Most connections one run opens: the ephemeral ports of one loopback address (32768-60999).
const MAX_PLAYERS: usize = 28_000;

/// How long one connection may take to open and send its `Hello`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one `/metrics` scrape may take before the sample shows none.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long after closing every connection the TCP memory is read once more.
const SETTLE_AFTER_CLOSE: Duration = Duration::from_secs(2);

/// The seconds into the run at which the summary reports the players still connected.
const MARKS_S: [u64; 3] = [10, 30, 60];

/// Flags of the `non_readers` example.
#[derive(Debug, Parser)]
#[command(
    name = "non_readers",
    about = "Open WebSockets to a Skirmish server, send Hello, never read; sample what the kernel holds"
)]
struct Args {
    /// The game socket, e.g. ws://127.0.0.1:8080/ws (its host also serves /metrics). Loopback only.
    #[arg(long)]
    url: String,
    /// Connections to open (at most 28,000: one loopback address has about that many ports).
    #[arg(long, default_value_t = 2000)]
    players: usize,
    /// Seconds from the first connection to the end of the run (1 to 3,600).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// Connections opened per second.
    #[arg(long, default_value_t = 200.0)]
    ramp: f64,
    /// The protocol version each `Hello` claims (3 for servers before acknowledged pings).
    #[arg(long, default_value_t = PROTOCOL_VERSION)]
    protocol_version: u16,
    /// Bytes in the page `/proc/net/sockstat` counts TCP memory in.
    #[arg(long, default_value_t = PAGE_SIZE)]
    page_size: u64,
    /// Also write the summary and every sample as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One second's reading.
#[derive(Debug, Clone, serde::Serialize)]
struct Sample {
    /// Seconds since the first connection was started.
    t_s: u64,
    /// Kernel TCP memory, MB.
    tcp_mem_mb: f64,
    /// Closed sockets the kernel still holds (this network namespace).
    tcp_orphans: u64,
    /// `skirmish_connected_players` (none when the scrape failed).
    players: Option<u64>,
    /// `skirmish_open_connections`, less the scrape's own.
    open_connections: Option<u64>,
    /// `skirmish_slow_reader_disconnects_total`.
    slow_reader_disconnects: Option<u64>,
    /// Both ends of the server's connections, from `/proc/net/tcp`.
    sockets: ServerSockets,
    /// `Hello`s sent so far.
    hellos_sent: usize,
    /// Connections that failed to open or to send their `Hello`, so far.
    join_errors: usize,
}

/// The run's figures.
#[derive(Debug, serde::Serialize)]
struct Summary {
    /// The game socket.
    url: String,
    /// The version each `Hello` claimed.
    protocol_version: u16,
    /// Connections the run was to open.
    players_requested: usize,
    /// Connections that sent their `Hello`.
    hellos_sent: usize,
    /// Connections that failed to open or to send their `Hello`.
    join_errors: usize,
    /// Length of the run, seconds.
    seconds: u64,
    /// When the last connection had sent its `Hello` (or failed), seconds into the run.
    last_hello_at_s: f64,
    /// Kernel TCP memory before the first connection, MB.
    baseline_tcp_mem_mb: f64,
    /// The most kernel TCP memory any sample saw, MB.
    peak_tcp_mem_mb: f64,
    /// The first second at which it was seen.
    peak_tcp_mem_at_s: u64,
    /// At the last sample, with every connection still open on this side.
    final_tcp_mem_mb: f64,
    /// Two seconds after this tool closed every connection.
    after_close_tcp_mem_mb: f64,
    /// The most bytes the server's ends had queued unacknowledged at once, MB.
    peak_server_send_queue_mb: f64,
    /// The most bytes this tool's ends held unread at once, MB.
    peak_client_receive_queue_mb: f64,
    /// The most players any sample saw connected.
    peak_players: u64,
    /// `[second, players connected]` at 10, 30 and 60 s (those within the run).
    players_at: Vec<(u64, Option<u64>)>,
    /// `[second, server connections open]` at the same seconds.
    open_connections_at: Vec<(u64, Option<u64>)>,
    /// The first second, once every `Hello` was sent, at which no player was connected.
    players_zero_at_s: Option<u64>,
    /// The first second, once every `Hello` was sent, at which none of the server's ends was still
    /// established (all closed by the server; the kernel may still hold them while they finish).
    server_established_zero_at_s: Option<u64>,
    /// Server ends closed by the server that the kernel still held at the last sample (`FIN_WAIT`:
    /// in `FIN_WAIT2` they are small and hold no data; they last `tcp_fin_timeout`, 60 s).
    final_server_closing: u64,
    /// Bytes those ends still had queued, MB.
    final_server_send_queue_mb: f64,
    /// The server's slow-reader disconnects at the last sample that could read them.
    slow_reader_disconnects: Option<u64>,
    /// Every second's reading.
    samples: Vec<Sample>,
}

/// One connection, as the handshake left it.
type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One thread: the tool does little work per connection (it never reads) and is pinned to a core.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let server = loopback_server(&args.url)?;
    if args.players == 0 || args.players > MAX_PLAYERS {
        bail!("--players must be 1 to {MAX_PLAYERS}");
    }
    if !(args.ramp.is_finite() && args.ramp >= 1.0) {
        bail!("--ramp must be at least 1 a second");
    }
    warn_if_few_descriptors(args.players);
    let baseline = sockstat()?;
    println!(
        "non_readers: {} players at {}/s to {} (protocol {}), {} s; no reads after the handshake, joins \
         counted from the server's /metrics",
        args.players, args.ramp, args.url, args.protocol_version, args.seconds
    );
    println!(
        "baseline: TCP memory {:.1} MB ({} pages), {} orphans",
        baseline.mem_mb(args.page_size),
        baseline.mem_pages,
        baseline.orphan
    );
    println!(
        "{:>4} {:>8} {:>6} {:>7} {:>6} {:>6} {:>9} {:>9} {:>12} {:>13} {:>12} {:>6}",
        "t_s",
        "tcp_MB",
        "orphan",
        "players",
        "conns",
        "kicked",
        "srv_estab",
        "srv_close",
        "srv_sendq_MB",
        "cli_closewait",
        "cli_recvq_MB",
        "hellos"
    );

    let started = Instant::now();
    let (joined_tx, mut joined_rx) = mpsc::channel::<anyhow::Result<Ws>>(args.players.max(1));
    let mut ramp = tokio::time::interval(Duration::from_secs_f64(1.0 / args.ramp));
    ramp.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut sample_tick = interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
    sample_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Held and never polled, so nothing is ever read from them.
    let mut sockets: Vec<Ws> = Vec::with_capacity(args.players);
    let mut launched = 0usize;
    let mut join_errors = 0usize;
    let mut last_hello_at = Duration::ZERO;
    let mut samples: Vec<Sample> = Vec::new();
    loop {
        tokio::select! {
            _ = ramp.tick(), if launched < args.players => {
                let url = args.url.clone();
                let version = args.protocol_version;
                let index = launched;
                let joined_tx = joined_tx.clone();
                tokio::spawn(async move {
                    let _ = joined_tx.send(join(&url, version, index).await).await;
                });
                launched += 1;
            }
            Some(joined) = joined_rx.recv() => {
                last_hello_at = started.elapsed();
                match joined {
                    Ok(ws) => sockets.push(ws),
                    Err(e) => {
                        join_errors += 1;
                        if join_errors <= 5 {
                            eprintln!("join failed: {e:#}");
                        }
                    }
                }
            }
            _ = sample_tick.tick() => {
                let t_s = started.elapsed().as_secs_f64().round() as u64;
                let sample = take_sample(t_s, server, args.page_size, sockets.len(), join_errors).await?;
                print_sample(&sample);
                samples.push(sample);
                if t_s >= args.seconds {
                    break;
                }
            }
        }
    }
    // Closing with unread data resets the connections, which frees both ends at once.
    drop(sockets);
    drop(joined_rx);
    tokio::time::sleep(SETTLE_AFTER_CLOSE).await;
    let after_close = sockstat()?;
    let summary = summarize(
        &args,
        baseline,
        after_close,
        last_hello_at,
        join_errors,
        samples,
    );
    print_summary(&summary);
    if let Some(path) = &args.json {
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        serde_json::to_writer_pretty(std::io::BufWriter::new(file), &summary)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Opens one connection with small buffers and sends its `Hello`. Nothing is read after the
/// handshake's response.
async fn join(url: &str, protocol_version: u16, index: usize) -> anyhow::Result<Ws> {
    // As the load-test bots: thousands of connections share this process.
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    timeout(JOIN_TIMEOUT, async {
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
        let hello = ClientMsg::Hello(Hello {
            protocol_version,
            name: format!("nr{index}"),
            resume_token: None,
            rate: 0,
            room: None,
            watch: false,
        });
        ws.send(Message::Binary(encode_client(&hello).into()))
            .await?;
        anyhow::Ok(ws)
    })
    .await
    .context("timed out")?
}

/// The server's address from a `ws://127.0.0.1:PORT/...` URL; anything not on loopback is refused.
fn loopback_server(url: &str) -> anyhow::Result<SocketAddrV4> {
    let Some(rest) = url.strip_prefix("ws://") else {
        bail!("--url must be ws://127.0.0.1:PORT/ws (plain ws, IPv4 loopback): {url}");
    };
    let host_port = rest.split('/').next().unwrap_or(rest);
    let addr: SocketAddrV4 = host_port
        .parse()
        .with_context(|| format!("--url must name an IPv4 address and port: {host_port}"))?;
    if !addr.ip().is_loopback() {
        bail!("loopback only: {addr}");
    }
    Ok(addr)
}

/// Warns when this process may open fewer descriptors than it needs (read from `/proc/self/limits`).
fn warn_if_few_descriptors(players: usize) {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|soft| soft.parse::<usize>().ok())
        });
    if let Some(limit) = limit.filter(|limit| *limit < players + 64) {
        eprintln!(
            "warning: {limit} open files allowed, {players} connections wanted: run `ulimit -n 65536` first"
        );
    }
}

/// `/proc/net/sockstat`'s TCP line.
fn sockstat() -> anyhow::Result<SockstatTcp> {
    let text =
        std::fs::read_to_string("/proc/net/sockstat").context("reading /proc/net/sockstat")?;
    parse_sockstat(&text).context("no TCP mem in /proc/net/sockstat")
}

/// Reads the kernel's figures and the server's gauges.
async fn take_sample(
    t_s: u64,
    server: SocketAddrV4,
    page_size: u64,
    hellos_sent: usize,
    join_errors: usize,
) -> anyhow::Result<Sample> {
    let tcp = sockstat()?;
    let table = std::fs::read_to_string("/proc/net/tcp").context("reading /proc/net/tcp")?;
    let sockets = ServerSockets::of(server, &parse_proc_net_tcp(&table));
    let metrics = timeout(SCRAPE_TIMEOUT, scrape(&server.to_string()))
        .await
        .ok()
        .and_then(Result::ok);
    let gauge = |name: &str| {
        metrics
            .as_ref()
            .and_then(|m| m.get(name))
            .map(|v| *v as u64)
    };
    Ok(Sample {
        t_s,
        tcp_mem_mb: tcp.mem_mb(page_size),
        tcp_orphans: tcp.orphan,
        players: gauge("skirmish_connected_players"),
        // The scrape's own connection is open while the page is written.
        open_connections: gauge("skirmish_open_connections").map(|n| n.saturating_sub(1)),
        slow_reader_disconnects: gauge("skirmish_slow_reader_disconnects_total"),
        sockets,
        hellos_sent,
        join_errors,
    })
}

/// A number or `-` when it could not be read.
fn or_dash(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn print_sample(sample: &Sample) {
    println!(
        "{:>4} {:>8.1} {:>6} {:>7} {:>6} {:>6} {:>9} {:>9} {:>12.2} {:>13} {:>12.2} {:>6}",
        sample.t_s,
        sample.tcp_mem_mb,
        sample.tcp_orphans,
        or_dash(sample.players),
        or_dash(sample.open_connections),
        or_dash(sample.slow_reader_disconnects),
        sample.sockets.server_established,
        sample.sockets.server_closing,
        sample.sockets.server_send_queue_bytes as f64 / 1e6,
        sample.sockets.client_close_wait,
        sample.sockets.client_receive_queue_bytes as f64 / 1e6,
        sample.hellos_sent,
    );
}

fn summarize(
    args: &Args,
    baseline: SockstatTcp,
    after_close: SockstatTcp,
    last_hello_at: Duration,
    join_errors: usize,
    samples: Vec<Sample>,
) -> Summary {
    // The first sample at the highest reading (it stays flat once nothing more is sent).
    let peak = samples.iter().fold(None::<&Sample>, |peak, s| match peak {
        Some(p) if p.tcp_mem_mb >= s.tcp_mem_mb => Some(p),
        _ => Some(s),
    });
    let at = |mark: u64, value: fn(&Sample) -> Option<u64>| {
        (mark, samples.iter().find(|s| s.t_s >= mark).and_then(value))
    };
    let marks = MARKS_S.iter().filter(|mark| **mark <= args.seconds);
    // Only once every connection has been tried can an empty server mean they were all dropped.
    let all_tried = |s: &&Sample| s.hellos_sent + s.join_errors >= args.players;
    Summary {
        url: args.url.clone(),
        protocol_version: args.protocol_version,
        players_requested: args.players,
        hellos_sent: samples.last().map_or(0, |s| s.hellos_sent),
        join_errors,
        seconds: args.seconds,
        last_hello_at_s: last_hello_at.as_secs_f64(),
        baseline_tcp_mem_mb: baseline.mem_mb(args.page_size),
        peak_tcp_mem_mb: peak.map_or(0.0, |s| s.tcp_mem_mb),
        peak_tcp_mem_at_s: peak.map_or(0, |s| s.t_s),
        final_tcp_mem_mb: samples.last().map_or(0.0, |s| s.tcp_mem_mb),
        after_close_tcp_mem_mb: after_close.mem_mb(args.page_size),
        peak_server_send_queue_mb: peak_bytes(&samples, |s| s.sockets.server_send_queue_bytes),
        peak_client_receive_queue_mb: peak_bytes(&samples, |s| {
            s.sockets.client_receive_queue_bytes
        }),
        peak_players: samples.iter().filter_map(|s| s.players).max().unwrap_or(0),
        players_at: marks.clone().map(|m| at(*m, |s| s.players)).collect(),
        open_connections_at: marks.map(|m| at(*m, |s| s.open_connections)).collect(),
        players_zero_at_s: samples
            .iter()
            .filter(all_tried)
            .find(|s| s.players == Some(0))
            .map(|s| s.t_s),
        server_established_zero_at_s: samples
            .iter()
            .filter(all_tried)
            .find(|s| s.sockets.server_established == 0)
            .map(|s| s.t_s),
        final_server_closing: samples.last().map_or(0, |s| s.sockets.server_closing),
        final_server_send_queue_mb: samples
            .last()
            .map_or(0, |s| s.sockets.server_send_queue_bytes)
            as f64
            / 1e6,
        slow_reader_disconnects: samples.iter().rev().find_map(|s| s.slow_reader_disconnects),
        samples,
    }
}

/// The largest of one byte count over the samples, MB.
fn peak_bytes(samples: &[Sample], bytes: fn(&Sample) -> u64) -> f64 {
    samples.iter().map(bytes).max().unwrap_or(0) as f64 / 1e6
}

fn print_summary(summary: &Summary) {
    println!("---");
    println!(
        "hellos sent {} of {} ({} failed), the last at {:.1} s",
        summary.hellos_sent,
        summary.players_requested,
        summary.join_errors,
        summary.last_hello_at_s
    );
    println!(
        "TCP memory: baseline {:.1} MB, peak {:.1} MB at {} s, final {:.1} MB, {:.1} MB {} s after closing",
        summary.baseline_tcp_mem_mb,
        summary.peak_tcp_mem_mb,
        summary.peak_tcp_mem_at_s,
        summary.final_tcp_mem_mb,
        summary.after_close_tcp_mem_mb,
        SETTLE_AFTER_CLOSE.as_secs()
    );
    let marks: Vec<String> = summary
        .players_at
        .iter()
        .zip(&summary.open_connections_at)
        .map(|((mark, players), (_, open))| {
            format!(
                "{} at {mark} s ({} connections)",
                or_dash(*players),
                or_dash(*open)
            )
        })
        .collect();
    println!(
        "queued at most: {:.1} MB unacknowledged in the server's ends, {:.1} MB unread in this tool's",
        summary.peak_server_send_queue_mb, summary.peak_client_receive_queue_mb
    );
    println!(
        "players connected: peak {}{}{}",
        summary.peak_players,
        if marks.is_empty() { "" } else { "; " },
        marks.join(", ")
    );
    let when = |at: Option<u64>| at.map_or_else(|| "never".to_string(), |s| format!("at {s} s"));
    println!(
        "no player connected {}; no server end established {}; slow-reader disconnects {}",
        when(summary.players_zero_at_s),
        when(summary.server_established_zero_at_s),
        or_dash(summary.slow_reader_disconnects)
    );
    println!(
        "at the end the kernel held {} server ends the server had closed, with {:.2} MB queued",
        summary.final_server_closing, summary.final_server_send_queue_mb
    );
}
