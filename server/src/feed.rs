//! A room's broadcast feed, as its spectators' sessions see it: the frames released so far since
//! the last keyframe, and a broadcast channel of the frames after them.
//!
//! The room encodes each feed frame once (`room::feed`), holds it for the spectator delay, then
//! releases it here: the same [`Bytes`] go to every spectator, so a spectator costs the room nothing
//! per frame and costs the server about what its socket costs. A spectator that joins (or falls
//! behind the channel, or asks for a full snapshot) takes the chain (the last keyframe and the deltas
//! since, which together bring a view to the newest frame) and a receiver subscribed at the same
//! moment, under one lock, so no frame is missed or sent twice.

use crate::address::AddressKey;
use bytes::Bytes;
use skirmish_shared::time::Tick;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// One frame of a room's broadcast feed: an encoded `ServerMsg::Snapshot` of the whole room.
#[derive(Debug, Clone)]
pub struct FeedFrame {
    /// The tick it shows.
    pub tick: Tick,
    /// A full snapshot (a spectator may start here) rather than a delta against the frame before.
    pub keyframe: bool,
    /// The encoded message, shared by every spectator.
    pub bytes: Bytes,
}

#[cfg(test)]
impl FeedFrame {
    /// A frame of `tick` whose one byte is the tick (for tests of who is sent what).
    pub(crate) fn for_test(tick: u32, keyframe: bool) -> FeedFrame {
        FeedFrame {
            tick: Tick(tick),
            keyframe,
            bytes: Bytes::from(vec![tick as u8]),
        }
    }
}

#[derive(Debug)]
struct Chain {
    /// The frames released since (and including) the last keyframe.
    frames: Vec<FeedFrame>,
    /// Frames released after `frames`; `None` once the room has closed.
    sender: Option<broadcast::Sender<FeedFrame>>,
}

/// The spectator side of one room's feed.
#[derive(Debug)]
pub struct FeedShared {
    chain: Mutex<Chain>,
    spectators: AtomicUsize,
    max_spectators: usize,
    /// Most spectators from one address (`--max-spectators-per-ip`).
    max_per_address: usize,
    /// Spectators by address.
    addresses: Mutex<HashMap<AddressKey, usize>>,
}

/// Why a spectator was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPlace {
    /// The room has as many spectators as it admits.
    Room,
    /// The address already has as many spectators in the room as one address may.
    Address,
}

/// A spectator's place in a room: counted against the room's cap (and its address's) until dropped.
#[derive(Debug)]
pub struct SpectatorSeat {
    feed: Arc<FeedShared>,
    address: Option<AddressKey>,
}

impl Drop for SpectatorSeat {
    fn drop(&mut self) {
        self.feed.spectators.fetch_sub(1, Ordering::AcqRel);
        if let Some(address) = self.address {
            let mut addresses = self
                .feed
                .addresses
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(count) = addresses.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    addresses.remove(&address);
                }
            }
        }
    }
}

impl SpectatorSeat {
    /// The feed this spectator watches.
    pub fn feed(&self) -> &Arc<FeedShared> {
        &self.feed
    }
}

fn lock(chain: &Mutex<Chain>) -> std::sync::MutexGuard<'_, Chain> {
    chain
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FeedShared {
    /// A feed admitting `max_spectators`, whose channel holds `capacity` frames for a spectator
    /// that has not taken them yet (one that falls further behind starts over from the chain).
    pub fn new(max_spectators: usize, capacity: usize) -> FeedShared {
        let (sender, _) = broadcast::channel(capacity.max(1));
        FeedShared {
            chain: Mutex::new(Chain {
                frames: Vec::new(),
                sender: Some(sender),
            }),
            spectators: AtomicUsize::new(0),
            max_spectators,
            max_per_address: usize::MAX,
            addresses: Mutex::new(HashMap::new()),
        }
    }

    /// The same, admitting at most `max` spectators from one address.
    pub fn per_address(mut self, max: usize) -> FeedShared {
        self.max_per_address = max;
        self
    }

    /// Spectators watching now.
    pub fn spectators(&self) -> usize {
        self.spectators.load(Ordering::Acquire)
    }

    /// Takes a spectator's place for a client at `address` (`None`: unknown, in tests), if the room
    /// and the address have one free.
    pub fn admit(self: &Arc<Self>, address: Option<AddressKey>) -> Result<SpectatorSeat, NoPlace> {
        let mut addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(address) = address {
            if addresses.get(&address).copied().unwrap_or(0) >= self.max_per_address {
                return Err(NoPlace::Address);
            }
        }
        let cap = self.max_spectators;
        self.spectators
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .map_err(|_| NoPlace::Room)?;
        if let Some(address) = address {
            *addresses.entry(address).or_insert(0) += 1;
        }
        Ok(SpectatorSeat {
            feed: self.clone(),
            address,
        })
    }

    /// Room side: sends a frame to every spectator. A keyframe starts the chain anew.
    pub fn release(&self, frame: FeedFrame) {
        let mut chain = lock(&self.chain);
        if chain.sender.is_none() {
            return;
        }
        if frame.keyframe {
            chain.frames.clear();
        }
        if frame.keyframe || !chain.frames.is_empty() {
            chain.frames.push(frame.clone());
        }
        if let Some(sender) = &chain.sender {
            // No receiver is not an error: nobody is watching.
            let _ = sender.send(frame);
        }
    }

    /// Room side: forgets the chain (the feed paused; the next frame released is a keyframe).
    pub fn restart(&self) {
        lock(&self.chain).frames.clear();
    }

    /// Room side: the room has closed. Receivers see the channel close once they have taken what
    /// it holds.
    pub fn close(&self) {
        let mut chain = lock(&self.chain);
        chain.sender = None;
        chain.frames.clear();
    }

    /// Session side: the frames that bring a fresh view to the newest frame released (empty if no
    /// keyframe has been released yet: the first frame received will be one), and a receiver of
    /// every frame after them. `None` once the room has closed.
    pub fn subscribe(&self) -> Option<(Vec<FeedFrame>, broadcast::Receiver<FeedFrame>)> {
        let chain = lock(&self.chain);
        let receiver = chain.sender.as_ref()?.subscribe();
        Some((chain.frames.clone(), receiver))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tick: u32, keyframe: bool) -> FeedFrame {
        FeedFrame::for_test(tick, keyframe)
    }

    #[test]
    fn a_subscriber_gets_the_chain_since_the_last_keyframe_then_every_frame_after() {
        let feed = FeedShared::new(2, 8);
        // Deltas before any keyframe are of no use to a newcomer.
        feed.release(frame(1, false));
        let (chain, _) = feed.subscribe().expect("open");
        assert!(chain.is_empty());
        feed.release(frame(2, true));
        feed.release(frame(3, false));
        let (chain, mut receiver) = feed.subscribe().expect("open");
        let ticks: Vec<u32> = chain.iter().map(|f| f.tick.0).collect();
        assert_eq!(ticks, [2, 3]);
        feed.release(frame(4, false));
        feed.release(frame(5, true));
        assert_eq!(receiver.try_recv().expect("frame").tick, Tick(4));
        assert!(receiver.try_recv().expect("frame").keyframe);
        let (chain, _) = feed.subscribe().expect("open");
        assert_eq!(chain.len(), 1, "a keyframe starts the chain anew");
        feed.close();
        assert!(feed.subscribe().is_none());
        assert!(matches!(
            receiver.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
    }

    #[test]
    fn spectators_are_capped_and_leave_their_place_when_dropped() {
        let feed = Arc::new(FeedShared::new(2, 8));
        let a = feed.admit(None).expect("first");
        let _b = feed.admit(None).expect("second");
        assert_eq!(feed.admit(None).err(), Some(NoPlace::Room), "at the cap");
        assert_eq!(feed.spectators(), 2);
        drop(a);
        assert_eq!(feed.spectators(), 1);
        assert!(feed.admit(None).is_ok());
        // One address takes at most its share of a room's places, and gets them back.
        let feed = Arc::new(FeedShared::new(100, 8).per_address(8));
        let home = AddressKey::of([10, 0, 0, 1].into());
        let seats: Vec<_> = (0..8)
            .map(|_| feed.admit(Some(home)).expect("a place"))
            .collect();
        assert_eq!(feed.admit(Some(home)).err(), Some(NoPlace::Address));
        assert!(feed
            .admit(Some(AddressKey::of([10, 0, 0, 2].into())))
            .is_ok());
        drop(seats);
        assert!(feed.admit(Some(home)).is_ok());
    }
}
