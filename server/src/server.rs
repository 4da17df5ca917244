//! The listener: accepts TCP connections, routes each request, and runs sessions until shutdown.

use crate::address::{canonical, AddressKey};
use crate::admin::Bans;
use crate::admission::{origin_allowed, AddressBook};
use crate::agones::{Agones, AgonesHandle};
use crate::config::ServerConfig;
use crate::http::{self, StaticFiles};
use crate::lobby::Lobby;
use crate::metrics::Metrics;
use crate::session;
use crate::tls::Conn;
use skirmish_shared::protocol::{MAX_CLIENT_MSG_BYTES, MAX_SERVER_MSG_BYTES};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

/// Read buffer per WebSocket. Client messages are at most [`MAX_CLIENT_MSG_BYTES`]; tungstenite's
/// 128 KiB default costs memory and CPU at thousands of connections for nothing.
const WS_READ_BUFFER: usize = 4 * 1024;

/// What every connection task shares.
#[derive(Debug)]
pub struct Context {
    /// The configuration.
    pub config: Arc<ServerConfig>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Rooms and seating.
    pub lobby: Lobby,
    /// The files served over HTTP.
    pub assets: StaticFiles,
    /// Address bans set through the admin API.
    pub bans: Bans,
    /// Turns true when the server starts shutting down.
    pub shutting_down: watch::Receiver<bool>,
    /// Player reports to Agones, with `--agones`.
    pub agones: Option<AgonesHandle>,
    /// Connections, seats and rates per client address.
    pub addresses: Arc<AddressBook>,
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    ctx: Arc<Context>,
    shutdown: watch::Sender<bool>,
    agones: Option<Agones>,
}

/// The WebSocket settings for game connections: small buffers, limits sized to the protocol, and
/// masked client frames required.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_SERVER_MSG_BYTES * 2)
        .max_message_size(Some(MAX_CLIENT_MSG_BYTES))
        .max_frame_size(Some(MAX_CLIENT_MSG_BYTES))
        .accept_unmasked_frames(false)
}

impl Server {
    /// Binds the listener and loads the static files.
    pub async fn bind(config: ServerConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.bind).await?;
        let assets = StaticFiles::load(&config.assets_dir)?;
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let lobby = Lobby::new(config.clone(), metrics.clone(), shutdown_rx.clone());
        let addresses = AddressBook::new(config.address_limits);
        // Listening now: with --agones, report Ready and start the health pings.
        let (agones, agones_handle) = match &config.agones {
            Some((client, interval)) => {
                let (agones, handle) = Agones::start(client.clone(), *interval);
                (Some(agones), Some(handle))
            }
            None => (None, None),
        };
        Ok(Server {
            agones,
            listener,
            ctx: Arc::new(Context {
                config,
                metrics,
                lobby,
                assets,
                bans: Bans::default(),
                shutting_down: shutdown_rx,
                agones: agones_handle,
                addresses,
            }),
            shutdown,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The server's counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.ctx.metrics.clone()
    }

    /// Accepts connections until `shutdown` completes; then stops the rooms, which close every
    /// player's connection with 1001 (going away).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let limit = Arc::new(Semaphore::new(self.ctx.config.max_connections));
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(conn) => conn,
                Err(_) => {
                    // Out of file descriptors or similar: back off briefly instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Banned, or over a cap or rate: refuse before any handshake work (dropping the stream
            // closes it).
            let peer_ip = canonical(peer.ip());
            if self.ctx.bans.is_banned(peer_ip) {
                tracing::debug!(peer = %peer, "refused: banned");
                continue;
            }
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                tracing::debug!(peer = %peer, "refused: --max-connections reached");
                continue;
            };
            // A trusted proxy carries many clients: those are counted by forwarded address later.
            let slot = if self.ctx.config.proxies.trusts(peer_ip) {
                None
            } else {
                match self.ctx.addresses.admit(AddressKey::of(peer_ip)) {
                    Ok(slot) => Some(slot),
                    Err(refusal) => {
                        tracing::debug!(peer = %peer, "refused: {refusal}");
                        continue;
                    }
                }
            };
            let ctx = self.ctx.clone();
            // Every line logged about this connection carries its peer, and once it joins, the
            // player and room (recorded by the session).
            let span = tracing::info_span!(
                "conn",
                peer = %peer,
                player = tracing::field::Empty,
                room = tracing::field::Empty
            );
            // Counted before the task starts, so a shutdown never misses a connection just accepted.
            ctx.metrics.open_connections.fetch_add(1, Relaxed);
            tokio::spawn(
                async move {
                    handle_connection(stream, peer_ip, &ctx).await;
                    ctx.metrics.open_connections.fetch_sub(1, Relaxed);
                    drop((permit, slot));
                }
                .instrument(span),
            );
        }
        // Refuse new connections at once, then tell the rooms, which send every player a notice and
        // close it (1001); wait for the connections to finish, up to the grace period.
        let Server {
            listener,
            ctx,
            shutdown,
            agones,
        } = self;
        drop(listener);
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
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        if let Some(agones) = agones {
            agones.shutdown().await;
        }
    }
}

/// Serves one connection: a request head, then a response or a WebSocket session.
async fn handle_connection(tcp: TcpStream, peer: IpAddr, ctx: &Arc<Context>) {
    let _ = tcp.set_nodelay(true);
    if let Some(bytes) = ctx.config.socket_send_buffer {
        let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(bytes);
    }
    // With TLS, the handshake shares the request head's deadline.
    let started = tokio::time::Instant::now();
    let mut stream = match &ctx.config.tls {
        None => Conn::Plain(tcp),
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
            match timeout(ctx.config.http_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => Conn::Tls(Box::new(tls)),
                Ok(Err(e)) => {
                    tracing::debug!("TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            }
        }
    };
    let head_deadline = ctx.config.http_timeout.saturating_sub(started.elapsed());
    let (request, leftover) = match timeout(head_deadline, http::read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(http::HttpError::TooLarge)) => {
            let _ = http::respond_error(&mut stream, "431 Request Header Fields Too Large").await;
            return;
        }
        Ok(Err(http::HttpError::Malformed(_))) => {
            let _ = http::respond_error(&mut stream, "400 Bad Request").await;
            return;
        }
        Ok(Err(http::HttpError::Io(_))) | Err(_) => return,
    };
    // Behind a trusted proxy, find, check and count the forwarded client now that the head is read.
    let proxies = &ctx.config.proxies;
    let client = match proxies.client(peer, request.headers_named(proxies.header.name())) {
        Ok(client) => client,
        Err(e) => {
            tracing::info!("refused: {e}");
            let _ = http::respond_error(&mut stream, "400 Bad Request").await;
            return;
        }
    };
    let _forwarded_slot = if proxies.trusts(peer) && client != peer {
        if ctx.bans.is_banned(client) {
            let _ = http::respond_error(&mut stream, "403 Forbidden").await;
            return;
        }
        match ctx.addresses.admit(AddressKey::of(client)) {
            Ok(slot) => Some(slot),
            Err(refusal) => {
                tracing::debug!(%client, "refused: {refusal}");
                let _ = http::respond_error(&mut stream, "429 Too Many Requests").await;
                return;
            }
        }
    } else {
        None
    };
    // Plain HTTP answers (admin requests included) get the head's deadline again to finish, so a
    // client that never reads cannot hold a connection (or a shutdown) open.
    let deadline = ctx.config.http_timeout;
    if request.path == "/admin" || request.path.starts_with("/admin/") {
        let _ = timeout(
            deadline,
            crate::admin::serve(stream, &request, leftover, ctx),
        )
        .await;
        return;
    }
    let head_only = request.method == "HEAD";
    if request.method != "GET" && !head_only {
        let refuse = http::respond_error(&mut stream, "405 Method Not Allowed");
        let _ = timeout(deadline, refuse).await;
        return;
    }
    match request.path.as_str() {
        "/ws" => return upgrade(stream, &request, leftover, ctx, client).await,
        "/echo" if ctx.config.conformance_echo => {
            return crate::echo::serve(stream, &request, leftover, &ctx.config).await
        }
        _ => {}
    }
    let _ = timeout(deadline, respond(&mut stream, &request, ctx)).await;
}

/// Answers a plain GET or HEAD: health, metrics or a static file.
async fn respond(stream: &mut Conn, request: &http::Request, ctx: &Context) -> std::io::Result<()> {
    let head_only = request.method == "HEAD";
    match request.path.as_str() {
        "/healthz" => {
            let kind = "text/plain; charset=utf-8";
            http::respond(stream, "200 OK", kind, b"ok\n", head_only).await
        }
        "/metrics" => {
            let mut body = ctx.metrics.render();
            ctx.lobby.render_room_metrics(&mut body);
            let kind = crate::metrics::CONTENT_TYPE;
            http::respond(stream, "200 OK", kind, body.as_bytes(), head_only).await
        }
        path => match ctx.assets.get(path) {
            Some((kind, body)) => http::respond(stream, "200 OK", kind, body, head_only).await,
            None => http::respond_error(stream, "404 Not Found").await,
        },
    }
}

/// Checks the WebSocket handshake, answers 101 and runs the session.
async fn upgrade(
    mut stream: Conn,
    request: &http::Request,
    leftover: Vec<u8>,
    ctx: &Arc<Context>,
    client: IpAddr,
) {
    let origin = request.header("origin");
    if !origin_allowed(origin, request.header("host"), &ctx.config.allowed_origins) {
        tracing::info!(origin, "refused: origin not allowed");
        let _ = http::respond_error(&mut stream, "403 Forbidden").await;
        return;
    }
    if let Some(ws) = accept_websocket(stream, request, leftover, websocket_config()).await {
        session::run(ws, ctx.clone(), client).await;
    }
}

/// Checks a WebSocket upgrade request (answering 400 or 426 if it is not one this server speaks),
/// answers 101 without extensions, and wraps the stream with `config` (the game's is
/// [`websocket_config`]). Bytes the client sent after its request head are handed to the WebSocket
/// unread.
pub async fn accept_websocket<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &http::Request,
    leftover: Vec<u8>,
    config: WebSocketConfig,
) -> Option<WebSocketStream<S>> {
    use tokio::io::AsyncWriteExt;
    let is_upgrade = request.header_has_token("connection", "upgrade")
        && request.header_has_token("upgrade", "websocket");
    let key = request.header("sec-websocket-key").map(str::trim);
    let key = match key {
        Some(key) if is_upgrade && key.len() == 24 => key,
        _ => {
            let _ = http::respond_error(&mut stream, "400 Bad Request").await;
            return None;
        }
    };
    if request.header("sec-websocket-version").map(str::trim) != Some("13") {
        let _ = stream
            .write_all(b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
        return None;
    }
    let accept = derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await.ok()?;
    Some(WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(config)).await)
}
