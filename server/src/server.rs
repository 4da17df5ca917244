//! The listeners: accept TCP connections, apply the caps, bans and socket options, and serve each
//! connection's HTTP with hyper (keep-alive, a head deadline and size limit) until shutdown.
//!
//! The accept loop is ours so that everything that can be refused before any bytes are parsed is:
//! bans, `--max-connections`, and the per-address cap and connection rate ([`AddressBook`]).

use crate::address::{canonical, AddressKey};
use crate::admission::{AddressBook, ConnectionSlot};
use crate::agones::{Agones, AgonesHandle};
use crate::assets::StaticFiles;
use crate::config::ServerConfig;
use crate::context::Context;
use crate::http::{self, Connection, Listener, MAX_HEAD_BYTES};
use crate::lobby::Lobby;
use crate::metrics::Metrics;
use crate::recorder::Recorder;
use crate::stream::WriteDeadline;
use crate::tls::Conn;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;
use tracing::Instrument;

pub use crate::upgrade::websocket_config;

/// Most connections open at once on the admin listener (operators and scrapers, not players; each
/// address is also held to its per-address cap and rate there).
const MAX_ADMIN_CONNECTIONS: usize = 256;

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    ctx: Arc<Context>,
    shutdown: watch::Sender<bool>,
    agones: Option<Agones>,
}

/// What an accepted connection holds until it and any WebSocket upgraded from it end.
#[derive(Debug)]
struct ConnectionGuard {
    metrics: Arc<Metrics>,
    _permit: OwnedSemaphorePermit,
    _slot: Option<ConnectionSlot>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.metrics.open_connections.fetch_sub(1, Relaxed);
    }
}

impl Server {
    /// Binds the listeners and checks the assets folder.
    pub async fn bind(config: ServerConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.bind).await?;
        let admin_listener = match config.admin_bind {
            Some(address) => Some(TcpListener::bind(address).await?),
            None => None,
        };
        let assets = StaticFiles::new(&config.assets_dir).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("--assets {}: {e}", config.assets_dir.display()),
            )
        })?;
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let recorder = match &config.replays {
            Some(settings) => Some(Arc::new(
                Recorder::start(settings.clone(), metrics.clone()).map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!(
                            "--replay-dir {}: {e} (--replay-dir \"\" turns recording off)",
                            settings.dir.display()
                        ),
                    )
                })?,
            )),
            None => None,
        };
        let lobby = Lobby::new(config.clone(), metrics.clone(), shutdown_rx.clone())
            .with_recorder(recorder);
        let addresses = AddressBook::new(config.address_limits);
        let (agones_handle, agones_events) = match &config.agones {
            Some(_) => {
                let (handle, events) = AgonesHandle::channel();
                (Some(handle), Some(events))
            }
            None => (None, None),
        };
        let ctx = Arc::new(Context {
            config,
            metrics,
            lobby,
            assets,
            bans: Default::default(),
            shutting_down: shutdown_rx,
            agones: agones_handle,
            addresses,
            origin_refusals: Default::default(),
        });
        // Listening now: with --agones, report Ready, start the health pings and keep the lists.
        let agones = match (&ctx.config.agones, agones_events) {
            (Some(settings), Some(events)) => {
                let lobby = Arc::downgrade(&ctx);
                let rooms = Box::new(move || {
                    lobby
                        .upgrade()
                        .map(|ctx| ctx.lobby.room_lists())
                        .unwrap_or_default()
                });
                Some(Agones::start(settings.clone(), events, rooms))
            }
            _ => None,
        };
        Ok(Server {
            agones,
            listener,
            admin_listener,
            ctx,
            shutdown,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin listener's address, with `--admin-bind`.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The server's counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.ctx.metrics.clone()
    }

    /// Accepts connections until `shutdown` completes; then stops the rooms, which close every
    /// player's connection with 1001 (going away).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let limit = Arc::new(Semaphore::new(self.ctx.config.max_connections));
        let admin_limit = Arc::new(Semaphore::new(MAX_ADMIN_CONNECTIONS));
        tokio::pin!(shutdown);
        loop {
            let (accepted, kind) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => (accepted, Listener::Public),
                accepted = accept_on(self.admin_listener.as_ref()) => (accepted, Listener::Admin),
            };
            let (stream, peer) = match accepted {
                Ok(conn) => conn,
                Err(_) => {
                    // Out of file descriptors or similar: back off briefly instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let limit = match kind {
                Listener::Public => &limit,
                Listener::Admin => &admin_limit,
            };
            if let Some(guard) = self.admit(peer, kind, limit) {
                self.spawn_connection(stream, peer, kind, guard);
            }
        }
        self.stop().await;
    }

    /// Refuses a connection that is banned, or over a cap or rate, before any handshake work
    /// (dropping the stream closes it); otherwise what it holds while it lives.
    fn admit(
        &self,
        peer: SocketAddr,
        kind: Listener,
        limit: &Arc<Semaphore>,
    ) -> Option<ConnectionGuard> {
        let ctx = &self.ctx;
        let peer_ip = canonical(peer.ip());
        if kind == Listener::Public && ctx.bans.is_banned(peer_ip) {
            tracing::debug!(peer = %peer, "refused: banned");
            return None;
        }
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::debug!(peer = %peer, "refused: connection limit reached");
            return None;
        };
        // A trusted proxy carries many clients: those are counted per request by forwarded address.
        let slot = if kind == Listener::Public && ctx.config.proxies.trusts(peer_ip) {
            None
        } else {
            match ctx.addresses.admit(AddressKey::of(peer_ip)) {
                Ok(slot) => Some(slot),
                Err(refusal) => {
                    tracing::debug!(peer = %peer, "refused: {refusal}");
                    return None;
                }
            }
        };
        // Counted before the task starts, so a shutdown never misses a connection just accepted.
        ctx.metrics.open_connections.fetch_add(1, Relaxed);
        Some(ConnectionGuard {
            metrics: ctx.metrics.clone(),
            _permit: permit,
            _slot: slot,
        })
    }

    fn spawn_connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        kind: Listener,
        guard: ConnectionGuard,
    ) {
        let ctx = self.ctx.clone();
        // Every line logged about this connection carries its peer, the forwarded client behind a
        // trusted proxy, and once it joins, the player and room (recorded by the session).
        let span = tracing::info_span!(
            "conn",
            peer = %peer,
            client = tracing::field::Empty,
            player = tracing::field::Empty,
            room = tracing::field::Empty
        );
        let connection = Arc::new(Connection {
            peer: canonical(peer.ip()),
            listener: kind,
            guard: Arc::new(guard),
        });
        tokio::spawn(serve_connection(stream, connection, ctx).instrument(span));
    }

    /// Refuses new connections at once, then tells the rooms, which send every player a notice and
    /// close it (1001); waits for the connections to finish, up to the grace period.
    async fn stop(self) {
        let Server {
            listener,
            admin_listener,
            ctx,
            shutdown,
            agones,
        } = self;
        drop(listener);
        drop(admin_listener);
        // Agones first: the allocator must stop handing this server out before players are told.
        if let Some(agones) = agones {
            agones.shutdown().await;
        }
        tracing::info!(
            players = ctx.metrics.connected_players.load(Relaxed),
            "shutting down: no new connections; telling players"
        );
        let _ = shutdown.send(true);
        let deadline = tokio::time::Instant::now() + ctx.config.shutdown_grace;
        while ctx.metrics.open_connections.load(Relaxed) > 0 {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    open = ctx.metrics.open_connections.load(Relaxed),
                    "shutdown grace over; dropping the connections still open"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The rooms close their recordings as they stop; then the writer finishes the files.
        while ctx.metrics.rooms.load(Relaxed) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if let Some(recorder) = ctx.lobby.recorder().cloned() {
            let finished = tokio::task::spawn_blocking(move || recorder.finish());
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if tokio::time::timeout(left.max(Duration::from_secs(1)), finished)
                .await
                .is_err()
            {
                tracing::warn!("shutdown grace over before the replay files were closed");
            }
        }
    }
}

/// The next connection on `listener`, or never if there is none.
async fn accept_on(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// How long a write may wait for the peer to read before the connection is dropped: the head
/// deadline for plain HTTP, and no shorter than the slow-reader timeout, which handles players.
pub fn write_deadline(config: &ServerConfig) -> Duration {
    config.http_timeout.max(config.slow_reader_timeout) + Duration::from_secs(1)
}

/// Serves one connection: socket options, TLS, then HTTP/1.1 with keep-alive until the client
/// leaves, a deadline passes, the connection is upgraded (the WebSocket task then holds it), or the
/// server shuts down.
async fn serve_connection(tcp: TcpStream, connection: Arc<Connection>, ctx: Arc<Context>) {
    let _ = tcp.set_nodelay(true);
    if let Some(bytes) = ctx.config.socket_send_buffer {
        let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(bytes);
    }
    let stream = match &ctx.config.tls {
        None => Conn::Plain(tcp),
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
            match timeout(ctx.config.http_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => Conn::Tls(Box::new(tls)),
                Ok(Err(e)) => return tracing::debug!("TLS handshake failed: {e}"),
                Err(_) => return tracing::debug!("TLS handshake timed out"),
            }
        }
    };
    let io = TokioIo::new(WriteDeadline::new(stream, write_deadline(&ctx.config)));
    let service_ctx = ctx.clone();
    let service = hyper::service::service_fn(move |request| {
        http::route(request, service_ctx.clone(), connection.clone())
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Also the idle limit between keep-alive requests.
        .header_read_timeout(ctx.config.http_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let served = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(served);
    let mut shutting_down = ctx.shutting_down.clone();
    tokio::select! {
        result = served.as_mut() => log_end(result),
        _ = async { shutting_down.wait_for(|down| *down).await.is_ok() } => {
            // Finish the request in flight, then close; a WebSocket already upgraded is the
            // session's to close.
            served.as_mut().graceful_shutdown();
            let _ = timeout(ctx.config.http_timeout, served).await;
        }
    }
}

fn log_end(result: hyper::Result<()>) {
    if let Err(e) = result {
        tracing::debug!("connection ended: {e}");
    }
}
