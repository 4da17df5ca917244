//! The camera of a page that watches rather than plays (a spectator, or a replay): free to pan by
//! dragging or with the movement keys, or following a player picked by a click. Pure, tested
//! natively.

use skirmish_shared::protocol::EntityId;

/// World units a watching camera shows from its centre to the shorter screen edge (a player's
/// interest circle is 640 units: a spectator sees a little more around the action).
pub const WATCH_VIEW_UNITS: f64 = 900.0;

/// How fast the movement keys pan the camera, in CSS pixels a second (so the pace on screen does
/// not depend on the zoom).
pub const PAN_PX_PER_S: f64 = 700.0;

/// A click (or tap) picks the nearest player drawn within this many CSS pixels of it.
pub const PICK_RADIUS_PX: f64 = 36.0;

/// A press that moves less than this many CSS pixels before it is released is a click, not a drag.
pub const CLICK_SLOP_PX: f64 = 6.0;

/// Where a watching page looks, and whom it follows.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeCamera {
    /// The world point at the screen's centre, in world units.
    centre: (f64, f64),
    /// The map's size in world units: the centre stays on the map.
    bounds: (f64, f64),
    /// The player followed, if any.
    follow: Option<EntityId>,
}

impl FreeCamera {
    /// A camera at the centre of a map of `bounds` world units, following nobody.
    pub fn new(bounds: (f64, f64)) -> FreeCamera {
        let bounds = (bounds.0.max(0.0), bounds.1.max(0.0));
        FreeCamera {
            centre: (bounds.0 / 2.0, bounds.1 / 2.0),
            bounds,
            follow: None,
        }
    }

    /// Puts the camera on a map of `bounds` world units: where it was if the map is the same (a
    /// spectator reconnecting), else at the new map's centre, following nobody.
    pub fn fit(&mut self, bounds: (f64, f64)) {
        if self.bounds != bounds {
            *self = FreeCamera::new(bounds);
        }
    }

    /// The world point at the screen's centre.
    pub fn centre(&self) -> (f64, f64) {
        self.centre
    }

    /// The player followed.
    pub fn following(&self) -> Option<EntityId> {
        self.follow
    }

    /// Follows `id` (`None`: stop following).
    pub fn follow(&mut self, id: Option<EntityId>) {
        self.follow = id;
    }

    /// Pans with the movement keys held (`axes`, each -1, 0 or 1) for `elapsed_ms` at `scale` CSS
    /// pixels per world unit. Panning stops following.
    pub fn pan_keys(&mut self, axes: (i8, i8), elapsed_ms: f64, scale: f64) {
        if axes == (0, 0) || elapsed_ms.is_nan() || elapsed_ms <= 0.0 {
            return;
        }
        let step = PAN_PX_PER_S * elapsed_ms / 1000.0 / scale.max(1e-6);
        // Diagonals no faster than straight lines.
        let norm = if axes.0 != 0 && axes.1 != 0 {
            std::f64::consts::FRAC_1_SQRT_2
        } else {
            1.0
        };
        self.follow = None;
        self.move_to((
            self.centre.0 + f64::from(axes.0) * step * norm,
            self.centre.1 + f64::from(axes.1) * step * norm,
        ));
    }

    /// Drags the world by `(dx, dy)` CSS pixels at `scale`: the point under the pointer stays under
    /// it. Dragging stops following.
    pub fn drag(&mut self, (dx, dy): (f64, f64), scale: f64) {
        if dx == 0.0 && dy == 0.0 {
            return;
        }
        self.follow = None;
        let scale = scale.max(1e-6);
        self.move_to((self.centre.0 - dx / scale, self.centre.1 - dy / scale));
    }

    /// Keeps up with the player followed, looked up with `position` (world units); stops
    /// following one that is no longer there.
    pub fn update(&mut self, position: impl Fn(EntityId) -> Option<(f64, f64)>) {
        if let Some(id) = self.follow {
            match position(id) {
                Some(at) => self.move_to(at),
                None => self.follow = None,
            }
        }
    }

    fn move_to(&mut self, (x, y): (f64, f64)) {
        if x.is_finite() && y.is_finite() {
            self.centre = (x.clamp(0.0, self.bounds.0), y.clamp(0.0, self.bounds.1));
        }
    }
}

/// The player drawn nearest a click at `click` (CSS pixels on a `width` x `height` screen centred on
/// `camera` at `scale`), within [`PICK_RADIUS_PX`]; `players` are ids and world positions.
pub fn pick(
    players: impl IntoIterator<Item = (EntityId, f64, f64)>,
    camera: (f64, f64),
    scale: f64,
    (width, height): (f64, f64),
    click: (f64, f64),
) -> Option<EntityId> {
    players
        .into_iter()
        .map(|(id, x, y)| {
            let sx = (x - camera.0) * scale + width / 2.0;
            let sy = (y - camera.1) * scale + height / 2.0;
            (id, (sx - click.0).hypot(sy - click.1))
        })
        .filter(|(_, distance)| *distance <= PICK_RADIUS_PX)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_pan_at_a_steady_screen_pace_and_stop_following() {
        let mut camera = FreeCamera::new((4096.0, 4096.0));
        assert_eq!(camera.centre(), (2048.0, 2048.0));
        camera.follow(Some(EntityId(2)));
        camera.pan_keys((1, 0), 1000.0, 0.5);
        // 700 px at half a pixel per unit is 1,400 units.
        assert_eq!(camera.centre(), (3448.0, 2048.0));
        assert_eq!(camera.following(), None, "panning takes the camera back");
        camera.pan_keys((1, 1), 1000.0, 1.0);
        let (x, y) = camera.centre();
        assert!((x - 3448.0 - 700.0 / 2f64.sqrt()).abs() < 1e-6);
        assert!((y - 2048.0 - 700.0 / 2f64.sqrt()).abs() < 1e-6);
        // No keys, or no time: no motion.
        let before = camera.centre();
        camera.pan_keys((0, 0), 1000.0, 1.0);
        camera.pan_keys((1, 0), 0.0, 1.0);
        camera.pan_keys((1, 0), f64::NAN, 1.0);
        assert_eq!(camera.centre(), before);
    }

    #[test]
    fn the_camera_stays_on_the_map() {
        let mut camera = FreeCamera::new((1000.0, 500.0));
        camera.pan_keys((-1, -1), 60_000.0, 1.0);
        assert_eq!(camera.centre(), (0.0, 0.0));
        camera.drag((-1e9, -1e9), 1.0);
        assert_eq!(camera.centre(), (1000.0, 500.0));
        camera.drag((f64::NAN, 0.0), 1.0);
        assert_eq!(camera.centre(), (1000.0, 500.0), "nonsense moves nothing");
    }

    #[test]
    fn refitting_to_the_same_map_keeps_the_place_and_a_new_map_recentres() {
        let mut camera = FreeCamera::new((0.0, 0.0));
        camera.fit((2000.0, 1000.0));
        assert_eq!(camera.centre(), (1000.0, 500.0));
        camera.drag((100.0, 0.0), 1.0);
        camera.follow(Some(EntityId(2)));
        camera.fit((2000.0, 1000.0));
        assert_eq!(camera.centre(), (900.0, 500.0));
        assert_eq!(camera.following(), Some(EntityId(2)));
        camera.fit((400.0, 400.0));
        assert_eq!(camera.centre(), (200.0, 200.0));
        assert_eq!(camera.following(), None);
    }

    #[test]
    fn dragging_keeps_the_point_under_the_pointer() {
        let mut camera = FreeCamera::new((4096.0, 4096.0));
        camera.follow(Some(EntityId(4)));
        // Dragging 100 px right at 2 px a unit shows what was 50 units to the left.
        camera.drag((100.0, -40.0), 2.0);
        assert_eq!(camera.centre(), (1998.0, 2068.0));
        assert_eq!(camera.following(), None);
    }

    #[test]
    fn following_tracks_the_player_until_it_is_gone() {
        let mut camera = FreeCamera::new((4096.0, 4096.0));
        camera.follow(Some(EntityId(6)));
        camera.update(|id| (id == EntityId(6)).then_some((100.0, 300.0)));
        assert_eq!(camera.centre(), (100.0, 300.0));
        assert_eq!(camera.following(), Some(EntityId(6)));
        camera.update(|_| None);
        assert_eq!(
            camera.following(),
            None,
            "a player who left is no longer followed"
        );
        assert_eq!(
            camera.centre(),
            (100.0, 300.0),
            "the camera stays where it was"
        );
    }

    #[test]
    fn a_click_picks_the_nearest_player_drawn_near_it() {
        let players = [
            (EntityId(2), 1000.0, 1000.0),
            (EntityId(4), 1010.0, 1000.0),
            (EntityId(6), 1400.0, 1000.0),
        ];
        let screen = (800.0, 600.0);
        let camera = (1000.0, 1000.0);
        // Player 2 is at the screen's centre, player 4 ten pixels right of it (scale 1).
        assert_eq!(
            pick(players, camera, 1.0, screen, (408.0, 300.0)),
            Some(EntityId(4))
        );
        assert_eq!(
            pick(players, camera, 1.0, screen, (398.0, 305.0)),
            Some(EntityId(2))
        );
        // Player 6 is 400 px right: off this 800-wide screen's centre, clicked where it is drawn.
        assert_eq!(
            pick(players, camera, 1.0, screen, (790.0, 300.0)),
            Some(EntityId(6))
        );
        // Empty floor picks nobody.
        assert_eq!(pick(players, camera, 1.0, screen, (600.0, 100.0)), None);
        assert_eq!(pick([], camera, 1.0, screen, (400.0, 300.0)), None);
    }
}
