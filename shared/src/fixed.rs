//! Quantized quantities. The simulation runs on integers so that the server and the WebAssembly
//! client compute the same step bit for bit.
//!
//! - Positions are [`Coord`]s: signed 1/16 world units ([`SUBUNITS`] per unit). A map tile is
//!   [`crate::map::TILE_SIZE`] coords wide.
//! - Angles are `u16`: a full turn is 65,536 steps, angle 0 points along +x and angles grow toward +y
//!   (screen down).
//! - Directions come from [`sin_q14`]/[`cos_q14`], an integer polynomial, never from `f32::sin`.

use glam::Vec2;
use serde::{Deserialize, Serialize};

/// A world position component in 1/[`SUBUNITS`] world units.
pub type Coord = i32;

/// Coords per world unit.
pub const SUBUNITS: Coord = 16;

/// One in Q14 fixed point (the scale of [`sin_q14`] and [`cos_q14`]).
pub const Q14_ONE: i32 = 1 << 14;

/// A position in coords.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pos {
    /// X in coords.
    pub x: Coord,
    /// Y in coords.
    pub y: Coord,
}

impl Pos {
    /// A position from its components.
    pub const fn new(x: Coord, y: Coord) -> Pos {
        Pos { x, y }
    }

    /// Squared distance to another position (in coords², as `i64` so it cannot overflow).
    pub fn distance_squared(self, other: Pos) -> i64 {
        let dx = i64::from(self.x) - i64::from(other.x);
        let dy = i64::from(self.y) - i64::from(other.y);
        dx * dx + dy * dy
    }
}

/// World units (float, for rendering) from a coord.
pub fn coord_to_units(c: Coord) -> f32 {
    c as f32 / SUBUNITS as f32
}

/// The nearest coord to a position in world units (saturating).
pub fn units_to_coord(units: f32) -> Coord {
    (units * SUBUNITS as f32).round() as Coord
}

/// A rendering vector in world units from a coord pair.
pub fn coords_to_vec2(x: Coord, y: Coord) -> Vec2 {
    Vec2::new(coord_to_units(x), coord_to_units(y))
}

/// The quantized angle of a direction vector (client side, from the mouse). A zero vector gives 0.
pub fn aim_from_vector(v: Vec2) -> u16 {
    if v.length_squared() == 0.0 || !v.is_finite() {
        return 0;
    }
    let turns = v.y.atan2(v.x) / std::f32::consts::TAU;
    (turns.rem_euclid(1.0) * 65_536.0).round() as u32 as u16
}

/// Bits of other players' aim in snapshots (4,096 steps to the turn, under 0.1 degree each).
pub const WIRE_AIM_BITS: u32 = 12;

/// An aim angle rounded to [`WIRE_AIM_BITS`] bits, as snapshots carry other players' aim.
pub fn aim_to_wire(aim: u16) -> u16 {
    let shift = 16 - WIRE_AIM_BITS;
    aim.wrapping_add(1 << (shift - 1)) >> shift
}

/// The 16-bit angle of a wire aim ([`WIRE_AIM_BITS`] bits; higher bits are ignored).
pub fn aim_from_wire(aim: u16) -> u16 {
    aim << (16 - WIRE_AIM_BITS)
}

/// The angle in radians of a quantized angle (for rendering).
pub fn aim_to_radians(aim: u16) -> f32 {
    f32::from(aim) / 65_536.0 * std::f32::consts::TAU
}

/// Sine of a quantized angle in Q14 (`16384` is 1.0), by an odd 7th-order polynomial on the quarter
/// wave in Q24 arithmetic (Taylor terms, the last one adjusted so that sin(90°) is exactly 1). Maximum
/// error is below 1e-4, checked against `f64::sin` for every angle in the tests.
pub fn sin_q14(angle: u16) -> i32 {
    const C1: i64 = 26_353_589; // pi/2
    const C3: i64 = 10_837_479; // (pi/2)^3 / 3!
    const C5: i64 = 1_337_020; // (pi/2)^5 / 5!
    const C7: i64 = 75_914; // chosen so that C1 - C3 + C5 - C7 = 1
    let quadrant = angle >> 14;
    let frac = i64::from(angle & 0x3FFF);
    // z in [0, 1] as Q24 along the quarter wave, mirrored in the 2nd and 4th quadrant.
    let z = if quadrant & 1 == 0 {
        frac
    } else {
        16_384 - frac
    } << 10;
    let z2 = (z * z) >> 24;
    let t = C5 - ((z2 * C7) >> 24);
    let t = C3 - ((z2 * t) >> 24);
    let t = C1 - ((z2 * t) >> 24);
    let s = (((z * t) >> 24) >> 10).min(i64::from(Q14_ONE)) as i32;
    if quadrant >= 2 {
        -s
    } else {
        s
    }
}

/// Cosine of a quantized angle in Q14.
pub fn cos_q14(angle: u16) -> i32 {
    sin_q14(angle.wrapping_add(16_384))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_sine_tracks_the_real_one_for_every_angle() {
        let mut worst = 0.0f64;
        for angle in 0..=u16::MAX {
            let radians = f64::from(angle) / 65_536.0 * std::f64::consts::TAU;
            let err_sin = (f64::from(sin_q14(angle)) / 16_384.0 - radians.sin()).abs();
            let err_cos = (f64::from(cos_q14(angle)) / 16_384.0 - radians.cos()).abs();
            worst = worst.max(err_sin).max(err_cos);
        }
        assert!(worst < 1e-4, "worst error {worst}");
        assert_eq!(sin_q14(0), 0);
        assert_eq!(sin_q14(16_384), Q14_ONE);
        assert_eq!(sin_q14(49_152), -Q14_ONE);
    }

    #[test]
    fn aim_round_trips_through_vectors() {
        assert_eq!(aim_from_vector(Vec2::new(1.0, 0.0)), 0);
        assert_eq!(aim_from_vector(Vec2::new(0.0, 1.0)), 16_384);
        assert_eq!(aim_from_vector(Vec2::new(-1.0, 0.0)), 32_768);
        assert_eq!(aim_from_vector(Vec2::new(0.0, -1.0)), 49_152);
        assert_eq!(aim_from_vector(Vec2::ZERO), 0);
        assert_eq!(aim_from_vector(Vec2::new(f32::NAN, 1.0)), 0);
        let back = aim_to_radians(aim_from_vector(Vec2::new(1.0, 1.0)));
        assert!((back - std::f32::consts::FRAC_PI_4).abs() < 1e-3);
    }

    #[test]
    fn wire_aim_keeps_twelve_bits() {
        for aim in [0u16, 1, 7, 8, 4095, 32_768, 65_527, 65_535] {
            let back = aim_from_wire(aim_to_wire(aim));
            let error = (i32::from(back) - i32::from(aim)).rem_euclid(65_536);
            assert!(
                error.min(65_536 - error) <= 8,
                "aim {aim} came back as {back}"
            );
            assert!(aim_to_wire(aim) < 4_096);
        }
    }

    #[test]
    fn coords_convert_to_units() {
        assert_eq!(units_to_coord(1.5), 24);
        assert_eq!(coord_to_units(24), 1.5);
    }
}
