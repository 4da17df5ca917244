//! The room's broadcast feed: the whole room, encoded once per feed frame, held for the spectator
//! delay and then released to every spectator ([`crate::feed`]) and to the room's replay
//! ([`crate::recorder`]). The replay gets each frame when spectators do, not before: a recording in
//! progress can be fetched (`/api/replays/ID`), and must not show more than watching does. When the
//! room closes, the frames still held are recorded too (the game they show is over).
//!
//! A frame is produced every `tick_rate / feed_rate` ticks while anyone watches or the room records.
//! Every [`KEYFRAME_MS`] (and whenever the feed starts) it is a keyframe: a full snapshot whose events begin with the roster and the leaderboard, so a spectator or
//! a replay can start there. Between keyframes each frame is a delta against the frame before,
//! carrying the room's broadcast events since. A feed frame's proof and acknowledged input are 0;
//! its check sums every entity.

use super::events::{fits_budget, EVENT_BYTES_PER_SNAPSHOT};
use super::Room;
use crate::feed::{FeedFrame, FeedShared};
use crate::recorder::Recording;
use bytes::Bytes;
use skirmish_shared::protocol::GameEvent;
use skirmish_shared::time::{Tick, TickRate};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// Milliseconds between two keyframes: how far a seek, a spectator that joins, or one that fell
/// behind, has to start before where it wants to be.
pub const KEYFRAME_MS: u32 = 5_000;

/// The room's side of its feed.
#[derive(Debug)]
pub(super) struct Feed {
    pub(super) shared: Arc<FeedShared>,
    /// Ticks between frames.
    interval: u32,
    /// Ticks between keyframes.
    keyframe_ticks: u32,
    /// Ticks a frame is held before spectators get it.
    delay_ticks: u32,
    /// The previous frame's tick (its baseline for the next delta); `None`: the next is a keyframe.
    last: Option<Tick>,
    /// The last keyframe's tick.
    last_key: Tick,
    /// The broadcast events before this sequence number are in frames already.
    events_from: u64,
    /// Frames encoded, waiting out the delay.
    held: VecDeque<FeedFrame>,
    /// The replay being recorded, if any.
    pub(super) recording: Option<Recording>,
    /// Someone watches or the room records: the feed runs, and keeps the events it has not sent.
    active: bool,
}

impl Feed {
    /// A feed at `feed_rate` frames a second in a room at `tick_rate`, delayed by `delay`.
    pub(super) fn new(
        shared: Arc<FeedShared>,
        tick_rate: TickRate,
        feed_rate: TickRate,
        delay: Duration,
    ) -> Feed {
        let millis = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
        Feed {
            shared,
            interval: u32::from(tick_rate.hz() / feed_rate.hz()).max(1),
            keyframe_ticks: tick_rate.ticks_for_millis(KEYFRAME_MS),
            delay_ticks: tick_rate.ticks_for_millis(millis),
            last: None,
            last_key: Tick(0),
            events_from: 0,
            held: VecDeque::new(),
            recording: None,
            active: false,
        }
    }

    /// The broadcast events the feed still needs (`None` when nobody watches and nothing records).
    pub(super) fn events_needed_from(&self) -> Option<u64> {
        self.active.then_some(self.events_from)
    }
}

impl Room {
    /// Produces this tick's feed frame, if one is due, and releases the frames whose delay is over.
    pub(super) fn run_feed(&mut self) {
        let tick = self.world.tick_number();
        let feed = &mut self.feed;
        feed.active = feed.recording.is_some() || feed.shared.spectators() > 0;
        if !feed.active {
            // Nobody watches and nothing records: rest; the next frame is a keyframe, carrying the
            // events from the first tick someone watches.
            feed.events_from = self.events.end();
            if feed.last.is_some() {
                feed.last = None;
                feed.held.clear();
                feed.shared.restart();
            }
        } else if tick.0 % feed.interval == 0 {
            self.encode_feed_frame(tick);
        }
        let feed = &mut self.feed;
        while feed
            .held
            .front()
            .is_some_and(|frame| frame.tick.plus(feed.delay_ticks) <= tick)
        {
            if let Some(frame) = feed.held.pop_front() {
                if let Some(recording) = feed.recording.as_mut() {
                    recording.frame(frame.tick, frame.keyframe, &frame.bytes);
                }
                feed.shared.release(frame);
            }
        }
    }

    /// The room has closed: records the frames still held for the delay.
    pub(super) fn close_feed(&mut self) {
        let feed = &mut self.feed;
        if let Some(recording) = feed.recording.as_mut() {
            for frame in feed.held.drain(..) {
                recording.frame(frame.tick, frame.keyframe, &frame.bytes);
            }
        }
        feed.shared.close();
    }

    /// Encodes the feed frame of `tick` and puts it in the delay queue.
    fn encode_feed_frame(&mut self, tick: Tick) {
        if self.frame.tick() != tick {
            let common = tick.0.checked_sub(self.snapshot_interval()).map(Tick);
            self.frame.capture(&self.world, common);
        }
        let feed = &self.feed;
        // (A recording that lost a frame resumes at the next keyframe: spectators' frames never
        // depend on how far behind the replay writer is.)
        let mut baseline = match feed.last {
            Some(last) if tick.since(feed.last_key) < feed.keyframe_ticks => Some(last),
            _ => None,
        };
        let upto = self.write_feed_events(baseline.is_none());
        self.out.clear();
        if !self
            .frame
            .write_everything(&self.world, baseline, &self.event_bytes, &mut self.out)
        {
            // The baseline's frame is forgotten: start over with a keyframe.
            baseline = None;
            let upto = self.write_feed_events(true);
            self.out.clear();
            self.frame
                .write_everything(&self.world, None, &self.event_bytes, &mut self.out);
            self.feed.events_from = upto;
        } else {
            self.feed.events_from = upto;
        }
        let keyframe = baseline.is_none();
        let frame = FeedFrame {
            tick,
            keyframe,
            bytes: Bytes::copy_from_slice(&self.out),
        };
        self.metrics.feed_frames.fetch_add(1, Relaxed);
        let feed = &mut self.feed;
        feed.last = Some(tick);
        if keyframe {
            feed.last_key = tick;
        }
        feed.held.push_back(frame);
    }

    /// Encodes the feed's events into `event_bytes`: on a keyframe the roster and the leaderboard
    /// first, then the broadcast events since the last frame, within the event budget. Returns the
    /// sequence number the frame's broadcast events reach.
    fn write_feed_events(&mut self, keyframe: bool) -> u64 {
        self.event_bytes.clear();
        if keyframe {
            let roster = super::events::encode(&GameEvent::Roster(self.roster()));
            let leaderboard =
                super::events::encode(&GameEvent::Leaderboard(self.leaderboard.clone()));
            self.event_bytes.extend_from_slice(&roster);
            self.event_bytes.extend_from_slice(&leaderboard);
        }
        let mut upto = self.feed.events_from.max(self.events.first());
        for (seq, event) in self.events.since(upto) {
            if !fits_budget(
                self.event_bytes.len(),
                event.len(),
                EVENT_BYTES_PER_SNAPSHOT,
            ) {
                break;
            }
            self.event_bytes.extend_from_slice(event);
            upto = seq + 1;
        }
        upto
    }
}

#[cfg(test)]
mod tests;
