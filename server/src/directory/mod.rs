//! `skirmish-directory`: the one address a browser needs in front of an Agones fleet of
//! `skirmish-server`s. It serves the page, and answers the page's `GET /api/play` (see
//! [`crate::play`]) by allocating a game server through the Agones allocator service:
//!
//! - any room: an Allocated server of the fleet whose `players` list has room, else a Ready one
//!   (packed: by node, then fuller servers first); the answer names a room there with a seat free, if the
//!   server's lists show one;
//! - `?room=CODE`: the Allocated server whose tag label is the code's first characters and whose
//!   `rooms` list holds the code (the code says which server it belongs to, so no shared database
//!   is needed); 404 when none does (the room ended) or the code is in its `full` list;
//! - the allocator down or failing: 503 with the reason, and the next request tries again.
//!
//! It keeps no state of its own, so it can run as many replicas as wanted.

pub mod allocator;

use crate::address::{AddressKey, ForwardedHeader, Network, Proxies};
use crate::admission::KeyedRate;
use crate::assets::StaticFiles;
use crate::config::LogFormat;
use crate::lobby::JoinError;
use crate::play::{answer, refuse, room_full, room_gone, PlayAnswer, PlayQuery};
use crate::response::Body;
use crate::throttle::Throttled;
use allocator::{AllocateError, Allocation, Allocator, AllocatorSettings};
use clap::Parser;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// Largest request head accepted, in bytes.
const MAX_HEAD_BYTES: usize = 8 * 1024;

/// How long a request head may take, and a connection wait for the next one.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write may wait for the client to read.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// The scheme of the game sockets the directory hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GameScheme {
    /// Plain WebSocket (only for pages served over http).
    Ws,
    /// WebSocket over TLS: game servers run with `--tls-cert` and `--tls-key`.
    Wss,
}

/// The directory's command line (each flag also reads `SKIRMISH_<FLAG>`).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "skirmish-directory",
    version,
    about = "Serves the Skirmish page and sends each player to a game server of an Agones fleet"
)]
pub struct DirectoryArgs {
    /// Listen address.
    #[arg(long, default_value = "0.0.0.0:8080", env = "SKIRMISH_BIND")]
    pub bind: SocketAddr,
    /// Folder served at / (default: ./assets, else the repository's assets folder).
    #[arg(long, env = "SKIRMISH_ASSETS")]
    pub assets: Option<PathBuf>,
    /// The Agones allocator service, `https://host[:port]`.
    #[arg(long, env = "SKIRMISH_ALLOCATOR")]
    pub allocator: String,
    /// The directory's client certificate (PEM) for the allocator's mutual TLS.
    #[arg(long, env = "SKIRMISH_ALLOCATOR_CERT")]
    pub allocator_cert: PathBuf,
    /// The client certificate's private key (PEM).
    #[arg(long, env = "SKIRMISH_ALLOCATOR_KEY")]
    pub allocator_key: PathBuf,
    /// The CA certificate (PEM) that signed the allocator's server certificate.
    #[arg(long, env = "SKIRMISH_ALLOCATOR_CA")]
    pub allocator_ca: PathBuf,
    /// The name the allocator's certificate is checked against (default: the --allocator host).
    #[arg(long, env = "SKIRMISH_ALLOCATOR_SERVER_NAME")]
    pub allocator_server_name: Option<String>,
    /// Seconds one allocation may take before the page is told the allocator is unreachable.
    #[arg(long, default_value_t = 5.0, env = "SKIRMISH_ALLOCATOR_TIMEOUT")]
    pub allocator_timeout: f64,
    /// The Kubernetes namespace of the fleet.
    #[arg(long, default_value = "default", env = "SKIRMISH_NAMESPACE")]
    pub namespace: String,
    /// The fleet's name (its game servers carry the label agones.dev/fleet=NAME).
    #[arg(long, default_value = "skirmish", env = "SKIRMISH_FLEET")]
    pub fleet: String,
    /// The name of the game port in the fleet's GameServer spec.
    #[arg(long, default_value = "game", env = "SKIRMISH_GAME_PORT_NAME")]
    pub game_port_name: String,
    /// ws or wss: the game sockets' scheme (wss for a page served over https).
    #[arg(long, value_enum, default_value_t = GameScheme::Wss, env = "SKIRMISH_GAME_SCHEME")]
    pub game_scheme: GameScheme,
    /// The host name for a game server's node, from its ExternalIP (else its primary address):
    /// `{dashed}` is the address with dashes for dots or colons (`203-0-113-7`), `{address}` the
    /// address itself; for example `{dashed}.game.example.com`, which DNS and a wildcard
    /// certificate must cover. Default: a node's ExternalDNS name when it has one, else its address.
    #[arg(long, env = "SKIRMISH_GAME_HOST_TEMPLATE")]
    pub game_host_template: Option<String>,
    /// Most simultaneous connections.
    #[arg(long, default_value_t = 10_000, env = "SKIRMISH_MAX_CONNECTIONS")]
    pub max_connections: usize,
    /// `/api/play` requests per second one client address may make, after a burst of five seconds'
    /// worth (each is an allocation; 429 beyond).
    #[arg(long, default_value_t = 2.0, env = "SKIRMISH_PLAY_RATE_PER_IP")]
    pub play_rate_per_ip: f64,
    /// Most allocations waiting on the allocator at once; `/api/play` answers 503 beyond.
    #[arg(long, default_value_t = 64, env = "SKIRMISH_MAX_ALLOCATIONS_IN_FLIGHT")]
    pub max_allocations_in_flight: usize,
    /// A reverse proxy (an address, or a range such as 10.0.0.0/8: the Ingress) whose forwarding
    /// header is believed for the client's address (repeatable).
    #[arg(
        long = "trusted-proxy",
        env = "SKIRMISH_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<Network>,
    /// The header trusted proxies state the client's address in: x-forwarded-for, or forwarded.
    #[arg(long, value_enum, default_value_t = ForwardedHeader::XForwardedFor, env = "SKIRMISH_FORWARDED_HEADER")]
    pub forwarded_header: ForwardedHeader,
    /// Log lines as text or JSON.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "SKIRMISH_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Which log lines to keep (a level, or tracing's directives).
    #[arg(long, default_value = "info", env = "SKIRMISH_LOG")]
    pub log: String,
}

/// How game servers are named in answers.
#[derive(Debug, Clone)]
pub struct GameAddress {
    /// ws or wss.
    pub scheme: GameScheme,
    /// The game port's name.
    pub port_name: String,
    /// The host template, if any.
    pub host_template: Option<String>,
}

impl GameAddress {
    /// The socket URL of `allocation`'s game port; `None` if it has no port of that name.
    pub fn url(&self, allocation: &Allocation) -> Option<String> {
        let port = allocation
            .ports
            .iter()
            .find(|p| p.name == self.port_name)?
            .port;
        let host = match &self.host_template {
            // From the node's external IP: Agones' primary address may be a DNS name (EKS gives
            // nodes ExternalDNS names no wildcard certificate of ours covers). No IP: no URL.
            Some(template) => {
                let ip = allocation
                    .addresses
                    .iter()
                    .find(|a| a.kind == "ExternalIP")
                    .map(|a| a.address.as_str())
                    .or(Some(allocation.address.as_str()))
                    .filter(|ip| ip.parse::<IpAddr>().is_ok())?;
                template
                    .replace("{dashed}", &ip.replace(['.', ':'], "-"))
                    .replace("{address}", ip)
            }
            None => allocation
                .addresses
                .iter()
                .find(|a| a.kind == "ExternalDNS")
                .map_or_else(|| allocation.address.clone(), |a| a.address.clone()),
        };
        if host.is_empty() {
            return None;
        }
        let host = if host.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("[{host}]")
        } else {
            host
        };
        let scheme = match self.scheme {
            GameScheme::Ws => "ws",
            GameScheme::Wss => "wss",
        };
        Some(format!("{scheme}://{host}:{port}/ws"))
    }
}

/// The directory's settings, checked.
#[derive(Debug)]
pub struct DirectoryConfig {
    /// Listen address.
    pub bind: SocketAddr,
    /// The page's folder.
    pub assets_dir: PathBuf,
    /// The allocator client.
    pub allocator: Allocator,
    /// The fleet's namespace.
    pub namespace: String,
    /// The fleet.
    pub fleet: String,
    /// How answers name game servers.
    pub game: GameAddress,
    /// Most simultaneous connections.
    pub max_connections: usize,
    /// `/api/play` requests per second per client address.
    pub play_rate_per_ip: f64,
    /// Most allocations in flight.
    pub max_allocations_in_flight: usize,
    /// Proxies whose forwarding header is believed.
    pub proxies: Proxies,
}

impl DirectoryConfig {
    /// Checks the flags and reads the certificates; the error names the flag at fault.
    pub fn from_args(args: &DirectoryArgs) -> Result<DirectoryConfig, String> {
        if !(args.allocator_timeout.is_finite() && (0.1..=60.0).contains(&args.allocator_timeout)) {
            return Err("--allocator-timeout: must be 0.1..=60 seconds".into());
        }
        if !(args.play_rate_per_ip.is_finite() && (0.02..=1e6).contains(&args.play_rate_per_ip)) {
            return Err("--play-rate-per-ip: must be 0.02..=1000000 a second".into());
        }
        if args.max_allocations_in_flight == 0 {
            return Err("--max-allocations-in-flight: must be at least 1".into());
        }
        if let Some(template) = &args.game_host_template {
            if !template.contains("{dashed}") && !template.contains("{address}") {
                return Err(format!(
                    "--game-host-template {template:?}: must contain {{dashed}} or {{address}}"
                ));
            }
        }
        for (flag, value) in [("namespace", &args.namespace), ("fleet", &args.fleet)] {
            if value.trim().is_empty() {
                return Err(format!("--{flag}: must not be empty"));
            }
        }
        let allocator = Allocator::new(&AllocatorSettings {
            url: &args.allocator,
            cert: &args.allocator_cert,
            key: &args.allocator_key,
            ca: &args.allocator_ca,
            server_name: args.allocator_server_name.as_deref(),
            timeout: Duration::from_secs_f64(args.allocator_timeout),
        })?;
        Ok(DirectoryConfig {
            bind: args.bind,
            assets_dir: args
                .assets
                .clone()
                .unwrap_or_else(crate::config::default_assets_dir),
            allocator,
            namespace: args.namespace.clone(),
            fleet: args.fleet.clone(),
            game: GameAddress {
                scheme: args.game_scheme,
                port_name: args.game_port_name.clone(),
                host_template: args.game_host_template.clone(),
            },
            max_connections: args.max_connections.max(1),
            play_rate_per_ip: args.play_rate_per_ip,
            max_allocations_in_flight: args.max_allocations_in_flight,
            proxies: Proxies {
                trusted: args.trusted_proxies.clone(),
                header: args.forwarded_header,
            },
        })
    }
}

/// What every request shares.
#[derive(Debug)]
struct Shared {
    config: DirectoryConfig,
    assets: StaticFiles,
    /// `/api/play` per client address.
    play_rate: KeyedRate,
    /// Allocations in flight.
    allocations: Semaphore,
    /// Allocation failures, logged at most every few seconds.
    failures: Throttled,
    /// Requests no server matched, logged likewise.
    unmatched: Throttled,
}

/// A bound directory.
#[derive(Debug)]
pub struct Directory {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Directory {
    /// Binds the listener and checks the assets folder.
    pub async fn bind(config: DirectoryConfig) -> std::io::Result<Directory> {
        let assets = StaticFiles::new(&config.assets_dir).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("--assets {}: {e}", config.assets_dir.display()),
            )
        })?;
        let listener = TcpListener::bind(config.bind).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.bind))
        })?;
        let play_rate = KeyedRate::new(config.play_rate_per_ip * 5.0, config.play_rate_per_ip);
        let allocations = Semaphore::new(config.max_allocations_in_flight);
        Ok(Directory {
            listener,
            shared: Arc::new(Shared {
                config,
                assets,
                play_rate,
                allocations,
                failures: Throttled::default(),
                unmatched: Throttled::default(),
            }),
        })
    }

    /// The address bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish (up to 5 s).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let permits = Arc::new(Semaphore::new(self.shared.config.max_connections));
        let (stop, stopping) = watch::channel(false);
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                _ = &mut shutdown => break,
            };
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = &mut shutdown => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, for example: wait a little rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let shared = self.shared.clone();
            let mut stopping = stopping.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |request| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(route(request, &shared, peer.ip()).await) }
                });
                let mut builder = http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEAD_TIMEOUT)
                    .max_buf_size(MAX_HEAD_BYTES);
                // A client that stops reading its answer gives its connection up.
                let stream = crate::stream::WriteDeadline::new(stream, WRITE_DEADLINE);
                let served = builder.serve_connection(TokioIo::new(stream), service);
                tokio::pin!(served);
                tokio::select! {
                    _ = served.as_mut() => {}
                    _ = async { stopping.wait_for(|s| *s).await.is_ok() } => {
                        served.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(Duration::from_secs(5), served).await;
                    }
                }
            });
        }
        drop(self.listener);
        let _ = stop.send(true);
        // Every connection task holds a permit: all back means all finished.
        let everyone = u32::try_from(self.shared.config.max_connections).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(Duration::from_secs(6), permits.acquire_many(everyone)).await;
    }
}

/// Routes one request from `peer`.
async fn route(request: Request<Incoming>, shared: &Shared, peer: IpAddr) -> Response<Body> {
    let mut response = match request.uri().path() {
        crate::play::PATH => play(&request, shared, peer).await,
        "/healthz" => crate::response::respond(StatusCode::OK, "text/plain; charset=utf-8", "ok\n"),
        "/api/rooms" | "/api/replays" => refuse(
            StatusCode::NOT_FOUND,
            "rooms and replays are listed by each game server, not by the fleet's directory",
        ),
        path if path.starts_with("/api/") => refuse(StatusCode::NOT_FOUND, "no such API"),
        _ => shared.assets.serve(request).await,
    };
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The allocator refused the directory's request (a configuration to fix; the log says which).
const ALLOCATOR_REFUSED: &str =
    "the game directory is misconfigured (the Agones allocator refused its request); try again later";

/// The page could not be sent anywhere because the allocator failed.
const ALLOCATOR_DOWN: &str =
    "the game directory cannot reach the Agones allocator; try again in a moment";

/// `/api/play` through the allocator, for a client at `peer` (or behind it, if a trusted proxy).
async fn play(request: &Request<Incoming>, shared: &Shared, peer: IpAddr) -> Response<Body> {
    // GET only: every answer is an allocation, which a HEAD should not make.
    if request.method() != Method::GET {
        let mut refused = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET only (each answer allocates a game server)",
        );
        refused
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return refused;
    }
    let client = match shared.config.proxies.client_of(peer, request.headers()) {
        Ok(client) => client,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if !shared.play_rate.allow(AddressKey::of(client)) {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests from your address; try again in a few seconds",
        );
    }
    let Ok(_in_flight) = shared.allocations.try_acquire() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the game directory is busy; try again in a moment",
        );
    };
    let asked = match PlayQuery::parse(request.uri().query()) {
        Ok(asked) => asked,
        Err(why) => return refuse(StatusCode::NOT_FOUND, &why),
    };
    let config = &shared.config;
    let (namespace, fleet) = (config.namespace.as_str(), config.fleet.as_str());
    let wanted = match &asked {
        PlayQuery::Any => allocator::any_seat(namespace, fleet),
        PlayQuery::Room(code) | PlayQuery::Watch(Some(code)) => {
            allocator::holding_room(namespace, fleet, code)
        }
        PlayQuery::Watch(None) => allocator::any_room(namespace, fleet),
    };
    let allocation = match config.allocator.allocate(&wanted).await {
        Ok(allocation) => allocation,
        Err(AllocateError::NoneMatches) => {
            if matches!(asked, PlayQuery::Any) {
                if let Some(more) = shared.unmatched.due() {
                    tracing::warn!(
                        fleet,
                        namespace,
                        more,
                        "the allocator found no game server of the fleet with a free seat \
                         (none Ready, all full, or --fleet/--namespace name no fleet)"
                    );
                }
            }
            let why = match &asked {
                PlayQuery::Any => {
                    "every game server is full; more are starting, try again in a moment".into()
                }
                PlayQuery::Room(code) | PlayQuery::Watch(Some(code)) => room_gone(code),
                PlayQuery::Watch(None) => JoinError::NothingToWatch.to_string(),
            };
            let status = match asked {
                PlayQuery::Any => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::NOT_FOUND,
            };
            return refuse(status, &why);
        }
        Err(e) => {
            if let Some(more) = shared.failures.due() {
                tracing::warn!(more, "allocation failed: {e}");
            }
            let why = match e {
                AllocateError::Refused(_) => ALLOCATOR_REFUSED,
                _ => ALLOCATOR_DOWN,
            };
            return refuse(StatusCode::SERVICE_UNAVAILABLE, why);
        }
    };
    let room = match &asked {
        PlayQuery::Room(code) if allocation.list(crate::agones::FULL_LIST).contains(code) => {
            return refuse(StatusCode::NOT_FOUND, &room_full(code));
        }
        PlayQuery::Room(code) | PlayQuery::Watch(Some(code)) => Some(code.clone()),
        PlayQuery::Any => allocation.room_with_a_seat(),
        PlayQuery::Watch(None) => match allocation.list(crate::agones::ROOMS_LIST).first() {
            Some(code) => Some(code.clone()),
            None => {
                return refuse(
                    StatusCode::NOT_FOUND,
                    &JoinError::NothingToWatch.to_string(),
                )
            }
        },
    };
    let Some(url) = config.game.url(&allocation) else {
        if let Some(more) = shared.failures.due() {
            tracing::warn!(
                server = %allocation.game_server_name,
                port = %config.game.port_name,
                more,
                "the allocated game server has no port of that name (--game-port-name), or no address"
            );
        }
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the game server chosen has no reachable address; try again in a moment",
        );
    };
    tracing::debug!(server = %allocation.game_server_name, room = ?room, %client, "sent a player");
    answer(&PlayAnswer {
        url,
        room,
        server: Some(allocation.game_server_name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use allocator::{AllocatedAddress, AllocatedPort};

    fn allocation(address: &str, dns: Option<&str>) -> Allocation {
        let mut addresses = vec![AllocatedAddress {
            kind: "ExternalIP".into(),
            address: address.into(),
        }];
        if let Some(dns) = dns {
            addresses.push(AllocatedAddress {
                kind: "ExternalDNS".into(),
                address: dns.into(),
            });
        }
        Allocation {
            game_server_name: "skirmish-x".into(),
            ports: vec![AllocatedPort {
                name: "game".into(),
                port: 7301,
            }],
            address: address.into(),
            addresses,
            lists: Default::default(),
        }
    }

    #[test]
    fn game_urls_use_the_template_else_a_dns_name_else_the_address() {
        let mut game = GameAddress {
            scheme: GameScheme::Wss,
            port_name: "game".into(),
            host_template: Some("{dashed}.game.example.com".into()),
        };
        assert_eq!(
            game.url(&allocation("203.0.113.7", None)).as_deref(),
            Some("wss://203-0-113-7.game.example.com:7301/ws")
        );
        // The template takes the node's external IP even when the primary address is a DNS name.
        let mut named = allocation("203.0.113.7", Some("ec2-1.compute.example"));
        named.address = "ec2-1.compute.example".into();
        assert_eq!(
            game.url(&named).as_deref(),
            Some("wss://203-0-113-7.game.example.com:7301/ws")
        );
        game.host_template = None;
        assert_eq!(
            game.url(&allocation("203.0.113.7", Some("n1.example.com")))
                .as_deref(),
            Some("wss://n1.example.com:7301/ws")
        );
        game.scheme = GameScheme::Ws;
        assert_eq!(
            game.url(&allocation("203.0.113.7", None)).as_deref(),
            Some("ws://203.0.113.7:7301/ws")
        );
        assert_eq!(
            game.url(&allocation("2001:db8::1", None)).as_deref(),
            Some("ws://[2001:db8::1]:7301/ws")
        );
        game.port_name = "other".into();
        assert_eq!(game.url(&allocation("203.0.113.7", None)), None);
        // A template needs an IP to fill in: a node known only by name gives no URL.
        game.port_name = "game".into();
        game.host_template = Some("{dashed}.game.example.com".into());
        let mut named_only = allocation("ec2-1.compute.example", None);
        named_only.addresses.clear();
        assert_eq!(game.url(&named_only), None);
    }
}
