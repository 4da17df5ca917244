//! The frame loop and the connection state machine.
//!
//! Each animation frame: handle socket events (handshake, snapshots, pongs, close), run the local
//! fixed-rate input ticks (send an input, predict it), then draw. A dropped connection is retried with
//! exponential backoff, offering the resume token first.
//!
//! A join starts by asking `GET /api/play` where to play (`crate::play`), whether a lone server or
//! a fleet's directory served the page, and connects to the url the answer names, asking for the
//! answer's room. Reconnects and resumes go back to that url without asking (the seat is there).
//!
//! A spectator's session (a `Welcome` with `spectator_delay_ms`) has no avatar: it sends no inputs,
//! builds its view without a viewer (it holds the whole room), draws everyone at the playout clock,
//! and looks through a free camera (`spectate::FreeCamera`) that follows a player on a click. A
//! replay page (`/?replay=ID`) opens no socket: `replay.rs` plays the file with the same renderer.

use super::audio::{self, Audio};
use super::feedback::Feedback;
use super::hud::Hud;
use super::input::{self, InputState};
use super::lobby::Lobby;
use super::minimap;
use super::net::{self, NetEvent, PlayRequest, Socket};
use super::population::Population;
use super::render::{self, DrawPlayer, Scene};
use super::replay::ReplayPage;
use super::{storage, touch};
use crate::board::{self, BoardRow, Names};
use crate::clock::{InputClock, TickClock};
use crate::combat::Own;
use crate::interp::InterpolationBuffer;
use crate::play::{self, AfterRefusal, Ask, Next, Route};
use crate::playout::{DelayPolicy, Playout, PlayoutClock};
use crate::predict::Predictor;
use crate::spectate::{self, FreeCamera, WATCH_VIEW_UNITS};
use crate::ui::close_words;
use skirmish_shared::codec::{decode_server, encode_client};
use skirmish_shared::fixed::{aim_from_vector, aim_from_wire, aim_to_radians, coord_to_units};
use skirmish_shared::map::TILE_SIZE;
use skirmish_shared::netcode::shots::{FireInput, ShotPredictor};
use skirmish_shared::physics::{Dir, MoveParams, PLAYER_HALF_SIZE};
use skirmish_shared::protocol::{
    buttons, close_code, room_code, status, ClientMsg, EntityId, GameEvent, Hello, InputFrame,
    RefuseReason, ResumeToken, ScoreEntry, ServerMsg, Snapshot, Welcome, PROTOCOL_VERSION,
};
use skirmish_shared::time::{Tick, TickRate};
use skirmish_shared::view::{Checked, ClientView};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, Document, HtmlCanvasElement, HtmlInputElement};

/// Backoff before reconnect attempts, in ms: 0.5 s doubling to 8 s.
fn backoff_ms(attempt: u32) -> f64 {
    500.0 * f64::from(1u32 << attempt.min(4))
}

/// Hue of projectiles (amber).
const PROJECTILE_HUE: u32 = 40;

/// The figures `window.skirmishStats()` and the debug overlay show.
#[derive(Debug, Default, Clone)]
pub(super) struct Stats {
    pub(super) connected: bool,
    pub(super) tick: u32,
    snapshots_received: u32,
    pub(super) visible_players: u32,
    /// The smoothed round trip.
    ping_ms: f64,
    /// The last round trip measured, from a ping leaving to its pong arriving.
    rtt_ms: Option<f64>,
    fps: f64,
    /// The page's own work per frame (socket, ticks, drawing, HUD), in ms, smoothed: what the
    /// frame rate would allow on an idle machine.
    frame_cost_ms: f64,
    /// The time of the frame the figures are from (ms, the page's clock): per-frame motion is
    /// measured against it.
    pub(super) frame_ms: f64,
    pub(super) me: Option<(f64, f64, u8, u32)>,
    pub(super) player_id: Option<u32>,
    /// The own avatar's corrections so far (count, largest in units, snaps over 4 units).
    corrections: (u32, f64, u32),
    /// Views that did not match a snapshot's check, over every session of this page.
    desyncs: u32,
    /// The own shots: predicted, matched with the server's, dropped unmatched (this session).
    shots: (u32, u32, u32),
    /// The interpolation delay now and its target, in ms.
    interp_delay_ms: (f64, f64),
    /// Times remote players' interpolation ran dry, over every session of this page.
    underruns: u32,
    /// Snapshots that came later than the interpolation delay then allowed, over every session.
    late_arrivals: u32,
    /// Remote players as drawn in the last frame: id and position in world units.
    pub(super) others: Vec<(u32, f64, f64)>,
    /// The room joined.
    room: Option<u32>,
    /// The room's code, for friends to join (empty from servers without codes).
    room_code: Option<String>,
    /// While dead: the killer's id (if known) and the ms until the respawn.
    dead: Option<(Option<u32>, f64)>,
    /// The kill feed's lines (killer, victim names), oldest first.
    pub(super) kill_feed: Vec<(String, String)>,
    /// The own hit points.
    hp: Option<u8>,
    /// Sound muted.
    muted: bool,
    /// CSS pixels per world unit.
    pub(super) zoom: f64,
    /// Hit markers and kill confirmations shown (this page).
    hit_markers: u32,
    kills_confirmed: u32,
    /// The spawn-protection hint is up.
    spawn_hint: bool,
    /// Players in the room (roster) and on the server (`/api/rooms`, when it answers).
    room_players: Option<u32>,
    server_players: Option<u32>,
    /// The game server's url the join connects to (from `/api/play`), and its name when a
    /// directory said it.
    server_url: Option<String>,
    server_name: Option<String>,
    /// Arrows drawn at the screen edge for players off screen, last frame.
    offscreen_arrows: u32,
    pub(super) state: String,
    /// Set by `window.skirmishDropConnection()`: drop the socket as a network failure would.
    drop_requested: bool,
    /// The page watches (a spectator, or a replay): it has no avatar.
    pub(super) spectator: bool,
    /// The spectator feed's delay behind the room, in ms.
    spectator_delay_ms: Option<u32>,
    /// The player the watching camera follows.
    pub(super) following: Option<u32>,
    /// The watching camera's centre, in world units.
    pub(super) camera: Option<(f64, f64)>,
    /// The chat field can be used (not on a watching page).
    pub(super) chat_input: bool,
    /// The replay page's figures.
    pub(super) replay: Option<super::replay::ReplayStats>,
}

/// One joined session with the server.
struct Session {
    welcome: Welcome,
    params: MoveParams,
    view: ClientView,
    predictor: Predictor,
    interp: InterpolationBuffer,
    /// When remote players are drawn: follows the snapshots' arrival jitter.
    playout: PlayoutClock,
    /// Where this frame draws remote players (`None` before the first snapshot).
    frame_playout: Option<Playout>,
    clock: TickClock,
    /// Stamps inputs with the server tick they are for, ahead of `clock` by the lead the link needs.
    input_clock: InputClock,
    /// The own shots, predicted at once and matched with the server's.
    shots: ShotPredictor,
    walls: Vec<render::WallRect>,
    /// Who is in the room, by name, and which are bots.
    names: Names,
    leaderboard: Vec<ScoreEntry>,
    my_score: ScoreEntry,
    next_seq: u32,
    last_ping: f64,
    pending_pings: Vec<(u32, f64)>,
    /// The last round trip measured, in ms.
    last_rtt_ms: Option<f64>,
    aim: u16,
    /// The tick and proof of the newest snapshot received, acknowledged in each ping.
    newest: (u32, u8),
    /// Snapshots after which the view did not match the server's check.
    desyncs: u32,
    /// A spectator's session: no avatar, the whole room in view.
    spectator: bool,
}

enum Conn {
    /// Waiting for a name.
    Idle,
    /// Asking `/api/play` where to connect.
    Asking(PlayRequest),
    /// Socket opening or handshake in flight.
    Joining(Socket),
    /// In a room.
    Playing(Socket, Box<Session>),
    /// Disconnected; retry at the given time.
    Waiting { retry_at: f64, reason: String },
}

struct App {
    doc: Document,
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    hud: Hud,
    /// The landing card and the room panel.
    lobby: Lobby,
    input: Rc<RefCell<InputState>>,
    name: String,
    /// Join as a spectator (Watch, or `/?watch=`) rather than as a player.
    watch: bool,
    /// Where a watching page looks (a spectator's, or the replay's).
    camera: FreeCamera,
    /// The replay played on this page (`/?replay=ID`), if any.
    replay: Option<ReplayPage>,
    conn: Conn,
    /// The join under way: what was asked, and where the answer sent it.
    route: Option<Route>,
    attempt: u32,
    resume: Option<ResumeToken>,
    stats: Rc<RefCell<Stats>>,
    /// Hit markers, kill feed, death screen and the other in-game feedback.
    feedback: Feedback,
    /// Sound effects and the mute setting.
    audio: Rc<RefCell<Audio>>,
    /// The server's player count, polled while playing.
    population: Population,
    /// How remote players' interpolation delay is chosen (adaptive unless the page fixes it).
    interp_policy: DelayPolicy,
    /// Desyncs in sessions that have ended.
    desyncs_past: u32,
    /// Interpolation underruns and late arrivals in sessions that have ended.
    underruns_past: (u32, u32),
    last_frame: f64,
    fps_frames: u32,
    fps_since: f64,
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

fn element<T: JsCast>(doc: &Document, id: &str) -> Result<T, JsValue> {
    doc.get_element_by_id(id)
        .ok_or_else(|| JsValue::from_str(&format!("missing #{id}")))?
        .dyn_into::<T>()
        .map_err(|_| JsValue::from_str(&format!("#{id} has the wrong type")))
}

fn hue(id: EntityId) -> u32 {
    id.0.wrapping_mul(137) % 360
}

/// Starts the client: wires the name field, chat field, `window.skirmishStats` and the frame loop.
#[wasm_bindgen]
pub fn start() -> Result<(), JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let doc = window.document().ok_or("no document")?;
    let canvas: HtmlCanvasElement = element(&doc, "game")?;
    let ctx = canvas
        .get_context("2d")?
        .ok_or("no 2d context")?
        .dyn_into::<CanvasRenderingContext2d>()?;
    let input = input::install(&canvas)?;
    touch::install(&doc, &canvas, input.clone())?;
    let stats = Rc::new(RefCell::new(Stats {
        state: "enter a name".into(),
        ..Stats::default()
    }));
    // `window.skirmishInterpDelayMs`, set before the client starts, fixes the delay.
    let interp_policy = js_sys::Reflect::get(&window, &JsValue::from_str("skirmishInterpDelayMs"))
        .ok()
        .and_then(|v| v.as_f64())
        .filter(|v| v.is_finite() && (0.0..=crate::playout::MAX_FIXED_DELAY_MS).contains(v))
        .map_or(DelayPolicy::Adaptive, DelayPolicy::Fixed);
    let audio = audio::install(&doc)?;
    let lobby = Lobby::install(&doc)?;
    let replay = super::replay::asked(&doc, &lobby)?;
    let app = Rc::new(RefCell::new(App {
        hud: Hud::new(&doc)?,
        feedback: Feedback::new(&doc, audio.clone())?,
        audio,
        population: Population::new(lobby.lobby_missing()),
        lobby,
        doc: doc.clone(),
        canvas,
        ctx,
        input,
        name: String::new(),
        watch: false,
        camera: FreeCamera::new((0.0, 0.0)),
        replay,
        conn: Conn::Idle,
        route: None,
        attempt: 0,
        resume: None,
        stats: stats.clone(),
        interp_policy,
        desyncs_past: 0,
        underruns_past: (0, 0),
        last_frame: now_ms(),
        fps_frames: 0,
        fps_since: now_ms(),
    }));
    install_stats(&window, stats)?;
    install_forms(&doc, &app)?;
    install_follow(&doc, &app.borrow().input)?;
    // Leaving the page sends no `Leave`: a reload looks the same to the page as leaving for good,
    // and a reload must find its seat held (the token is in `sessionStorage`) to resume it. A page
    // closed for good leaves its seat to the server's reconnect grace.
    app.borrow_mut().resume_stored();
    run_frames(app)
}

/// `window.skirmishStats()`: the test surface.
/// `window.skirmishDropConnection()`: drops the socket as a network failure would (for tests).
fn install_stats(window: &web_sys::Window, stats: Rc<RefCell<Stats>>) -> Result<(), JsValue> {
    let drop_flag = stats.clone();
    let getter = Closure::<dyn Fn() -> JsValue>::new(move || {
        let s = stats.borrow();
        let object = js_sys::Object::new();
        let set = |o: &js_sys::Object, k: &str, v: JsValue| {
            let _ = js_sys::Reflect::set(o, &JsValue::from_str(k), &v);
        };
        set(&object, "connected", s.connected.into());
        set(&object, "tick", s.tick.into());
        set(&object, "snapshotsReceived", s.snapshots_received.into());
        set(&object, "visiblePlayers", s.visible_players.into());
        set(&object, "pingMs", s.ping_ms.into());
        set(
            &object,
            "rttMs",
            s.rtt_ms.map_or(JsValue::NULL, JsValue::from),
        );
        set(&object, "fps", s.fps.into());
        set(&object, "frameCostMs", s.frame_cost_ms.into());
        set(&object, "frameMs", s.frame_ms.into());
        set(&object, "state", JsValue::from_str(&s.state));
        let me = match s.me {
            Some((x, y, hp, score)) => {
                let me = js_sys::Object::new();
                set(&me, "x", x.into());
                set(&me, "y", y.into());
                set(&me, "hp", hp.into());
                set(&me, "score", score.into());
                me.into()
            }
            None => JsValue::NULL,
        };
        set(&object, "me", me);
        let corrections = js_sys::Object::new();
        set(&corrections, "count", s.corrections.0.into());
        set(&corrections, "largest", s.corrections.1.into());
        set(&corrections, "snaps", s.corrections.2.into());
        set(&object, "corrections", corrections.into());
        set(&object, "desyncs", s.desyncs.into());
        let shots = js_sys::Object::new();
        set(&shots, "predicted", s.shots.0.into());
        set(&shots, "matched", s.shots.1.into());
        set(&shots, "dropped", s.shots.2.into());
        set(&object, "shots", shots.into());
        let interp = js_sys::Object::new();
        set(&interp, "delayMs", s.interp_delay_ms.0.into());
        set(&interp, "targetMs", s.interp_delay_ms.1.into());
        set(&interp, "underruns", s.underruns.into());
        set(&interp, "lateArrivals", s.late_arrivals.into());
        set(&object, "interp", interp.into());
        let others = js_sys::Array::new();
        for (id, x, y) in &s.others {
            let other = js_sys::Object::new();
            set(&other, "id", (*id).into());
            set(&other, "x", (*x).into());
            set(&other, "y", (*y).into());
            others.push(&other);
        }
        set(&object, "others", others.into());
        set(&object, "room", s.room.map_or(JsValue::NULL, JsValue::from));
        set(
            &object,
            "roomCode",
            s.room_code
                .as_deref()
                .map_or(JsValue::NULL, JsValue::from_str),
        );
        let dead = match s.dead {
            Some((killer, respawn_in_ms)) => {
                let dead = js_sys::Object::new();
                set(&dead, "killer", killer.map_or(JsValue::NULL, JsValue::from));
                set(&dead, "respawnInMs", respawn_in_ms.into());
                dead.into()
            }
            None => JsValue::NULL,
        };
        set(&object, "dead", dead);
        let feed = js_sys::Array::new();
        for (killer, victim) in &s.kill_feed {
            let line = js_sys::Object::new();
            set(&line, "killer", JsValue::from_str(killer));
            set(&line, "victim", JsValue::from_str(victim));
            feed.push(&line);
        }
        set(&object, "killFeed", feed.into());
        set(&object, "hp", s.hp.map_or(JsValue::NULL, JsValue::from));
        set(&object, "muted", s.muted.into());
        set(&object, "zoom", s.zoom.into());
        set(&object, "hitMarkers", s.hit_markers.into());
        set(&object, "killsConfirmed", s.kills_confirmed.into());
        set(&object, "spawnHint", s.spawn_hint.into());
        set(
            &object,
            "roomPlayers",
            s.room_players.map_or(JsValue::NULL, JsValue::from),
        );
        set(
            &object,
            "serverPlayers",
            s.server_players.map_or(JsValue::NULL, JsValue::from),
        );
        set(&object, "offscreenArrows", s.offscreen_arrows.into());
        let text = |t: &Option<String>| t.as_deref().map_or(JsValue::NULL, JsValue::from_str);
        set(&object, "serverUrl", text(&s.server_url));
        set(&object, "serverName", text(&s.server_name));
        set(
            &object,
            "playerId",
            s.player_id.map_or(JsValue::NULL, JsValue::from),
        );
        set(&object, "spectator", s.spectator.into());
        set(
            &object,
            "spectatorDelayMs",
            s.spectator_delay_ms.map_or(JsValue::NULL, JsValue::from),
        );
        set(
            &object,
            "following",
            s.following.map_or(JsValue::NULL, JsValue::from),
        );
        let camera = match s.camera {
            Some((x, y)) => {
                let camera = js_sys::Object::new();
                set(&camera, "x", x.into());
                set(&camera, "y", y.into());
                camera.into()
            }
            None => JsValue::NULL,
        };
        set(&object, "camera", camera);
        set(&object, "chatInput", s.chat_input.into());
        set(
            &object,
            "replay",
            s.replay.as_ref().map_or(JsValue::NULL, |r| r.to_js()),
        );
        object.into()
    });
    js_sys::Reflect::set(window, &JsValue::from_str("skirmishStats"), getter.as_ref())?;
    getter.forget();
    let dropper = Closure::<dyn Fn()>::new(move || drop_flag.borrow_mut().drop_requested = true);
    js_sys::Reflect::set(
        window,
        &JsValue::from_str("skirmishDropConnection"),
        dropper.as_ref(),
    )?;
    dropper.forget();
    Ok(())
}

/// The chat field (Enter sends, Escape drops the draft); the landing card is `lobby.rs`'s.
fn install_forms(doc: &Document, app: &Rc<RefCell<App>>) -> Result<(), JsValue> {
    let chat_input: HtmlInputElement = element(doc, "chat-input")?;
    let send = {
        let app = app.clone();
        let chat_input = chat_input.clone();
        Closure::<dyn FnMut(web_sys::KeyboardEvent)>::new(move |e: web_sys::KeyboardEvent| match e
            .key()
            .as_str()
        {
            "Enter" => {
                let text = chat_input.value();
                chat_input.set_value("");
                let _ = chat_input.blur();
                // A watching page's field is hidden; should a key reach it, nothing is sent (the
                // server rejects a spectator's chat).
                let app = app.borrow();
                if !text.trim().is_empty() && !app.watch && app.replay.is_none() {
                    app.send(&ClientMsg::Chat { text });
                }
            }
            "Escape" => {
                // The draft is dropped: the next Enter must not send it.
                chat_input.set_value("");
                let _ = chat_input.blur();
            }
            _ => {}
        })
    };
    chat_input.add_event_listener_with_callback("keydown", send.as_ref().unchecked_ref())?;
    send.forget();
    Ok(())
}

/// A click on a leaderboard row asks a watching page to follow that player.
fn install_follow(doc: &Document, input: &Rc<RefCell<InputState>>) -> Result<(), JsValue> {
    let board: web_sys::Element = element(doc, "leaderboard")?;
    let input = input.clone();
    let click = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
        let id = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|t| t.closest(".lb-row[data-id]").ok().flatten())
            .and_then(|row| row.get_attribute("data-id"))
            .and_then(|id| id.parse::<u32>().ok());
        if let Some(id) = id {
            input.borrow_mut().follow = Some(id);
        }
    });
    board.add_event_listener_with_callback("click", click.as_ref().unchecked_ref())?;
    // The listener lives as long as the page.
    click.forget();
    Ok(())
}

/// Marks the page as watching (a spectator or a replay): the chat field is hidden, with a line
/// saying why, and the leaderboard's rows and the canvas take clicks to follow a player.
pub(super) fn set_watching(doc: &Document, why: &str) {
    if let Some(root) = doc.document_element() {
        let _ = root.class_list().add_1("watching");
    }
    if let Some(note) = doc.get_element_by_id("chat-note") {
        note.set_text_content(Some(why));
    }
}

/// The animation-frame callback, which re-registers itself each frame.
type FrameCallback = Rc<RefCell<Option<Closure<dyn FnMut(f64)>>>>;

/// Runs `App::frame` on every animation frame.
fn run_frames(app: Rc<RefCell<App>>) -> Result<(), JsValue> {
    let callback: FrameCallback = Rc::new(RefCell::new(None));
    let again = callback.clone();
    *callback.borrow_mut() = Some(Closure::new(move |_time: f64| {
        if let Err(e) = app.borrow_mut().frame() {
            web_sys::console::error_1(&e);
        }
        if let (Some(window), Some(cb)) = (web_sys::window(), again.borrow().as_ref()) {
            let _ = window.request_animation_frame(cb.as_ref().unchecked_ref());
        }
    }));
    let window = web_sys::window().ok_or("no window")?;
    if let Some(cb) = callback.borrow().as_ref() {
        window.request_animation_frame(cb.as_ref().unchecked_ref())?;
    }
    Ok(())
}

impl App {
    /// A reload: the tab holds a seat's token and a name, so take the seat back at once. Not when
    /// the address asks for another room (a friend's link opened in this tab): the card joins
    /// that one.
    fn resume_stored(&mut self) {
        if self.replay.is_some() || super::lobby::query_param("watch").is_some() {
            // A replay, or a link to watch: no seat to take back.
            return;
        }
        let (Some(seat), Some(name)) = (storage::load_token(), storage::load_name()) else {
            return;
        };
        if self.lobby.room().is_some_and(|asked| asked != seat.room) {
            return;
        }
        self.resume = Some(seat.token);
        self.name = name;
        self.lobby.hide();
        let ask = Ask {
            room: self.lobby.room(),
            watch: false,
        };
        // Back to the server the seat is on; a token kept without its url asks where to play
        // and offers the token there.
        self.route = Some(match seat.url {
            Some(url) => Route::resume(ask, &url, room_code::parse(&seat.room), net::secure_page()),
            None => Route::new(ask),
        });
        self.step();
    }

    /// Starts a join for `ask`: it asks `/api/play` where to play.
    fn join(&mut self, ask: Ask) {
        self.route = Some(Route::new(ask));
        self.attempt = 0;
        self.step();
    }

    /// The join's next step: ask where to play, or connect to the url a seat is on.
    fn step(&mut self) {
        let Some(route) = &mut self.route else {
            self.conn = Conn::Idle;
            return;
        };
        self.conn = match route.next_step() {
            Next::Ask(query) => Conn::Asking(PlayRequest::send(&query)),
            Next::Connect(url) => self.open(&url),
            Next::GiveUp(text) => {
                self.route = None;
                self.lobby.on_not_joined(&text, false, &self.doc);
                Conn::Idle
            }
        };
    }

    /// A socket to `url`, or a retry later if the browser will not open one.
    fn open(&mut self, url: &str) -> Conn {
        match Socket::open(url) {
            Ok(socket) => Conn::Joining(socket),
            Err(_) => {
                if let Some(route) = &mut self.route {
                    route.on_lost();
                }
                let retry_at = now_ms() + backoff_ms(self.attempt);
                self.attempt += 1;
                Conn::Waiting {
                    retry_at,
                    reason: "cannot open a socket".into(),
                }
            }
        }
    }

    /// Handles the answer to `/api/play`, once it has come: connect where it says, or show why
    /// not on the card (the player can try again from there).
    fn poll_answer(&mut self) {
        let Conn::Asking(request) = &self.conn else {
            return;
        };
        let Some(asked) = request.take() else {
            return;
        };
        let Some(route) = &mut self.route else {
            self.conn = Conn::Idle;
            return;
        };
        let target = match asked {
            Ok(answer) => play::read_answer(&answer, route.ask(), net::secure_page()),
            Err(failure) => Err(play::failure_text(failure)),
        };
        match route.on_answer(target) {
            Ok(url) => self.conn = self.open(&url),
            Err(text) => {
                let offer_any = route.room_chosen();
                self.conn = Conn::Idle;
                self.lobby.on_not_joined(&text, offer_any, &self.doc);
            }
        }
    }

    fn send(&self, msg: &ClientMsg) {
        if let Conn::Playing(socket, _) | Conn::Joining(socket) = &self.conn {
            socket.send(&encode_client(msg));
        }
    }

    fn frame(&mut self) -> Result<(), JsValue> {
        let now = now_ms();
        let elapsed = (now - self.last_frame).clamp(0.0, 1_000.0);
        self.last_frame = now;
        self.count_fps(now);
        self.handle_keys();
        if let Some((name, watch)) = self.lobby.take_join() {
            if matches!(self.conn, Conn::Idle) {
                self.name = name;
                self.watch = watch;
                if let Some(replay) = self.replay.take() {
                    // Play or Watch from a replay page's card: the replay is left.
                    replay.close();
                }
                if !watch {
                    // Play after watching (a refusal brought the card back): a player chats.
                    if let Some(root) = self.doc.document_element() {
                        let _ = root.class_list().remove_1("watching");
                    }
                }
                self.join(Ask {
                    room: self.lobby.room(),
                    watch,
                });
            }
        }
        self.poll_answer();
        if let Some(replay) = &mut self.replay {
            replay.frame(
                now,
                elapsed,
                &self.input,
                &mut self.camera,
                &self.hud,
                &mut self.feedback,
                &self.lobby,
            )?;
            let (width, height) = css_size(&self.canvas);
            replay.draw(&self.ctx, &self.canvas, (width, height), &self.camera)?;
            self.feedback.show_dom(&self.doc, now, None, 0, 0)?;
            let mut stats = self.stats.borrow_mut();
            replay.update_stats(&mut stats, &self.camera, &mut self.hud);
            stats.frame_ms = now;
            stats.kill_feed = self
                .feedback
                .kill_feed()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            return Ok(());
        }
        if std::mem::take(&mut self.stats.borrow_mut().drop_requested)
            && matches!(self.conn, Conn::Playing(..))
        {
            // Dropping the socket closes it without a close event reaching us: handle it as a loss.
            if let Some(route) = &mut self.route {
                route.on_lost();
            }
            self.conn = Conn::Waiting {
                retry_at: now + backoff_ms(self.attempt),
                reason: "connection dropped".into(),
            };
            self.attempt += 1;
            self.hud
                .add_chat(None, "Connection dropped; reconnecting…")?;
        }
        self.handle_network(now)?;
        if let Conn::Waiting { retry_at, .. } = &self.conn {
            if now >= *retry_at {
                self.step();
            }
        }
        let (drag, clicks, follow) = {
            let mut input = self.input.borrow_mut();
            input.space_pressed = false;
            (input.take_drag(), input.take_clicks(), input.follow.take())
        };
        if let Conn::Playing(socket, session) = &mut self.conn {
            let input = self.input.borrow();
            let (width, height) = css_size(&self.canvas);
            session.frame_playout = session.playout.advance(now);
            session.shots.expire(now);
            session.local_ticks(socket, &input, now, width, height);
            if session.spectator {
                let scale = spectate_zoom(width, height);
                let drawn = self.stats.borrow().others.clone();
                steer_camera(
                    &mut self.camera,
                    (&input, elapsed, scale, (width, height)),
                    (drag, &clicks, follow),
                    &drawn,
                );
                let tick = session.render_tick();
                let (map, params) = (&session.welcome.map, &session.params);
                self.camera
                    .update(|id| session.interp.position(map, params, id, tick));
            } else {
                session.predictor.decay(elapsed);
                self.feedback.update(
                    session.own(),
                    now,
                    input.fire(),
                    session.shots.stats().predicted,
                );
            }
            self.population.poll(now);
        }
        self.draw()?;
        self.update_stats(now);
        let cost = (now_ms() - now).max(0.0);
        let mut stats = self.stats.borrow_mut();
        stats.frame_cost_ms += (cost - stats.frame_cost_ms) * 0.05;
        Ok(())
    }

    fn count_fps(&mut self, now: f64) {
        self.fps_frames += 1;
        if now - self.fps_since >= 500.0 {
            self.stats.borrow_mut().fps =
                f64::from(self.fps_frames) * 1000.0 / (now - self.fps_since);
            self.fps_frames = 0;
            self.fps_since = now;
        }
    }

    fn handle_keys(&mut self) {
        let (toggle, focus_chat) = {
            let mut input = self.input.borrow_mut();
            (
                std::mem::take(&mut input.toggle_debug),
                std::mem::take(&mut input.focus_chat),
            )
        };
        if toggle {
            self.hud.toggle_debug();
        }
        let player = matches!(&self.conn, Conn::Playing(_, session) if !session.spectator);
        if focus_chat && player {
            if let Ok(chat) = element::<HtmlInputElement>(&self.doc, "chat-input") {
                let _ = chat.focus();
            }
        }
    }

    fn handle_network(&mut self, now: f64) -> Result<(), JsValue> {
        let events = match &self.conn {
            Conn::Joining(socket) | Conn::Playing(socket, _) => socket.drain(),
            _ => return Ok(()),
        };
        for event in events {
            match event {
                NetEvent::Open => {
                    let hello = ClientMsg::Hello(Hello {
                        protocol_version: PROTOCOL_VERSION,
                        name: self.name.clone(),
                        // A spectator has no seat to take back.
                        resume_token: if self.watch { None } else { self.resume },
                        rate: 0,
                        // The answer's room (`None`: any room there), or the room joined when
                        // reconnecting.
                        room: self.route.as_ref().and_then(Route::hello_room),
                        watch: self.watch,
                    });
                    self.send(&hello);
                }
                NetEvent::Message { bytes, arrived_ms } => match decode_server(&bytes) {
                    Ok(msg) => {
                        self.handle_message(msg, arrived_ms)?;
                        if !matches!(self.conn, Conn::Joining(_) | Conn::Playing(..)) {
                            // Refused: the card says why, or the page asks again; the events
                            // left are the old socket's.
                            return Ok(());
                        }
                    }
                    Err(e) => {
                        web_sys::console::warn_1(&JsValue::from_str(&format!("bad message: {e}")))
                    }
                },
                NetEvent::Closed { code, reason } => {
                    self.on_closed(code, &reason, now)?;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn handle_message(&mut self, msg: ServerMsg, now: f64) -> Result<(), JsValue> {
        match msg {
            ServerMsg::Welcome(welcome) => {
                let Conn::Joining(socket) = std::mem::replace(&mut self.conn, Conn::Idle) else {
                    return Ok(());
                };
                self.attempt = 0;
                if let Some(route) = &mut self.route {
                    route.on_welcome(&welcome.room_code);
                }
                self.lobby.on_welcome(&welcome.room_code);
                if let Some(delay) = welcome.spectator_delay_ms {
                    // A spectator: its token means nothing (a reload simply watches again).
                    let tile = f64::from(coord_to_units(TILE_SIZE));
                    let map = &welcome.map;
                    let bounds = (
                        f64::from(map.width()) * tile,
                        f64::from(map.height()) * tile,
                    );
                    self.camera.fit(bounds);
                    set_watching(
                        &self.doc,
                        "Watching: you can read the chat, but spectators cannot write to the players.",
                    );
                    let line = format!(
                        "Watching room {}, {:.1} s behind the game. Drag or use WASD to look around; \
                         click a player or their leaderboard row to follow them.",
                        welcome.room_code,
                        f64::from(delay) / 1000.0
                    );
                    self.feedback.reset_session();
                    self.conn =
                        Conn::Playing(socket, Box::new(Session::new(*welcome, self.interp_policy)));
                    self.hud.add_chat(None, &line)?;
                    return Ok(());
                }
                let resumed = self.resume.is_some();
                self.resume = Some(welcome.resume_token);
                let url = self
                    .route
                    .as_ref()
                    .and_then(Route::target)
                    .map(|t| t.url.as_str());
                storage::save_token(&welcome.resume_token, &welcome.room_code, url);
                let session = Session::new(*welcome, self.interp_policy);
                self.feedback.reset_session();
                self.hud.add_chat(
                    None,
                    if resumed {
                        "Back in the arena, in the same seat."
                    } else if super::lobby::is_touch_device() {
                        "Joined the arena. Left thumb moves, right thumb aims and fires."
                    } else {
                        "Joined the arena. WASD to move, mouse to aim, click to fire, Enter to chat."
                    },
                )?;
                self.conn = Conn::Playing(socket, Box::new(session));
            }
            ServerMsg::Refused { reason, detail } => {
                if reason == RefuseReason::BadResumeToken {
                    // The seat is gone: join fresh at once, asking where to play.
                    self.forget_seat();
                    if self.name.is_empty() {
                        self.name = self.lobby.name();
                    }
                    self.step();
                } else if matches!(
                    reason,
                    RefuseReason::RoomFull
                        | RefuseReason::ServerFull
                        | RefuseReason::NoSuchRoom
                        | RefuseReason::SpectatorsFull
                ) {
                    self.on_room_refused(reason);
                } else {
                    self.hud.add_chat(None, &format!("Refused: {detail}"))?;
                }
            }
            ServerMsg::Snapshot(snapshot) => {
                if let Conn::Playing(socket, session) = &mut self.conn {
                    session.on_snapshot(
                        &snapshot,
                        now,
                        socket,
                        &mut self.hud,
                        &mut self.feedback,
                    )?;
                    self.stats.borrow_mut().snapshots_received += 1;
                }
            }
            ServerMsg::Pong { nonce, tick } => {
                if let Conn::Playing(_, session) = &mut self.conn {
                    if let Some(i) = session.pending_pings.iter().position(|(n, _)| *n == nonce) {
                        let (_, sent) = session.pending_pings.swap_remove(i);
                        session.last_rtt_ms = Some((now - sent).max(0.0));
                        session.clock.on_pong(sent, now, tick.0);
                    }
                }
            }
        }
        Ok(())
    }

    /// The room was refused: the answer's pick, full by now, sends the page to ask again;
    /// otherwise retrying would be refused again, so the card says why and offers other rooms.
    fn on_room_refused(&mut self, reason: RefuseReason) {
        let Some(route) = &mut self.route else {
            self.conn = Conn::Idle;
            return;
        };
        match route.on_refused(reason) {
            AfterRefusal::AskAgain => self.step(),
            AfterRefusal::Show => {
                let room = route.hello_room();
                let chosen = route.room_chosen();
                let text = play::refusal_text(reason, room.as_deref(), chosen);
                self.lobby.on_not_joined(&text, chosen, &self.doc);
                self.conn = Conn::Idle;
            }
        }
    }

    /// The server no longer holds this tab's seat: forget its token, and where it was.
    fn forget_seat(&mut self) {
        self.resume = None;
        storage::clear_token();
        if let Some(route) = &mut self.route {
            route.forget_seat();
        }
    }

    fn on_closed(&mut self, code: u16, reason: &str, now: f64) -> Result<(), JsValue> {
        let was_playing = matches!(self.conn, Conn::Playing(..));
        if let Conn::Playing(_, session) = &self.conn {
            self.desyncs_past += session.desyncs;
            self.underruns_past.0 += session.playout.underruns();
            self.underruns_past.1 += session.playout.late_arrivals();
        }
        if code == close_code::BAD_RESUME_TOKEN {
            // Closed for a token the server does not know (a refusal, if one came first, has
            // already started a fresh join): the retry must not offer it again.
            self.forget_seat();
        } else if let Some(route) = &mut self.route {
            route.on_lost();
        }
        let words = close_words::describe(code, reason);
        if !words.retry {
            // No automatic reconnect: reloading the page joins again.
            if was_playing {
                self.hud
                    .add_chat(None, &format!("Disconnected: {}", words.text))?;
            }
            self.conn = Conn::Waiting {
                retry_at: f64::INFINITY,
                reason: words.text,
            };
            return Ok(());
        }
        let retry_at = now + backoff_ms(self.attempt);
        self.attempt += 1;
        if was_playing {
            let mut line = words.text.clone();
            if let Some(first) = line.get(..1) {
                line.replace_range(..1, &first.to_uppercase());
            }
            self.hud.add_chat(None, &format!("{line}; reconnecting…"))?;
        }
        self.conn = Conn::Waiting {
            retry_at,
            reason: words.text,
        };
        Ok(())
    }

    fn draw(&mut self) -> Result<(), JsValue> {
        let (width, height) = css_size(&self.canvas);
        let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
        let (pw, ph) = ((width * dpr).round() as u32, (height * dpr).round() as u32);
        if self.canvas.width() != pw || self.canvas.height() != ph {
            self.canvas.set_width(pw);
            self.canvas.set_height(ph);
        }
        self.ctx.set_transform(dpr, 0.0, 0.0, dpr, 0.0, 0.0)?;
        match &self.conn {
            Conn::Playing(_, session) => {
                let spectator = session.spectator;
                let (camera, followed) = if spectator {
                    (Some(self.camera.centre()), self.camera.following())
                } else {
                    (self.feedback.camera_override(), None)
                };
                let scene = session.scene(width, height, camera, followed);
                // A spectator's "own" mark is the player followed: one of the others.
                self.stats.borrow_mut().others = scene
                    .players
                    .iter()
                    .filter(|p| spectator || !p.own)
                    .map(|p| (p.id, p.x, p.y))
                    .collect();
                render::draw(
                    &self.ctx,
                    width,
                    height,
                    &session.welcome.map,
                    &session.walls,
                    &scene,
                );
                let arrows = if spectator {
                    0
                } else {
                    minimap::draw_edge_arrows(&self.ctx, width, height, &scene)
                };
                let tile = f64::from(coord_to_units(TILE_SIZE));
                let map = &session.welcome.map;
                minimap::draw_minimap(
                    &self.ctx,
                    width,
                    height,
                    (
                        f64::from(map.width()) * tile,
                        f64::from(map.height()) * tile,
                    ),
                    &session.walls,
                    &scene,
                    if spectator {
                        WATCH_VIEW_UNITS
                    } else {
                        f64::from(coord_to_units(session.welcome.view_radius))
                    },
                );
                let now = now_ms();
                if !spectator {
                    self.feedback
                        .draw(&self.ctx, width, height, self.input.borrow().mouse, now);
                }
                let hp = session.own().map(|own| own.hp);
                self.feedback.show_dom(
                    &self.doc,
                    now,
                    hp,
                    session.welcome.respawn_delay_ms,
                    session.welcome.spawn_protection_ms,
                )?;
                let mut stats = self.stats.borrow_mut();
                stats.offscreen_arrows = arrows;
                stats.zoom = scene.scale;
                stats.hp = hp;
            }
            other => {
                self.feedback.hide_all();
                self.stats.borrow_mut().others.clear();
                self.ctx.set_fill_style_str("#0d1017");
                self.ctx.fill_rect(0.0, 0.0, width, height);
                let message = match other {
                    Conn::Asking(_) | Conn::Joining(_) => "Connecting…",
                    Conn::Waiting { retry_at, .. } if retry_at.is_finite() => {
                        "Connection lost. Reconnecting…"
                    }
                    Conn::Waiting { .. } => "Disconnected. Reload the page to play.",
                    _ => "",
                };
                self.ctx.set_fill_style_str("#8e99ad");
                self.ctx.set_text_align("center");
                self.ctx.set_font("600 22px system-ui, sans-serif");
                let _ = self.ctx.fill_text(message, width / 2.0, height / 2.0);
            }
        }
        Ok(())
    }

    fn update_stats(&mut self, now: f64) {
        let mut stats = self.stats.borrow_mut();
        stats.frame_ms = now;
        stats.connected = matches!(self.conn, Conn::Playing(..));
        stats.state = match &self.conn {
            Conn::Idle => "enter a name".into(),
            Conn::Asking(_) => "asking where to play".into(),
            Conn::Joining(_) => "connecting".into(),
            Conn::Playing(..) => "connected".into(),
            Conn::Waiting { retry_at, reason } if retry_at.is_finite() => {
                format!(
                    "{reason} — reconnecting in {:.0} s",
                    ((retry_at - now) / 1000.0).max(0.0).ceil()
                )
            }
            Conn::Waiting { reason, .. } => format!("disconnected: {reason}"),
        };
        stats.kill_feed = self
            .feedback
            .kill_feed()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        stats.hit_markers = self.feedback.hit_markers();
        stats.kills_confirmed = self.feedback.kills_confirmed();
        stats.spawn_hint = self.feedback.hint_shown();
        stats.muted = self.audio.borrow().muted();
        if !stats.connected {
            stats.dead = None;
            stats.hp = None;
        }
        let session = match &self.conn {
            Conn::Playing(_, session) => Some(session),
            _ => None,
        };
        stats.spectator = session.is_some_and(|s| s.spectator);
        stats.spectator_delay_ms = session.and_then(|s| s.welcome.spectator_delay_ms);
        stats.following = session
            .filter(|s| s.spectator)
            .and_then(|_| self.camera.following())
            .map(|id| id.0);
        stats.camera = session
            .filter(|s| s.spectator)
            .map(|_| self.camera.centre());
        stats.chat_input = session.is_some_and(|s| !s.spectator);
        let target = self.route.as_ref().and_then(Route::target);
        stats.server_url = target.map(|t| t.url.clone());
        stats.server_name = target.and_then(|t| t.server.clone());
        if let Conn::Playing(_, session) = &self.conn {
            stats.tick = session.view.tick().map_or(0, |t| t.0);
            stats.player_id = (!session.spectator).then_some(session.welcome.player_id.0);
            stats.visible_players = session.view.players().len() as u32;
            stats.ping_ms = session.clock.rtt_ms().unwrap_or(0.0);
            stats.rtt_ms = session.last_rtt_ms;
            stats.room = Some(session.welcome.room.0);
            stats.interp_delay_ms = (
                session.playout.delay_ms(),
                session.playout.target_delay_ms(),
            );
            stats.underruns = self.underruns_past.0 + session.playout.underruns();
            stats.late_arrivals = self.underruns_past.1 + session.playout.late_arrivals();
            let corrections = session.predictor.corrections();
            stats.corrections = (corrections.count, corrections.largest, corrections.snaps);
            stats.desyncs = self.desyncs_past + session.desyncs;
            let shots = session.shots.stats();
            stats.shots = (shots.predicted, shots.matched, shots.dropped);
            let me = session.view.players().get(&session.welcome.player_id);
            stats.me = me.map(|p| {
                let (x, y) = session.own_render_position();
                (x, y, p.hp, session.my_score.score)
            });
            let rows = session.board_rows(self.camera.following());
            stats.room_code = Some(session.welcome.room_code.clone()).filter(|c| !c.is_empty());
            stats.room_players =
                Some(session.names.len().max(usize::from(!session.spectator)) as u32);
            // The server's count is polled every few seconds; never show fewer on the server than
            // are in this room.
            stats.server_players = self
                .population
                .players()
                .map(|n| n.max(stats.room_players.unwrap_or(0)));
            let room = if session.spectator {
                "Watching room"
            } else {
                "Room"
            };
            let mut title = match &stats.room_code {
                Some(code) => format!("{room} {code}"),
                None => room.to_string(),
            };
            if let Some(n) = stats.room_players {
                title.push_str(&format!(" · {n} here"));
            }
            if let Some(n) = stats.server_players {
                title.push_str(&format!(" · {n} online"));
            }
            let _ = self.hud.set_leaderboard(&title, &rows);
            stats.dead = self.feedback.death().map(|death| {
                (
                    death.killer.map(|k| k.0),
                    self.feedback
                        .respawn_in_ms(now, session.welcome.respawn_delay_ms)
                        .unwrap_or(0.0),
                )
            });
        }
        let status = if let Some(delay) = stats.spectator_delay_ms {
            format!(
                "● watching, {:.1} s behind   ping {:.0} ms   {:.0} fps",
                f64::from(delay) / 1000.0,
                stats.ping_ms,
                stats.fps
            )
        } else if stats.connected {
            format!(
                "● connected   ping {:.0} ms   {:.0} fps",
                stats.ping_ms, stats.fps
            )
        } else {
            format!("○ {}", stats.state)
        };
        self.hud.set_status(&status);
        if self.hud.debug_visible() {
            let me = stats.me.map_or("-".to_string(), |(x, y, hp, score)| {
                format!("({x:.1}, {y:.1}) hp {hp} score {score}")
            });
            let rtt = stats
                .rtt_ms
                .map_or("-".to_string(), |ms| format!("{ms:.1} ms"));
            let (delay, target) = stats.interp_delay_ms;
            self.hud.set_debug(&format!(
                "connected {}\ntick {}\nsnapshots {}\nvisible players {}\nping {:.1} ms (last {rtt})\n\
                 interp {delay:.0} ms (target {target:.0}), underruns {}, late {}\n\
                 corrections {} (largest {:.1})\ndesyncs {}\nfps {:.0}\nme {me}",
                stats.connected,
                stats.tick,
                stats.snapshots_received,
                stats.visible_players,
                stats.ping_ms,
                stats.underruns,
                stats.late_arrivals,
                stats.corrections.0,
                stats.corrections.1,
                stats.desyncs,
                stats.fps
            ));
        }
    }
}

/// CSS pixels per world unit on a watching page: [`WATCH_VIEW_UNITS`] from the centre to the
/// shorter edge.
pub(super) fn spectate_zoom(width: f64, height: f64) -> f64 {
    crate::screen::zoom(width, height, WATCH_VIEW_UNITS)
}

/// What the pointer asked of a watching camera in one frame: the drag (CSS pixels), the clicks on
/// the canvas, and a player picked on the leaderboard.
pub(super) type CameraAsks<'a> = ((f64, f64), &'a [(f64, f64)], Option<u32>);

/// Moves a watching page's camera for one frame: a click picks the player drawn under it (from
/// `drawn`, last frame's players: id and world position) to follow, as does a leaderboard row
/// (`follow`); the movement keys pan and a drag moves it (both stop following).
pub(super) fn steer_camera(
    camera: &mut FreeCamera,
    (input, elapsed, scale, size): (&InputState, f64, f64, (f64, f64)),
    (drag, clicks, follow): CameraAsks<'_>,
    drawn: &[(u32, f64, f64)],
) {
    for click in clicks {
        let players = drawn.iter().map(|&(id, x, y)| (EntityId(id), x, y));
        if let Some(id) = spectate::pick(players, camera.centre(), scale, size, *click) {
            camera.follow(Some(id));
        }
    }
    if let Some(id) = follow {
        camera.follow(Some(EntityId(id)));
    }
    camera.pan_keys(input.axes(), elapsed, scale);
    camera.drag(drag, scale);
}

fn css_size(canvas: &HtmlCanvasElement) -> (f64, f64) {
    (
        f64::from(canvas.client_width().max(1)),
        f64::from(canvas.client_height().max(1)),
    )
}

impl Session {
    fn new(welcome: Welcome, interp_policy: DelayPolicy) -> Session {
        let spectator = welcome.spectator_delay_ms.is_some();
        let rate = TickRate::new(welcome.tick_rate)
            .unwrap_or_else(|| TickRate::new(60).unwrap_or_else(|| unreachable!()));
        Session {
            params: MoveParams::new(rate),
            walls: render::wall_rects(&welcome.map),
            clock: TickClock::new(rate.hz()),
            input_clock: InputClock::new(rate.hz()),
            shots: ShotPredictor::new(),
            view: {
                let view = ClientView::new(
                    std::sync::Arc::new(welcome.map.clone()),
                    MoveParams::new(rate),
                );
                // A spectator's feed sums the whole room: its view drops nothing by distance.
                if spectator {
                    view
                } else {
                    view.with_viewer(welcome.player_id, welcome.view_radius)
                }
            },
            predictor: Predictor::new(),
            interp: InterpolationBuffer::new(),
            playout: PlayoutClock::new(rate.hz(), interp_policy),
            frame_playout: None,
            names: Names::default(),
            leaderboard: Vec::new(),
            my_score: ScoreEntry {
                id: welcome.player_id,
                ..ScoreEntry::default()
            },
            next_seq: 1,
            last_ping: f64::NEG_INFINITY,
            pending_pings: Vec::new(),
            last_rtt_ms: None,
            newest: (0, 0),
            desyncs: 0,
            aim: 0,
            spectator,
            welcome,
        }
    }

    fn name_of(&self, id: EntityId) -> String {
        self.names.name_of(id)
    }

    fn on_snapshot(
        &mut self,
        snapshot: &Snapshot,
        now: f64,
        socket: &Socket,
        hud: &mut Hud,
        feedback: &mut Feedback,
    ) -> Result<(), JsValue> {
        // Received is what the server asks to hear about, whether or not it applies.
        if snapshot.tick.0 > self.newest.0 {
            self.newest = (snapshot.tick.0, snapshot.proof);
        }
        // The events are handled whatever becomes of the view: they do not depend on it.
        let checked = self.view.apply_checked(snapshot);
        match checked {
            Checked::Held => self.on_view_updated(snapshot, now),
            Checked::Desynced => {
                // The view disagreed with what the server says it must hold: count it; the
                // reply says so and asks for the full snapshot to start over from.
                self.desyncs += 1;
                web_sys::console::warn_1(&JsValue::from_str(&format!(
                    "view desynced at tick {}",
                    snapshot.tick.0
                )));
            }
            Checked::Lost => {} // lost track: the reply asks for a full snapshot
        }
        if let Some(reply) = checked.reply(snapshot.tick) {
            socket.send(&encode_client(&reply));
        }
        self.handle_events(snapshot, hud, feedback, now)
    }

    /// Follows a view that applied cleanly: the clock, the interpolation buffer, the prediction.
    fn on_view_updated(&mut self, snapshot: &Snapshot, now: f64) {
        self.clock.on_snapshot(now, snapshot.tick.0);
        self.playout.on_snapshot(snapshot.tick, now);
        self.shots.reconcile(&self.view, now);
        let me = self.welcome.player_id;
        for (id, player) in self.view.players() {
            if *id != me {
                self.interp.record(*id, player.motion);
            }
        }
        let view = &self.view;
        self.interp.retain(|id| view.players().contains_key(&id));
        if let Some(own) = self.view.players().get(&me) {
            let server = own
                .motion
                .position_at(&self.welcome.map, &self.params, snapshot.tick);
            let alive = own.status & status::DEAD == 0;
            self.predictor.reconcile_at(
                &self.welcome.map,
                &self.params,
                server,
                snapshot.tick,
                snapshot.ack_input_seq,
                alive,
            );
        }
    }

    /// Handles a snapshot's reliable events, in order.
    /// Kills go to the kill feed, not the chat; hits to the hit marker.
    fn handle_events(
        &mut self,
        snapshot: &Snapshot,
        hud: &mut Hud,
        feedback: &mut Feedback,
        now: f64,
    ) -> Result<(), JsValue> {
        let me = self.welcome.player_id;
        for event in &snapshot.events {
            match event {
                // A spectator's keyframes repeat the roster: it is everyone in the room.
                GameEvent::Roster(entries) if self.spectator => self.names.replace(entries),
                GameEvent::Roster(entries) => entries.iter().for_each(|e| {
                    self.names.add(e);
                }),
                GameEvent::PlayerJoined(e) => {
                    // A player already known (a spectator joining between keyframes) is updated,
                    // not announced again.
                    if self.names.add(e) && e.id != me {
                        hud.add_chat(None, &format!("{} joined", e.name))?;
                    }
                }
                GameEvent::PlayerLeft(id) => {
                    hud.add_chat(None, &format!("{} left", self.name_of(*id)))?;
                    self.names.remove(*id);
                }
                GameEvent::Chat { from, text } => hud.add_chat(Some(&self.name_of(*from)), text)?,
                GameEvent::Kill { killer, victim } => {
                    let killer = killer.map(|k| (k, self.name_of(k)));
                    feedback.on_kill(me, killer, (*victim, self.name_of(*victim)), now);
                }
                GameEvent::Leaderboard(entries) => self.leaderboard = entries.clone(),
                GameEvent::YourScore(score) => self.my_score = *score,
                GameEvent::Notice(text) => hud.add_notice(text)?,
                GameEvent::Hit { victim, hp } => feedback.on_hit(*victim, *hp, now),
            }
        }
        Ok(())
    }

    /// Runs the local input ticks due by the input clock, sending one input per tick, stamped with
    /// its tick, and predicting it.
    fn local_ticks(
        &mut self,
        socket: &Socket,
        input: &InputState,
        now: f64,
        width: f64,
        height: f64,
    ) {
        if now - self.last_ping >= self.clock.ping_interval_ms() {
            let nonce = (now as u64 & 0xFFFF_FFFF) as u32;
            self.pending_pings.retain(|(_, sent)| now - sent < 10_000.0);
            // Timed when it leaves, as its pong is timed when it arrives.
            self.pending_pings.push((nonce, now_ms()));
            // The ping also tells the server how far this client has read, with the proof that
            // came in that snapshot.
            // A spectator's feed carries no proofs, and it acknowledges nothing.
            let (acked_tick, proof) = if self.spectator { (0, 0) } else { self.newest };
            socket.send(&encode_client(&ClientMsg::Ping {
                nonce,
                acked_tick,
                proof,
            }));
            self.last_ping = now;
        }
        if self.spectator || !self.predictor.started() {
            return;
        }
        // Aim from the avatar's screen position (the screen centre) to the mouse.
        let (mx, my) = input.mouse;
        let dx = mx - width / 2.0;
        let dy = my - height / 2.0;
        if dx != 0.0 || dy != 0.0 {
            self.aim = aim_from_vector(glam::Vec2::new(dx as f32, dy as f32));
        }
        let alive = self
            .view
            .players()
            .get(&self.welcome.player_id)
            .is_some_and(|p| p.status & status::DEAD == 0);
        let render_tick = self.render_tick();
        let rtt_ms = self.clock.rtt_ms().unwrap_or(0.0);
        // One input per tick number, each sent as its tick comes due (after a stall, only the last
        // few: the server has run the others).
        for tick in self.input_clock.advance(now, &self.clock) {
            let (move_x, move_y) = input.axes();
            let frame = InputFrame {
                seq: self.next_seq,
                tick: Tick(tick),
                // Where this player sees the others: the server tests its shots against them as
                // they stood then (lag compensation).
                view_lag: (f64::from(tick) - render_tick.floor()).clamp(0.0, f64::from(u16::MAX))
                    as u16,
                move_x,
                move_y,
                aim: self.aim,
                buttons: if input.fire() { buttons::FIRE } else { 0 },
            };
            self.next_seq += 1;
            if socket.send(&encode_client(&ClientMsg::Input(frame))) {
                let dir = Dir::from_axes(move_x, move_y).unwrap_or(Dir::Still);
                let (map, params) = (&self.welcome.map, &self.params);
                self.predictor
                    .apply_stamped_input(map, params, frame.seq, frame.tick, dir);
                // The shot appears at once, where the server will fire it.
                let fire = FireInput {
                    tick: frame.tick,
                    position: self.predictor.predicted(),
                    aim: frame.aim,
                    fire: frame.fire(),
                    alive,
                };
                self.shots.on_input(params, &fire, now, rtt_ms);
            }
        }
    }

    /// Where the own avatar is drawn this frame: between the last two predicted ticks, as far as the
    /// input clock is into the next tick (even motion at any display rate).
    fn own_render_position(&self) -> (f64, f64) {
        self.predictor
            .render_position_at(self.input_clock.fraction())
    }

    /// The tick remote entities are drawn at this frame (the view's tick before the first frame
    /// after a snapshot).
    fn render_tick(&self) -> f64 {
        self.frame_playout.map_or_else(
            || f64::from(self.view.tick().map_or(0, |t| t.0)),
            |playout| playout.render_tick,
        )
    }

    /// The own avatar as the view shows it, drawn where it is predicted.
    fn own(&self) -> Option<Own> {
        let p = self.view.players().get(&self.welcome.player_id)?;
        Some(Own {
            hp: p.hp,
            dead: p.status & status::DEAD != 0,
            protected: p.status & status::PROTECTED != 0,
            position: self.own_render_position(),
        })
    }

    /// The leaderboard's rows: the server's top ten, then the own row if it is not among them.
    fn board_rows(&self, followed: Option<EntityId>) -> Vec<BoardRow> {
        if self.spectator {
            return board::watch_rows(
                &self.leaderboard,
                followed,
                |id| self.name_of(id),
                |id| self.names.is_bot(id),
            );
        }
        board::board_rows(
            &self.leaderboard,
            &self.my_score,
            |id| self.name_of(id),
            |id| self.names.is_bot(id),
        )
    }

    /// The frame's scene; `camera` overrides the own avatar's position as the camera's centre (the
    /// place of death, while dead).
    /// `followed` is the player a spectator follows, drawn highlighted as the own avatar is.
    fn scene(
        &self,
        width: f64,
        height: f64,
        camera: Option<(f64, f64)>,
        followed: Option<EntityId>,
    ) -> Scene {
        let me = self.welcome.player_id;
        let render_tick = self.render_tick().max(0.0);
        let own_position = self.own_render_position();
        let camera = camera.unwrap_or(own_position);
        let view_radius = f64::from(coord_to_units(self.welcome.view_radius));
        let scale = if self.spectator {
            spectate_zoom(width, height)
        } else {
            crate::screen::zoom(width, height, view_radius)
        };
        let mut players = Vec::new();
        for (id, p) in self.view.players() {
            let own = *id == me;
            let highlighted = own || Some(*id) == followed;
            let (x, y) = if own {
                own_position
            } else {
                match self
                    .interp
                    .position(&self.welcome.map, &self.params, *id, render_tick)
                {
                    Some(pos) => pos,
                    None => continue,
                }
            };
            let aim = if own { self.aim } else { aim_from_wire(p.aim) };
            players.push(DrawPlayer {
                id: id.0,
                x,
                y,
                aim: f64::from(aim_to_radians(aim)),
                hp: p.hp,
                name: self.name_of(*id),
                own: highlighted,
                dead: p.status & status::DEAD != 0,
                protected: p.status & status::PROTECTED != 0,
                hue: hue(*id),
            });
        }
        // Others' shots are drawn with the others, in the past; the own ones (predicted, or the
        // server's once matched) with the own avatar, at the local tick, so a shot does not jump
        // back when the server's takes over from the prediction.
        let remote_tick = Tick(render_tick.floor() as u32);
        let local_tick = Tick(
            self.input_clock
                .position()
                .map_or(remote_tick.0, |p| p.max(0.0).floor() as u32),
        );
        let (map, params) = (&self.welcome.map, &self.params);
        let units = |pos: skirmish_shared::fixed::Pos| {
            (
                f64::from(coord_to_units(pos.x)),
                f64::from(coord_to_units(pos.y)),
                PROJECTILE_HUE,
            )
        };
        let mut projectiles: Vec<_> = self
            .view
            .projectiles()
            .iter()
            .filter_map(|(id, shot)| {
                let tick = if self.shots.is_own(*id) {
                    local_tick
                } else {
                    remote_tick
                };
                if shot.motion.gone_at(map, params, tick) {
                    return None;
                }
                shot.motion.position_at(map, tick).map(units)
            })
            .collect();
        projectiles.extend(self.shots.positions_at(map, params, local_tick).map(units));
        // Others' shots on a line through the own avatar (a little wider than it), for arrows.
        let hit_radius = 2.0 * f64::from(coord_to_units(PLAYER_HALF_SIZE));
        let incoming = self
            .view
            .projectiles()
            .iter()
            .filter(|_| !self.spectator)
            .filter(|(id, _)| !self.shots.is_own(**id))
            .filter_map(|(_, shot)| {
                let (x, y, _) = shot.motion.position_at(map, remote_tick).map(units)?;
                let (vx, vy) = shot.motion.velocity;
                let velocity = (f64::from(vx), f64::from(vy));
                crate::screen::heads_at((x, y), velocity, own_position, hit_radius)
                    .then_some((x, y))
            })
            .collect();
        let _ = height;
        Scene {
            camera,
            scale,
            players,
            projectiles,
            incoming,
            all_names: self.spectator,
        }
    }
}
