//! `skirmish-server`: the dedicated server binary.

use skirmish_server::config::ConfigError;
use skirmish_server::signals::Signals;
use skirmish_server::{logging, Args, Server, ServerConfig};
use std::process::ExitCode;

fn main() -> ExitCode {
    skirmish_server::metrics::install_panic_counter();
    let args = match Args::load(std::env::args_os()) {
        Ok(args) => args,
        Err(ConfigError::Cli(e)) => e.exit(),
        Err(e) => return refuse(&e),
    };
    let filter_setting = args.sources.describe("log");
    if let Err(e) = logging::init(args.log_format, &args.log, filter_setting) {
        return refuse(&e);
    }
    let workers = match args.worker_threads() {
        Ok(workers) => workers,
        Err(e) => return refuse(&e),
    };
    // One thread: the current-thread scheduler, as cheap as tokio gets (no work-stealing queues, no
    // wake-ups between a main thread and a worker). More: the multi-threaded one.
    let runtime = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    };
    match runtime {
        Ok(runtime) => runtime.block_on(serve(args, workers)),
        Err(e) => {
            eprintln!("skirmish-server: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the server on the runtime `main` made, until a signal stops it.
async fn serve(args: Args, workers: usize) -> ExitCode {
    let config = match ServerConfig::from_args(&args) {
        Ok(config) => config,
        Err(e) => return refuse(&e),
    };
    let signals = match Signals::register() {
        Ok(signals) => signals,
        Err(e) => {
            tracing::error!("cannot watch for SIGTERM/SIGINT: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match Server::bind(config.clone()).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!(bind = %config.bind, "cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match server.local_addr() {
        Ok(addr) => tracing::info!(
            "skirmish-server listening on http://{addr}/ (socket /ws, health /healthz, metrics /metrics); \
             {} Hz ticks, {} Hz snapshots, map {:?}, {workers} worker thread{}",
            config.tick_rate.hz(),
            config.snapshot_rate.hz(),
            config.map.name(),
            if workers == 1 { "" } else { "s" }
        ),
        Err(e) => tracing::warn!("listening, address unknown: {e}"),
    }
    server.run(signals.graceful()).await;
    tracing::info!("skirmish-server stopped");
    ExitCode::SUCCESS
}

/// Prints why the configuration was refused; the exit status for it.
fn refuse(error: &ConfigError) -> ExitCode {
    eprintln!("skirmish-server: invalid configuration: {error}");
    ExitCode::from(2)
}
