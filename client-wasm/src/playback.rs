//! Playing a replay file in the page: the playback clock (play, pause, speed, seek), the frames it
//! applies to the view, and the timeline's kill marks. Pure (no DOM), tested natively; the page
//! (`web/replay.rs`) draws what it holds with the live renderer.
//!
//! The clock runs in ticks of the recorded room: `position` advances by the elapsed time times the
//! speed, and every frame at or before it is applied in order. Seeking starts over at the keyframe
//! at or before the tick asked for and applies the deltas from there ([`ReplayCursor::seek`]).

use skirmish_shared::protocol::{EntityId, GameEvent, RosterEntry, Snapshot};
use skirmish_shared::replay::{Replay, ReplayCursor, ReplayError};
use skirmish_shared::time::Tick;
use skirmish_shared::view::ClientView;

/// The speeds offered, slowest first.
pub const SPEEDS: [f64; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];

/// The slowest and fastest speeds.
pub const MIN_SPEED: f64 = 0.25;
/// See [`MIN_SPEED`].
pub const MAX_SPEED: f64 = 4.0;

/// A kill, for its mark on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillMark {
    /// The tick of the frame that told of it.
    pub tick: Tick,
    /// Who fired (`None`: a shooter who had left).
    pub killer: Option<EntityId>,
    /// Who died.
    pub victim: EntityId,
}

/// A replay being played.
#[derive(Debug, Clone)]
pub struct Playback {
    replay: Replay,
    cursor: ReplayCursor,
    kills: Vec<KillMark>,
    players: Vec<RosterEntry>,
    /// The tick shown, fractional (between the first frame's tick and the last's).
    position: f64,
    playing: bool,
    speed: f64,
    /// Ticks per millisecond of the recorded room.
    ticks_per_ms: f64,
}

/// What the page must do with a frame's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Played in order: every event happens now (chat lines, the kill feed).
    Played,
    /// Applied while seeking: only the state the events carry matters (roster, leaderboard), not
    /// the lines they would print.
    Seeking,
}

impl Playback {
    /// Reads a replay file and decodes every frame once (for the kill marks and the players); a file
    /// refused, or a frame that does not decode, is the error the page shows.
    pub fn load(bytes: Vec<u8>) -> Result<Playback, ReplayError> {
        let replay = Replay::parse(bytes)?;
        let players = replay.players()?;
        let mut kills = Vec::new();
        for index in 0..replay.frames().len() {
            let snapshot = replay.snapshot(index)?;
            for event in &snapshot.events {
                if let GameEvent::Kill { killer, victim } = event {
                    kills.push(KillMark {
                        tick: snapshot.tick,
                        killer: *killer,
                        victim: *victim,
                    });
                }
            }
        }
        let ticks_per_ms = f64::from(replay.header().tick_rate) / 1000.0;
        let position = replay.ticks().map_or(0.0, |(first, _)| f64::from(first.0));
        let cursor = ReplayCursor::new(&replay);
        Ok(Playback {
            replay,
            cursor,
            kills,
            players,
            position,
            playing: false,
            speed: 1.0,
            ticks_per_ms,
        })
    }

    /// The replay.
    pub fn replay(&self) -> &Replay {
        &self.replay
    }

    /// Every player the replay names, in the order first seen.
    pub fn players(&self) -> &[RosterEntry] {
        &self.players
    }

    /// The kills, in order.
    pub fn kills(&self) -> &[KillMark] {
        &self.kills
    }

    /// The view as of the last frame applied.
    pub fn view(&self) -> &ClientView {
        self.cursor.view()
    }

    /// The first and last frames' ticks (`(0, 0)` without frames).
    pub fn span(&self) -> (u32, u32) {
        self.replay
            .ticks()
            .map_or((0, 0), |(first, last)| (first.0, last.0))
    }

    /// The tick shown, fractional.
    pub fn position(&self) -> f64 {
        self.position
    }

    /// Whether the clock runs.
    pub fn playing(&self) -> bool {
        self.playing
    }

    /// The speed (1.0: as recorded).
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Sets the speed, held within [`MIN_SPEED`]`..=`[`MAX_SPEED`] (nonsense leaves it as it was).
    pub fn set_speed(&mut self, speed: f64) {
        if speed.is_finite() {
            self.speed = speed.clamp(MIN_SPEED, MAX_SPEED);
        }
    }

    /// Milliseconds from the first frame to the position.
    pub fn elapsed_ms(&self) -> f64 {
        (self.position - f64::from(self.span().0)) / self.ticks_per_ms
    }

    /// Milliseconds from the first frame to the last.
    pub fn duration_ms(&self) -> f64 {
        f64::from(self.span().1 - self.span().0) / self.ticks_per_ms
    }

    /// Where the position is on the timeline, 0.0 to 1.0.
    pub fn fraction(&self) -> f64 {
        self.fraction_of(self.position)
    }

    /// Where `tick` is on the timeline, 0.0 to 1.0.
    pub fn fraction_of(&self, tick: f64) -> f64 {
        let (first, last) = self.span();
        if last <= first {
            return 0.0;
        }
        ((tick - f64::from(first)) / f64::from(last - first)).clamp(0.0, 1.0)
    }

    /// The tick at `fraction` (0.0 to 1.0) of the timeline.
    pub fn tick_at(&self, fraction: f64) -> u32 {
        let (first, last) = self.span();
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        first + (f64::from(last - first) * fraction).round() as u32
    }

    /// Whether the position is at the last frame.
    pub fn at_end(&self) -> bool {
        self.position >= f64::from(self.span().1)
    }

    /// Starts or stops the clock; playing from the end starts over from the beginning (`seen` is
    /// handed the frames applied to get there, as in [`Playback::seek`]).
    pub fn set_playing(
        &mut self,
        playing: bool,
        seen: impl FnMut(&Snapshot, Applied),
    ) -> Result<(), ReplayError> {
        if playing && self.at_end() {
            self.seek(self.span().0, seen)?;
        }
        self.playing = playing && !self.replay.frames().is_empty();
        Ok(())
    }

    /// Moves to `tick` (held within the replay): the view is rebuilt from the keyframe at or
    /// before it, and every frame applied is handed to `seen` (as [`Applied::Seeking`]).
    pub fn seek(
        &mut self,
        tick: u32,
        mut seen: impl FnMut(&Snapshot, Applied),
    ) -> Result<(), ReplayError> {
        let (first, last) = self.span();
        let tick = tick.clamp(first, last);
        self.position = f64::from(tick);
        self.cursor
            .seek(&self.replay, Tick(tick), |s| seen(s, Applied::Seeking))
    }

    /// Runs the clock for `elapsed_ms` (if playing) and applies the frames it passes, handing each
    /// to `seen` (as [`Applied::Played`]). The clock stops at the last frame. A frame that fails to
    /// apply stops it too, and is the error.
    pub fn advance(
        &mut self,
        elapsed_ms: f64,
        mut seen: impl FnMut(&Snapshot, Applied),
    ) -> Result<(), ReplayError> {
        if self.cursor.next_index() == 0 && !self.replay.frames().is_empty() {
            // Nothing applied yet: start at the first frame.
            self.seek(self.span().0, &mut seen)?;
        }
        if !self.playing || elapsed_ms.is_nan() || elapsed_ms <= 0.0 {
            return Ok(());
        }
        let last = f64::from(self.span().1);
        self.position = (self.position + elapsed_ms * self.speed * self.ticks_per_ms).min(last);
        if self.position >= last {
            self.playing = false;
        }
        while let Some(frame) = self.replay.frames().get(self.cursor.next_index()) {
            if f64::from(frame.tick.0) > self.position {
                break;
            }
            match self.cursor.step(&self.replay) {
                Some(Ok(snapshot)) => seen(&snapshot, Applied::Played),
                Some(Err(e)) => {
                    self.playing = false;
                    return Err(e);
                }
                None => break,
            }
        }
        Ok(())
    }
}

/// `m:ss` for a duration in milliseconds (`h:mm:ss` past an hour).
pub fn clock_text(ms: f64) -> String {
    let seconds = if ms.is_finite() {
        (ms.max(0.0) / 1000.0).floor() as u64
    } else {
        0
    };
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The speed to show as a label: `0.25×`, `1×`, `4×`.
pub fn speed_label(speed: f64) -> String {
    format!("{speed}×")
}

#[cfg(test)]
mod tests;
