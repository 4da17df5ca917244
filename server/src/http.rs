//! The HTTP side of a connection, on hyper: every request a listener takes is routed here.
//!
//! The public listener serves the page and its bundle from the assets folder (tower-http's
//! `ServeDir`: `ETag`/`If-None-Match`, `Last-Modified`, and the gzip or brotli variant made at build
//! time when `Accept-Encoding` allows), `/healthz`, `/api/play` (where to connect: this server), the
//! lobby's `/api/rooms` (JSON), `/favicon.ico`
//! (204 when the assets have no icon), the game socket `/ws`, `/echo` with
//! `--conformance-echo`, and `/metrics` and `/admin` unless `--admin-bind` moved those to the admin
//! listener. Behind a trusted proxy, each request's client is read from its forwarding header (a
//! keep-alive connection from a proxy carries many clients) and checked against bans and caps.

use crate::address::AddressKey;
use crate::admission::{request_origin_allowed, ConnectionSlot};
use crate::context::Context;
use crate::response::{respond, text, Body};
use crate::upgrade::{self, websocket_config};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use tracing::Instrument;

/// Largest request head accepted, in bytes (hyper's smallest buffer limit; it answers 431 above).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The public port: the page, the game socket, health; metrics and admin too unless an admin
    /// listener is configured.
    Public,
    /// `--admin-bind`: `/admin`, `/metrics` and `/healthz` only.
    Admin,
}

/// What a connection's requests share.
#[derive(Debug)]
pub struct Connection {
    /// The socket's peer, canonical.
    pub peer: IpAddr,
    /// The listener that accepted it.
    pub listener: Listener,
    /// Held as long as the connection or a WebSocket upgraded from it lives: its count, its
    /// `--max-connections` permit and its address's slot.
    pub guard: Arc<dyn Send + Sync + std::fmt::Debug>,
}

/// Routes one request.
pub async fn route(
    request: Request<Incoming>,
    ctx: Arc<Context>,
    connection: Arc<Connection>,
) -> Result<Response<Body>, Infallible> {
    let mut response = match connection.listener {
        Listener::Public => public(request, &ctx, &connection).await,
        Listener::Admin => operator(request, &ctx, connection.peer).await,
    };
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// The public listener's routes.
async fn public(
    request: Request<Incoming>,
    ctx: &Arc<Context>,
    connection: &Connection,
) -> Response<Body> {
    let (client, slot) = match forwarded_client(&request, ctx, connection.peer) {
        Ok(admitted) => admitted,
        Err((status, why)) => return text(status, &why),
    };
    let path = request.uri().path();
    let operator_here = ctx.config.admin_bind.is_none();
    match path {
        "/ws" => game_socket(request, ctx, connection, client, slot),
        "/echo" if ctx.config.conformance_echo => {
            crate::echo::serve(request, ctx, connection.guard.clone(), slot)
        }
        "/healthz" => health(&request),
        "/api/rooms" => rooms(&request, ctx),
        crate::play::PATH => play(&request, ctx, connection.peer),
        "/api/replays" => replays(&request, ctx).await,
        _ if path.starts_with("/api/replays/") => replay_file(request, ctx).await,
        "/favicon.ico" if !ctx.config.assets_dir.join("favicon.ico").is_file() => no_icon(&request),
        "/metrics" if operator_here => metrics(&request, ctx),
        _ if operator_here && is_admin(path) => crate::admin::serve(request, ctx, client).await,
        _ => ctx.assets.serve(request).await,
    }
}

/// The admin listener's routes.
async fn operator(request: Request<Incoming>, ctx: &Arc<Context>, peer: IpAddr) -> Response<Body> {
    match request.uri().path() {
        "/healthz" => health(&request),
        "/metrics" => metrics(&request, ctx),
        path if is_admin(path) => crate::admin::serve(request, ctx, peer).await,
        _ => text(
            StatusCode::NOT_FOUND,
            "the admin listener serves /admin, /metrics and /healthz",
        ),
    }
}

fn is_admin(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

fn read_only(request: &Request<Incoming>) -> bool {
    matches!(*request.method(), Method::GET | Method::HEAD)
}

fn health(request: &Request<Incoming>) -> Response<Body> {
    if !read_only(request) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD");
    }
    let mut response = respond(StatusCode::OK, "text/plain; charset=utf-8", "ok\n");
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `/api/rooms`: the open rooms, their codes and players, as JSON (see `lobby::LobbySummary`),
/// from the counts rooms publish: no room is asked, so a busy page polling it costs the rooms
/// nothing.
fn rooms(request: &Request<Incoming>, ctx: &Context) -> Response<Body> {
    if !read_only(request) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD");
    }
    json_no_store(&ctx.lobby.summary())
}

/// `/api/play` on a lone server: its own game socket, and the room to ask for (see [`crate::play`]).
fn play(request: &Request<Incoming>, ctx: &Context, peer: IpAddr) -> Response<Body> {
    use crate::play::{answer, refuse, room_full, room_gone, PlayAnswer, PlayQuery};
    if !read_only(request) {
        let mut refused = refuse(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD");
        refused
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return refused;
    }
    let asked = match PlayQuery::parse(request.uri().query()) {
        Ok(asked) => asked,
        Err(why) => return refuse(StatusCode::NOT_FOUND, &why),
    };
    let Some(url) = own_socket_url(request, ctx, peer) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the request names no usable Host, so the game's address is unknown",
        );
    };
    if *ctx.shutting_down.borrow() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down; try again in a moment",
        );
    }
    let room = match asked {
        PlayQuery::Any => match ctx.lobby.room_with_a_seat() {
            Ok(room) => room,
            Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        },
        PlayQuery::Room(code) => match ctx.lobby.room_full(&code) {
            None => return refuse(StatusCode::NOT_FOUND, &room_gone(&code)),
            Some(true) => return refuse(StatusCode::NOT_FOUND, &room_full(&code)),
            Some(false) => Some(code),
        },
        PlayQuery::Watch(Some(code)) => match ctx.lobby.room_full(&code) {
            None => return refuse(StatusCode::NOT_FOUND, &room_gone(&code)),
            Some(_) => Some(code),
        },
        PlayQuery::Watch(None) => match ctx.lobby.any_room() {
            Some(code) => Some(code),
            None => {
                let nothing = crate::lobby::JoinError::NothingToWatch;
                return refuse(StatusCode::NOT_FOUND, &nothing.to_string());
            }
        },
    };
    answer(&PlayAnswer {
        url,
        room,
        server: None,
    })
}

/// This server's game socket as the client reached it: `ws://` or `wss://` (TLS here, or a trusted
/// proxy's `X-Forwarded-Proto: https`), the request's host (or a trusted proxy's
/// `X-Forwarded-Host`), `/ws`. `None` without a sound host.
fn own_socket_url(request: &Request<Incoming>, ctx: &Context, peer: IpAddr) -> Option<String> {
    let trusted = ctx.config.proxies.trusts(peer);
    let forwarded_host = request
        .headers()
        .get("x-forwarded-host")
        .and_then(|h| h.to_str().ok())
        .filter(|_| trusted)
        // The first (the browser's) of a list.
        .and_then(|h| h.split(',').next())
        .map(str::trim);
    let host = forwarded_host
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .or_else(|| request.uri().authority().map(|a| a.as_str()))?;
    let sound = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if !sound {
        return None;
    }
    let proxied_tls = trusted
        && request
            .headers()
            .get("x-forwarded-proto")
            .and_then(|p| p.to_str().ok())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let scheme = if ctx.config.tls.is_some() || proxied_tls {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{host}/ws"))
}

/// `value` as a JSON response that is not to be cached (it changes from one request to the next).
fn json_no_store(value: &impl serde::Serialize) -> Response<Body> {
    let body = match serde_json::to_string(value) {
        Ok(json) => json,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let mut response = respond(StatusCode::OK, "application/json", body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `/api/replays`: the recorded replays, newest first, as JSON (see `recorder::ReplayList`); an
/// empty list when recording is off.
async fn replays(request: &Request<Incoming>, ctx: &Context) -> Response<Body> {
    if !read_only(request) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD");
    }
    let none = crate::recorder::ReplayList {
        replays: Vec::new(),
    };
    let list = match ctx.lobby.recorder().cloned() {
        // Reading the folder (and any file a crash left without a summary) blocks.
        Some(recorder) => tokio::task::spawn_blocking(move || recorder.list())
            .await
            .unwrap_or(none),
        None => none,
    };
    json_no_store(&list)
}

/// `/api/replays/ID`: the replay file (tower-http's `ServeFile`: range requests, `ETag` and
/// `Last-Modified`), or 404 with the reason.
async fn replay_file(request: Request<Incoming>, ctx: &Context) -> Response<Body> {
    if !read_only(&request) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD");
    }
    let Some(recorder) = ctx.lobby.recorder() else {
        return text(StatusCode::NOT_FOUND, "this server records no replays");
    };
    let id = request
        .uri()
        .path()
        .trim_start_matches("/api/replays/")
        .to_string();
    let Some(path) = recorder.path_of(&id) else {
        return text(
            StatusCode::NOT_FOUND,
            "no such replay: the id is wrong, or it was deleted to keep within --replay-retention",
        );
    };
    let mut file = tower_http::services::ServeFile::new(path);
    match file.try_call(request).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            if parts.status == StatusCode::NOT_FOUND {
                return text(StatusCode::NOT_FOUND, "no such replay");
            }
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            // A recording in progress grows: ask before reusing a copy.
            parts
                .headers
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            Response::from_parts(parts, http_body_util::BodyExt::boxed_unsync(body))
        }
        Err(e) => {
            tracing::debug!("replay file: {e}");
            text(StatusCode::NOT_FOUND, "no such replay")
        }
    }
}

/// `/favicon.ico` when the assets folder has none: 204 No Content, so browsers stop asking, cached
/// for a day.
fn no_icon(request: &Request<Incoming>) -> Response<Body> {
    if !read_only(request) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD");
    }
    let mut response = respond(StatusCode::NO_CONTENT, "image/x-icon", "");
    response.headers_mut().remove(header::CONTENT_TYPE);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

fn metrics(request: &Request<Incoming>, ctx: &Context) -> Response<Body> {
    if !read_only(request) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD");
    }
    let mut body = ctx.metrics.render();
    ctx.lobby.render_room_metrics(&mut body);
    let mut response = respond(StatusCode::OK, crate::metrics::CONTENT_TYPE, body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The request's client, and its address's connection slot when a trusted proxy forwarded it
/// (counted per request: one keep-alive connection from a proxy carries many clients). Refused, with
/// the status and why: 400 for a forwarding header that cannot be read, 403 for a banned client, 429
/// over its cap or rate.
fn forwarded_client(
    request: &Request<Incoming>,
    ctx: &Context,
    peer: IpAddr,
) -> Result<(IpAddr, Option<ConnectionSlot>), (StatusCode, String)> {
    let proxies = &ctx.config.proxies;
    if !proxies.trusts(peer) {
        return Ok((peer, None));
    }
    let client = proxies.client_of(peer, request.headers()).map_err(|e| {
        // Per request and written by the client: debug only, or a client could flood the log.
        tracing::debug!("refused: {e}");
        (StatusCode::BAD_REQUEST, e.to_string())
    })?;
    if client == peer {
        return Ok((peer, None)); // the proxy itself (no header): its own requests
    }
    // Lines logged about this request (and a session it opens) name the client, not the proxy.
    tracing::Span::current().record("client", tracing::field::display(client));
    if ctx.bans.is_banned(client) {
        return Err((StatusCode::FORBIDDEN, "banned".into()));
    }
    match ctx.addresses.admit(AddressKey::of(client)) {
        Ok(slot) => Ok((client, Some(slot))),
        Err(refusal) => {
            tracing::debug!(%client, "refused: {refusal}");
            Err((StatusCode::TOO_MANY_REQUESTS, refusal.to_string()))
        }
    }
}

/// Checks the game socket's handshake (origin, then the WebSocket headers), answers 101 and runs the
/// session on the upgraded connection in its own task, which holds the connection's guard.
fn game_socket(
    request: Request<Incoming>,
    ctx: &Arc<Context>,
    connection: &Connection,
    client: IpAddr,
    slot: Option<ConnectionSlot>,
) -> Response<Body> {
    if !request_origin_allowed(&request, &ctx.config.allowed_origins) {
        // Usually a page served from elsewhere (a fleet's directory) that --allowed-origin does
        // not list: said where an operator sees it, but never more than a line every 10 s.
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or("?");
        match ctx.origin_refusals.due() {
            Some(more) => tracing::info!(
                origin = %origin.chars().take(100).collect::<String>(),
                more,
                "refused a game socket from a page whose origin --allowed-origin does not list"
            ),
            None => tracing::debug!("refused: origin not allowed"),
        }
        return text(
            StatusCode::FORBIDDEN,
            "this page's origin may not open the game socket",
        );
    }
    let accept = match upgrade::check(&request) {
        Ok(accept) => accept,
        Err(refusal) => return refusal.response(),
    };
    let (ctx, guard) = (ctx.clone(), connection.guard.clone());
    tokio::spawn(
        async move {
            let _held = (guard, slot);
            if let Some(ws) = upgrade::websocket(request, websocket_config()).await {
                crate::session::run(ws, ctx, client).await;
            }
        }
        .in_current_span(),
    );
    upgrade::switching_protocols(&accept)
}
