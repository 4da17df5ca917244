//! The replay page (`/?replay=ID`): fetches the recording from `GET /api/replays/ID`, plays it with
//! `crate::playback::Playback` through the live renderer, and wires the bar of controls (play and
//! pause, the timeline with its kill marks, the speed). The camera is the spectator's: free, or
//! following a player clicked on the canvas or on the leaderboard. A file the reader refuses is
//! said in words on the landing card, which still offers Play and Watch.
//!
//! The controls only record what was asked ([`Controls`]); the frame loop takes it, so no listener
//! holds the page.

use super::app::{set_watching, spectate_zoom, steer_camera};
use super::feedback::Feedback;
use super::hud::Hud;
use super::input::InputState;
use super::lobby::{by_id, is_replay_id, listen, query_param, Lobby};
use super::minimap;
use super::render::{self, DrawPlayer, Scene, WallRect};
use crate::board::{self, Names};
use crate::interp::InterpolationBuffer;
use crate::playback::{clock_text, speed_label, Applied, Playback, SPEEDS};
use crate::spectate::{FreeCamera, WATCH_VIEW_UNITS};
use skirmish_shared::fixed::{aim_from_wire, aim_to_radians, coord_to_units};
use skirmish_shared::map::TILE_SIZE;
use skirmish_shared::protocol::{status, EntityId, GameEvent, ScoreEntry, Snapshot, SPECTATOR_ID};
use skirmish_shared::time::Tick;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, Document, Element, HtmlCanvasElement, HtmlInputElement};

/// Largest replay file the page loads, in bytes (a recording part is far smaller: the server splits
/// long recordings into parts).
const MAX_REPLAY_BYTES: f64 = 256.0 * 1024.0 * 1024.0;

/// Steps of the timeline's range input (its value is a fraction of the replay in these steps).
const SEEK_STEPS: f64 = 1000.0;

/// Hue of projectiles (amber), as in the live game.
const PROJECTILE_HUE: u32 = 40;

/// What the bar's controls asked for since the last frame.
#[derive(Default)]
struct Controls {
    /// Play or pause was pressed.
    toggle: bool,
    /// The timeline was moved to this fraction.
    seek: Option<f64>,
    /// The speed button was pressed: the next speed.
    next_speed: bool,
}

/// The replay page's figures, for `window.skirmishStats().replay`.
#[derive(Debug, Default, Clone)]
pub struct ReplayStats {
    /// `loading`, `ready` or `failed`.
    state: &'static str,
    /// Why the replay cannot be played.
    error: Option<String>,
    /// The tick of the last frame applied.
    tick: u32,
    /// The clock's tick, fractional.
    position: f64,
    playing: bool,
    speed: f64,
    /// Players and projectiles in the view.
    entities: u32,
    /// Frames in the file, and the first and last frames' ticks.
    frames: u32,
    start_tick: u32,
    end_tick: u32,
    /// Kill marks on the timeline.
    kills: u32,
}

impl ReplayStats {
    /// As a JavaScript object.
    pub fn to_js(&self) -> JsValue {
        let object = js_sys::Object::new();
        let set = |k: &str, v: JsValue| {
            let _ = js_sys::Reflect::set(&object, &JsValue::from_str(k), &v);
        };
        set("state", JsValue::from_str(self.state));
        set(
            "error",
            self.error
                .as_deref()
                .map_or(JsValue::NULL, JsValue::from_str),
        );
        set("tick", self.tick.into());
        set("position", self.position.into());
        set("playing", self.playing.into());
        set("speed", self.speed.into());
        set("entities", self.entities.into());
        set("frames", self.frames.into());
        set("startTick", self.start_tick.into());
        set("endTick", self.end_tick.into());
        set("kills", self.kills.into());
        object.into()
    }
}

/// A replay loaded and playing.
struct Loaded {
    playback: Playback,
    /// Every player the replay names (it keeps them after they leave: the chat and kill feed
    /// still name them).
    names: Names,
    leaderboard: Vec<ScoreEntry>,
    /// Players' motion keys, for drawing between frames.
    interp: InterpolationBuffer,
    walls: Vec<WallRect>,
}

enum State {
    Loading,
    Ready(Box<Loaded>),
    Failed,
}

/// The bar's elements.
struct Bar {
    bar: Element,
    play: Element,
    seek: HtmlInputElement,
    time: Element,
    speed: Element,
    marks: Element,
}

/// Where the fetch leaves the file's bytes, or why there are none.
type Fetched = Rc<RefCell<Option<Result<Vec<u8>, String>>>>;

/// The replay page.
pub struct ReplayPage {
    doc: Document,
    id: String,
    /// The fetched file, or why it could not be fetched; set by the fetch.
    fetched: Fetched,
    state: State,
    error: Option<String>,
    controls: Rc<RefCell<Controls>>,
    bar: Bar,
    /// Players as drawn in the last frame: id and world position (for clicks and the stats).
    drawn: Vec<(u32, f64, f64)>,
    /// The bar's texts last shown.
    shown: (String, String, String),
}

/// The replay the address asks for (`/?replay=ID`): hides the card and starts fetching it. An id
/// that cannot be one is said on the card instead.
pub fn asked(doc: &Document, lobby: &Lobby) -> Result<Option<ReplayPage>, JsValue> {
    let Some(id) = query_param("replay") else {
        return Ok(None);
    };
    if !is_replay_id(&id) {
        let shown: String = id.chars().take(24).collect();
        lobby.show_message(&format!(
            "“{shown}” is not a replay id. Pick one from the Replays list."
        ));
        return Ok(None);
    }
    lobby.hide();
    set_watching(
        doc,
        "Replay: the chat as it was said. Nothing typed here reaches anyone.",
    );
    if let Some(root) = doc.document_element() {
        let _ = root.class_list().add_1("replaying");
    }
    let bar = Bar {
        bar: by_id(doc, "replay-bar")?,
        play: by_id(doc, "replay-play")?,
        seek: by_id(doc, "replay-seek")?,
        time: by_id(doc, "replay-time")?,
        speed: by_id(doc, "replay-speed")?,
        marks: by_id(doc, "replay-marks")?,
    };
    let controls = Rc::new(RefCell::new(Controls::default()));
    let c = controls.clone();
    listen(&bar.play, "click", move |_| c.borrow_mut().toggle = true)?;
    let c = controls.clone();
    listen(&bar.speed, "click", move |_| {
        c.borrow_mut().next_speed = true
    })?;
    let (c, seek) = (controls.clone(), bar.seek.clone());
    listen(&bar.seek, "input", move |_| {
        if let Ok(value) = seek.value().parse::<f64>() {
            c.borrow_mut().seek = Some(value / SEEK_STEPS);
        }
    })?;
    bar.seek.set_max(&SEEK_STEPS.to_string());
    let fetched = Rc::new(RefCell::new(None));
    let (into, fetch_id) = (fetched.clone(), id.clone());
    wasm_bindgen_futures::spawn_local(async move {
        let result = fetch_replay(&fetch_id).await;
        *into.borrow_mut() = Some(result);
    });
    Ok(Some(ReplayPage {
        doc: doc.clone(),
        id,
        fetched,
        state: State::Loading,
        error: None,
        controls,
        bar,
        drawn: Vec::new(),
        shown: Default::default(),
    }))
}

/// The file's bytes, or why there are none (the server's reason for a refusal).
async fn fetch_replay(id: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response = JsFuture::from(window.fetch_with_str(&format!("/api/replays/{id}")))
        .await
        .map_err(|_| "the server cannot be reached".to_string())?;
    let response: web_sys::Response = response
        .dyn_into()
        .map_err(|_| "the server's answer is not a response".to_string())?;
    let status = response.status();
    let read_failed = |_| "the download broke off".to_string();
    if !response.ok() {
        let text = match response.text() {
            Ok(promise) => JsFuture::from(promise)
                .await
                .ok()
                .and_then(|t| t.as_string())
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        let reason: String = text.trim().chars().take(200).collect();
        return Err(if reason.is_empty() {
            format!("the server answered {status}")
        } else {
            format!("{reason} ({status})")
        });
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(read_failed)?)
        .await
        .map_err(read_failed)?;
    let buffer: js_sys::ArrayBuffer = buffer.dyn_into().map_err(read_failed)?;
    if f64::from(buffer.byte_length()) > MAX_REPLAY_BYTES {
        return Err(format!(
            "the file is larger than this page plays ({} MiB)",
            MAX_REPLAY_BYTES / 1024.0 / 1024.0
        ));
    }
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

impl Loaded {
    fn new(playback: Playback) -> Loaded {
        let mut names = Names::default();
        for player in playback.players() {
            names.add(player);
        }
        let walls = render::wall_rects(&playback.replay().header().map);
        Loaded {
            playback,
            names,
            leaderboard: Vec::new(),
            interp: InterpolationBuffer::new(),
            walls,
        }
    }

    fn name_of(&self, id: EntityId) -> String {
        self.names.name_of(id)
    }

    /// Handles a frame's events: the state they carry always, the lines they print only when
    /// played (not while seeking).
    fn on_frame(
        &mut self,
        snapshot: &Snapshot,
        how: Applied,
        hud: &Hud,
        feedback: &mut Feedback,
        now: f64,
    ) -> Result<(), JsValue> {
        let played = how == Applied::Played;
        for event in &snapshot.events {
            match event {
                // Names are kept after players leave: the chat and kill feed of any moment can
                // name them.
                GameEvent::Roster(entries) => entries.iter().for_each(|e| {
                    self.names.add(e);
                }),
                GameEvent::PlayerJoined(e) => {
                    let new = self.names.add(e);
                    if new && played {
                        hud.add_chat(None, &format!("{} joined", e.name))?;
                    }
                }
                GameEvent::PlayerLeft(id) if played => {
                    hud.add_chat(None, &format!("{} left", self.name_of(*id)))?;
                }
                GameEvent::Chat { from, text } if played => {
                    hud.add_chat(Some(&self.name_of(*from)), text)?
                }
                GameEvent::Kill { killer, victim } if played => {
                    let killer = killer.map(|k| (k, self.name_of(k)));
                    feedback.on_kill(SPECTATOR_ID, killer, (*victim, self.name_of(*victim)), now);
                }
                GameEvent::Leaderboard(entries) => self.leaderboard = entries.clone(),
                GameEvent::Notice(text) if played => hud.add_notice(text)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Keeps the interpolation buffer in step with the view (`fresh`: after a seek, from nothing).
    fn record_view(&mut self, fresh: bool) {
        if fresh {
            self.interp = InterpolationBuffer::new();
        }
        let view = self.playback.view();
        for (id, player) in view.players() {
            self.interp.record(*id, player.motion);
        }
        self.interp.retain(|id| view.players().contains_key(&id));
    }
}

impl ReplayPage {
    /// Leaves the replay (the player chose Play or Watch on its card).
    pub fn close(self) {
        let _ = self.bar.bar.class_list().add_1("hidden");
        if let Some(root) = self.doc.document_element() {
            let _ = root.class_list().remove_2("replaying", "watching");
        }
    }

    /// One frame: loads the file once fetched, takes the controls, moves the camera, runs the clock.
    #[allow(clippy::too_many_arguments)]
    pub fn frame(
        &mut self,
        now: f64,
        elapsed: f64,
        input: &Rc<RefCell<InputState>>,
        camera: &mut FreeCamera,
        hud: &Hud,
        feedback: &mut Feedback,
        lobby: &Lobby,
    ) -> Result<(), JsValue> {
        if matches!(self.state, State::Loading) {
            let Some(fetched) = self.fetched.borrow_mut().take() else {
                return Ok(());
            };
            match fetched.and_then(|bytes| Playback::load(bytes).map_err(|e| e.to_string())) {
                Ok(playback) if playback.replay().frames().is_empty() => {
                    self.fail(
                        "it has no frames yet (the match has only just begun)",
                        lobby,
                    );
                }
                Ok(playback) => self.start(Loaded::new(playback), camera, hud)?,
                Err(why) => self.fail(&why, lobby),
            }
        }
        let State::Ready(loaded) = &mut self.state else {
            return Ok(());
        };
        let (drag, clicks, follow) = {
            let mut input = input.borrow_mut();
            (input.take_drag(), input.take_clicks(), input.follow.take())
        };
        let mut controls = std::mem::take(&mut *self.controls.borrow_mut());
        // Space plays and pauses, as the button does.
        controls.toggle ^= std::mem::take(&mut input.borrow_mut().space_pressed);
        let mut applied: Vec<(Snapshot, Applied)> = Vec::new();
        let mut sought = false;
        let mut result = Ok(());
        if let Some(fraction) = controls.seek {
            let tick = loaded.playback.tick_at(fraction);
            result = loaded
                .playback
                .seek(tick, |s, how| applied.push((s.clone(), how)));
            sought = true;
        }
        if controls.toggle && result.is_ok() {
            let playing = !loaded.playback.playing();
            let before = applied.len();
            result = loaded
                .playback
                .set_playing(playing, |s, how| applied.push((s.clone(), how)));
            sought |= applied.len() > before;
        }
        if controls.next_speed {
            let next = SPEEDS
                .iter()
                .copied()
                .find(|s| *s > loaded.playback.speed())
                .unwrap_or(SPEEDS[0]);
            loaded.playback.set_speed(next);
        }
        if result.is_ok() {
            result = loaded
                .playback
                .advance(elapsed, |s, how| applied.push((s.clone(), how)));
        }
        let any = !applied.is_empty();
        for (snapshot, how) in &applied {
            loaded.on_frame(snapshot, *how, hud, feedback, now)?;
        }
        if any {
            loaded.record_view(sought || applied.iter().any(|(_, h)| *h == Applied::Seeking));
        }
        let (width, height) = {
            let window = web_sys::window().ok_or("no window")?;
            (
                window.inner_width()?.as_f64().unwrap_or(1.0),
                window.inner_height()?.as_f64().unwrap_or(1.0),
            )
        };
        let scale = spectate_zoom(width, height);
        steer_camera(
            camera,
            (&input.borrow(), elapsed, scale, (width, height)),
            (drag, &clicks, follow),
            &self.drawn,
        );
        let position = loaded.playback.position();
        let (map, params) = (
            &loaded.playback.replay().header().map,
            loaded.playback.view().params(),
        );
        let interp = &loaded.interp;
        camera.update(|id| interp.position(map, params, id, position));
        if let Err(e) = result {
            self.fail(&e.to_string(), lobby);
        }
        Ok(())
    }

    /// The file loaded: fit the camera to its map, mark the kills on the timeline, and play.
    fn start(
        &mut self,
        mut loaded: Loaded,
        camera: &mut FreeCamera,
        hud: &Hud,
    ) -> Result<(), JsValue> {
        let header = loaded.playback.replay().header();
        let tile = f64::from(coord_to_units(TILE_SIZE));
        camera.fit((
            f64::from(header.map.width()) * tile,
            f64::from(header.map.height()) * tile,
        ));
        let started = js_sys::Date::new(&JsValue::from_f64(header.started_unix_ms as f64));
        let part = if header.part > 1 {
            format!(", part {}", header.part)
        } else {
            String::new()
        };
        hud.add_chat(
            None,
            &format!(
                "Replay of room {} from {:02}:{:02}{part}. Drag or use WASD to look around; click a \
                 player or their leaderboard row to follow them.",
                header.room_code,
                started.get_hours(),
                started.get_minutes(),
            ),
        )?;
        self.bar.marks.set_text_content(None);
        for kill in loaded.playback.kills() {
            let mark = self.doc.create_element("span")?;
            mark.set_class_name("kill-mark");
            let at = loaded.playback.fraction_of(f64::from(kill.tick.0));
            mark.set_attribute("style", &format!("left: {:.3}%", at * 100.0))?;
            let killer = kill
                .killer
                .map_or_else(|| "someone".to_string(), |k| loaded.name_of(k));
            let when = f64::from(kill.tick.0.saturating_sub(loaded.playback.span().0)) * 1000.0
                / tick_rate(&loaded);
            mark.set_attribute(
                "title",
                &format!(
                    "{} ▸ {} at {}",
                    killer,
                    loaded.name_of(kill.victim),
                    clock_text(when)
                ),
            )?;
            self.bar.marks.append_child(&mark)?;
        }
        let _ = self.bar.bar.class_list().remove_1("hidden");
        loaded
            .playback
            .set_playing(true, |_, _| {})
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        self.state = State::Ready(Box::new(loaded));
        Ok(())
    }

    /// The replay cannot be played: say why on the card.
    fn fail(&mut self, why: &str, lobby: &Lobby) {
        let text = format!("Replay {} cannot be played: {why}.", self.id);
        lobby.show_message(&text);
        let _ = self.bar.bar.class_list().add_1("hidden");
        // The card offers playing and watching: the page is no longer a replay's.
        if let Some(root) = self.doc.document_element() {
            let _ = root.class_list().remove_2("replaying", "watching");
        }
        self.error = Some(why.to_string());
        self.state = State::Failed;
    }

    /// Draws the frame with the live renderer, at the clock's position.
    pub fn draw(
        &mut self,
        ctx: &CanvasRenderingContext2d,
        canvas: &HtmlCanvasElement,
        (width, height): (f64, f64),
        camera: &FreeCamera,
    ) -> Result<(), JsValue> {
        let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
        let (pw, ph) = ((width * dpr).round() as u32, (height * dpr).round() as u32);
        if canvas.width() != pw || canvas.height() != ph {
            canvas.set_width(pw);
            canvas.set_height(ph);
        }
        ctx.set_transform(dpr, 0.0, 0.0, dpr, 0.0, 0.0)?;
        let State::Ready(loaded) = &self.state else {
            ctx.set_fill_style_str("#0d1017");
            ctx.fill_rect(0.0, 0.0, width, height);
            ctx.set_fill_style_str("#8e99ad");
            ctx.set_text_align("center");
            ctx.set_font("600 22px system-ui, sans-serif");
            let message = if matches!(self.state, State::Loading) {
                "Loading the replay…"
            } else {
                ""
            };
            let _ = ctx.fill_text(message, width / 2.0, height / 2.0);
            self.drawn.clear();
            return Ok(());
        };
        let scene = scene(loaded, camera, width, height);
        self.drawn = scene.players.iter().map(|p| (p.id, p.x, p.y)).collect();
        let map = &loaded.playback.replay().header().map;
        render::draw(ctx, width, height, map, &loaded.walls, &scene);
        let tile = f64::from(coord_to_units(TILE_SIZE));
        minimap::draw_minimap(
            ctx,
            width,
            height,
            (
                f64::from(map.width()) * tile,
                f64::from(map.height()) * tile,
            ),
            &loaded.walls,
            &scene,
            WATCH_VIEW_UNITS,
        );
        Ok(())
    }

    /// Updates the figures, the leaderboard, the status line and the bar.
    pub fn update_stats(
        &mut self,
        stats: &mut super::app::Stats,
        camera: &FreeCamera,
        hud: &mut Hud,
    ) {
        stats.spectator = true;
        stats.connected = false;
        stats.me = None;
        stats.player_id = None;
        stats.chat_input = false;
        stats.others = self.drawn.clone();
        stats.following = camera.following().map(|id| id.0);
        stats.camera = Some(camera.centre());
        let (width, height) = web_sys::window()
            .and_then(|w| {
                Some((
                    w.inner_width().ok()?.as_f64()?,
                    w.inner_height().ok()?.as_f64()?,
                ))
            })
            .unwrap_or((1.0, 1.0));
        stats.zoom = spectate_zoom(width, height);
        let mut figures = ReplayStats {
            state: match self.state {
                State::Loading => "loading",
                State::Ready(_) => "ready",
                State::Failed => "failed",
            },
            error: self.error.clone(),
            ..ReplayStats::default()
        };
        let status = match &self.state {
            State::Loading => "○ loading the replay".to_string(),
            State::Failed => "○ this replay cannot be played".to_string(),
            State::Ready(loaded) => {
                let playback = &loaded.playback;
                let view = playback.view();
                let (start, end) = playback.span();
                figures = ReplayStats {
                    tick: view.tick().map_or(0, |t| t.0),
                    position: playback.position(),
                    playing: playback.playing(),
                    speed: playback.speed(),
                    entities: (view.players().len() + view.projectiles().len()) as u32,
                    frames: playback.replay().frames().len() as u32,
                    start_tick: start,
                    end_tick: end,
                    kills: playback.kills().len() as u32,
                    ..figures
                };
                stats.tick = figures.tick;
                stats.visible_players = view.players().len() as u32;
                let rows = board::watch_rows(
                    &loaded.leaderboard,
                    camera.following(),
                    |id| loaded.name_of(id),
                    |id| loaded.names.is_bot(id),
                );
                let header = playback.replay().header();
                let title = format!(
                    "Replay · room {} · {} here",
                    header.room_code,
                    view.players().len()
                );
                let _ = hud.set_leaderboard(&title, &rows);
                let time = format!(
                    "{} / {}",
                    clock_text(playback.elapsed_ms()),
                    clock_text(playback.duration_ms())
                );
                let play = if playback.playing() { "❚❚" } else { "▶" };
                let speed = speed_label(playback.speed());
                if self.shown.0 != time {
                    self.bar.time.set_text_content(Some(&time));
                }
                if self.shown.1 != play {
                    self.bar.play.set_text_content(Some(play));
                    let _ = self.bar.play.set_attribute(
                        "aria-label",
                        if playback.playing() { "Pause" } else { "Play" },
                    );
                }
                if self.shown.2 != speed {
                    self.bar.speed.set_text_content(Some(&speed));
                }
                // The timeline follows the clock, unless the player holds its thumb.
                let seek: &Element = self.bar.seek.as_ref();
                let held = self.doc.active_element().is_some_and(|a| a == *seek);
                if !held || playback.playing() {
                    let value = (playback.fraction() * SEEK_STEPS).round();
                    self.bar.seek.set_value(&value.to_string());
                }
                let state = if playback.playing() {
                    format!("▶ replay {speed}")
                } else if playback.at_end() {
                    "■ replay ended".to_string()
                } else {
                    "❚❚ replay paused".to_string()
                };
                self.shown = (time.clone(), play.to_string(), speed);
                format!("{state}   {time}")
            }
        };
        stats.state = status.clone();
        stats.replay = Some(figures);
        hud.set_status(&status);
    }
}

fn tick_rate(loaded: &Loaded) -> f64 {
    f64::from(loaded.playback.replay().header().tick_rate.max(1))
}

/// What the replay shows at the clock's position: every player (the one followed highlighted)
/// and every projectile in flight.
fn scene(loaded: &Loaded, camera: &FreeCamera, width: f64, height: f64) -> Scene {
    let playback = &loaded.playback;
    let view = playback.view();
    let position = playback.position();
    let map = &playback.replay().header().map;
    let params = view.params();
    let followed = camera.following();
    let mut players = Vec::new();
    for (id, p) in view.players() {
        let Some((x, y)) = loaded.interp.position(map, params, *id, position) else {
            continue;
        };
        players.push(DrawPlayer {
            id: id.0,
            x,
            y,
            aim: f64::from(aim_to_radians(aim_from_wire(p.aim))),
            hp: p.hp,
            name: loaded.name_of(*id),
            own: Some(*id) == followed,
            dead: p.status & status::DEAD != 0,
            protected: p.status & status::PROTECTED != 0,
            hue: id.0.wrapping_mul(137) % 360,
        });
    }
    let tick = Tick(position.max(0.0).floor() as u32);
    let projectiles = view
        .projectiles()
        .values()
        .filter(|shot| !shot.motion.gone_at(map, params, tick))
        .filter_map(|shot| shot.motion.position_at(map, tick))
        .map(|pos| {
            (
                f64::from(coord_to_units(pos.x)),
                f64::from(coord_to_units(pos.y)),
                PROJECTILE_HUE,
            )
        })
        .collect();
    Scene {
        camera: camera.centre(),
        scale: spectate_zoom(width, height),
        players,
        projectiles,
        incoming: Vec::new(),
        all_names: true,
    }
}
