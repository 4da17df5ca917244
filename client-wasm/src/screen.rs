//! Screen geometry of the browser client, kept apart from the DOM so it is tested natively: how far
//! the camera zooms out, and where the arrows for off-screen players go.

/// Margin around the interest circle when zooming to fit it (1.0 would touch the screen edge).
pub const VIEW_MARGIN: f64 = 1.06;
/// How far inside the screen edge the off-screen arrows are drawn (CSS pixels).
pub const ARROW_INSET: f64 = 22.0;

/// CSS pixels per world unit so that the whole interest circle (`view_radius` world units around
/// the own avatar, everything the server sends) fits the shorter screen side, with a small margin.
pub fn zoom(width: f64, height: f64, view_radius: f64) -> f64 {
    let radius = view_radius.max(1.0) * VIEW_MARGIN;
    (width.min(height).max(1.0) / 2.0) / radius
}

/// Where an arrow for the screen point `(sx, sy)` goes: on the screen's edge inset by
/// [`ARROW_INSET`], on the line from the centre towards the point, with that line's angle (radians,
/// +y down); `None` when the point is on screen.
pub fn edge_point(width: f64, height: f64, sx: f64, sy: f64) -> Option<(f64, f64, f64)> {
    if (0.0..=width).contains(&sx) && (0.0..=height).contains(&sy) {
        return None;
    }
    let (cx, cy) = (width / 2.0, height / 2.0);
    let (dx, dy) = (sx - cx, sy - cy);
    let (hx, hy) = ((cx - ARROW_INSET).max(1.0), (cy - ARROW_INSET).max(1.0));
    let t = (hx / dx.abs().max(1e-9)).min(hy / dy.abs().max(1e-9));
    Some((cx + dx * t, cy + dy * t, dy.atan2(dx)))
}

/// Whether something at `pos` moving along `velocity` passes within `radius` of `target` ahead of
/// it (not behind): a shot heading at the own avatar.
pub fn heads_at(pos: (f64, f64), velocity: (f64, f64), target: (f64, f64), radius: f64) -> bool {
    let (dx, dy) = (target.0 - pos.0, target.1 - pos.1);
    let speed = velocity.0.hypot(velocity.1);
    if speed == 0.0 || dx * velocity.0 + dy * velocity.1 <= 0.0 {
        return false;
    }
    // The distance from the target to the line of flight.
    (dx * velocity.1 - dy * velocity.0).abs() / speed <= radius
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interest_circle_fits_the_shorter_side_at_any_size() {
        for (w, h) in [
            (1280.0, 720.0),
            (720.0, 1280.0),
            (3840.0, 1080.0),
            (360.0, 640.0),
            (1.0, 1.0),
        ] {
            let s = zoom(w, h, 640.0);
            let diameter = 2.0 * 640.0 * s;
            assert!(diameter <= w.min(h), "{w}x{h}: the circle is {diameter} px");
            assert!(
                diameter >= 0.9 * w.min(h),
                "{w}x{h}: the circle is only {diameter} px"
            );
        }
        // The old fixed ±340 units at 1280x720 showed far less than the 640 units sent.
        assert!(zoom(1280.0, 720.0, 640.0) < 720.0 / 2.0 / 340.0);
    }

    #[test]
    fn shots_head_at_a_target_ahead_on_their_line() {
        let me = (1_000.0, 500.0);
        assert!(heads_at((0.0, 500.0), (12.0, 0.0), me, 36.0));
        assert!(
            heads_at((0.0, 530.0), (12.0, 0.0), me, 36.0),
            "a near miss counts"
        );
        assert!(
            !heads_at((0.0, 600.0), (12.0, 0.0), me, 36.0),
            "a clear miss does not"
        );
        assert!(
            !heads_at((2_000.0, 500.0), (12.0, 0.0), me, 36.0),
            "flying away"
        );
        assert!(!heads_at((0.0, 500.0), (0.0, 0.0), me, 36.0), "not moving");
    }

    #[test]
    fn on_screen_points_need_no_arrow() {
        assert_eq!(edge_point(800.0, 600.0, 400.0, 300.0), None);
        assert_eq!(edge_point(800.0, 600.0, 0.0, 600.0), None);
    }

    #[test]
    fn arrows_sit_on_the_inset_edge_towards_the_point() {
        let (x, y, angle) = edge_point(800.0, 600.0, 2_000.0, 300.0).expect("off screen");
        assert!((x - (800.0 - ARROW_INSET)).abs() < 1e-9 && (y - 300.0).abs() < 1e-9);
        assert!(angle.abs() < 1e-9);
        let (x, y, angle) = edge_point(800.0, 600.0, 400.0, -900.0).expect("off screen");
        assert!((x - 400.0).abs() < 1e-9 && (y - ARROW_INSET).abs() < 1e-9);
        assert!((angle + std::f64::consts::FRAC_PI_2).abs() < 1e-9);
        // A corner-ward point lands on whichever inset edge the line meets first.
        let (x, y, _) = edge_point(800.0, 600.0, 5_000.0, 5_000.0).expect("off screen");
        assert!((y - (600.0 - ARROW_INSET)).abs() < 1e-9 && x < 800.0 - ARROW_INSET + 1e-9);
    }
}
