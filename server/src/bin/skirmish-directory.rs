//! `skirmish-directory`: serves the page and answers `/api/play` for an Agones fleet of
//! `skirmish-server`s (see `skirmish_server::directory`).

use clap::Parser;
use skirmish_server::directory::{Directory, DirectoryArgs, DirectoryConfig};
use skirmish_server::logging;
use skirmish_server::signals::Signals;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args = DirectoryArgs::parse();
    if let Err(e) = logging::init(args.log_format, &args.log, "--log".into()) {
        eprintln!("skirmish-directory: {e}");
        return ExitCode::from(2);
    }
    let config = match DirectoryConfig::from_args(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("skirmish-directory: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let signals = match Signals::register() {
        Ok(signals) => signals,
        Err(e) => {
            tracing::error!("cannot watch for SIGTERM/SIGINT: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bind = config.bind;
    let directory = match Directory::bind(config).await {
        Ok(directory) => directory,
        Err(e) => {
            tracing::error!(%bind, "cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match directory.local_addr() {
        Ok(addr) => tracing::info!(
            "skirmish-directory listening on http://{addr}/ (page /, /api/play, health /healthz); \
             allocator {}, fleet {:?} in namespace {:?}",
            args.allocator,
            args.fleet,
            args.namespace
        ),
        Err(e) => tracing::warn!("listening, address unknown: {e}"),
    }
    directory.run(signals.graceful()).await;
    tracing::info!("skirmish-directory stopped");
    ExitCode::SUCCESS
}
