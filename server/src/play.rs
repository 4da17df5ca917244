//! `GET /api/play`: where the page should connect. The page always asks this first, whether it was
//! served by a lone `skirmish-server` (which answers with its own address) or by the fleet's
//! `skirmish-directory` (which allocates a game server through Agones), so it never needs to know
//! which. This module holds what both share: the query, the answer, and their JSON.
//!
//! - `GET /api/play`: any room with a free seat;
//! - `GET /api/play?room=CODE`: the room a friend shared; 404 when it has ended or is full;
//! - `GET /api/play?watch=CODE`: a room to watch (a full one too; spectators take no seat);
//!   `?watch=` empty: any open room.
//!
//! 200 answers `{"url": "wss://HOST:PORT/ws", "room": "CODE" or null}` (null: join any room there);
//! others answer `{"error": "why"}`: 404 (no such room, full, nothing to watch), 503 (no seat, no
//! allocator, or the directory busy), 429 (the directory's rate per address), 405, 400.

use crate::response::{respond, Body};
use http::{header, HeaderValue, Response, StatusCode};
use skirmish_shared::protocol::room_code;

/// The path.
pub const PATH: &str = "/api/play";

/// What the page asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayQuery {
    /// A seat in any room.
    Any,
    /// A seat in the room with this (canonical) code.
    Room(String),
    /// To watch the room with this code, or any open room.
    Watch(Option<String>),
}

impl PlayQuery {
    /// Reads the query string (`room=CODE`, `watch=CODE`); an error says what is wrong with it.
    pub fn parse(query: Option<&str>) -> Result<PlayQuery, String> {
        let mut asked = PlayQuery::Any;
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            // `+` is a space in a form's query; a malformed escape is kept as written, which is no
            // room code.
            let value = value.replace('+', " ");
            let value = crate::assets::percent_decode(&value).unwrap_or(value);
            let code = || {
                room_code::parse(&value).ok_or_else(|| {
                    let shown: String = value.chars().take(16).collect();
                    format!("{shown:?} is not a room code")
                })
            };
            asked = match key {
                "room" if value.trim().is_empty() => asked,
                "room" => PlayQuery::Room(code()?),
                "watch" if value.trim().is_empty() => PlayQuery::Watch(None),
                "watch" => PlayQuery::Watch(Some(code()?)),
                _ => asked,
            };
        }
        Ok(asked)
    }

    /// The query string that asks for this (without `?`), as the page and the directory write it.
    pub fn to_query(&self) -> String {
        match self {
            PlayQuery::Any => String::new(),
            PlayQuery::Room(code) => format!("room={code}"),
            PlayQuery::Watch(code) => format!("watch={}", code.as_deref().unwrap_or_default()),
        }
    }
}

/// A 200 answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlayAnswer {
    /// The game socket to open.
    pub url: String,
    /// The room to ask for in `Hello`; `None`: any room there.
    pub room: Option<String>,
    /// The game server chosen (the directory names its Agones `GameServer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// A refusal's body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlayError {
    /// Why, for a person.
    pub error: String,
}

/// The JSON response for `answer`.
pub fn answer(answer: &PlayAnswer) -> Response<Body> {
    json(
        StatusCode::OK,
        &serde_json::to_string(answer).unwrap_or_default(),
    )
}

/// A refusal with `status` and `why`.
pub fn refuse(status: StatusCode, why: &str) -> Response<Body> {
    let body = PlayError {
        error: why.to_string(),
    };
    json(status, &serde_json::to_string(&body).unwrap_or_default())
}

fn json(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = respond(status, "application/json", body.to_string());
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Why the room `code` cannot be joined: it is not open, or it is full.
pub fn room_gone(code: &str) -> String {
    format!("room {code} has ended (or never existed); join any room, or check the code")
}

/// Why the room `code` cannot be joined: every seat is taken.
pub fn room_full(code: &str) -> String {
    format!("room {code} is full; try again in a moment, or join any room")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_name_a_room_to_play_or_watch() {
        assert_eq!(PlayQuery::parse(None), Ok(PlayQuery::Any));
        assert_eq!(PlayQuery::parse(Some("")), Ok(PlayQuery::Any));
        assert_eq!(PlayQuery::parse(Some("room=")), Ok(PlayQuery::Any));
        assert_eq!(
            PlayQuery::parse(Some("room=k7mp-qr")),
            Ok(PlayQuery::Room("K7MPQR".into()))
        );
        assert_eq!(
            PlayQuery::parse(Some("room=k7%20mpqr&x=1")),
            Ok(PlayQuery::Room("K7MPQR".into()))
        );
        assert_eq!(
            PlayQuery::parse(Some("room=K7+MP+QR")),
            Ok(PlayQuery::Room("K7MPQR".into()))
        );
        let error = PlayQuery::parse(Some("room=%FF%FE")).expect_err("not UTF-8");
        assert!(error.contains("%FF%FE"), "what was sent is shown: {error}");
        assert_eq!(PlayQuery::parse(Some("watch=")), Ok(PlayQuery::Watch(None)));
        assert_eq!(
            PlayQuery::parse(Some("watch=K7MPQR")),
            Ok(PlayQuery::Watch(Some("K7MPQR".into())))
        );
        for bad in [
            "room=K7MPQ",
            "room=%",
            "room=%zz",
            "watch=nope",
            "room=%C3%A9",
        ] {
            let error = PlayQuery::parse(Some(bad)).expect_err(bad);
            assert!(error.contains("is not a room code"), "{bad}: {error}");
        }
        for query in [
            PlayQuery::Any,
            PlayQuery::Room("K7MPQR".into()),
            PlayQuery::Watch(None),
            PlayQuery::Watch(Some("K7MPQR".into())),
        ] {
            assert_eq!(PlayQuery::parse(Some(&query.to_query())), Ok(query));
        }
    }

    #[test]
    fn answers_are_the_documented_json() {
        let with_room = PlayAnswer {
            url: "wss://a.example:7000/ws".into(),
            room: Some("K7MPQR".into()),
            server: None,
        };
        assert_eq!(
            serde_json::to_string(&with_room).expect("json"),
            r#"{"url":"wss://a.example:7000/ws","room":"K7MPQR"}"#
        );
        let any = PlayAnswer {
            room: None,
            server: Some("skirmish-x".into()),
            ..with_room
        };
        assert_eq!(
            serde_json::to_string(&any).expect("json"),
            r#"{"url":"wss://a.example:7000/ws","room":null,"server":"skirmish-x"}"#
        );
    }
}
