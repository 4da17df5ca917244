//! The operator API under `/admin`, served only when an admin token is configured
//! (`SKIRMISH_ADMIN_TOKEN`, `--admin-token` or `admin_token` in the config file). Every request must
//! carry `Authorization: Bearer <token>`, compared in constant time.
//!
//! - `GET /admin/rooms`: rooms and their players as JSON.
//! - `GET /admin/bans`: address bans in force, with seconds left.
//! - `POST /admin/kick` `{"room": R, "player": ID}`: close the player's connection (4006) and free its
//!   seat (player ids are per room, as `GET /admin/rooms` lists them).
//! - `POST /admin/ban` `{"room": R, "player": ID, "seconds": S}` or `{"address": "IP", "seconds": S}`:
//!   refuse the address's connections for S seconds and close its players (4007).
//! - `POST /admin/broadcast` `{"text": "..."}`: a `Notice` to every player.

use crate::address::AddressKey;
use crate::context::Context;
use crate::link::Disconnect;
use crate::response::{respond, text, Body};
use crate::room::{KickTarget, PlayerInfo};
use crate::secret::{constant_time_eq, Secret};
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;
use skirmish_shared::protocol::{EntityId, RoomId, MAX_CHAT_CHARS};
use skirmish_shared::text::sanitize_chat;
use std::net::IpAddr;
use std::time::Duration;

/// Largest admin request body.
const MAX_BODY_BYTES: usize = 4 * 1024;

/// Longest ban: a year.
const MAX_BAN_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// Whether an `Authorization` header carries the bearer `token`.
pub fn authorized(header: Option<&str>, token: &Secret) -> bool {
    // The scheme is case-insensitive (RFC 9110 section 11.1).
    let given = header
        .map(str::trim)
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or_default();
    constant_time_eq(given.as_bytes(), token.expose())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KickRequest {
    room: u32,
    player: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BanRequest {
    room: Option<u32>,
    player: Option<u32>,
    address: Option<IpAddr>,
    seconds: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BroadcastRequest {
    text: String,
}

/// A response: status and JSON body.
type Reply = (StatusCode, serde_json::Value);

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    (status, json!({ "error": message.into() }))
}

fn ids(players: &[PlayerInfo]) -> Vec<u32> {
    players.iter().map(|p| p.id).collect()
}

/// Serves one `/admin` request from `client` (404 when no admin token is configured, as if there were
/// no API).
pub async fn serve(request: Request<Incoming>, ctx: &Context, client: IpAddr) -> Response<Body> {
    let Some(token) = &ctx.config.admin_token else {
        return text(StatusCode::NOT_FOUND, "no such page");
    };
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !authorized(authorization, token) {
        // Failures are limited per address: a guesser gets 429s, and the log a line per allowed try.
        if !ctx.addresses.allow_auth_failure(AddressKey::of(client)) {
            return text(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed attempts; wait",
            );
        }
        tracing::warn!(%client, "admin request refused: bad or missing token");
        let (status, body) = error(
            StatusCode::UNAUTHORIZED,
            "a valid Authorization: Bearer token is required",
        );
        let mut response = json_response(status, &body);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    let (parts, body) = request.into_parts();
    // The body gets the head's deadline: a client that trickles it cannot hold the connection.
    let read = tokio::time::timeout(
        ctx.config.http_timeout,
        Limited::new(body, MAX_BODY_BYTES).collect(),
    );
    let body = match read.await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<LengthLimitError>() => {
            let (status, body) = error(StatusCode::PAYLOAD_TOO_LARGE, "the body is over 4 KiB");
            return json_response(status, &body);
        }
        Ok(Err(_)) => return text(StatusCode::BAD_REQUEST, "the body could not be read"),
        Err(_) => {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
            )
        }
    };
    let (status, reply) = route(&parts.method, parts.uri.path(), &body, ctx).await;
    tracing::info!(method = %parts.method, path = %parts.uri.path(), status = status.as_u16(), "admin request");
    json_response(status, &reply)
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = respond(status, "application/json", body.to_string());
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Reply> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

async fn route(method: &Method, path: &str, body: &[u8], ctx: &Context) -> Reply {
    match (method.as_str(), path) {
        ("GET", "/admin/rooms") => (
            StatusCode::OK,
            json!({ "rooms": ctx.lobby.describe().await }),
        ),
        ("GET", "/admin/bans") => {
            let bans: Vec<_> = ctx
                .bans
                .list()
                .into_iter()
                .map(|(address, left)| json!({ "address": address.to_string(), "seconds_left": left.as_secs_f64() }))
                .collect();
            (StatusCode::OK, json!({ "bans": bans }))
        }
        ("POST", "/admin/kick") => match parse::<KickRequest>(body) {
            Ok(kick) => {
                let target = KickTarget::Player(EntityId(kick.player));
                let room = Some(RoomId(kick.room));
                let kicked = ctx.lobby.kick(room, target, Disconnect::KICKED).await;
                if kicked.is_empty() {
                    let (room, player) = (kick.room, kick.player);
                    error(
                        StatusCode::NOT_FOUND,
                        format!("no player {player} in room {room}"),
                    )
                } else {
                    (StatusCode::OK, json!({ "kicked": ids(&kicked) }))
                }
            }
            Err(reply) => reply,
        },
        ("POST", "/admin/ban") => match parse::<BanRequest>(body) {
            Ok(ban) => ban_request(ban, ctx).await,
            Err(reply) => reply,
        },
        ("POST", "/admin/broadcast") => match parse::<BroadcastRequest>(body) {
            Ok(broadcast) if broadcast.text.chars().count() > MAX_CHAT_CHARS => error(
                StatusCode::BAD_REQUEST,
                format!("text is over {MAX_CHAT_CHARS} characters"),
            ),
            Ok(broadcast) => match sanitize_chat(&broadcast.text) {
                Some(text) => {
                    let rooms = ctx.lobby.broadcast(&text).await;
                    (StatusCode::OK, json!({ "rooms": rooms, "text": text }))
                }
                None => error(StatusCode::BAD_REQUEST, "text is empty"),
            },
            Err(reply) => reply,
        },
        (_, "/admin/rooms" | "/admin/bans" | "/admin/kick" | "/admin/ban" | "/admin/broadcast") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "wrong method for this path")
        }
        _ => error(StatusCode::NOT_FOUND, "no such admin endpoint"),
    }
}

async fn ban_request(ban: BanRequest, ctx: &Context) -> Reply {
    if !(ban.seconds.is_finite() && ban.seconds > 0.0 && ban.seconds <= MAX_BAN_SECONDS) {
        return error(
            StatusCode::BAD_REQUEST,
            "seconds must be more than 0 and at most a year",
        );
    }
    let address = match (ban.room, ban.player, ban.address) {
        (Some(room), Some(player), None) => {
            // Find the address first, ban it, then close everyone from it: no window to rejoin.
            let found = ctx
                .lobby
                .describe()
                .await
                .into_iter()
                .filter(|r| r.id == room)
                .flat_map(|r| r.players)
                .find(|p| p.id == player);
            match found {
                None => {
                    return error(
                        StatusCode::NOT_FOUND,
                        format!("no player {player} in room {room}"),
                    )
                }
                Some(PlayerInfo { address: None, .. }) => {
                    return error(StatusCode::CONFLICT, "the player's address is unknown")
                }
                Some(PlayerInfo {
                    address: Some(address),
                    ..
                }) => address,
            }
        }
        (None, None, Some(address)) => address,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "give either room and player, or address",
            )
        }
    };
    let address = AddressKey::of(address);
    ctx.bans
        .ban(address.ip(), Duration::from_secs_f64(ban.seconds));
    let kicked = ctx
        .lobby
        .kick(None, KickTarget::Address(address), Disconnect::BANNED)
        .await;
    tracing::info!(%address, seconds = ban.seconds, "address banned");
    (
        StatusCode::OK,
        json!({ "address": address.to_string(), "seconds": ban.seconds, "kicked": ids(&kicked) }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_compare_whole() {
        let token: Secret = "0123456789abcdef".parse().expect("long enough");
        assert!(authorized(Some("Bearer 0123456789abcdef"), &token));
        assert!(
            authorized(Some("bearer 0123456789abcdef"), &token),
            "any case"
        );
        assert!(authorized(Some("BEARER  0123456789abcdef "), &token));
        assert!(!authorized(Some("Bearer 0123456789abcdeF"), &token));
        assert!(!authorized(Some("Basic 0123456789abcdef"), &token));
        assert!(!authorized(None, &token));
    }
}
