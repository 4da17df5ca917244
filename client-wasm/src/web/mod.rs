//! The browser side: DOM, canvas, socket and the frame loop. Only compiled for wasm32.

mod app;
mod hud;
mod input;
mod lobby;
mod net;
mod render;
mod storage;
mod touch;
