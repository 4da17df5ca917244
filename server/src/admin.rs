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
use crate::http::{self, Request};
use crate::link::Disconnect;
use crate::room::{KickTarget, PlayerInfo};
use crate::secret::{constant_time_eq, Secret};
use crate::server::Context;
use serde::Deserialize;
use serde_json::json;
use skirmish_shared::protocol::{EntityId, RoomId, MAX_CHAT_CHARS};
use skirmish_shared::text::sanitize_chat;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

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

/// Address bans with their end times, keyed like every cap ([`AddressKey`]: an IPv6 ban covers
/// the address's /64).
#[derive(Debug, Default)]
pub struct Bans {
    until: Mutex<HashMap<AddressKey, Instant>>,
}

impl Bans {
    /// Bans `address` for `duration` (replacing any ban it had).
    pub fn ban(&self, address: IpAddr, duration: Duration) {
        self.lock()
            .insert(AddressKey::of(address), Instant::now() + duration);
    }

    /// Whether `address` is banned now.
    pub fn is_banned(&self, address: IpAddr) -> bool {
        let address = AddressKey::of(address);
        let mut bans = self.lock();
        match bans.get(&address) {
            Some(&until) if until > Instant::now() => true,
            Some(_) => {
                bans.remove(&address);
                false
            }
            None => false,
        }
    }

    /// The bans in force, with the time left on each.
    pub fn list(&self) -> Vec<(AddressKey, Duration)> {
        let now = Instant::now();
        let mut bans = self.lock();
        bans.retain(|_, until| *until > now);
        let mut list: Vec<_> = bans.iter().map(|(a, until)| (*a, *until - now)).collect();
        list.sort();
        list
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AddressKey, Instant>> {
        self.until.lock().unwrap_or_else(|p| p.into_inner())
    }
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

/// A response: status line and JSON body.
type Reply = (&'static str, serde_json::Value);

fn error(status: &'static str, message: impl Into<String>) -> Reply {
    (status, json!({ "error": message.into() }))
}

fn ids(players: &[PlayerInfo]) -> Vec<u32> {
    players.iter().map(|p| p.id).collect()
}

/// Serves one `/admin` request (404 when no admin token is configured, as if there were no API).
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &Request,
    leftover: Vec<u8>,
    ctx: &Context,
) {
    let Some(token) = &ctx.config.admin_token else {
        let _ = http::respond_error(&mut stream, "404 Not Found").await;
        return;
    };
    if !authorized(request.header("authorization"), token) {
        tracing::warn!(path = %request.path, "admin request refused: bad or missing token");
        let body = json!({ "error": "a valid Authorization: Bearer token is required" });
        let _ = http::respond_with(
            &mut stream,
            "401 Unauthorized",
            "application/json",
            &[("WWW-Authenticate", "Bearer")],
            body.to_string().as_bytes(),
        )
        .await;
        return;
    }
    let body = match http::read_body(&mut stream, request, leftover, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(http::HttpError::TooLarge) => {
            let _ = http::respond_error(&mut stream, "413 Content Too Large").await;
            return;
        }
        Err(_) => {
            let _ = http::respond_error(&mut stream, "400 Bad Request").await;
            return;
        }
    };
    let (status, reply) = route(request, &body, ctx).await;
    tracing::info!(method = %request.method, path = %request.path, status, "admin request");
    let _ = http::respond(
        &mut stream,
        status,
        "application/json",
        reply.to_string().as_bytes(),
        false,
    )
    .await;
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Reply> {
    serde_json::from_slice(body)
        .map_err(|e| error("400 Bad Request", format!("bad JSON body: {e}")))
}

async fn route(request: &Request, body: &[u8], ctx: &Context) -> Reply {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/admin/rooms") => ("200 OK", json!({ "rooms": ctx.lobby.describe().await })),
        ("GET", "/admin/bans") => {
            let bans: Vec<_> = ctx
                .bans
                .list()
                .into_iter()
                .map(|(address, left)| json!({ "address": address.to_string(), "seconds_left": left.as_secs_f64() }))
                .collect();
            ("200 OK", json!({ "bans": bans }))
        }
        ("POST", "/admin/kick") => match parse::<KickRequest>(body) {
            Ok(kick) => {
                let target = KickTarget::Player(EntityId(kick.player));
                let room = Some(RoomId(kick.room));
                let kicked = ctx.lobby.kick(room, target, Disconnect::KICKED).await;
                if kicked.is_empty() {
                    let (room, player) = (kick.room, kick.player);
                    error(
                        "404 Not Found",
                        format!("no player {player} in room {room}"),
                    )
                } else {
                    ("200 OK", json!({ "kicked": ids(&kicked) }))
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
                "400 Bad Request",
                format!("text is over {MAX_CHAT_CHARS} characters"),
            ),
            Ok(broadcast) => match sanitize_chat(&broadcast.text) {
                Some(text) => {
                    let rooms = ctx.lobby.broadcast(&text).await;
                    ("200 OK", json!({ "rooms": rooms, "text": text }))
                }
                None => error("400 Bad Request", "text is empty"),
            },
            Err(reply) => reply,
        },
        (_, "/admin/rooms" | "/admin/bans" | "/admin/kick" | "/admin/ban" | "/admin/broadcast") => {
            error("405 Method Not Allowed", "wrong method for this path")
        }
        _ => error("404 Not Found", "no such admin endpoint"),
    }
}

async fn ban_request(ban: BanRequest, ctx: &Context) -> Reply {
    if !(ban.seconds.is_finite() && ban.seconds > 0.0 && ban.seconds <= MAX_BAN_SECONDS) {
        return error(
            "400 Bad Request",
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
                        "404 Not Found",
                        format!("no player {player} in room {room}"),
                    )
                }
                Some(PlayerInfo { address: None, .. }) => {
                    return error("409 Conflict", "the player's address is unknown")
                }
                Some(PlayerInfo {
                    address: Some(address),
                    ..
                }) => address,
            }
        }
        (None, None, Some(address)) => address,
        _ => return error("400 Bad Request", "give either room and player, or address"),
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
        "200 OK",
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

    #[tokio::test(start_paused = true)]
    async fn bans_end() {
        let bans = Bans::default();
        let address: IpAddr = "192.0.2.7".parse().expect("ip");
        bans.ban(address, Duration::from_secs(60));
        assert!(bans.is_banned(address));
        assert!(!bans.is_banned("192.0.2.8".parse().expect("ip")));
        assert_eq!(bans.list().len(), 1);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(!bans.is_banned(address));
        assert!(bans.list().is_empty());
    }
}
