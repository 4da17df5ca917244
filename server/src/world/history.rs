//! Lag compensation's memory: where each hittable player stood at each of the last few ticks.
//!
//! A shooter draws the other players some ticks in the past (its input's `view_lag`). To judge its
//! shots against what it saw, the world keeps, for each of the last `depth + 1` ticks, a frame: a
//! dense table indexed by player key of the players that could be hit at that tick (alive and not
//! protected), with where they stood. The frames form a ring (the frame of tick `t` is at
//! `t % (depth + 1)`), and each is overwritten in place, so recording allocates nothing once the
//! room has had its largest number of players.
//!
//! A stand also records when the player was last placed (joined, died, respawned, or was moved by
//! the room), so a rewound hit can require the same placement now: between two placements a
//! player only walks, at most [`MoveParams::player_step`] coords a tick along each axis, which
//! bounds how far from its current position its rewound one can be.
//!
//! [`MoveParams::player_step`]: skirmish_shared::physics::MoveParams

use super::{Player, PlayerKey};
use skirmish_shared::physics::Pos;
use skirmish_shared::protocol::{status, EntityId};
use skirmish_shared::time::Tick;
use slab::Slab;

/// Where a hittable player stood at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stand {
    /// The player then (a key is reused after its player leaves; the id is not).
    pub id: EntityId,
    /// When the player was last placed, as of that tick ([`Player::placed_at`]).
    pub placed_at: Tick,
    /// Its centre.
    pub pos: Pos,
}

/// The hittable players at one tick.
#[derive(Debug, Default)]
struct Frame {
    /// The tick recorded here; `None` until the slot is first written.
    tick: Option<Tick>,
    /// By player key; `None` for a free key or a player that could not be hit then.
    stands: Vec<Option<Stand>>,
}

/// The last `depth + 1` ticks of hittable players' positions (nothing when `depth` is 0).
#[derive(Debug, Default)]
pub(super) struct History {
    frames: Vec<Frame>,
    /// The first tick recorded: older ticks were never seen.
    first: Option<Tick>,
}

impl History {
    /// A history able to reach `depth` ticks back from the newest tick recorded.
    pub fn new(depth: u32) -> History {
        let frames = if depth == 0 { 0 } else { depth as usize + 1 };
        History {
            frames: (0..frames).map(|_| Frame::default()).collect(),
            first: None,
        }
    }

    /// The most ticks a rewind may reach back.
    pub fn depth(&self) -> u32 {
        self.frames.len().saturating_sub(1) as u32
    }

    /// The rewind, in ticks, for a shot fired at `now` by a shooter whose view lagged `view_lag`
    /// ticks: its view lag, capped by the depth and by the history there will be. The shot is
    /// tested at ages `1..rewind` against ticks from `now + 1 - rewind` on, so each must be
    /// recorded by then (`now` itself is recorded after firing).
    pub fn rewind_for(&self, now: Tick, view_lag: u16) -> u32 {
        let recorded_from = self.first.unwrap_or(now);
        u32::from(view_lag)
            .min(self.depth())
            .min(now.next().since(recorded_from))
    }

    /// Records who could be hit at `now`, and where. Ticks must be recorded in order, one by one.
    pub fn record(&mut self, now: Tick, players: &Slab<Player>) {
        if self.frames.is_empty() {
            return;
        }
        self.first.get_or_insert(now);
        let slot = now.0 as usize % self.frames.len();
        let frame = &mut self.frames[slot];
        frame.tick = Some(now);
        frame.stands.clear();
        frame.stands.resize(players.capacity(), None);
        for (key, player) in players {
            if !player.alive() || player.status & status::PROTECTED != 0 {
                continue;
            }
            if let Some(stand) = frame.stands.get_mut(key) {
                *stand = Some(Stand {
                    id: player.id,
                    placed_at: player.placed_at,
                    pos: player.pos,
                });
            }
        }
    }

    /// Where the player with key `key` stood at `tick`, if it could be hit then; `None` as well when
    /// `tick` is not held (older than the depth, or before the first recorded tick).
    pub fn stand(&self, tick: Tick, key: PlayerKey) -> Option<Stand> {
        let frame = self.frame(tick)?;
        frame.stands.get(key).copied().flatten()
    }

    /// Whether `tick` is held.
    pub fn holds(&self, tick: Tick) -> bool {
        self.frame(tick).is_some()
    }

    fn frame(&self, tick: Tick) -> Option<&Frame> {
        if self.frames.is_empty() {
            return None;
        }
        let frame = &self.frames[tick.0 as usize % self.frames.len()];
        (frame.tick == Some(tick)).then_some(frame)
    }
}
