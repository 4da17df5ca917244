//! "Where am I": the minimap in a screen corner (walls, the own avatar, the players in view, the
//! interest circle) and the arrows at the screen edge pointing at players who are in view but off
//! the visible area (red when they aim at the own avatar).

use super::render::{DrawPlayer, Scene, WallRect};
use crate::screen::edge_point;
use std::f64::consts::{PI, TAU};
use web_sys::CanvasRenderingContext2d;

/// The minimap's longer side in CSS pixels (at most; smaller on small screens).
const MINIMAP_MAX: f64 = 180.0;
/// Its distance from the screen edges (CSS pixels).
const MINIMAP_MARGIN: f64 = 12.0;
/// An enemy whose aim is within this angle of the own avatar (radians) aims at it.
const AIMING_AT: f64 = 12.0 * PI / 180.0;

/// On touch screens the minimap sits this far above the bottom edge (CSS pixels): over the resting
/// move stick (`.stick` in style.css: 112 px, 24 px from the edge), where the right corner holds the
/// aim stick.
const TOUCH_CLEARANCE: f64 = 24.0 + 112.0 + 16.0;

/// Whether this is a touch device, asked once.
fn touch() -> bool {
    static TOUCH: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TOUCH.get_or_init(super::lobby::is_touch_device)
}

/// The minimap's rectangle on screen for a map of `map_size` world units: bottom-right, or on a
/// touch screen smaller and bottom-left above the move stick (the aim stick rests bottom-right).
pub fn minimap_rect(width: f64, height: f64, map_size: (f64, f64)) -> (f64, f64, f64, f64) {
    let touch = touch();
    let share = if touch { 0.22 } else { 0.28 };
    let longest = MINIMAP_MAX.min(width.min(height) * share);
    let scale = longest / map_size.0.max(map_size.1).max(1.0);
    let (w, h) = (map_size.0 * scale, map_size.1 * scale);
    if touch {
        (
            MINIMAP_MARGIN,
            (height - TOUCH_CLEARANCE - h).max(0.0),
            w,
            h,
        )
    } else {
        (
            width - MINIMAP_MARGIN - w,
            height - MINIMAP_MARGIN - h,
            w,
            h,
        )
    }
}

/// Draws the minimap: `view_radius` in world units.
pub fn draw_minimap(
    ctx: &CanvasRenderingContext2d,
    width: f64,
    height: f64,
    map_size: (f64, f64),
    walls: &[WallRect],
    scene: &Scene,
    view_radius: f64,
) {
    let (x0, y0, w, h) = minimap_rect(width, height, map_size);
    let s = w / map_size.0.max(1.0);
    ctx.set_fill_style_str("rgba(13, 16, 23, 0.78)");
    ctx.fill_rect(x0 - 4.0, y0 - 4.0, w + 8.0, h + 8.0);
    ctx.set_fill_style_str("#1c2230");
    ctx.fill_rect(x0, y0, w, h);
    ctx.set_fill_style_str("#4a5577");
    for &(x, y, ww, hh, _) in walls {
        ctx.fill_rect(x0 + x * s, y0 + y * s, (ww * s).max(1.0), (hh * s).max(1.0));
    }
    let (cx, cy) = scene.camera;
    // The interest circle (what the server tells this player about), clipped to the minimap.
    ctx.save();
    ctx.begin_path();
    ctx.rect(x0, y0, w, h);
    ctx.clip();
    ctx.set_fill_style_str("rgba(124, 196, 255, 0.08)");
    ctx.set_stroke_style_str("rgba(124, 196, 255, 0.45)");
    ctx.set_line_width(1.0);
    ctx.begin_path();
    let _ = ctx.arc(x0 + cx * s, y0 + cy * s, view_radius * s, 0.0, TAU);
    ctx.fill();
    ctx.stroke();
    ctx.restore();
    for p in scene.players.iter().filter(|p| !p.own && !p.dead) {
        ctx.set_fill_style_str("#ff6b5e");
        ctx.fill_rect(x0 + p.x * s - 2.0, y0 + p.y * s - 2.0, 4.0, 4.0);
    }
    ctx.set_fill_style_str("#ffffff");
    ctx.begin_path();
    let _ = ctx.arc(x0 + cx * s, y0 + cy * s, 3.5, 0.0, TAU);
    ctx.fill();
    ctx.set_stroke_style_str("rgba(255,255,255,0.18)");
    ctx.stroke_rect(x0 - 4.0, y0 - 4.0, w + 8.0, h + 8.0);
}

/// Whether `p` aims at the world point `at` (within [`AIMING_AT`]).
fn aims_at(p: &DrawPlayer, at: (f64, f64)) -> bool {
    let towards = (at.1 - p.y).atan2(at.0 - p.x);
    let mut off = (towards - p.aim).rem_euclid(TAU);
    if off > PI {
        off = TAU - off;
    }
    off <= AIMING_AT
}

/// Arrows at the screen edge for living players in view but off screen (red when aiming at the own
/// avatar) and for others' shots off screen heading at it (small, amber). Returns how many were drawn.
pub fn draw_edge_arrows(
    ctx: &CanvasRenderingContext2d,
    width: f64,
    height: f64,
    scene: &Scene,
) -> u32 {
    let me = scene
        .players
        .iter()
        .find(|p| p.own)
        .map_or(scene.camera, |p| (p.x, p.y));
    let mut drawn = 0;
    for p in scene.players.iter().filter(|p| !p.own && !p.dead) {
        let sx = (p.x - scene.camera.0) * scene.scale + width / 2.0;
        let sy = (p.y - scene.camera.1) * scene.scale + height / 2.0;
        let Some((ax, ay, angle)) = edge_point(width, height, sx, sy) else {
            continue;
        };
        let threat = aims_at(p, me);
        let size = if threat { 13.0 } else { 9.0 };
        ctx.set_fill_style_str(if threat {
            "rgba(255, 77, 77, 0.95)"
        } else {
            "rgba(230, 236, 246, 0.7)"
        });
        ctx.set_stroke_style_str("rgba(0,0,0,0.6)");
        ctx.set_line_width(1.5);
        ctx.begin_path();
        let point = |a: f64, r: f64| (ax + (angle + a).cos() * r, ay + (angle + a).sin() * r);
        let (tx, ty) = point(0.0, size);
        let (lx, ly) = point(2.5, size);
        let (rx, ry) = point(-2.5, size);
        ctx.move_to(tx, ty);
        ctx.line_to(lx, ly);
        ctx.line_to(rx, ry);
        ctx.close_path();
        ctx.fill();
        ctx.stroke();
        drawn += 1;
    }
    for &(x, y) in &scene.incoming {
        let sx = (x - scene.camera.0) * scene.scale + width / 2.0;
        let sy = (y - scene.camera.1) * scene.scale + height / 2.0;
        let Some((ax, ay, angle)) = edge_point(width, height, sx, sy) else {
            continue;
        };
        ctx.set_fill_style_str("rgba(255, 196, 64, 0.95)");
        ctx.begin_path();
        let point = |a: f64, r: f64| (ax + (angle + a).cos() * r, ay + (angle + a).sin() * r);
        let (tx, ty) = point(0.0, 7.0);
        let (lx, ly) = point(2.6, 7.0);
        let (rx, ry) = point(-2.6, 7.0);
        ctx.move_to(tx, ty);
        ctx.line_to(lx, ly);
        ctx.line_to(rx, ry);
        ctx.close_path();
        ctx.fill();
        drawn += 1;
    }
    drawn
}
