//! `skirmish-server`: the dedicated server binary.

use anyhow::Context as _;
use clap::Parser;
use skirmish_server::{Args, Server, ServerConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    skirmish_server::metrics::install_panic_counter();
    let args = Args::parse();
    let config = ServerConfig::from_args(&args).context("invalid configuration")?;
    let server = Server::bind(config.clone())
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let addr = server.local_addr()?;
    eprintln!(
        "skirmish-server listening on http://{addr}/ (socket /ws, health /healthz, metrics /metrics); \
         {} Hz ticks, {} Hz snapshots, map {:?}",
        config.tick_rate.hz(),
        config.snapshot_rate.hz(),
        config.map.name()
    );
    server.run(shutdown_signal()).await;
    eprintln!("skirmish-server stopped");
    Ok(())
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
