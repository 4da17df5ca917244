//! In-game feedback on the page: the DOM and canvas side of [`crate::combat`].
//!
//! - the shooter: a hit marker at the cursor on each own hit, an "Eliminated <name>" banner on a kill;
//! - the target: a red vignette at the screen edges when its hit points drop, its hit points on the
//!   HUD, a death screen (who, the score of the life that ended, the respawn countdown) over a
//!   dimmed arena, and the spawn-protection hint after a respawn;
//! - everyone: the kill feed ("killer ▸ victim", a few seconds each), apart from the chat.
//!
//! The rules live in [`Combat`] (pure, tested natively); this module plays its cues, creates its
//! DOM elements and sets their text, always as text.

use super::audio::Audio;
use crate::combat::{Combat, Cue, Death, Hint, Own};
use skirmish_shared::protocol::EntityId;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use web_sys::{CanvasRenderingContext2d, Document, Element};

/// Milliseconds the hit marker shows (a kill's, larger and red, a little longer).
const HIT_MARKER_MS: f64 = 260.0;
const KILL_MARKER_MS: f64 = 600.0;
/// Milliseconds the red damage vignette takes to fade.
const HURT_MS: f64 = 450.0;

/// The feedback state, its sounds and its DOM elements.
pub struct Feedback {
    combat: Combat,
    audio: Rc<RefCell<Audio>>,
    feed_el: Element,
    banner_el: Element,
    death_el: Element,
    hint_el: Element,
    hp_el: Element,
    /// What the DOM shows, so it is only touched on change.
    shown: Shown,
}

#[derive(Default)]
struct Shown {
    feed: String,
    banner: String,
    death: String,
    hint: String,
    hp: String,
}

fn create(doc: &Document, id: &str, class: &str) -> Result<Element, JsValue> {
    let element = doc.create_element("div")?;
    element.set_id(id);
    element.set_class_name(class);
    if let Some(body) = doc.body() {
        body.append_child(&element)?;
    }
    Ok(element)
}

/// Sets an element's text and visibility if they changed.
fn show(element: &Element, last: &mut String, text: &str) {
    if text != last {
        element.set_text_content(Some(text));
        let _ = element
            .class_list()
            .toggle_with_force("hidden", text.is_empty());
        *last = text.to_string();
    }
}

impl Feedback {
    /// Creates the feedback's elements (hidden until there is something to show).
    pub fn new(doc: &Document, audio: Rc<RefCell<Audio>>) -> Result<Feedback, JsValue> {
        let feed_el = create(doc, "killfeed", "hidden")?;
        feed_el.set_attribute("aria-live", "polite")?;
        Ok(Feedback {
            combat: Combat::new(),
            audio,
            feed_el,
            banner_el: create(doc, "kill-banner", "hidden")?,
            death_el: create(doc, "death", "panel hidden")?,
            hint_el: create(doc, "spawn-hint", "hidden")?,
            hp_el: create(doc, "hp", "panel hidden")?,
            shown: Shown::default(),
        })
    }

    fn play(&self, cue: Option<Cue>) {
        if let Some(cue) = cue {
            self.audio.borrow().play(cue);
        }
    }

    /// Forgets the session's state (a new session starts); the kill feed and counts stay.
    pub fn reset_session(&mut self) {
        self.combat.reset_session();
    }

    /// An own shot hit `victim`, leaving it `hp` hit points.
    pub fn on_hit(&mut self, victim: EntityId, hp: u8, now: f64) {
        let cue = self.combat.on_hit(victim, hp, now);
        self.play(cue);
    }

    /// A kill in the room. `me` is the own player.
    pub fn on_kill(
        &mut self,
        me: EntityId,
        killer: Option<(EntityId, String)>,
        victim: (EntityId, String),
        now: f64,
    ) {
        let cue = self.combat.on_kill(me, killer, victim, now);
        self.play(cue);
    }

    /// Follows the own avatar once a frame (see [`Combat::update`]) and plays the cues.
    pub fn update(&mut self, own: Option<Own>, now: f64, fire: bool, shots: u32) {
        for cue in self.combat.update(own, now, fire, shots) {
            self.play(Some(cue));
        }
    }

    /// Where the camera must stay: where the avatar fell, while dead.
    pub fn camera_override(&self) -> Option<(f64, f64)> {
        self.combat.camera_override()
    }

    /// The death shown, if dead.
    pub fn death(&self) -> Option<&Death> {
        self.combat.death.as_ref()
    }

    /// Milliseconds until the respawn, given the room's respawn delay.
    pub fn respawn_in_ms(&self, now: f64, respawn_delay_ms: u32) -> Option<f64> {
        self.combat.respawn_in_ms(now, respawn_delay_ms)
    }

    /// The kill feed's lines, oldest first: (killer, victim).
    pub fn kill_feed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.combat
            .feed
            .iter()
            .map(|l| (l.killer.as_str(), l.victim.as_str()))
    }

    /// Hit markers shown so far.
    pub fn hit_markers(&self) -> u32 {
        self.combat.hit_markers
    }

    /// Own kills so far (kill confirmations shown).
    pub fn kills_confirmed(&self) -> u32 {
        self.combat.kills_confirmed
    }

    /// Whether the spawn-protection hint is up (not fading).
    pub fn hint_shown(&self) -> bool {
        matches!(self.combat.hint, Hint::Shown { .. })
    }

    /// Hides everything (no session).
    pub fn hide_all(&mut self) {
        for (element, last) in [
            (&self.feed_el, &mut self.shown.feed),
            (&self.banner_el, &mut self.shown.banner),
            (&self.death_el, &mut self.shown.death),
            (&self.hint_el, &mut self.shown.hint),
            (&self.hp_el, &mut self.shown.hp),
        ] {
            show(element, last, "");
        }
    }

    /// Updates the DOM elements: feed, banner, death screen, hint, hit points.
    pub fn show_dom(
        &mut self,
        doc: &Document,
        now: f64,
        hp: Option<u8>,
        respawn_delay_ms: u32,
        protection_ms: u32,
    ) -> Result<(), JsValue> {
        let feed = &self.combat.feed;
        let key: String = feed
            .iter()
            .map(|l| format!("{}\u{1}{}\u{1}{}\n", l.killer, l.victim, l.mine))
            .collect();
        if key != self.shown.feed {
            self.feed_el.set_text_content(None);
            for line in feed {
                let row = doc.create_element("div")?;
                row.set_class_name(if line.mine { "kf-line mine" } else { "kf-line" });
                for (class, text) in [
                    ("kf-killer", line.killer.as_str()),
                    ("kf-arrow", " ▸ "),
                    ("kf-victim", line.victim.as_str()),
                ] {
                    let span = doc.create_element("span")?;
                    span.set_class_name(class);
                    span.set_text_content(Some(text));
                    row.append_child(&span)?;
                }
                self.feed_el.append_child(&row)?;
            }
            let _ = self
                .feed_el
                .class_list()
                .toggle_with_force("hidden", feed.is_empty());
            self.shown.feed = key;
        }
        let banner = self
            .combat
            .banner
            .as_ref()
            .map_or("", |(text, _)| text.as_str());
        show(&self.banner_el, &mut self.shown.banner, banner);
        let death = self
            .combat
            .death_text(now, respawn_delay_ms)
            .unwrap_or_default();
        show(&self.death_el, &mut self.shown.death, &death);
        let fading = matches!(self.combat.hint, Hint::Fading { .. });
        let hint = match self.combat.hint_text(now, protection_ms) {
            Some(text) => text,
            // The last text stays while it fades out.
            None if fading => self.shown.hint.clone(),
            None => String::new(),
        };
        show(&self.hint_el, &mut self.shown.hint, &hint);
        let _ = self
            .hint_el
            .class_list()
            .toggle_with_force("fading", fading);
        let text = hp.map_or(String::new(), |hp| format!("♥ {hp}"));
        if text != self.shown.hp {
            let level = match hp.unwrap_or(0) {
                51.. => "high",
                26..=50 => "mid",
                _ => "low",
            };
            let _ = self.hp_el.set_attribute("data-level", level);
        }
        show(&self.hp_el, &mut self.shown.hp, &text);
        Ok(())
    }

    /// Draws the canvas effects over a frame: the damage vignette, the dimming behind the death
    /// screen and the hit marker at `mouse`.
    pub fn draw(
        &self,
        ctx: &CanvasRenderingContext2d,
        width: f64,
        height: f64,
        mouse: (f64, f64),
        now: f64,
    ) {
        if let Some(at) = self.combat.hurt_at {
            let fade = 1.0 - (now - at) / HURT_MS;
            if fade > 0.0 {
                draw_vignette(ctx, width, height, fade);
            }
        }
        if self.combat.death.is_some() {
            ctx.set_fill_style_str("rgba(10, 4, 6, 0.45)");
            ctx.fill_rect(0.0, 0.0, width, height);
        }
        if let Some((at, lethal)) = self.combat.last_hit {
            let age = now - at;
            let length = if lethal {
                KILL_MARKER_MS
            } else {
                HIT_MARKER_MS
            };
            if (0.0..length).contains(&age) {
                draw_hit_marker(ctx, mouse, 1.0 - age / length, lethal);
            }
        }
    }
}

/// A red glow along the screen edges, `strength` 0..1.
fn draw_vignette(ctx: &CanvasRenderingContext2d, width: f64, height: f64, strength: f64) {
    let (cx, cy) = (width / 2.0, height / 2.0);
    let outer = cx.hypot(cy);
    let Ok(gradient) = ctx.create_radial_gradient(cx, cy, outer * 0.55, cx, cy, outer) else {
        return;
    };
    let _ = gradient.add_color_stop(0.0, "rgba(220, 30, 40, 0)");
    let _ = gradient.add_color_stop(
        1.0,
        &format!("rgba(220, 30, 40, {:.3})", 0.55 * strength.clamp(0.0, 1.0)),
    );
    ctx.set_fill_style_canvas_gradient(&gradient);
    ctx.fill_rect(0.0, 0.0, width, height);
}

/// Four ticks around the cursor, white for a hit and red for a kill, `alpha` 0..1.
fn draw_hit_marker(ctx: &CanvasRenderingContext2d, (x, y): (f64, f64), alpha: f64, lethal: bool) {
    let (inner, outer) = if lethal { (7.0, 17.0) } else { (6.0, 13.0) };
    ctx.set_global_alpha(alpha.clamp(0.0, 1.0));
    ctx.set_line_cap("round");
    for (color, width) in [
        ("rgba(0,0,0,0.6)", 5.0),
        (if lethal { "#ff4d4d" } else { "#ffffff" }, 2.5),
    ] {
        ctx.set_stroke_style_str(color);
        ctx.set_line_width(width);
        ctx.begin_path();
        for (dx, dy) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
            let f = std::f64::consts::FRAC_1_SQRT_2;
            ctx.move_to(x + dx * inner * f, y + dy * inner * f);
            ctx.line_to(x + dx * outer * f, y + dy * outer * f);
        }
        ctx.stroke();
    }
    ctx.set_line_cap("butt");
    ctx.set_global_alpha(1.0);
}
