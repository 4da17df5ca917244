//! In-game feedback: what a shot, a hit, a kill and a death look and sound like.
//!
//! - the shooter: a hit marker at the cursor on each own hit, an "Eliminated <name>" banner on a kill;
//! - the target: a red vignette at the screen edges when its hit points drop, its hit points on the
//!   HUD, a death screen (who, the score of the life that ended, the respawn countdown), and the
//!   spawn-protection hint after a respawn;
//! - everyone: the kill feed ("killer ▸ victim", a few seconds each), apart from the chat.
//!
//! The reliable events (`Hit`, `Kill`) come in through [`Feedback::on_hit`] and
//! [`Feedback::on_kill`]; the own avatar's state through [`Feedback::update`] once a frame. The DOM
//! elements are created here and their text is only ever set as text.

use super::audio::{Audio, Sound};
use skirmish_shared::protocol::EntityId;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use web_sys::{CanvasRenderingContext2d, Document, Element};

/// Kill-feed lines shown at most.
const FEED_LINES: usize = 5;
/// Milliseconds a kill-feed line stays.
const FEED_MS: f64 = 5_000.0;
/// Milliseconds the hit marker shows.
const HIT_MARKER_MS: f64 = 260.0;
/// Milliseconds the kill banner shows.
const BANNER_MS: f64 = 2_200.0;
/// Milliseconds the red damage vignette takes to fade.
const HURT_MS: f64 = 450.0;
/// Milliseconds the spawn-protection hint takes to fade once protection ends.
const HINT_FADE_MS: f64 = 600.0;

/// The own avatar as the last snapshot showed it.
#[derive(Debug, Clone, Copy)]
pub struct Own {
    /// Hit points, 0..=100.
    pub hp: u8,
    /// Dead, waiting to respawn.
    pub dead: bool,
    /// Spawn-protected.
    pub protected: bool,
    /// Where it is drawn (world units).
    pub position: (f64, f64),
}

/// The own death being shown.
#[derive(Debug, Clone)]
pub struct Death {
    /// Who fired the shot (`None` when unknown or the shooter left).
    pub killer: Option<EntityId>,
    /// The shooter's name, once the `Kill` event named it.
    pub killer_name: Option<String>,
    /// When the death was seen (ms, the page's clock).
    pub at_ms: f64,
    /// Kills of the life that ended.
    pub kills: u32,
    /// Where the avatar fell: the camera stays there until the respawn.
    pub position: Option<(f64, f64)>,
}

/// One kill-feed line.
#[derive(Debug, Clone)]
struct FeedLine {
    killer: String,
    victim: String,
    /// The own player is in it (highlighted).
    mine: bool,
    at_ms: f64,
}

/// The spawn-protection hint's state.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hint {
    /// Nothing to show.
    Hidden,
    /// Protected since the given time (ms).
    Shown { since: f64 },
    /// Protection ended (or the player fired) at the given time: fading out.
    Fading { since: f64 },
}

/// The feedback state and its DOM elements.
pub struct Feedback {
    audio: Rc<RefCell<Audio>>,
    feed_el: Element,
    banner_el: Element,
    death_el: Element,
    hint_el: Element,
    hp_el: Element,
    /// Hit markers shown this page (own hits, counting a kill's last hit once).
    hit_markers: u32,
    /// When the last hit marker started, and whether it was lethal.
    last_hit: Option<(f64, bool)>,
    /// Victims of this snapshot's lethal `Hit`s, so the `Kill` after one adds no second marker.
    lethal_hits: Vec<EntityId>,
    /// Kills of the own player this page.
    kills_confirmed: u32,
    /// The kill banner's text and start.
    banner: Option<(String, f64)>,
    /// When the own hit points last dropped.
    hurt_at: Option<f64>,
    /// Hit points at the last update (`None` before the first, and after a respawn).
    last_hp: Option<u8>,
    feed: VecDeque<FeedLine>,
    death: Option<Death>,
    kills_this_life: u32,
    hint: Hint,
    /// What the DOM shows, so it is only touched on change.
    shown: Shown,
    /// Own shots predicted so far (a new one plays the fire sound).
    shots_seen: u32,
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
            audio,
            feed_el,
            banner_el: create(doc, "kill-banner", "hidden")?,
            death_el: create(doc, "death", "panel hidden")?,
            hint_el: create(doc, "spawn-hint", "hidden")?,
            hp_el: create(doc, "hp", "panel hidden")?,
            hit_markers: 0,
            last_hit: None,
            lethal_hits: Vec::new(),
            kills_confirmed: 0,
            banner: None,
            hurt_at: None,
            last_hp: None,
            feed: VecDeque::new(),
            death: None,
            kills_this_life: 0,
            hint: Hint::Hidden,
            shown: Shown::default(),
            shots_seen: 0,
        })
    }

    /// Forgets the session's state (a new session starts); the kill feed and counts stay.
    pub fn reset_session(&mut self) {
        self.death = None;
        self.last_hp = None;
        self.kills_this_life = 0;
        self.hint = Hint::Hidden;
        self.shots_seen = 0;
    }

    /// A new snapshot's events start.
    pub fn begin_events(&mut self) {
        self.lethal_hits.clear();
    }

    /// An own shot hit `victim`, leaving it `hp` hit points.
    pub fn on_hit(&mut self, victim: EntityId, hp: u8, now: f64) {
        self.hit_markers += 1;
        self.last_hit = Some((now, hp == 0));
        if hp == 0 {
            self.lethal_hits.push(victim);
        } else {
            self.audio.borrow().play(Sound::HitMarker);
        }
    }

    /// A kill in the room. `me` is the own player.
    pub fn on_kill(
        &mut self,
        me: EntityId,
        killer: Option<(EntityId, String)>,
        victim: (EntityId, String),
        now: f64,
    ) {
        let killer_id = killer.as_ref().map(|(id, _)| *id);
        let mine = killer_id == Some(me) || victim.0 == me;
        self.feed.push_back(FeedLine {
            killer: killer
                .as_ref()
                .map_or_else(|| "—".to_string(), |(_, n)| n.clone()),
            victim: victim.1.clone(),
            mine,
            at_ms: now,
        });
        while self.feed.len() > FEED_LINES {
            self.feed.pop_front();
        }
        if victim.0 == me {
            let death = self.death.get_or_insert(Death {
                killer: None,
                killer_name: None,
                at_ms: now,
                kills: self.kills_this_life,
                position: None,
            });
            death.killer = killer_id;
            death.killer_name = killer.map(|(_, n)| n);
        } else if killer_id == Some(me) {
            self.kills_confirmed += 1;
            self.kills_this_life += 1;
            if !self.lethal_hits.contains(&victim.0) {
                // The server did not send the lethal hit (or not yet): the kill is one too.
                self.hit_markers += 1;
            }
            self.last_hit = Some((now, true));
            self.banner = Some((format!("Eliminated {}", victim.1), now));
            self.audio.borrow().play(Sound::Kill);
        }
    }

    /// Follows the own avatar once a frame: damage, death, respawn, protection; `fired` says fire
    /// is held; `shots` counts the own shots so far.
    pub fn update(&mut self, own: Option<Own>, now: f64, fired: bool, shots: u32) {
        let audio = self.audio.clone();
        let audio = audio.borrow();
        if shots > self.shots_seen {
            audio.play(Sound::Fire);
        }
        self.shots_seen = shots;
        let Some(own) = own else {
            return;
        };
        if own.dead {
            match &mut self.death {
                None => {
                    audio.play(Sound::Death);
                    self.death = Some(Death {
                        killer: None,
                        killer_name: None,
                        at_ms: now,
                        kills: self.kills_this_life,
                        position: Some(own.position),
                    });
                }
                Some(death) => {
                    if death.position.is_none() {
                        audio.play(Sound::Death);
                        death.position = Some(own.position);
                    }
                }
            }
            self.last_hp = Some(0);
            self.hint = Hint::Hidden;
            return;
        }
        if self.death.take().is_some() {
            // Respawned: a fresh life with full hit points and protection.
            audio.play(Sound::Respawn);
            self.kills_this_life = 0;
            self.last_hp = None;
            self.hint = Hint::Hidden;
        }
        if let Some(last) = self.last_hp {
            if own.hp < last {
                self.hurt_at = Some(now);
                audio.play(Sound::Hurt);
            }
        }
        self.last_hp = Some(own.hp);
        self.hint = match self.hint {
            Hint::Hidden if own.protected => Hint::Shown { since: now },
            Hint::Shown { .. } if !own.protected || fired => Hint::Fading { since: now },
            Hint::Fading { since } if now - since > HINT_FADE_MS && !own.protected => Hint::Hidden,
            other => other,
        };
    }

    /// Where the camera must stay: where the avatar fell, while dead.
    pub fn camera_override(&self) -> Option<(f64, f64)> {
        self.death.as_ref().and_then(|d| d.position)
    }

    /// The death shown, if dead.
    pub fn death(&self) -> Option<&Death> {
        self.death.as_ref()
    }

    /// Milliseconds until the respawn, given the room's respawn delay.
    pub fn respawn_in_ms(&self, now: f64, respawn_delay_ms: u32) -> Option<f64> {
        self.death
            .as_ref()
            .map(|d| (f64::from(respawn_delay_ms) - (now - d.at_ms)).max(0.0))
    }

    /// The kill feed's lines, oldest first: (killer, victim).
    pub fn kill_feed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.feed
            .iter()
            .map(|l| (l.killer.as_str(), l.victim.as_str()))
    }

    /// Hit markers shown so far.
    pub fn hit_markers(&self) -> u32 {
        self.hit_markers
    }

    /// Own kills so far (kill confirmations shown).
    pub fn kills_confirmed(&self) -> u32 {
        self.kills_confirmed
    }

    /// Whether the spawn-protection hint is up (not fading).
    pub fn hint_shown(&self) -> bool {
        matches!(self.hint, Hint::Shown { .. })
    }

    /// Hides everything (no session).
    pub fn hide_all(&mut self) {
        self.feed.clear();
        self.banner = None;
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
        self.feed.retain(|l| now - l.at_ms < FEED_MS);
        let key: String = self
            .feed
            .iter()
            .map(|l| format!("{}\u{1}{}\u{1}{}\n", l.killer, l.victim, l.mine))
            .collect();
        if key != self.shown.feed {
            self.feed_el.set_text_content(None);
            for line in &self.feed {
                let row = doc.create_element("div")?;
                row.set_class_name(if line.mine { "kf-line mine" } else { "kf-line" });
                let killer = doc.create_element("span")?;
                killer.set_class_name("kf-killer");
                killer.set_text_content(Some(&line.killer));
                let arrow = doc.create_element("span")?;
                arrow.set_class_name("kf-arrow");
                arrow.set_text_content(Some(" ▸ "));
                let victim = doc.create_element("span")?;
                victim.set_class_name("kf-victim");
                victim.set_text_content(Some(&line.victim));
                row.append_child(&killer)?;
                row.append_child(&arrow)?;
                row.append_child(&victim)?;
                self.feed_el.append_child(&row)?;
            }
            let _ = self
                .feed_el
                .class_list()
                .toggle_with_force("hidden", self.feed.is_empty());
            self.shown.feed = key;
        }
        if self
            .banner
            .as_ref()
            .is_some_and(|(_, at)| now - at > BANNER_MS)
        {
            self.banner = None;
        }
        let banner = self.banner.as_ref().map_or("", |(text, _)| text.as_str());
        show(&self.banner_el, &mut self.shown.banner, banner);
        let death = match (&self.death, self.respawn_in_ms(now, respawn_delay_ms)) {
            (Some(death), Some(left)) => {
                let by = death.killer_name.as_deref().map_or_else(
                    || "Eliminated".to_string(),
                    |n| format!("Eliminated by {n}"),
                );
                let respawn = if left > 0.0 {
                    format!("Respawning in {:.1} s", left / 1000.0)
                } else {
                    "Respawning…".to_string()
                };
                let kills = match death.kills {
                    1 => "1 kill this life".to_string(),
                    n => format!("{n} kills this life"),
                };
                format!("{by}\n{kills}\n{respawn}")
            }
            _ => String::new(),
        };
        show(&self.death_el, &mut self.shown.death, &death);
        let hint = match self.hint {
            Hint::Shown { since } => {
                let left = (f64::from(protection_ms) - (now - since)).max(0.0) / 1000.0;
                format!("Protected for {left:.1} s — firing ends it")
            }
            // The last text stays while it fades out.
            Hint::Fading { .. } => self.shown.hint.clone(),
            Hint::Hidden => String::new(),
        };
        show(&self.hint_el, &mut self.shown.hint, &hint);
        let _ = self
            .hint_el
            .class_list()
            .toggle_with_force("fading", matches!(self.hint, Hint::Fading { .. }));
        let hp = hp.map_or(String::new(), |hp| format!("♥ {hp}"));
        if hp != self.shown.hp {
            let level = match hp.trim_start_matches("♥ ").parse::<u32>().unwrap_or(0) {
                51.. => "high",
                26..=50 => "mid",
                _ => "low",
            };
            let _ = self.hp_el.set_attribute("data-level", level);
        }
        show(&self.hp_el, &mut self.shown.hp, &hp);
        Ok(())
    }

    /// Draws the canvas effects over a frame: the damage vignette and the hit marker at `mouse`.
    pub fn draw(
        &self,
        ctx: &CanvasRenderingContext2d,
        width: f64,
        height: f64,
        mouse: (f64, f64),
        now: f64,
    ) {
        if let Some(at) = self.hurt_at {
            let fade = 1.0 - (now - at) / HURT_MS;
            if fade > 0.0 {
                draw_vignette(ctx, width, height, fade);
            }
        }
        if self.death.is_some() {
            // The arena dims behind the death screen.
            ctx.set_fill_style_str("rgba(10, 4, 6, 0.45)");
            ctx.fill_rect(0.0, 0.0, width, height);
        }
        if let Some((at, lethal)) = self.last_hit {
            let age = now - at;
            if (0.0..HIT_MARKER_MS).contains(&age) {
                draw_hit_marker(ctx, mouse, 1.0 - age / HIT_MARKER_MS, lethal);
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
