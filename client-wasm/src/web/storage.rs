//! What the page keeps between loads: the resume token per tab (`sessionStorage`, so a reload takes
//! the same seat back while another tab joins as someone else), with the room and the server's url
//! the seat is on, and the name for every visit (`localStorage`). Storage can be missing or refuse (private modes, quotas): then nothing is kept.

use skirmish_shared::protocol::ResumeToken;
use web_sys::Storage;

/// `sessionStorage` key of the resume token, as 32 hex digits.
const TOKEN_KEY: &str = "skirmish.resumeToken";

/// `sessionStorage` key of the code of the room the token's seat is in.
const TOKEN_ROOM_KEY: &str = "skirmish.resumeRoom";

/// `sessionStorage` key of the url of the game server the token's seat is on (from `/api/play`).
const TOKEN_URL_KEY: &str = "skirmish.resumeUrl";

/// `localStorage` key of the player's name.
const NAME_KEY: &str = "skirmish.name";

fn session() -> Option<Storage> {
    web_sys::window()?.session_storage().ok()?
}

fn local() -> Option<Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// A seat this tab holds.
pub struct Seat {
    /// Its resume token.
    pub token: ResumeToken,
    /// The code of the room it is in (empty if the server gave none).
    pub room: String,
    /// The url of the game server it is on (`None` from a page that did not keep it).
    pub url: Option<String>,
}

/// The seat this tab holds, if any (a malformed token counts as none).
pub fn load_token() -> Option<Seat> {
    let storage = session()?;
    let text = storage.get_item(TOKEN_KEY).ok()??;
    let room = storage.get_item(TOKEN_ROOM_KEY).ok()?.unwrap_or_default();
    let url = storage.get_item(TOKEN_URL_KEY).ok()?;
    let mut bytes = [0u8; 16];
    if text.len() != 2 * bytes.len() || !text.is_ascii() {
        return None;
    }
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(Seat {
        token: ResumeToken(bytes),
        room,
        url,
    })
}

/// Keeps the token of the seat this tab holds (each `Welcome` brings a fresh one), its room's code
/// and the url of the server it is on.
pub fn save_token(token: &ResumeToken, room_code: &str, url: Option<&str>) {
    let text: String = token.0.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(storage) = session() {
        let _ = storage.set_item(TOKEN_KEY, &text);
        let _ = storage.set_item(TOKEN_ROOM_KEY, room_code);
        let _ = match url {
            Some(url) => storage.set_item(TOKEN_URL_KEY, url),
            None => storage.remove_item(TOKEN_URL_KEY),
        };
    }
}

/// Forgets the token (the server refused it: the seat is gone).
pub fn clear_token() {
    if let Some(storage) = session() {
        let _ = storage.remove_item(TOKEN_KEY);
        let _ = storage.remove_item(TOKEN_ROOM_KEY);
        let _ = storage.remove_item(TOKEN_URL_KEY);
    }
}

/// The name used last time, if any.
pub fn load_name() -> Option<String> {
    local()?.get_item(NAME_KEY).ok()?
}

/// Keeps the name for the next visit.
pub fn save_name(name: &str) {
    if let Some(storage) = local() {
        let _ = storage.set_item(NAME_KEY, name);
    }
}
