//! Snapshot delivery: one message per player per snapshot tick, latest wins.
//!
//! Each seat remembers what its client holds (`confirmed`: the last snapshot its session took) and what
//! the outbox would leave it holding (`pending`). A new snapshot is always a delta against
//! `confirmed`, so when a slow session leaves a snapshot untaken, the next one can replace it and the
//! chain of deltas stays valid. A session that leaves snapshots untaken for longer than the slow-reader
//! timeout is disconnected.
//!
//! Events ride in snapshots, private ones first, then broadcast ones, at most
//! [`EVENT_BYTES_PER_SNAPSHOT`](super::events::EVENT_BYTES_PER_SNAPSHOT) bytes of them in each, so
//! that a snapshot stays within the protocol's message limit however far behind its player is; the
//! rest wait, in order, for the next snapshot. `Pending` records how far a snapshot's events reach,
//! and only what the session took is confirmed.
//!
//! Each seat's snapshots are paced by its byte budget ([`crate::rate`]): a snapshot offered is
//! charged to it, one replaced before the session took it is refunded (it never went out). When the
//! budget is in debt on a seat's turn, no snapshot is built for it; it is due again at the first
//! tick the budget allows, turn or not, and that snapshot is a delta against what the client holds
//! like any other, carrying the events that waited. A seat whose client sees everything has its
//! baseline turned into the ids it stands for when it starts to wait, so a long wait does not outlast
//! the frame history and force a full snapshot.

use super::acks::MAX_LINK_TIME;
use super::events::{event_budget, fits_budget, MAX_EVENT_BACKLOG, MAX_PRIVATE_BACKLOG};
use super::{Pending, Room, Seat};
use crate::link::Disconnect;
use crate::metrics::Metrics;
use crate::snapshot::{Known, View};
use crate::world::PlayerKey;
use bytes::Bytes;
use skirmish_shared::time::Tick;
use std::sync::atomic::Ordering::Relaxed;
use tokio::time::Instant;

impl Room {
    /// Writes and offers the snapshots due this tick: those of this tick's group of seats, and
    /// those of seats that waited for their byte budget and may go now. A group's previous snapshot
    /// was one interval ago, which is the baseline shared updates are encoded against.
    pub(super) fn deliver_snapshots(&mut self, now: Instant) {
        let interval = self.snapshot_interval() as usize;
        let tick = self.world.tick_number();
        let oldest_allowed = self.events.end().saturating_sub(MAX_EVENT_BACKLOG as u64);
        self.collect_due(tick.0 as usize % interval, interval);
        if !self.due.is_empty() {
            let common_baseline = tick.0.checked_sub(interval as u32).map(Tick);
            self.frame.capture(&self.world, common_baseline);
        }
        let due = std::mem::take(&mut self.due);
        for &key in &due {
            let Some(last_offer) = self.settle_last_offer(key, oldest_allowed, now) else {
                continue;
            };
            let Some(last_offer) = self.check_budget(key, last_offer) else {
                continue;
            };
            let events = self.write_events(key);
            let Some(known) = self.write_snapshot(key) else {
                continue;
            };
            self.offer_snapshot(key, tick, known, events, last_offer, now);
        }
        self.due = due;
        self.trim_delivered_events(oldest_allowed);
    }

    /// Refills every seat's byte budget by a tick, and lists in `due` the seats whose snapshot is
    /// due: those of the group on `turn`, and those that waited for their budget and may go now.
    fn collect_due(&mut self, turn: usize, interval: usize) {
        self.due.clear();
        for (key, seat) in self.seats.iter_mut().enumerate() {
            let Some(seat) = seat else { continue };
            seat.budget.refill();
            if key % interval == turn || (seat.deferred && seat.budget.allows()) {
                self.due.push(key);
            }
        }
    }

    /// Whether seat `key`'s budget lets a snapshot go now; if not, the seat waits for its budget
    /// (counted), and `None` is returned. A snapshot may always replace an untaken one: that one was
    /// offered within the budget and never went out, and is refunded when replaced, so the
    /// replacement stays within the budget as well (latest wins, as for any slow socket).
    fn check_budget(&mut self, key: PlayerKey, last_offer: LastOffer) -> Option<LastOffer> {
        let seat = self.seats[key].as_mut()?;
        if matches!(last_offer, LastOffer::Untaken(_)) || seat.budget.allows() {
            seat.deferred = false;
            return Some(last_offer);
        }
        if !seat.deferred {
            seat.deferred = true;
            if let Some(known) = seat.confirmed.as_mut() {
                self.frame.pin(known);
            }
        }
        self.metrics.snapshots_deferred_rate.fetch_add(1, Relaxed);
        None
    }

    /// Settles what the session did with the last snapshot offered to seat `key` (a taken one is
    /// now what the client holds), and disconnects a session that is too slow: one that has left
    /// snapshots untaken, or taken ones unacknowledged, for the slow-reader timeout, or has let its
    /// events pile up. `None` when nothing is to be sent: the seat is empty, held, or just dropped.
    fn settle_last_offer(
        &mut self,
        key: PlayerKey,
        oldest_allowed: u64,
        now: Instant,
    ) -> Option<LastOffer> {
        let timeout = self.config.slow_reader_timeout;
        let seat = self.seats[key]
            .as_mut()
            .filter(|seat| seat.held_until.is_none())?;
        let untaken = seat.link.outbox_pending();
        let last_offer = match seat.pending.take() {
            Some(previous) if untaken => {
                // The session has not taken the last snapshot: the next one replaces it.
                let since = *seat.behind_since.get_or_insert(now);
                if now - since >= timeout {
                    drop_too_slow(seat, &self.metrics);
                    return None;
                }
                LastOffer::Untaken(previous)
            }
            Some(previous) => {
                if let Some(before) = confirm(seat, Some(previous), now) {
                    self.scratch.recycle(before);
                }
                seat.behind_since = None;
                LastOffer::Taken
            }
            None => {
                seat.behind_since = None;
                LastOffer::Taken
            }
        };
        // Taken is not read: a client that stops acknowledging what it took is as slow as one
        // whose socket stalls, however much the kernel buffers for it.
        if seat.acks.overdue(seat.link.acked_tick(), now, timeout)
            || seat.confirmed_events < oldest_allowed
            || seat.private_events.len() > MAX_PRIVATE_BACKLOG
        {
            drop_too_slow(seat, &self.metrics);
            return None;
        }
        Some(last_offer)
    }

    /// Writes seat `key`'s snapshot, a delta against what its client holds (or full, if asked for)
    /// carrying the events [`Room::write_events`] left in `event_bytes`, into `out`; returns what
    /// the client will hold once it is sent.
    fn write_snapshot(&mut self, key: PlayerKey) -> Option<Known> {
        let seat = self.seats[key].as_mut()?;
        let viewer = self
            .world
            .player(key)
            .map_or_else(Default::default, |p| p.pos);
        let baseline = if std::mem::take(&mut seat.force_full) {
            None
        } else {
            seat.confirmed.as_ref()
        };
        self.out.clear();
        let view = View {
            viewer,
            baseline,
            ack_input_seq: seat.ack_input_seq,
            proof: seat.link.proof_for(self.world.tick_number().0),
            events: &self.event_bytes,
        };
        Some(
            self.frame
                .write_for(&self.world, view, &mut self.scratch, &mut self.out),
        )
    }

    /// Offers the snapshot in `out` to seat `key`'s session: into an empty outbox, or in place of
    /// the untaken `last_offer`; once offered, it is the seat's pending snapshot.
    fn offer_snapshot(
        &mut self,
        key: PlayerKey,
        tick: Tick,
        known: Known,
        events: WrittenEvents,
        last_offer: LastOffer,
        now: Instant,
    ) {
        let Some(seat) = self.seats[key].as_mut() else {
            return;
        };
        let message = Bytes::copy_from_slice(&self.out);
        let (offered, previous) = match last_offer {
            LastOffer::Untaken(previous) => (seat.link.replace_if_pending(message), Some(previous)),
            LastOffer::Taken => (seat.link.offer_if_empty(message), None),
        };
        if offered {
            if let Some(replaced) = previous {
                // The replaced snapshot never went out: its bytes go back to the budget.
                self.metrics.snapshots_skipped.fetch_add(1, Relaxed);
                seat.budget.refund(replaced.bytes);
                self.scratch.recycle(replaced.known);
            }
            seat.budget.spend(self.out.len());
            let size = self.out.len() as u64;
            self.metrics
                .snapshot_bytes
                .tally(&mut self.tallies.snapshot_bytes, size);
            seat.pending = Some(Pending {
                tick: tick.0,
                known,
                events_upto: events.events_upto,
                private_count: events.private_count,
                bytes: self.out.len(),
            });
        } else {
            // The session took the old snapshot while this one was being written: the client
            // now holds the old one, and this one (a delta against an older state) is dropped.
            self.metrics.snapshots_skipped.fetch_add(1, Relaxed);
            if let Some(before) = confirm(seat, previous, now) {
                self.scratch.recycle(before);
            }
            self.scratch.recycle(known);
        }
    }

    /// Drops the broadcast events every live seat's client holds, and those older than
    /// `oldest_allowed` (whose laggards have been disconnected).
    fn trim_delivered_events(&mut self, oldest_allowed: u64) {
        let delivered_everywhere = self
            .seats
            .iter()
            .flatten()
            .filter(|seat| seat.held_until.is_none())
            .map(|seat| seat.confirmed_events)
            .chain(self.feed.events_needed_from())
            .min()
            .unwrap_or(self.events.end());
        self.events.trim(delivered_everywhere.max(oldest_allowed));
    }

    /// Encodes as many of a seat's pending events as fit its budget ([`event_budget`]: a second of
    /// its rate, at most [`super::events::EVENT_BYTES_PER_SNAPSHOT`]) into `event_bytes`, in the
    /// order they are delivered: private events first, then broadcast events from its confirmed
    /// position. Broadcast events join only once every private event is in.
    pub(super) fn write_events(&mut self, key: PlayerKey) -> WrittenEvents {
        self.event_bytes.clear();
        let Some(seat) = self.seats[key].as_ref() else {
            return WrittenEvents {
                events_upto: self.events.end(),
                private_count: 0,
            };
        };
        let mut written = WrittenEvents {
            events_upto: seat.confirmed_events,
            private_count: 0,
        };
        let budget = event_budget(seat.budget.rate());
        for event in &seat.private_events {
            if !fits_budget(self.event_bytes.len(), event.len(), budget) {
                return written;
            }
            self.event_bytes.extend_from_slice(event);
            written.private_count += 1;
        }
        for (seq, event) in self.events.since(seat.confirmed_events) {
            if !fits_budget(self.event_bytes.len(), event.len(), budget) {
                break;
            }
            self.event_bytes.extend_from_slice(event);
            written.events_upto = seq + 1;
        }
        written
    }
}

/// What [`Room::write_events`] put into a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WrittenEvents {
    /// The broadcast events before this sequence number are delivered once the snapshot is taken.
    pub events_upto: u64,
    /// How many of the seat's private events (from the front) it carries.
    pub private_count: usize,
}

/// What became of the last snapshot offered to a seat, once settled.
#[derive(Debug)]
enum LastOffer {
    /// The session took it (or there was none): the next snapshot goes into an empty outbox.
    Taken,
    /// It is still in the outbox: the next snapshot replaces it.
    Untaken(Pending),
}

/// Disconnects a seat's session as too slow a reader.
fn drop_too_slow(seat: &Seat, metrics: &Metrics) {
    metrics.slow_reader_kicks.fetch_add(1, Relaxed);
    seat.link.disconnect(Disconnect::TOO_SLOW);
}

/// The session took the pending snapshot: its state is now what the client holds. Its
/// acknowledgement is due from when the client's link, at its rate, can have carried it. Returns
/// what the client held before, for its id list to be reused (`Scratch::recycle`).
fn confirm(seat: &mut Seat, pending: Option<Pending>, now: Instant) -> Option<Known> {
    let pending = pending?;
    let on_the_link = seat.budget.time_to_deliver().min(MAX_LINK_TIME);
    seat.acks.taken(pending.tick, now + on_the_link);
    let before = seat.confirmed.replace(pending.known);
    seat.confirmed_events = pending.events_upto;
    seat.bytes_taken += pending.bytes as u64;
    let delivered = pending.private_count.min(seat.private_events.len());
    seat.private_events.drain(..delivered);
    before
}
