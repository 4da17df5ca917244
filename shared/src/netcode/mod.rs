//! A client's side of the netcode, shared by the browser client and the native bots so both play
//! with the same code: the server clock estimate and the input clock that runs ahead of it
//! ([`clock`]), interpolation of remote players ([`interp`]) at a render time that follows the
//! arrival jitter ([`playout`]), and prediction of the own avatar ([`predict`]) and of its own
//! shots ([`shots`]).
//!
//! Pure logic over the rest of this crate: callers pass the time in, nothing here reads a clock.

pub mod clock;
pub mod interp;
pub mod playout;
pub mod predict;
pub mod shots;

#[cfg(test)]
mod test_support {
    use crate::map::Map;
    use crate::physics::MoveParams;
    use crate::time::TickRate;

    pub fn arena() -> Map {
        Map::parse(include_str!("../../../assets/maps/arena.map")).expect("arena")
    }

    pub fn params() -> MoveParams {
        MoveParams::new(TickRate::new(60).expect("60 Hz"))
    }
}
