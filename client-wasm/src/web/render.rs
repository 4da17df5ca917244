//! Drawing one frame on the canvas: floor, walls, projectiles, players with names and health.

use crate::ui::labels::{self, Label};
use skirmish_shared::fixed::coord_to_units;
use skirmish_shared::map::{Map, TILE_SIZE};
use skirmish_shared::physics::PLAYER_HALF_SIZE;
use web_sys::CanvasRenderingContext2d;

/// A player as drawn.
pub struct DrawPlayer {
    /// The player's entity id.
    pub id: u32,
    /// Position in world units.
    pub x: f64,
    /// Position in world units.
    pub y: f64,
    /// Aim in radians.
    pub aim: f64,
    /// Hit points, 0..=100.
    pub hp: u8,
    /// Display name.
    pub name: String,
    /// The local player.
    pub own: bool,
    /// Dead, waiting to respawn.
    pub dead: bool,
    /// Spawn-protected.
    pub protected: bool,
    /// Hue (degrees) derived from the id.
    pub hue: u32,
}

/// Everything one frame shows.
pub struct Scene {
    /// World point at the centre of the screen.
    pub camera: (f64, f64),
    /// CSS pixels per world unit.
    pub scale: f64,
    /// Players.
    pub players: Vec<DrawPlayer>,
    /// Projectiles (world units) with their owner's hue.
    pub projectiles: Vec<(f64, f64, u32)>,
    /// Others' projectiles heading at the own avatar (world units), for the off-screen arrows.
    pub incoming: Vec<(f64, f64)>,
    /// Every player's name at any zoom (a watching page: who is who is the point), not only the
    /// own one when zoomed far out.
    pub all_names: bool,
}

/// A wall rectangle in world units, and whether its top edge faces open floor (drawn lit).
pub type WallRect = (f64, f64, f64, f64, bool);

/// Wall rectangles, horizontal runs merged (split where the lit top edge starts or stops), computed
/// once per map.
pub fn wall_rects(map: &Map) -> Vec<WallRect> {
    let tile = f64::from(coord_to_units(TILE_SIZE));
    let lit = |column: i32, row: i32| row > 0 && !map.is_solid(column, row - 1);
    let mut rects = Vec::new();
    for row in 0..i32::from(map.height()) {
        let mut column = 0;
        while column < i32::from(map.width()) {
            if !map.is_solid(column, row) {
                column += 1;
                continue;
            }
            let start = column;
            let edge = lit(column, row);
            while column < i32::from(map.width())
                && map.is_solid(column, row)
                && lit(column, row) == edge
            {
                column += 1;
            }
            rects.push((
                f64::from(start) * tile,
                f64::from(row) * tile,
                f64::from(column - start) * tile,
                tile,
                edge,
            ));
        }
    }
    rects
}

/// Below this zoom (CSS px per world unit) other players' names overlap into noise: only the own
/// name is drawn.
const NAMES_MIN_SCALE: f64 = 0.3;

/// Draws a frame. `width`/`height` are the canvas size in CSS pixels; the context is scaled for the
/// device pixel ratio by the caller.
pub fn draw(
    ctx: &CanvasRenderingContext2d,
    width: f64,
    height: f64,
    map: &Map,
    walls: &[WallRect],
    scene: &Scene,
) {
    ctx.set_fill_style_str("#0d1017");
    ctx.fill_rect(0.0, 0.0, width, height);
    let s = scene.scale;
    let to_screen = |x: f64, y: f64| {
        (
            (x - scene.camera.0) * s + width / 2.0,
            (y - scene.camera.1) * s + height / 2.0,
        )
    };
    // Floor with a faint tile grid.
    let tile = f64::from(coord_to_units(TILE_SIZE));
    let (map_w, map_h) = (
        f64::from(map.width()) * tile,
        f64::from(map.height()) * tile,
    );
    let (fx, fy) = to_screen(0.0, 0.0);
    ctx.set_fill_style_str("#161b26");
    ctx.fill_rect(fx, fy, map_w * s, map_h * s);
    ctx.set_stroke_style_str("rgba(255,255,255,0.04)");
    ctx.set_line_width(1.0);
    ctx.begin_path();
    let (left, top) = (
        scene.camera.0 - width / 2.0 / s,
        scene.camera.1 - height / 2.0 / s,
    );
    let (right, bottom) = (
        scene.camera.0 + width / 2.0 / s,
        scene.camera.1 + height / 2.0 / s,
    );
    let first_col = (left / tile).floor().max(0.0) as i32;
    let last_col = (right / tile).ceil().min(f64::from(map.width())) as i32;
    let first_row = (top / tile).floor().max(0.0) as i32;
    let last_row = (bottom / tile).ceil().min(f64::from(map.height())) as i32;
    for c in first_col..=last_col {
        let (x, _) = to_screen(f64::from(c) * tile, 0.0);
        ctx.move_to(x, fy.max(0.0));
        ctx.line_to(x, (fy + map_h * s).min(height));
    }
    for r in first_row..=last_row {
        let (_, y) = to_screen(0.0, f64::from(r) * tile);
        ctx.move_to(fx.max(0.0), y);
        ctx.line_to((fx + map_w * s).min(width), y);
    }
    ctx.stroke();
    // Walls.
    ctx.set_fill_style_str("#2b3347");
    for &(x, y, w, h, _) in walls {
        if x + w < left || x > right || y + h < top || y > bottom {
            continue;
        }
        let (sx, sy) = to_screen(x, y);
        // Overlap by half a pixel so merged runs show no seams.
        ctx.fill_rect(sx - 0.5, sy - 0.5, w * s + 1.0, h * s + 1.0);
    }
    ctx.set_fill_style_str("#46537a");
    for &(x, y, w, _, lit) in walls {
        if !lit || x + w < left || x > right || y < top || y > bottom {
            continue;
        }
        let (sx, sy) = to_screen(x, y);
        ctx.fill_rect(sx - 0.5, sy - 0.5, w * s + 1.0, (4.0 * s).max(2.0));
    }
    // Projectiles.
    for &(x, y, hue) in &scene.projectiles {
        let (sx, sy) = to_screen(x, y);
        ctx.set_fill_style_str(&format!("hsl({hue}, 95%, 70%)"));
        ctx.begin_path();
        let _ = ctx.arc(sx, sy, (4.0 * s).max(3.0), 0.0, std::f64::consts::TAU);
        ctx.fill();
    }
    // Players: others first, own on top.
    let radius = f64::from(coord_to_units(PLAYER_HALF_SIZE));
    let mut order: Vec<&DrawPlayer> = scene.players.iter().collect();
    order.sort_by_key(|p| p.own);
    ctx.set_text_align("center");
    ctx.set_font(&format!(
        "600 {}px system-ui, sans-serif",
        (12.0 * s.max(0.9)).round()
    ));
    // Names of players standing close together are stacked, not printed over each other.
    let line_height = (12.0 * s.max(0.9)).round() + 2.0;
    let labels: Vec<Label> = order
        .iter()
        .map(|p| {
            let (sx, sy) = to_screen(p.x, p.y);
            Label {
                x: sx,
                y: sy - radius * s - 12.0,
                width: ctx.measure_text(&p.name).map_or(0.0, |m| m.width()) + 4.0,
            }
        })
        .collect();
    let lifts = labels::lifts(&labels, line_height);
    for (p, lift) in order.into_iter().zip(lifts) {
        let (sx, sy) = to_screen(p.x, p.y);
        let r = radius * s;
        ctx.set_global_alpha(if p.dead { 0.3 } else { 1.0 });
        if p.own {
            ctx.set_fill_style_str("rgba(255,255,255,0.10)");
            ctx.begin_path();
            let _ = ctx.arc(sx, sy, r * 2.2, 0.0, std::f64::consts::TAU);
            ctx.fill();
        }
        ctx.set_stroke_style_str(&format!("hsl({}, 90%, 75%)", p.hue));
        ctx.set_line_width((3.0 * s).max(1.5));
        ctx.begin_path();
        ctx.move_to(sx, sy);
        ctx.line_to(sx + p.aim.cos() * r * 1.8, sy + p.aim.sin() * r * 1.8);
        ctx.stroke();
        ctx.set_fill_style_str(&format!(
            "hsl({}, 70%, {}%)",
            p.hue,
            if p.own { 60 } else { 48 }
        ));
        ctx.begin_path();
        let _ = ctx.arc(sx, sy, r, 0.0, std::f64::consts::TAU);
        ctx.fill();
        ctx.set_stroke_style_str(if p.own { "#ffffff" } else { "rgba(0,0,0,0.5)" });
        ctx.set_line_width(if p.own { 2.5 } else { 1.5 });
        ctx.stroke();
        if p.protected && !p.dead {
            // Spawn protection: a bright shield ring with a soft halo, unmistakable at any zoom.
            let ring = r + 5.0;
            ctx.set_fill_style_str("rgba(140,220,255,0.16)");
            ctx.begin_path();
            let _ = ctx.arc(sx, sy, ring, 0.0, std::f64::consts::TAU);
            ctx.fill();
            ctx.set_stroke_style_str("rgba(140,220,255,0.95)");
            ctx.set_line_width(2.5);
            ctx.stroke();
        }
        // Name and health bar.
        ctx.set_fill_style_str(if p.own { "#ffffff" } else { "#c9d1e0" });
        if p.own || scene.all_names || s >= NAMES_MIN_SCALE {
            let _ = ctx.fill_text(&p.name, sx, sy - r - 12.0 - lift);
        }
        let bar_w = r * 2.2;
        ctx.set_fill_style_str("rgba(0,0,0,0.6)");
        ctx.fill_rect(sx - bar_w / 2.0, sy - r - 8.0, bar_w, 4.0);
        let hp = f64::from(p.hp) / 100.0;
        let color = if hp > 0.5 {
            "#5ad17a"
        } else if hp > 0.25 {
            "#e8c547"
        } else {
            "#e5534b"
        };
        ctx.set_fill_style_str(color);
        ctx.fill_rect(sx - bar_w / 2.0, sy - r - 8.0, bar_w * hp, 4.0);
        if p.own && !p.dead {
            // The own hit points as a number beside the own bar.
            ctx.set_text_align("left");
            ctx.set_fill_style_str(color);
            let _ = ctx.fill_text(&p.hp.to_string(), sx + bar_w / 2.0 + 4.0, sy - r - 4.0);
            ctx.set_text_align("center");
        }
    }
    ctx.set_global_alpha(1.0);
}
