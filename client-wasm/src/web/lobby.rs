//! The landing card and the room you are in: the name field with the Play and Watch buttons, the
//! room asked for by the link (`/?room=CODE` to play, `/?watch=CODE` to watch at once), the open
//! rooms from `GET /api/rooms` to pick from, the recorded matches from `GET /api/replays` (each a
//! link to `/?replay=ID`), refusals said in words, and the in-game room panel with a "Copy link"
//! button.
//!
//! The rooms and the replays are one game server's. A fleet's directory serves the page but has
//! neither (it answers 404): then the card leaves those parts out, and asks no more.
//!
//! Buttons only record what was asked (a join, with a name and maybe a room); the frame loop takes
//! the request with [`Lobby::take_join`], so no listener holds the app.

use skirmish_shared::protocol::room_code;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Document, Element, HtmlElement, HtmlInputElement};

/// How often the open rooms are fetched again while the card shows, in ms.
const ROOMS_REFRESH_MS: i32 = 5_000;

/// Most rooms listed on the card.
const MAX_ROOMS_LISTED: u32 = 8;

/// What the card's buttons share with the frame loop.
#[derive(Default)]
struct Shared {
    /// The room to join by code (from the link, a pick, or the room last played in); `None`: any.
    room: Option<String>,
    /// A join asked for, with the name typed.
    join: Option<String>,
    /// The join asked for is to watch, not to play.
    watch: bool,
    /// The link to the room played in, for the copy button.
    link: String,
}

/// The landing card and the room panel.
pub struct Lobby {
    overlay: HtmlElement,
    name_input: HtmlInputElement,
    message: Element,
    any_room: Element,
    hud_room: Element,
    hud_room_code: Element,
    card_room: Element,
    card_room_code: Element,
    shared: Rc<RefCell<Shared>>,
    /// Set once `/api/rooms` answered 404: the page's origin is not a game server (a fleet's
    /// directory), so neither its rooms, its player count nor its replays are asked for again.
    lobby_missing: Rc<Cell<bool>>,
}

/// The element with `id`, as a `T`.
pub(super) fn by_id<T: JsCast>(doc: &Document, id: &str) -> Result<T, JsValue> {
    doc.get_element_by_id(id)
        .ok_or_else(|| JsValue::from_str(&format!("missing #{id}")))?
        .dyn_into::<T>()
        .map_err(|_| JsValue::from_str(&format!("#{id} has the wrong type")))
}

/// Calls `f` on every `event` at `target`, for as long as the page lives.
pub(super) fn listen(
    target: &Element,
    event: &str,
    f: impl FnMut(web_sys::Event) + 'static,
) -> Result<(), JsValue> {
    let closure = Closure::<dyn FnMut(web_sys::Event)>::new(f);
    target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref())?;
    // The card's and the replay bar's listeners live as long as the page.
    closure.forget();
    Ok(())
}

/// Whether the page runs on a touch screen (a coarse pointer, or touch events at all).
pub fn is_touch_device() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let coarse = window
        .match_media("(pointer: coarse)")
        .ok()
        .flatten()
        .is_some_and(|m| m.matches());
    coarse || js_sys::Reflect::has(&window, &JsValue::from_str("ontouchstart")).unwrap_or(false)
}

/// The link that opens the room with `code`, to play in it (`watch`: to watch it).
fn room_link(code: &str, watch: bool) -> String {
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    let key = if watch { "watch" } else { "room" };
    format!("{origin}/?{key}={code}")
}

/// The value of the page address's query parameter `key`, if present.
pub fn query_param(key: &str) -> Option<String> {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|search| web_sys::UrlSearchParams::new_with_str(&search).ok())
        .and_then(|params| params.get(key))
}

impl Lobby {
    /// Wires the card: reads `?room=` from the address, prefills the name, lists the open rooms.
    pub fn install(doc: &Document) -> Result<Lobby, JsValue> {
        let touch = is_touch_device();
        if let Some(root) = doc.document_element() {
            let _ = root.class_list().toggle_with_force("touch", touch);
        }
        if touch {
            // No Enter key to open the chat: the Chat button does.
            if let Some(chat) = doc.get_element_by_id("chat-input") {
                let _ = chat.set_attribute("placeholder", "Say something");
            }
        }
        let lobby = Lobby {
            overlay: by_id(doc, "join")?,
            name_input: by_id(doc, "name-input")?,
            message: by_id(doc, "join-message")?,
            any_room: by_id(doc, "any-room")?,
            hud_room: by_id(doc, "room")?,
            hud_room_code: by_id(doc, "room-code")?,
            card_room: by_id(doc, "card-room")?,
            card_room_code: by_id(doc, "card-room-code")?,
            shared: Rc::new(RefCell::new(Shared::default())),
            lobby_missing: Rc::new(Cell::new(false)),
        };
        if let Some(name) = super::storage::load_name() {
            lobby.name_input.set_value(&name);
        }
        // The room asked for by the link: `?watch=` watches it at once (an empty code: the room
        // the server picks); `?room=` fills the card.
        let watch = query_param("watch");
        let asked = watch.clone().or_else(|| query_param("room"));
        if let Some(asked) = asked.filter(|a| !a.trim().is_empty()) {
            match room_code::parse(&asked) {
                Some(code) => lobby.set_room(Some(code)),
                None => {
                    let shown: String = asked.chars().take(16).collect();
                    lobby.say(&crate::play::not_a_code_text(&shown));
                }
            }
        }
        if watch.is_some() && lobby.message.class_list().contains("hidden") {
            let mut shared = lobby.shared.borrow_mut();
            shared.watch = true;
            shared.join = Some(lobby.name_input.value());
        }
        lobby.wire_card(doc)?;
        lobby.wire_copy(doc)?;
        lobby.refresh_rooms(doc);
        let (doc2, shared, overlay) = (doc.clone(), lobby.shared.clone(), lobby.overlay.clone());
        let missing = lobby.lobby_missing.clone();
        let again = Closure::<dyn FnMut()>::new(move || {
            if !overlay.class_list().contains("hidden") {
                refresh_rooms(&doc2, &shared, &overlay, &missing);
            }
        });
        if let Some(window) = web_sys::window() {
            window.set_interval_with_callback_and_timeout_and_arguments_0(
                again.as_ref().unchecked_ref(),
                ROOMS_REFRESH_MS,
            )?;
        }
        again.forget();
        let _ = lobby.name_input.focus();
        Ok(lobby)
    }

    fn wire_card(&self, doc: &Document) -> Result<(), JsValue> {
        let form: Element = by_id(doc, "join-form")?;
        let (shared, name_input) = (self.shared.clone(), self.name_input.clone());
        listen(&form, "submit", move |e| {
            e.prevent_default();
            let mut shared = shared.borrow_mut();
            shared.watch = false;
            shared.join = Some(name_input.value());
        })?;
        // Watch: the room asked for by the link or picked, else the one the server picks.
        let watch: Element = by_id(doc, "watch")?;
        let (shared, name_input) = (self.shared.clone(), self.name_input.clone());
        listen(&watch, "click", move |_| {
            let mut shared = shared.borrow_mut();
            shared.watch = true;
            shared.join = Some(name_input.value());
        })?;
        let replays_button: Element = by_id(doc, "show-replays")?;
        let (doc2, missing) = (doc.clone(), self.lobby_missing.clone());
        listen(&replays_button, "click", move |_| {
            refresh_replays(doc2.clone(), missing.clone());
        })?;
        let (shared, name_input) = (self.shared.clone(), self.name_input.clone());
        let (message, any_room) = (self.message.clone(), self.any_room.clone());
        let card_room = self.card_room.clone();
        listen(&self.any_room, "click", move |_| {
            let mut shared = shared.borrow_mut();
            shared.room = None;
            shared.watch = false;
            shared.join = Some(name_input.value());
            let _ = message.class_list().add_1("hidden");
            let _ = any_room.class_list().add_1("hidden");
            let _ = card_room.class_list().add_1("hidden");
        })?;
        // Picking an open room joins it.
        let list: Element = by_id(doc, "room-list")?;
        let (shared, name_input) = (self.shared.clone(), self.name_input.clone());
        listen(&list, "click", move |e| {
            let code = e
                .target()
                .and_then(|t| t.dyn_into::<Element>().ok())
                .and_then(|t| t.closest("button[data-code]").ok().flatten())
                .and_then(|b| b.get_attribute("data-code"))
                .and_then(|c| room_code::parse(&c));
            if let Some(code) = code {
                let mut shared = shared.borrow_mut();
                shared.room = Some(code);
                shared.watch = false;
                shared.join = Some(name_input.value());
            }
        })
    }

    fn wire_copy(&self, doc: &Document) -> Result<(), JsValue> {
        for (button_id, field_id) in [
            ("copy-link", "room-link"),
            ("card-copy-link", "card-room-link"),
        ] {
            let button: Element = by_id(doc, button_id)?;
            let field: HtmlInputElement = by_id(doc, field_id)?;
            let shared = self.shared.clone();
            let label = button.clone();
            listen(&button, "click", move |_| {
                let link = shared.borrow().link.clone();
                // The button gives the focus back, so Space fires rather than pressing it again.
                if let Some(button) = label.dyn_ref::<HtmlElement>() {
                    let _ = button.blur();
                }
                copy(&link, &label, &field);
            })?;
        }
        Ok(())
    }

    /// Takes the join asked for on the card, if any: the name typed, and whether to watch rather
    /// than play. Keeps the name for the next visit and hides the card.
    pub fn take_join(&self) -> Option<(String, bool)> {
        let (name, watch) = {
            let mut shared = self.shared.borrow_mut();
            (shared.join.take()?, shared.watch)
        };
        let name = name.trim().to_string();
        if !name.is_empty() {
            super::storage::save_name(&name);
        }
        let _ = self.overlay.class_list().add_1("hidden");
        let _ = self.name_input.blur();
        Some((name, watch))
    }

    /// Shows the card with `text` (a replay that cannot be played, say): the player can play or
    /// watch from there.
    pub fn show_message(&self, text: &str) {
        self.say(text);
        let _ = self.any_room.class_list().add_1("hidden");
        let _ = self.overlay.class_list().remove_1("hidden");
    }

    /// Hides the card for a join that needs no name typed (a reload resuming its seat).
    pub fn hide(&self) {
        let _ = self.overlay.class_list().add_1("hidden");
        let _ = self.name_input.blur();
    }

    /// The name in the field.
    pub fn name(&self) -> String {
        self.name_input.value().trim().to_string()
    }

    /// The room asked for (from the link, or picked on the card); `None`: any room.
    pub fn room(&self) -> Option<String> {
        self.shared.borrow().room.clone()
    }

    /// The flag set once the page's origin said it has no rooms list (a fleet's directory), for
    /// the server's player count, which then is not polled either.
    pub fn lobby_missing(&self) -> Rc<Cell<bool>> {
        self.lobby_missing.clone()
    }

    fn refresh_rooms(&self, doc: &Document) {
        refresh_rooms(doc, &self.shared, &self.overlay, &self.lobby_missing);
    }

    fn set_room(&self, code: Option<String>) {
        let mut shared = self.shared.borrow_mut();
        let watch = shared.watch;
        shared.link = code
            .as_deref()
            .map(|code| room_link(code, watch))
            .unwrap_or_default();
        for (panel, label) in [
            (&self.hud_room, &self.hud_room_code),
            (&self.card_room, &self.card_room_code),
        ] {
            label.set_text_content(code.as_deref());
            let _ = panel
                .class_list()
                .toggle_with_force("hidden", code.is_none());
        }
        shared.room = code;
    }

    fn say(&self, text: &str) {
        self.message.set_text_content(Some(text));
        let _ = self.message.class_list().remove_1("hidden");
        let _ = self.any_room.class_list().remove_1("hidden");
    }

    /// Joined a room: show its code and link, and put it in the address bar so the address is the
    /// link too.
    /// A spectator's address is `/?watch=CODE`, so a reload watches again.
    pub fn on_welcome(&self, code: &str) {
        let code = room_code::parse(code);
        let key = if self.shared.borrow().watch {
            "watch"
        } else {
            "room"
        };
        if let (Some(code), Some(window)) = (&code, web_sys::window()) {
            if let Ok(history) = window.history() {
                let _ = history.replace_state_with_url(
                    &JsValue::NULL,
                    "",
                    Some(&format!("/?{key}={code}")),
                );
            }
        }
        let _ = self.message.class_list().add_1("hidden");
        let _ = self.any_room.class_list().add_1("hidden");
        self.set_room(code);
    }

    /// No join: `/api/play` named no place to play, or the server refused the room. The card comes
    /// back with `text`, offering any room if `offer_any_room` (a room was asked for), for the
    /// player to try again.
    pub fn on_not_joined(&self, text: &str, offer_any_room: bool, doc: &Document) {
        self.say(text);
        let _ = self
            .any_room
            .class_list()
            .toggle_with_force("hidden", !offer_any_room);
        let _ = self.hud_room.class_list().add_1("hidden");
        let _ = self.overlay.class_list().remove_1("hidden");
        let _ = self.name_input.focus();
        self.refresh_rooms(doc);
    }
}

/// Copies `link` to the clipboard, or, where the page may not (no clipboard API outside secure
/// pages, or a refusal), shows it in `field` selected for the player to copy.
fn copy(link: &str, label: &Element, field: &HtmlInputElement) {
    let fallback = {
        let (field, link) = (field.clone(), link.to_string());
        move || {
            field.set_value(&link);
            let _ = field.class_list().remove_1("hidden");
            let _ = field.focus();
            field.select();
        }
    };
    let Some(window) = web_sys::window() else {
        return;
    };
    let navigator = window.navigator();
    let has_clipboard = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard"))
        .is_ok_and(|c| !c.is_undefined() && !c.is_null());
    if !has_clipboard {
        fallback();
        return;
    }
    let promise = navigator.clipboard().write_text(link);
    let label = label.clone();
    wasm_bindgen_futures::spawn_local(async move {
        match JsFuture::from(promise).await {
            Ok(_) => {
                label.set_text_content(Some("Copied!"));
                let label = label.clone();
                let reset =
                    Closure::once_into_js(move || label.set_text_content(Some("Copy link")));
                if let Some(window) = web_sys::window() {
                    let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                        reset.unchecked_ref(),
                        1_500,
                    );
                }
            }
            Err(_) => fallback(),
        }
    });
}

/// One open room as `/api/rooms` lists it.
struct OpenRoom {
    code: String,
    players: u32,
    bots: u32,
    capacity: u32,
}

fn number(object: &JsValue, key: &str) -> Option<u32> {
    let value = js_sys::Reflect::get(object, &JsValue::from_str(key))
        .ok()?
        .as_f64()?;
    (value.is_finite() && value >= 0.0).then_some(value.min(f64::from(u32::MAX)) as u32)
}

/// Reads `{"players": N, "rooms": [{"code","players","humans","bots","capacity"}]}`, skipping what
/// does not fit.
fn parse_rooms(json: &JsValue) -> Option<(u32, Vec<OpenRoom>)> {
    let total = number(json, "players").unwrap_or(0);
    let rooms = js_sys::Reflect::get(json, &JsValue::from_str("rooms")).ok()?;
    let rooms: js_sys::Array = rooms.dyn_into().ok()?;
    let list = rooms
        .iter()
        .take(MAX_ROOMS_LISTED as usize)
        .filter_map(|room| {
            let code = js_sys::Reflect::get(&room, &JsValue::from_str("code"))
                .ok()?
                .as_string()?;
            Some(OpenRoom {
                code: room_code::parse(&code)?,
                players: number(&room, "players")?,
                bots: number(&room, "bots").unwrap_or(0),
                capacity: number(&room, "capacity").unwrap_or(0),
            })
        })
        .collect();
    Some((total, list))
}

/// Fetches the open rooms and lists them on the card; a missing or odd answer hides the list. Once
/// the page's origin said it has no rooms (404), it is not asked again, and the replays' button
/// goes too (both are a game server's).
fn refresh_rooms(
    doc: &Document,
    shared: &Rc<RefCell<Shared>>,
    overlay: &HtmlElement,
    missing: &Rc<Cell<bool>>,
) {
    if missing.get() {
        return;
    }
    let (doc, shared, overlay, missing) = (
        doc.clone(),
        shared.clone(),
        overlay.clone(),
        missing.clone(),
    );
    wasm_bindgen_futures::spawn_local(async move {
        let rooms = match fetch_json(ROOMS_PATH).await {
            Fetched::Json(json) => parse_rooms(&json),
            Fetched::Missing => {
                missing.set(true);
                hide_replays(&doc, true);
                None
            }
            Fetched::Failed => None,
        };
        if overlay.class_list().contains("hidden") {
            return;
        }
        let _ = show_rooms(&doc, rooms.as_ref(), shared.borrow().room.as_deref());
    });
}

/// The game server's rooms list (also its player count).
pub(super) const ROOMS_PATH: &str = "/api/rooms";

/// What a GET of a JSON endpoint came to.
pub(super) enum Fetched {
    /// A 2xx answer with JSON.
    Json(JsValue),
    /// 404 or 410: the page's origin has no such endpoint (a fleet's directory).
    Missing,
    /// Anything else: the network, another status, a body that is not JSON.
    Failed,
}

/// GETs `path` on the page's own origin.
pub(super) async fn fetch_json(path: &str) -> Fetched {
    let Some(window) = web_sys::window() else {
        return Fetched::Failed;
    };
    let Some(response) = JsFuture::from(window.fetch_with_str(path))
        .await
        .ok()
        .and_then(|r| r.dyn_into::<web_sys::Response>().ok())
    else {
        return Fetched::Failed;
    };
    if matches!(response.status(), 404 | 410) {
        return Fetched::Missing;
    }
    if !response.ok() {
        return Fetched::Failed;
    }
    let Ok(json) = response.json() else {
        return Fetched::Failed;
    };
    JsFuture::from(json)
        .await
        .map_or(Fetched::Failed, Fetched::Json)
}

fn show_rooms(
    doc: &Document,
    rooms: Option<&(u32, Vec<OpenRoom>)>,
    asked: Option<&str>,
) -> Result<(), JsValue> {
    let box_: Element = by_id(doc, "rooms")?;
    let list: Element = by_id(doc, "room-list")?;
    let title: Element = by_id(doc, "rooms-title")?;
    list.set_text_content(None);
    let Some((total, rooms)) = rooms.filter(|(_, rooms)| !rooms.is_empty()) else {
        let _ = box_.class_list().add_1("hidden");
        return Ok(());
    };
    title.set_text_content(Some(&format!(
        "Open rooms · {total} {} playing",
        if *total == 1 { "player" } else { "people" }
    )));
    for room in rooms {
        let item = doc.create_element("li")?;
        let button = doc.create_element("button")?;
        button.set_attribute("type", "button")?;
        button.set_attribute("data-code", &room.code)?;
        if asked == Some(room.code.as_str()) {
            button.set_class_name("asked");
        }
        let code = doc.create_element("b")?;
        code.set_text_content(Some(&room.code));
        button.append_child(&code)?;
        let count = doc.create_element("span")?;
        let capacity = if room.capacity > 0 {
            format!("/{}", room.capacity)
        } else {
            String::new()
        };
        let bots = match room.bots {
            0 => String::new(),
            1 => " · 1 bot".to_string(),
            n => format!(" · {n} bots"),
        };
        count.set_text_content(Some(&format!("{}{capacity} players{bots}", room.players)));
        button.append_child(&count)?;
        item.append_child(&button)?;
        list.append_child(&item)?;
    }
    let _ = box_.class_list().remove_1("hidden");
    Ok(())
}

/// Most recordings listed on the card.
const MAX_REPLAYS_LISTED: u32 = 12;

/// One recording as `/api/replays` lists it.
struct ListedReplay {
    id: String,
    room: String,
    started_unix_ms: f64,
    duration_ms: f64,
    players: Vec<String>,
    recording: bool,
}

/// Whether `id` can be a replay's id (letters, digits, dashes and underscores): anything else is
/// not put in a link.
pub fn is_replay_id(id: &str) -> bool {
    (1..=96).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn text_field(object: &JsValue, key: &str) -> Option<String> {
    js_sys::Reflect::get(object, &JsValue::from_str(key))
        .ok()?
        .as_string()
}

/// Reads `{"replays":[{"id","room","started_unix_ms","duration_ms","players":[..],"recording"}]}`,
/// skipping entries that do not fit.
fn parse_replays(json: &JsValue) -> Option<Vec<ListedReplay>> {
    let list = js_sys::Reflect::get(json, &JsValue::from_str("replays")).ok()?;
    let list: js_sys::Array = list.dyn_into().ok()?;
    Some(
        list.iter()
            .filter_map(|entry| {
                let id = text_field(&entry, "id").filter(|id| is_replay_id(id))?;
                let players = js_sys::Reflect::get(&entry, &JsValue::from_str("players"))
                    .ok()
                    .and_then(|p| p.dyn_into::<js_sys::Array>().ok())
                    .map(|p| p.iter().filter_map(|n| n.as_string()).take(8).collect())
                    .unwrap_or_default();
                let float = |key: &str| {
                    js_sys::Reflect::get(&entry, &JsValue::from_str(key))
                        .ok()
                        .and_then(|v| v.as_f64())
                        .filter(|v| v.is_finite() && *v >= 0.0)
                };
                Some(ListedReplay {
                    id,
                    room: text_field(&entry, "room").unwrap_or_default(),
                    started_unix_ms: float("started_unix_ms").unwrap_or(0.0),
                    duration_ms: float("duration_ms").unwrap_or(0.0),
                    players,
                    recording: js_sys::Reflect::get(&entry, &JsValue::from_str("recording"))
                        .ok()
                        .and_then(|v| v.as_bool())
                        .unwrap_or(false),
                })
            })
            .take(MAX_REPLAYS_LISTED as usize)
            .collect(),
    )
}

/// Fetches the recordings and lists them on the card, each a link to its replay page. A failed
/// request leaves the list out; a 404 (not a game server) takes the button away too.
fn refresh_replays(doc: Document, missing: Rc<Cell<bool>>) {
    wasm_bindgen_futures::spawn_local(async move {
        let listed = match fetch_json("/api/replays").await {
            Fetched::Json(json) => parse_replays(&json),
            Fetched::Missing => {
                missing.set(true);
                hide_replays(&doc, true);
                return;
            }
            Fetched::Failed => None,
        };
        match listed {
            Some(listed) => {
                let _ = show_replays(&doc, &listed);
            }
            None => hide_replays(&doc, false),
        }
    });
}

/// Hides the replays list, and its button if `button`.
fn hide_replays(doc: &Document, button: bool) {
    let mut ids = vec!["replays"];
    if button {
        ids.push("show-replays");
    }
    for id in ids {
        if let Some(element) = doc.get_element_by_id(id) {
            let _ = element.class_list().add_1("hidden");
        }
    }
}

fn show_replays(doc: &Document, listed: &[ListedReplay]) -> Result<(), JsValue> {
    let box_: Element = by_id(doc, "replays")?;
    let list: Element = by_id(doc, "replay-list")?;
    let title: Element = by_id(doc, "replays-title")?;
    list.set_text_content(None);
    let _ = box_.class_list().remove_1("hidden");
    title.set_text_content(Some(if listed.is_empty() {
        "Replays · none recorded yet"
    } else {
        "Replays · newest first"
    }));
    for replay in listed {
        let item = doc.create_element("li")?;
        let link = doc.create_element("a")?;
        link.set_attribute("href", &format!("/?replay={}", replay.id))?;
        link.set_attribute("data-id", &replay.id)?;
        let code = doc.create_element("b")?;
        code.set_text_content(Some(&replay.room));
        link.append_child(&code)?;
        let who = doc.create_element("span")?;
        who.set_class_name("replay-players");
        who.set_text_content(Some(&if replay.players.is_empty() {
            "no players".to_string()
        } else {
            replay.players.join(", ")
        }));
        link.append_child(&who)?;
        let when = doc.create_element("span")?;
        when.set_class_name("replay-when");
        let started = js_sys::Date::new(&JsValue::from_f64(replay.started_unix_ms));
        when.set_text_content(Some(&format!(
            "{:02}:{:02} · {}",
            started.get_hours(),
            started.get_minutes(),
            crate::playback::clock_text(replay.duration_ms)
        )));
        link.append_child(&when)?;
        if replay.recording {
            let live = doc.create_element("span")?;
            live.set_class_name("replay-live");
            live.set_text_content(Some("REC"));
            live.set_attribute("title", "still recording: plays up to now")?;
            link.append_child(&live)?;
        }
        item.append_child(&link)?;
        list.append_child(&item)?;
    }
    Ok(())
}
