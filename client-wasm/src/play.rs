//! Where to play: the page asks `GET /api/play` before it opens a socket, and connects where the
//! answer says. A lone `skirmish-server` answers for itself and a fleet's `skirmish-directory` for
//! the fleet, so the page never needs to know which one served it. Pure (no DOM, no clock), tested
//! natively; `web/net.rs` sends the request and `web/app.rs` follows the [`Route`].
//!
//! - [`Ask::query`]: the request for what the player asked (any room, a room by code, a room to
//!   watch).
//! - [`read_answer`]: the answer, as the page read it ([`Answer`]), into a [`Target`] or the words
//!   the card shows.
//! - [`Route`]: what one join keeps between connections: the url a seat is on (reconnects and
//!   resumes go back there without asking), and when a refusal sends the page to ask again.
//! - [`refusal_text`]: a refusal the card shows, in words.

use skirmish_shared::protocol::{room_code, RefuseReason, ROOM_CODE_CHARS};

/// The endpoint that says where to connect.
pub const PLAY_PATH: &str = "/api/play";

/// How long the page waits for the answer before it gives up and says so, in ms.
pub const ASK_TIMEOUT_MS: i32 = 8_000;

/// How many times a refusal of a room the page did not choose (full by the time the page got
/// there) sends the page back to ask again before it shows the refusal.
pub const MAX_REASKS: u32 = 3;

/// Connections in a row to a seat's url that may fail before the seat is taken for gone and the
/// page asks again: with the backoff of 0.5 s doubling to 8 s they span about 15 s, the server's
/// default reconnect grace, after which no seat is held to go back to.
pub const MAX_SEAT_RETRIES: u32 = 6;

/// Connections to answered urls that may fail before any `Welcome` (the game server unreachable:
/// down, a wrong address, a refused origin or scheme) before the join gives up and says so.
pub const MAX_UNREACHED: u32 = 3;

/// Longest error text from an answer that the card shows, in characters.
pub const MAX_ERROR_CHARS: usize = 200;

/// Longest url an answer may name, in bytes.
pub const MAX_URL_BYTES: usize = 2_048;

/// What the player asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ask {
    /// The room asked for by code (from the link, or picked on the card), in canonical form;
    /// `None`: any room.
    pub room: Option<String>,
    /// To watch rather than play.
    pub watch: bool,
}

impl Ask {
    /// The request to send: `/api/play`, `/api/play?room=CODE`, `/api/play?watch=CODE`, or
    /// `/api/play?watch=` (any room to watch).
    pub fn query(&self) -> String {
        let code = self.room.as_deref().map(encode_component);
        match (code, self.watch) {
            (None, false) => PLAY_PATH.to_string(),
            (Some(code), false) => format!("{PLAY_PATH}?room={code}"),
            (code, true) => format!("{PLAY_PATH}?watch={}", code.unwrap_or_default()),
        }
    }
}

/// `text` percent-encoded for a query value (a code is letters and digits already; anything else
/// is kept from breaking the query).
fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One field of the answer's JSON object, as the page found it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Field {
    /// Not in the object (or the body was not a JSON object).
    #[default]
    Absent,
    /// `null`.
    Null,
    /// A string.
    Text(String),
    /// Anything else (a number, an object...).
    Other,
}

/// The answer to `GET /api/play` as the page received it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// `url`: where to connect (`ws://` or `wss://`).
    pub url: Field,
    /// `room`: the room to join there (`null`: any room there).
    pub room: Field,
    /// `error`: why there is no place to play (non-200 answers).
    pub error: Field,
    /// `server`: the game server's name (the directory says it).
    pub server: Field,
}

/// Where to connect, as an answer said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The WebSocket url.
    pub url: String,
    /// The room to ask for in `Hello`; `None`: any room on that server.
    pub room: Option<String>,
    /// The game server's name, when a directory said it (for the stats and bug reports).
    pub server: Option<String>,
}

/// Why the request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskFailure {
    /// The request failed (the network, or nothing listening).
    Unreachable,
    /// No answer came within [`ASK_TIMEOUT_MS`].
    TimedOut,
}

/// The card's words for a request that got no answer.
pub fn failure_text(failure: AskFailure) -> String {
    match failure {
        AskFailure::Unreachable => {
            "The page cannot reach the server (is your connection down, or the server?). \
             Try again in a moment."
        }
        AskFailure::TimedOut => {
            "The server did not say where to play in time. Try again in a moment."
        }
    }
    .to_string()
}

/// Reads an answer: a place to connect to, or the words the card shows (the answer's `error`
/// when it gives one). `secure_page`: the page is `https:`, where a browser refuses `ws://`, so a
/// `ws://` url is taken as its `wss://` (the old page's rule: `wss` on an `https` page).
/// A refusal of a room the player asked for names that room, so the card says which.
pub fn read_answer(answer: &Answer, ask: &Ask, secure_page: bool) -> Result<Target, String> {
    if answer.status != 200 {
        return Err(refusal_from(answer, ask));
    }
    let Field::Text(url) = &answer.url else {
        return Err(odd_answer("it names no address to connect to"));
    };
    let url = checked_url(url.trim(), secure_page)?;
    let room = match &answer.room {
        Field::Absent | Field::Null => None,
        Field::Text(text) => Some(
            room_code::parse(text)
                .ok_or_else(|| odd_answer("the room it names is not a room code"))?,
        ),
        Field::Other => return Err(odd_answer("the room it names is not a room code")),
    };
    let server = match &answer.server {
        Field::Text(name) => Some(clean_text(name, 64)).filter(|n| !n.is_empty()),
        _ => None,
    };
    Ok(Target { url, room, server })
}

/// The words for a non-200 answer to `ask`.
/// `text` with a capital first letter and a full stop at the end.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?', '…']) {
        out.push('.');
    }
    out
}

fn refusal_from(answer: &Answer, ask: &Ask) -> String {
    // Servers write reasons as lower-case phrases; the card shows them as sentences.
    let said = match &answer.error {
        Field::Text(text) => sentence(&clean_text(text, MAX_ERROR_CHARS)),
        _ => String::new(),
    };
    let again = answer.status >= 500 || answer.status == 429;
    let mut text = match (said.is_empty(), answer.status) {
        (false, _) => match ask.room.as_deref() {
            Some(code) if !said.contains(code) => format!("Room {code}: {said}"),
            _ => said,
        },
        (true, 404) => "That room has ended or is full.".to_string(),
        (true, 503) => "No game server has a free seat right now.".to_string(),
        (true, status) => format!("The server answered {status} when asked where to play."),
    };
    if again && !text.to_ascii_lowercase().contains("try again") {
        if !text.ends_with(['.', '!', '?']) {
            text.push('.');
        }
        text.push_str(" Try again in a moment.");
    }
    text
}

fn odd_answer(why: &str) -> String {
    format!("The server's answer about where to play makes no sense ({why}). Try again later.")
}

/// A `ws://` or `wss://` url with a host, no spaces or controls, at most [`MAX_URL_BYTES`].
fn checked_url(url: &str, secure_page: bool) -> Result<String, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| odd_answer("its address is not a WebSocket url"))?;
    let scheme = scheme.to_ascii_lowercase();
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if !matches!(scheme.as_str(), "ws" | "wss")
        || host.is_empty()
        || url.len() > MAX_URL_BYTES
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(odd_answer("its address is not a WebSocket url"));
    }
    let scheme = if secure_page { "wss" } else { scheme.as_str() };
    Ok(format!("{scheme}://{rest}"))
}

/// `text` on one line (controls and runs of spaces made one space), at most `max` characters.
fn clean_text(text: &str, max: usize) -> String {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let line = words.join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// What a join does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Ask `/api/play` with this query.
    Ask(String),
    /// Open a socket to this url (a seat is held there, or was just offered).
    Connect(String),
    /// Stop: the game servers answered could not be reached; these words go on the card.
    GiveUp(String),
}

/// After a refusal: what the page does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterRefusal {
    /// Ask `/api/play` again (the room was the answer's pick, and it filled up meanwhile).
    AskAgain,
    /// Show the refusal on the card.
    Show,
}

/// What one join keeps between its connections: the question asked, where the answer sent it, and
/// whether a seat is held there.
///
/// Invariant: once a `Welcome` came from the target's url ([`Route::on_welcome`]), every reconnect
/// goes to that url (the seat, and its resume token, are on that server) until
/// [`MAX_SEAT_RETRIES`] connections in a row failed or the server forgot the seat
/// ([`Route::forget_seat`]); before any `Welcome`, a lost connection asks again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    ask: Ask,
    target: Option<Target>,
    /// A `Welcome` came from the target: a seat (or a watched room) is there.
    seated: bool,
    /// Connections to the seat's url that failed since the last `Welcome`.
    seat_failures: u32,
    /// Times a refusal sent the page back to ask.
    reasks: u32,
    /// Connections to answered urls lost before any `Welcome`.
    unreached: u32,
}

impl Route {
    /// A join that starts by asking.
    pub fn new(ask: Ask) -> Route {
        Route {
            ask,
            target: None,
            seated: false,
            seat_failures: 0,
            reasks: 0,
            unreached: 0,
        }
    }

    /// A join that goes back to a seat held at `url` in `room` (a reload with a resume token):
    /// it connects there without asking. `url` is checked as an answer's would be; a bad one is
    /// ignored and the join asks.
    pub fn resume(ask: Ask, url: &str, room: Option<String>, secure_page: bool) -> Route {
        let mut route = Route::new(ask);
        if let Ok(url) = checked_url(url, secure_page) {
            route.target = Some(Target {
                url,
                room,
                server: None,
            });
            route.seated = true;
        }
        route
    }

    /// What the player asked for.
    pub fn ask(&self) -> &Ask {
        &self.ask
    }

    /// Where the answer sent this join, if it has been answered.
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }

    /// The room to ask for in `Hello`: the answer's (or, after a `Welcome`, the room joined).
    pub fn hello_room(&self) -> Option<String> {
        self.target.as_ref().and_then(|t| t.room.clone())
    }

    /// What to do first, and after a connection was lost: connect to the seat's url while one is
    /// held, else ask. Counts the failures of the seat's url (call it once per attempt).
    pub fn next_step(&mut self) -> Next {
        if !self.seated && self.unreached >= MAX_UNREACHED {
            let at = self
                .target
                .as_ref()
                .map_or(String::new(), |t| format!(" at {}", t.url));
            return Next::GiveUp(format!(
                "Cannot reach the game server{at}. Try again in a moment."
            ));
        }
        if self.seated && self.seat_failures >= MAX_SEAT_RETRIES {
            // The seat cannot be held this long: ask again, as a fresh join.
            self.forget_seat();
        }
        match &self.target {
            Some(target) if self.seated => Next::Connect(target.url.clone()),
            _ => Next::Ask(self.ask.query()),
        }
    }

    /// A connection to the seat's url failed or was lost before a `Welcome`.
    pub fn on_lost(&mut self) {
        if self.seated {
            self.seat_failures += 1;
        } else if self.target.is_some() {
            self.unreached += 1;
        }
    }

    /// The answer came: where to connect, or the words for the card.
    pub fn on_answer(&mut self, answer: Result<Target, String>) -> Result<String, String> {
        let target = answer?;
        let url = target.url.clone();
        self.target = Some(target);
        self.seated = false;
        self.seat_failures = 0;
        Ok(url)
    }

    /// The server seated us in `room_code` (a player's seat or a spectator's place): reconnects
    /// go back to this url and ask for this room.
    pub fn on_welcome(&mut self, room_code: &str) {
        if let Some(target) = &mut self.target {
            if let Some(code) = room_code::parse(room_code) {
                target.room = Some(code);
            }
            self.seated = true;
            self.seat_failures = 0;
            self.unreached = 0;
        }
    }

    /// The server no longer holds the seat (its resume token was refused, or it stayed away past
    /// the grace): the next connection asks again.
    pub fn forget_seat(&mut self) {
        self.target = None;
        self.seated = false;
        self.seat_failures = 0;
    }

    /// Whether the room refused was chosen by the player (from the link, or picked) rather than
    /// by the answer.
    pub fn room_chosen(&self) -> bool {
        self.ask.room.is_some()
    }

    /// The server refused to seat us: ask again when the room was the answer's pick and it had
    /// filled up (or closed) since the answer (at most [`MAX_REASKS`] times in one join), else
    /// show the refusal.
    pub fn on_refused(&mut self, reason: RefuseReason) -> AfterRefusal {
        let stale = match reason {
            RefuseReason::RoomFull | RefuseReason::ServerFull | RefuseReason::SpectatorsFull => {
                true
            }
            // Only a room the answer named can have closed since (no room named: none was open).
            RefuseReason::NoSuchRoom => self.hello_room().is_some(),
            _ => false,
        };
        if stale && !self.room_chosen() && !self.seated && self.reasks < MAX_REASKS {
            self.reasks += 1;
            self.target = None;
            return AfterRefusal::AskAgain;
        }
        AfterRefusal::Show
    }
}

/// The card's words for a refusal of the room `room` (`None`: the server's pick); `chosen`: the
/// player asked for that room (from a link or a pick) rather than the answer naming it.
pub fn refusal_text(reason: RefuseReason, room: Option<&str>, chosen: bool) -> String {
    let code = room.unwrap_or_default();
    match reason {
        RefuseReason::RoomFull if chosen => {
            format!("Room {code} is full. Pick another room, or join any room.")
        }
        RefuseReason::ServerFull if chosen => {
            "The server has no free seat right now. Try again in a moment.".to_string()
        }
        RefuseReason::RoomFull | RefuseReason::ServerFull => {
            "Every seat offered was taken before you got there. Try again in a moment.".to_string()
        }
        RefuseReason::NoSuchRoom if code.is_empty() => {
            "No room is open to watch right now. Play, and others can watch you.".to_string()
        }
        RefuseReason::NoSuchRoom if chosen => format!(
            "Room {code} is not open (it may have closed). Pick another room, or join any room."
        ),
        RefuseReason::NoSuchRoom => {
            "The room offered closed before you got there. Try again in a moment.".to_string()
        }
        RefuseReason::SpectatorsFull if code.is_empty() => {
            "The rooms offered have as many spectators as they admit. Try again later, or play."
                .to_string()
        }
        RefuseReason::SpectatorsFull => {
            format!("Room {code} has as many spectators as it admits. Try again later, or play.")
        }
        _ => "The server would not seat you.".to_string(),
    }
}

/// The card's words for a link whose room code cannot be a code (`shown`: what it carried, cut
/// short), saying how long codes are ([`ROOM_CODE_CHARS`]) with an example.
pub fn not_a_code_text(shown: &str) -> String {
    let example =
        room_code::from_random(&room_code::random_tag(EXAMPLE_CODE_SEED), EXAMPLE_CODE_SEED);
    format!(
        "“{shown}” is not a room code (codes are {ROOM_CODE_CHARS} letters and digits, like {example})."
    )
}

/// The value whose code [`not_a_code_text`] shows as an example.
const EXAMPLE_CODE_SEED: u64 = 0x0123_4567_89AB_CDEF;

#[cfg(test)]
mod tests;
