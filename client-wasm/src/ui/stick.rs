//! The virtual stick: a thumb's drag from where it landed, read as one of the eight directions the
//! game moves in (movement is digital: the shared physics takes -1, 0 or 1 on each axis).

/// Drags shorter than this (CSS pixels) are no direction, so a resting thumb does not creep.
pub const DEAD_ZONE_PX: f64 = 12.0;

/// How far the knob travels from the stick's centre (CSS pixels); longer drags are clamped.
pub const TRAVEL_PX: f64 = 48.0;

/// The movement axes for a drag of `(dx, dy)` pixels (screen axes, y down): each -1, 0 or 1, from
/// the nearest of eight directions, or `(0, 0)` inside the dead zone.
pub fn axes(dx: f64, dy: f64) -> (i8, i8) {
    if dx.hypot(dy) < DEAD_ZONE_PX {
        return (0, 0);
    }
    // Eight sectors of 45°, centred on the axes and the diagonals.
    let sector = (dy.atan2(dx) / std::f64::consts::FRAC_PI_4).round() as i32;
    match sector.rem_euclid(8) {
        0 => (1, 0),
        1 => (1, 1),
        2 => (0, 1),
        3 => (-1, 1),
        4 => (-1, 0),
        5 => (-1, -1),
        6 => (0, -1),
        _ => (1, -1),
    }
}

/// Where to draw the knob for a drag: the drag, clamped to [`TRAVEL_PX`].
pub fn knob(dx: f64, dy: f64) -> (f64, f64) {
    let length = dx.hypot(dy);
    if length <= TRAVEL_PX {
        (dx, dy)
    } else {
        (dx / length * TRAVEL_PX, dy / length * TRAVEL_PX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_zone_is_still() {
        assert_eq!(axes(0.0, 0.0), (0, 0));
        assert_eq!(axes(5.0, -5.0), (0, 0));
    }

    #[test]
    fn eight_directions() {
        assert_eq!(axes(40.0, 0.0), (1, 0));
        assert_eq!(axes(40.0, 38.0), (1, 1));
        assert_eq!(axes(2.0, 40.0), (0, 1));
        assert_eq!(axes(-40.0, 35.0), (-1, 1));
        assert_eq!(axes(-40.0, -3.0), (-1, 0));
        assert_eq!(axes(-30.0, -30.0), (-1, -1));
        assert_eq!(axes(3.0, -40.0), (0, -1));
        assert_eq!(axes(30.0, -30.0), (1, -1));
    }

    #[test]
    fn knob_is_clamped() {
        assert_eq!(knob(10.0, 0.0), (10.0, 0.0));
        let (x, y) = knob(300.0, 400.0);
        assert!((x.hypot(y) - TRAVEL_PX).abs() < 1e-9);
        assert!((x / y - 0.75).abs() < 1e-9);
    }
}
