//! The browser side: DOM, canvas, socket and the frame loop. Only compiled for wasm32.

mod app;
mod audio;
mod feedback;
mod hud;
mod input;
mod lobby;
mod minimap;
mod net;
mod population;
mod render;
mod replay;
mod storage;
mod touch;
