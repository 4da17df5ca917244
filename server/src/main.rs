//! `skirmish-server`: the dedicated server binary.

use skirmish_server::config::ConfigError;
use skirmish_server::{logging, Args, Server, ServerConfig};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
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
    let config = match ServerConfig::from_args(&args) {
        Ok(config) => config,
        Err(e) => return refuse(&e),
    };
    let server = match Server::bind(config.clone()).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!(bind = %config.bind, "cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    match server.local_addr() {
        Ok(addr) => tracing::info!(
            "skirmish-server listening on http://{addr}/ (socket /ws, health /healthz, metrics /metrics); \
             {} Hz ticks, {} Hz snapshots, map {:?}",
            config.tick_rate.hz(),
            config.snapshot_rate.hz(),
            config.map.name()
        ),
        Err(e) => tracing::warn!("listening, address unknown: {e}"),
    }
    server.run(shutdown_signal()).await;
    tracing::info!("skirmish-server stopped");
    ExitCode::SUCCESS
}

/// Prints why the configuration was refused; the exit status for it.
fn refuse(error: &ConfigError) -> ExitCode {
    eprintln!("skirmish-server: invalid configuration: {error}");
    ExitCode::from(2)
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
