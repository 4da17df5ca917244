//! Sound effects generated with WebAudio: no audio files, a few oscillators with short envelopes.
//!
//! Browsers let a page make sound only after a user gesture (the autoplay policy), so the audio
//! context is created on the first key press or click, never before. Every WebAudio call may fail
//! (no WebAudio, a suspended context): failures are ignored, so sound can only go missing, never
//! stop the game. The mute setting (the on-screen button or the M key) is kept in `localStorage`.

use crate::combat::Cue;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{AudioContext, Document, Element, KeyboardEvent, OscillatorType};

/// The `localStorage` key holding "1" when the player muted the game.
const MUTED_KEY: &str = "skirmish.muted";
/// Master volume of every effect (0..1): effects are cues, not music.
const VOLUME: f32 = 0.18;

/// One tone of an effect: a waveform sliding from one frequency to another while it fades out.
struct Tone {
    wave: OscillatorType,
    from_hz: f32,
    to_hz: f32,
    /// Seconds after the effect starts.
    delay: f64,
    /// Seconds the tone lasts.
    length: f64,
    /// Loudness relative to [`VOLUME`].
    level: f32,
}

fn tone(
    wave: OscillatorType,
    from_hz: f32,
    to_hz: f32,
    delay: f64,
    length: f64,
    level: f32,
) -> Tone {
    Tone {
        wave,
        from_hz,
        to_hz,
        delay,
        length,
        level,
    }
}

/// The tones of each cue.
fn tones(cue: Cue) -> Vec<Tone> {
    use OscillatorType::{Sawtooth, Sine, Square, Triangle};
    match cue {
        Cue::Fire => vec![tone(Square, 880.0, 240.0, 0.0, 0.07, 0.35)],
        Cue::HitMarker => vec![tone(Triangle, 1_800.0, 1_400.0, 0.0, 0.05, 0.9)],
        Cue::Hurt => vec![tone(Sawtooth, 180.0, 70.0, 0.0, 0.18, 0.8)],
        Cue::Kill => vec![
            tone(Triangle, 660.0, 660.0, 0.0, 0.09, 0.9),
            tone(Triangle, 990.0, 990.0, 0.09, 0.16, 0.9),
        ],
        Cue::Death => vec![tone(Sawtooth, 420.0, 60.0, 0.0, 0.7, 0.7)],
        Cue::Respawn => vec![
            tone(Sine, 330.0, 520.0, 0.0, 0.12, 0.8),
            tone(Sine, 520.0, 780.0, 0.1, 0.16, 0.8),
        ],
    }
}

/// The sound output and the mute setting.
pub struct Audio {
    /// Created on the first user gesture; `None` before, or when WebAudio is unavailable.
    context: Option<AudioContext>,
    /// Whether a context was tried already (it is tried once).
    tried: bool,
    muted: bool,
    /// The on-screen mute button.
    button: Option<Element>,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

impl Audio {
    /// Whether the game is muted.
    pub fn muted(&self) -> bool {
        self.muted
    }

    /// Creates (once) or resumes the audio context: called from user gestures only.
    fn unlock(&mut self) {
        if !self.tried {
            self.tried = true;
            self.context = AudioContext::new().ok();
        }
        if let Some(context) = &self.context {
            if context.state() == web_sys::AudioContextState::Suspended {
                let _ = context.resume();
            }
        }
    }

    /// Mutes or unmutes, remembers it, and updates the button.
    fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
        if let Some(storage) = storage() {
            let _ = storage.set_item(MUTED_KEY, if muted { "1" } else { "0" });
        }
        self.show();
    }

    fn show(&self) {
        if let Some(button) = &self.button {
            button.set_text_content(Some(if self.muted {
                "Sound off · M"
            } else {
                "Sound on · M"
            }));
            let _ = button.set_attribute(
                "aria-label",
                if self.muted {
                    "Sound off (M to turn on)"
                } else {
                    "Sound on (M to mute)"
                },
            );
            let _ = button.set_attribute("aria-pressed", if self.muted { "true" } else { "false" });
        }
    }

    /// Plays an effect, unless muted or without a context.
    pub fn play(&self, sound: Cue) {
        if self.muted {
            return;
        }
        if let Some(context) = &self.context {
            for tone in tones(sound) {
                // A failed tone is a missing sound, nothing more.
                let _ = play_tone(context, &tone);
            }
        }
    }
}

fn play_tone(context: &AudioContext, tone: &Tone) -> Result<(), JsValue> {
    let start = context.current_time() + tone.delay;
    let end = start + tone.length;
    let oscillator = context.create_oscillator()?;
    oscillator.set_type(tone.wave);
    let frequency = oscillator.frequency();
    frequency.set_value_at_time(tone.from_hz, start)?;
    frequency.exponential_ramp_to_value_at_time(tone.to_hz, end)?;
    let gain = context.create_gain()?;
    let level = gain.gain();
    level.set_value_at_time(0.0, start)?;
    level.linear_ramp_to_value_at_time(VOLUME * tone.level, start + 0.005)?;
    level.exponential_ramp_to_value_at_time(0.0001, end)?;
    oscillator.connect_with_audio_node(&gain)?;
    gain.connect_with_audio_node(&context.destination())?;
    oscillator.start_with_when(start)?;
    oscillator.stop_with_when(end + 0.02)?;
    Ok(())
}

/// Reads the mute setting, adds the mute button to the page and installs the listeners: the first
/// key press or click unlocks the audio; M (outside text fields) and the button toggle mute.
pub fn install(doc: &Document) -> Result<Rc<RefCell<Audio>>, JsValue> {
    let muted = storage()
        .and_then(|s| s.get_item(MUTED_KEY).ok().flatten())
        .is_some_and(|v| v == "1");
    let button = doc.create_element("button")?;
    button.set_id("mute");
    button.set_attribute("type", "button")?;
    button.set_attribute("title", "Sound on/off (M)")?;
    if let Some(body) = doc.body() {
        body.append_child(&button)?;
    }
    let audio = Rc::new(RefCell::new(Audio {
        context: None,
        tried: false,
        muted,
        button: Some(button.clone()),
    }));
    audio.borrow().show();
    let window = web_sys::window().ok_or("no window")?;
    let gesture = {
        let audio = audio.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            if let Ok(mut audio) = audio.try_borrow_mut() {
                audio.unlock();
            }
        })
    };
    for kind in ["keydown", "pointerdown", "mousedown", "touchstart"] {
        window.add_event_listener_with_callback(kind, gesture.as_ref().unchecked_ref())?;
    }
    gesture.forget();
    let key = {
        let audio = audio.clone();
        Closure::<dyn FnMut(KeyboardEvent)>::new(move |e: KeyboardEvent| {
            let typing = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                .is_some();
            if typing || e.code() != "KeyM" || e.repeat() {
                return;
            }
            if let Ok(mut audio) = audio.try_borrow_mut() {
                let muted = !audio.muted;
                audio.set_muted(muted);
            }
        })
    };
    window.add_event_listener_with_callback("keydown", key.as_ref().unchecked_ref())?;
    key.forget();
    let click = {
        let audio = audio.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            e.stop_propagation();
            // Off the button again, so Space fires rather than pressing it.
            if let Some(button) = e
                .current_target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let _ = button.blur();
            }
            if let Ok(mut audio) = audio.try_borrow_mut() {
                audio.unlock();
                let muted = !audio.muted;
                audio.set_muted(muted);
            }
        })
    };
    button.add_event_listener_with_callback("click", click.as_ref().unchecked_ref())?;
    click.forget();
    Ok(audio)
}
