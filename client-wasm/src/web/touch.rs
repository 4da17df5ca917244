//! Touch controls: a virtual stick under the left thumb moves, a second under the right thumb aims
//! and fires while held. Each stick appears where its thumb lands (anywhere on its half of the
//! screen) and rests in its corner otherwise; both only show on touch devices (`html.touch`).

use super::input::InputState;
use crate::ui::stick;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, HtmlCanvasElement, HtmlElement, TouchEvent};

/// How far from the avatar the aim point is put per pixel of drag (any factor works: only the
/// direction counts).
const AIM_REACH: f64 = 4.0;

/// One stick: which touch drives it, where that touch landed, and its elements.
struct Stick {
    touch: Option<i32>,
    origin: (f64, f64),
    base: HtmlElement,
    knob: HtmlElement,
}

impl Stick {
    fn new(doc: &Document, id: &str) -> Result<Stick, JsValue> {
        let base: HtmlElement = doc
            .get_element_by_id(id)
            .ok_or_else(|| JsValue::from_str(&format!("missing #{id}")))?
            .dyn_into()?;
        let knob: HtmlElement = base
            .first_element_child()
            .ok_or_else(|| JsValue::from_str(&format!("#{id} has no knob")))?
            .dyn_into()?;
        Ok(Stick {
            touch: None,
            origin: (0.0, 0.0),
            base,
            knob,
        })
    }

    fn grab(&mut self, id: i32, x: f64, y: f64) {
        self.touch = Some(id);
        self.origin = (x, y);
        let style = self.base.style();
        let _ = style.set_property("left", &format!("{x}px"));
        let _ = style.set_property("top", &format!("{y}px"));
        let _ = self.base.class_list().add_1("active");
        self.show_knob(0.0, 0.0);
    }

    /// The drag from where the touch landed.
    fn drag(&self, x: f64, y: f64) -> (f64, f64) {
        let (dx, dy) = (x - self.origin.0, y - self.origin.1);
        let (kx, ky) = stick::knob(dx, dy);
        self.show_knob(kx, ky);
        (dx, dy)
    }

    fn show_knob(&self, x: f64, y: f64) {
        let _ = self
            .knob
            .style()
            .set_property("transform", &format!("translate({x:.0}px, {y:.0}px)"));
    }

    fn release(&mut self) {
        self.touch = None;
        let style = self.base.style();
        for property in ["left", "top"] {
            let _ = style.remove_property(property);
        }
        let _ = self.base.class_list().remove_1("active");
        self.show_knob(0.0, 0.0);
    }
}

/// Both sticks and the input they drive.
struct Sticks {
    movement: Stick,
    aim: Stick,
    canvas: HtmlCanvasElement,
    input: Rc<RefCell<InputState>>,
}

impl Sticks {
    fn start(&mut self, id: i32, x: f64, y: f64) {
        let width = f64::from(self.canvas.client_width());
        let stick = if x < width / 2.0 {
            &mut self.movement
        } else {
            &mut self.aim
        };
        if stick.touch.is_none() {
            stick.grab(id, x, y);
        }
    }

    fn moved(&mut self, id: i32, x: f64, y: f64) {
        let mut input = self.input.borrow_mut();
        if self.movement.touch == Some(id) {
            let (dx, dy) = self.movement.drag(x, y);
            input.touch_axes = stick::axes(dx, dy);
        } else if self.aim.touch == Some(id) {
            let (dx, dy) = self.aim.drag(x, y);
            if dx.hypot(dy) >= stick::DEAD_ZONE_PX {
                // Aim is taken from the avatar (the screen centre) to the pointer.
                let centre = (
                    f64::from(self.canvas.client_width()) / 2.0,
                    f64::from(self.canvas.client_height()) / 2.0,
                );
                input.mouse = (centre.0 + dx * AIM_REACH, centre.1 + dy * AIM_REACH);
                input.touch_fire = true;
            }
        }
    }

    fn end(&mut self, id: i32) {
        let mut input = self.input.borrow_mut();
        if self.movement.touch == Some(id) {
            self.movement.release();
            input.touch_axes = (0, 0);
        }
        if self.aim.touch == Some(id) {
            self.aim.release();
            input.touch_fire = false;
        }
    }
}

/// Installs the touch listeners on the canvas (the HUD panels let touches through to it).
pub fn install(
    doc: &Document,
    canvas: &HtmlCanvasElement,
    input: Rc<RefCell<InputState>>,
) -> Result<(), JsValue> {
    let sticks = Rc::new(RefCell::new(Sticks {
        movement: Stick::new(doc, "stick-move")?,
        aim: Stick::new(doc, "stick-aim")?,
        canvas: canvas.clone(),
        input,
    }));
    let options = web_sys::AddEventListenerOptions::new();
    options.set_passive(false);
    for (event, phase) in [
        ("touchstart", 0u8),
        ("touchmove", 1),
        ("touchend", 2),
        ("touchcancel", 2),
    ] {
        let sticks = sticks.clone();
        let canvas_for_offsets = canvas.clone();
        let doc = doc.clone();
        let handler = Closure::<dyn FnMut(TouchEvent)>::new(move |e: TouchEvent| {
            // No page scrolling, zooming or synthetic mouse events from the game's touches.
            e.prevent_default();
            if phase == 0 {
                // Which also keeps focus where it was: a touch on the game closes the chat's
                // keyboard, as a click outside a field would.
                if let Some(field) = doc
                    .active_element()
                    .and_then(|a| a.dyn_into::<web_sys::HtmlInputElement>().ok())
                {
                    let _ = field.blur();
                }
            }
            let rect = canvas_for_offsets.get_bounding_client_rect();
            let changed = e.changed_touches();
            let mut sticks = sticks.borrow_mut();
            for i in 0..changed.length() {
                let Some(touch) = changed.get(i) else {
                    continue;
                };
                let x = f64::from(touch.client_x()) - rect.left();
                let y = f64::from(touch.client_y()) - rect.top();
                match phase {
                    0 => {
                        sticks.start(touch.identifier(), x, y);
                        sticks.moved(touch.identifier(), x, y);
                    }
                    1 => sticks.moved(touch.identifier(), x, y),
                    _ => sticks.end(touch.identifier()),
                }
            }
        });
        canvas.add_event_listener_with_callback_and_add_event_listener_options(
            event,
            handler.as_ref().unchecked_ref(),
            &options,
        )?;
        // The listeners live as long as the page.
        handler.forget();
    }
    Ok(())
}
