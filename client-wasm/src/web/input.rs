//! Keyboard and mouse state, filled by DOM listeners and read once per local tick.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlCanvasElement, KeyboardEvent, MouseEvent};

/// What the player is pressing and pointing at.
#[derive(Debug, Default)]
pub struct InputState {
    keys: HashSet<String>,
    /// Mouse position in CSS pixels relative to the canvas.
    pub mouse: (f64, f64),
    mouse_down: bool,
    /// F3 was pressed (toggles the debug overlay); taken by the frame loop.
    pub toggle_debug: bool,
    /// Enter was pressed outside a text field (focus the chat); taken by the frame loop.
    pub focus_chat: bool,
    /// Movement from the touch stick (`touch.rs`), each -1, 0 or 1; used when no key moves.
    pub touch_axes: (i8, i8),
    /// The touch aim stick is held past its dead zone: fire.
    pub touch_fire: bool,
    /// Where the left button went down on the canvas, and how far the pointer has moved since.
    press: Option<((f64, f64), f64)>,
    /// Pointer motion with the left button held, in CSS pixels, not yet taken: a watching page
    /// drags its camera by it.
    drag: (f64, f64),
    /// Clicks on the canvas (presses released without dragging), not yet taken.
    clicks: Vec<(f64, f64)>,
    /// A player to follow, from a click on their leaderboard row; taken by the frame loop.
    pub follow: Option<u32>,
    /// Space was pressed (not held: a key repeat does not count); a replay page plays or pauses.
    pub space_pressed: bool,
}

impl InputState {
    fn held(&self, codes: &[&str]) -> bool {
        codes.iter().any(|c| self.keys.contains(*c))
    }

    /// Movement axes from WASD and the arrow keys (else the touch stick), each -1, 0 or 1.
    pub fn axes(&self) -> (i8, i8) {
        let x = i8::from(self.held(&["KeyD", "ArrowRight"]))
            - i8::from(self.held(&["KeyA", "ArrowLeft"]));
        let y =
            i8::from(self.held(&["KeyS", "ArrowDown"])) - i8::from(self.held(&["KeyW", "ArrowUp"]));
        if (x, y) == (0, 0) {
            self.touch_axes
        } else {
            (x, y)
        }
    }

    /// Takes the drag since the last call (CSS pixels).
    pub fn take_drag(&mut self) -> (f64, f64) {
        std::mem::take(&mut self.drag)
    }

    /// Takes the clicks since the last call (canvas CSS pixels).
    pub fn take_clicks(&mut self) -> Vec<(f64, f64)> {
        std::mem::take(&mut self.clicks)
    }

    /// Whether fire is held (mouse button, space, or the touch aim stick).
    pub fn fire(&self) -> bool {
        self.mouse_down || self.touch_fire || self.held(&["Space"])
    }
}

/// Most clicks kept between two frames.
const MAX_CLICKS: usize = 8;

fn typing_in_a_field(event: &KeyboardEvent) -> bool {
    event
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        .is_some()
}

/// Installs the listeners; they live as long as the page.
pub fn install(canvas: &HtmlCanvasElement) -> Result<Rc<RefCell<InputState>>, JsValue> {
    let state = Rc::new(RefCell::new(InputState::default()));
    let window = web_sys::window().ok_or("no window")?;
    let keydown = {
        let state = state.clone();
        Closure::<dyn FnMut(KeyboardEvent)>::new(move |e: KeyboardEvent| {
            if typing_in_a_field(&e) {
                return;
            }
            let code = e.code();
            let mut s = state.borrow_mut();
            match code.as_str() {
                "F3" => {
                    s.toggle_debug = true;
                    e.prevent_default();
                }
                "Enter" => s.focus_chat = true,
                "Space" => {
                    e.prevent_default();
                    if !e.repeat() {
                        s.space_pressed = true;
                    }
                }
                "ArrowUp" | "ArrowDown" | "ArrowLeft" | "ArrowRight" => e.prevent_default(),
                _ => {}
            }
            s.keys.insert(code);
        })
    };
    let keyup = {
        let state = state.clone();
        Closure::<dyn FnMut(KeyboardEvent)>::new(move |e: KeyboardEvent| {
            state.borrow_mut().keys.remove(&e.code());
        })
    };
    let blur = {
        let state = state.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let mut s = state.borrow_mut();
            s.keys.clear();
            s.mouse_down = false;
            s.press = None;
        })
    };
    let mouse_move = {
        let state = state.clone();
        Closure::<dyn FnMut(MouseEvent)>::new(move |e: MouseEvent| {
            let mut s = state.borrow_mut();
            let at = (f64::from(e.offset_x()), f64::from(e.offset_y()));
            let (dx, dy) = (at.0 - s.mouse.0, at.1 - s.mouse.1);
            if let Some((_, moved)) = &mut s.press {
                *moved += dx.hypot(dy);
                s.drag.0 += dx;
                s.drag.1 += dy;
            }
            s.mouse = at;
        })
    };
    let mouse_down = {
        let state = state.clone();
        Closure::<dyn FnMut(MouseEvent)>::new(move |e: MouseEvent| {
            if e.button() == 0 {
                let mut s = state.borrow_mut();
                s.mouse_down = true;
                let at = (f64::from(e.offset_x()), f64::from(e.offset_y()));
                s.mouse = at;
                s.press = Some((at, 0.0));
            }
        })
    };
    let mouse_up = {
        let state = state.clone();
        Closure::<dyn FnMut(MouseEvent)>::new(move |e: MouseEvent| {
            if e.button() == 0 {
                let mut s = state.borrow_mut();
                s.mouse_down = false;
                if let Some((at, moved)) = s.press.take() {
                    if moved < crate::spectate::CLICK_SLOP_PX && s.clicks.len() < MAX_CLICKS {
                        s.clicks.push(at);
                    }
                }
            }
        })
    };
    window.add_event_listener_with_callback("keydown", keydown.as_ref().unchecked_ref())?;
    window.add_event_listener_with_callback("keyup", keyup.as_ref().unchecked_ref())?;
    window.add_event_listener_with_callback("blur", blur.as_ref().unchecked_ref())?;
    canvas.add_event_listener_with_callback("mousemove", mouse_move.as_ref().unchecked_ref())?;
    canvas.add_event_listener_with_callback("mousedown", mouse_down.as_ref().unchecked_ref())?;
    window.add_event_listener_with_callback("mouseup", mouse_up.as_ref().unchecked_ref())?;
    // The listeners live for the page's lifetime.
    keydown.forget();
    keyup.forget();
    blur.forget();
    mouse_move.forget();
    mouse_down.forget();
    mouse_up.forget();
    Ok(state)
}
