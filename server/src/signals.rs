//! SIGTERM and SIGINT for the binaries: the first starts a graceful shutdown.

/// SIGTERM and SIGINT, registered when made (so a signal that arrives early is not lost to the
/// default action).
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Registers the handlers.
    pub fn register() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Completes on the next SIGTERM or SIGINT (Ctrl-C elsewhere).
    pub async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }

    /// Completes on the first SIGTERM or SIGINT, which starts a graceful shutdown; a second one,
    /// during that shutdown, ends the process at once (exit status 1). Call it once listening.
    pub fn graceful(mut self) -> impl std::future::Future<Output = ()> {
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            self.next().await;
            let _ = first_tx.send(());
            self.next().await;
            tracing::warn!("second signal during shutdown: exiting now");
            std::process::exit(1);
        });
        async move {
            let _ = first_rx.await;
        }
    }
}
