//! Snapshot delivery counted in the room's own ticks, per bot connection (a session), so that the
//! figure means "snapshots received over snapshots the server was due to send" and can never pass
//! 100 %.
//!
//! Why not wall time: the server sends each player one snapshot every `interval` ticks, on its
//! seat's turn, and all the players of a turn get theirs in the same tick. A window of `T` seconds
//! holds `floor(T * hz)` or `floor(T * hz) + 1` of a turn's snapshots depending on where its edges
//! fall, and since every bot of a turn falls the same way the error does not average out over bots:
//! 100 bots over 20 s read 100.07 % on a perfect server. With churn the expected count came from
//! the joined bots sampled once a second, whose sampling error (tenths of a percent with a bot
//! rejoining every few seconds) showed as delivery above 100 % too.
//!
//! Here each window has bounds in each room's ticks: it opens at the newest tick any bot of the
//! room has received (`from`) and closes a whole number of intervals later (`to`), so every turn of
//! the room is due exactly `(to - from) / interval` snapshots in it. A session that joins during the
//! window starts at its first snapshot (the wait from the Welcome to it is a join figure, not lost
//! delivery), and one that ends early stops at the newest tick of its room then, rounded down to a
//! whole number of intervals. Snapshots are counted by their tick, so one that arrives late still
//! counts for the window it belongs to, and a session is never credited with more than it was due
//! (a seat that waited for its byte budget may be sent one off its turn).
//!
//! Ticks alone would hide a server that falls behind: a room that cannot keep up drops ticks, and
//! a dropped tick has no number and sends no snapshot. So each room's window also measures its
//! tick ratio, the ticks it ran (its newest tick at the close less at the open) over the ticks its
//! rate called for in the window's wall time (at most 1), and a session's snapshots due at the
//! room's rate are its due in ticks over that ratio: delivery is what a player got of what it
//! would have got from a room that kept its rate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

/// Where a window of one room began: when, and the newest tick the bots had then.
type Mark = (Instant, u64);

/// A session's due and received in a window, and its room.
type Settled = (Due, Arc<RoomTicks>);

/// How many delivery windows a run keeps at once (see [`Window`]).
pub const WINDOWS: usize = 3;

/// A span of the run over which delivery is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The measured window (`--duration`).
    Main = 0,
    /// A join burst: from its first Hello until every newcomer has joined or failed, and a
    /// second more.
    Burst = 1,
    /// From the end of the burst window to the end of the measured window.
    AfterBurst = 2,
}

/// A bound no tick reaches: the window has not opened (as `from`) or not closed (as `to`).
const UNSET: u64 = u64::MAX;

/// The state of a window (0, the default: not opened yet).
const OPEN: u8 = 1;
const CLOSED: u8 = 2;

/// One room's ticks as the bots saw them, and each window's bounds in them.
#[derive(Debug)]
pub struct RoomTicks {
    /// Ticks between two snapshots of one player (the tick rate over the snapshot rate, as the
    /// server divides them).
    interval: u64,
    /// The room's tick rate.
    tick_hz: u64,
    /// The newest snapshot tick any bot in the room has received.
    newest: AtomicU64,
    /// The first snapshot tick any bot in the room received (0: none yet).
    first: AtomicU64,
    /// When the harness first heard of the room (a Welcome into it).
    seen_at: Instant,
    /// Per window: where it began in this room (`None`: the room was first seen during it; then
    /// it began at `seen_at` and the first tick).
    marks: Mutex<[Option<Mark>; WINDOWS]>,
    /// Per window, once closed: the ticks the room ran over the ticks due at its rate (at most 1).
    tick_ratios: Mutex<[Option<f64>; WINDOWS]>,
    /// Per window: snapshots with ticks above this count ([`UNSET`]: not opened).
    from: [AtomicU64; WINDOWS],
    /// Per window: snapshots with ticks up to this count ([`UNSET`]: not closed).
    to: [AtomicU64; WINDOWS],
}

impl RoomTicks {
    fn new(interval: u64, tick_hz: u64, states: [u8; WINDOWS], now: Instant) -> RoomTicks {
        // A room first seen while a window is open counts from its first tick; one first seen
        // after a window closed has nothing in it.
        let bound = |state: u8, open_value: u64| {
            AtomicU64::new(if state == OPEN { open_value } else { UNSET })
        };
        RoomTicks {
            interval: interval.max(1),
            tick_hz: tick_hz.max(1),
            newest: AtomicU64::new(0),
            first: AtomicU64::new(0),
            seen_at: now,
            marks: Mutex::new([None; WINDOWS]),
            tick_ratios: Mutex::new([None; WINDOWS]),
            from: states.map(|s| bound(s, 0)),
            to: states.map(|s| {
                if s == CLOSED {
                    AtomicU64::new(0)
                } else {
                    AtomicU64::new(UNSET)
                }
            }),
        }
    }

    /// Opens window `w` at `now`, at the newest tick seen.
    fn open(&self, w: usize, now: Instant) {
        let newest = self.newest.load(Relaxed);
        self.from[w].store(newest, Relaxed);
        self.to[w].store(UNSET, Relaxed);
        self.marks.lock().unwrap_or_else(|p| p.into_inner())[w] = Some((now, newest));
    }

    /// Closes window `w` at `now`, at the newest tick seen rounded down to whole intervals after
    /// its start, and measures the room's tick ratio over it.
    fn close(&self, w: usize, now: Instant) {
        let from = self.from[w].load(Relaxed);
        if from == UNSET {
            self.to[w].store(0, Relaxed);
            return;
        }
        let newest = self.newest.load(Relaxed).max(from);
        self.to[w].store(whole_intervals(from, newest, self.interval).0, Relaxed);
        let mark = self.marks.lock().unwrap_or_else(|p| p.into_inner())[w];
        let (began, began_tick) = mark.unwrap_or((self.seen_at, self.first.load(Relaxed)));
        let due = now.saturating_duration_since(began).as_secs_f64() * self.tick_hz as f64;
        let ran = newest.saturating_sub(began_tick) as f64;
        self.tick_ratios.lock().unwrap_or_else(|p| p.into_inner())[w] = Some(tick_ratio(ran, due));
    }

    /// Window `w`'s tick ratio (1 until it closes).
    fn tick_ratio(&self, w: usize) -> f64 {
        self.tick_ratios.lock().unwrap_or_else(|p| p.into_inner())[w].unwrap_or(1.0)
    }
}

/// Ticks run over ticks due, at most 1 (1 when none were due).
pub fn tick_ratio(ran: f64, due: f64) -> f64 {
    if due <= 0.0 {
        1.0
    } else {
        (ran / due).clamp(0.0, 1.0)
    }
}

/// The end of the longest span from `lo` of whole `interval`s that ends at or before `hi`, and how
/// many intervals it holds: every turn of a room is due exactly that many snapshots in `(lo, end]`.
pub fn whole_intervals(lo: u64, hi: u64, interval: u64) -> (u64, u64) {
    let interval = interval.max(1);
    let count = hi.saturating_sub(lo) / interval;
    (lo + count * interval, count)
}

/// What one session was due and received in one window, in snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Due {
    /// Snapshots received (never more than `due`).
    pub received: u64,
    /// Snapshots the server was due to send for the ticks its room ran.
    pub due: u64,
    /// Snapshots it would have been due had its room run every tick its rate called for
    /// (`due` over the room's tick ratio; never less than `due`).
    pub due_at_rate: f64,
}

/// One session's snapshots, counted per window by their ticks.
#[derive(Debug)]
pub struct SessionTicks {
    room: Arc<RoomTicks>,
    /// The tick counting starts after: the session's first snapshot.
    start: Option<u64>,
    /// The room's newest tick at the Welcome (the start of a session that never got a snapshot).
    welcomed_at: u64,
    counted: [u64; WINDOWS],
    last_counted: [u64; WINDOWS],
}

impl SessionTicks {
    /// A session welcomed into the room whose ticks `room` keeps.
    pub fn new(room: Arc<RoomTicks>) -> SessionTicks {
        let welcomed_at = room.newest.load(Relaxed);
        SessionTicks {
            room,
            start: None,
            welcomed_at,
            counted: [0; WINDOWS],
            last_counted: [0; WINDOWS],
        }
    }

    /// A snapshot of `tick` reached the bot. Returns whether it was the session's first.
    pub fn snapshot(&mut self, tick: u64) -> bool {
        self.room.newest.fetch_max(tick, Relaxed);
        if self.room.first.load(Relaxed) == 0 {
            let _ = self.room.first.compare_exchange(0, tick, Relaxed, Relaxed);
        }
        let Some(start) = self.start else {
            self.start = Some(tick);
            return true;
        };
        if tick <= start {
            return false;
        }
        for w in 0..WINDOWS {
            let from = self.room.from[w].load(Relaxed);
            if from != UNSET && tick > from && tick <= self.room.to[w].load(Relaxed) {
                self.counted[w] += 1;
                self.last_counted[w] = tick;
            }
        }
        false
    }

    /// What the session was due and received in window `w`, as it ends now (`None`: the window had
    /// not opened).
    pub fn settle(&self, w: usize) -> Option<Due> {
        let from = self.room.from[w].load(Relaxed);
        if from == UNSET {
            return None;
        }
        let lo = from.max(self.start.unwrap_or(self.welcomed_at));
        let hi = self.room.to[w]
            .load(Relaxed)
            .min(self.room.newest.load(Relaxed));
        let (end, due) = whole_intervals(lo, hi, self.room.interval);
        let mut received = self.counted[w];
        // The part interval after `end` holds at most one of its snapshots, not due in the window.
        if self.last_counted[w] > end {
            received = received.saturating_sub(1);
        }
        Some(Due {
            received: received.min(due),
            due,
            due_at_rate: due as f64,
        })
    }
}

/// What one window gathered from the sessions that were in it.
#[derive(Debug, Clone, Default)]
pub struct WindowLedger {
    /// Per session that was due snapshots in the window.
    pub sessions: Vec<Due>,
    /// Seconds bots were joined during the window, summed over sessions (wall time).
    pub bot_seconds: f64,
}

impl WindowLedger {
    /// Snapshots received over snapshots due at the rooms' rates, all sessions (0 when none were
    /// due): at most 1.
    pub fn delivery(&self) -> f64 {
        let due: f64 = self.sessions.iter().map(|s| s.due_at_rate).sum();
        let received: u64 = self.sessions.iter().map(|s| s.received).sum();
        if due <= 0.0 {
            0.0
        } else {
            received as f64 / due
        }
    }

    /// The same for the ticks the rooms ran: what the server sent of what it was due to send for
    /// them, whether or not it kept its tick rate.
    pub fn delivery_of_ticks_run(&self) -> f64 {
        let due: u64 = self.sessions.iter().map(|s| s.due).sum();
        let received: u64 = self.sessions.iter().map(|s| s.received).sum();
        if due == 0 {
            0.0
        } else {
            received as f64 / due as f64
        }
    }

    /// Each session's snapshots per second (`hz` times its delivery), for sessions due at least
    /// `min_due` snapshots (shorter ones say little about a bot's rate).
    pub fn rates(&self, hz: f64, min_due: u64) -> Vec<f64> {
        self.sessions
            .iter()
            .filter(|s| s.due >= min_due.max(1))
            .map(|s| hz * s.received as f64 / s.due_at_rate)
            .collect()
    }
}

/// The windows of a run and the rooms' ticks: what the sessions count into.
#[derive(Debug, Default)]
pub struct Deliveries {
    states: [AtomicU8; WINDOWS],
    rooms: Mutex<HashMap<String, Arc<RoomTicks>>>,
    /// Per window: when it opened and closed (wall time, for bot-seconds).
    times: Mutex<[(Option<Instant>, Option<Instant>); WINDOWS]>,
    /// Per window: each settled session's due and received, and its room (whose tick ratio is
    /// known once the window closes).
    settled: Mutex<[Vec<Settled>; WINDOWS]>,
    /// Per window: seconds bots were joined, summed.
    bot_seconds: Mutex<[f64; WINDOWS]>,
}

impl Deliveries {
    /// The ticks of the room whose code is `code`, ticking at `tick_hz` with `interval` ticks
    /// between a player's snapshots.
    pub fn room(&self, code: &str, interval: u64, tick_hz: u64) -> Arc<RoomTicks> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms
            .entry(code.to_string())
            .or_insert_with(|| {
                Arc::new(RoomTicks::new(
                    interval,
                    tick_hz,
                    std::array::from_fn(|w| self.states[w].load(Relaxed)),
                    Instant::now(),
                ))
            })
            .clone()
    }

    /// Opens `window` now in every room.
    pub fn open(&self, window: Window, now: Instant) {
        let w = window as usize;
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        self.states[w].store(OPEN, Relaxed);
        for room in rooms.values() {
            room.open(w, now);
        }
        self.times.lock().unwrap_or_else(|p| p.into_inner())[w] = (Some(now), None);
    }

    /// Closes `window` now in every room.
    pub fn close(&self, window: Window, now: Instant) {
        let w = window as usize;
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        self.states[w].store(CLOSED, Relaxed);
        for room in rooms.values() {
            room.close(w, now);
        }
        self.times.lock().unwrap_or_else(|p| p.into_inner())[w].1 = Some(now);
    }

    /// A session joined at `joined` ends at `now`: what it was due and received goes into each
    /// window it was in.
    pub fn settle(&self, session: &SessionTicks, joined: Instant, now: Instant) {
        let times = *self.times.lock().unwrap_or_else(|p| p.into_inner());
        let mut settled = self.settled.lock().unwrap_or_else(|p| p.into_inner());
        let mut bot_seconds = self.bot_seconds.lock().unwrap_or_else(|p| p.into_inner());
        for w in 0..WINDOWS {
            let Some(due) = session.settle(w) else {
                continue;
            };
            if due.due > 0 {
                settled[w].push((due, session.room.clone()));
            }
            if let (Some(opened), closed) = times[w] {
                let end = closed.map_or(now, |closed| closed.min(now));
                bot_seconds[w] += end
                    .saturating_duration_since(joined.max(opened))
                    .as_secs_f64();
            }
        }
    }

    /// What `window` gathered so far (every session settles when it ends; read it once the window
    /// has closed, when its rooms' tick ratios are known).
    pub fn ledger(&self, window: Window) -> WindowLedger {
        let w = window as usize;
        let settled = self.settled.lock().unwrap_or_else(|p| p.into_inner());
        WindowLedger {
            sessions: settled[w]
                .iter()
                .map(|(due, room)| Due {
                    due_at_rate: due.due as f64 / room.tick_ratio(w).max(1e-6),
                    ..*due
                })
                .collect(),
            bot_seconds: self.bot_seconds.lock().unwrap_or_else(|p| p.into_inner())[w],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// What a session of a room that kept its rate was due and received.
    fn due(received: u64, due: u64) -> Due {
        Due {
            received,
            due,
            due_at_rate: due as f64,
        }
    }

    /// A room with two turns (interval 2) where turn `phase` gets ticks `phase, phase + 2, ...`.
    fn room(deliveries: &Deliveries) -> Arc<RoomTicks> {
        deliveries.room("ROOM", 2, 60)
    }

    #[test]
    fn whole_intervals_round_down() {
        assert_eq!(whole_intervals(100, 111, 2), (110, 5));
        assert_eq!(whole_intervals(100, 110, 2), (110, 5));
        assert_eq!(whole_intervals(100, 99, 2), (100, 0));
        assert_eq!(whole_intervals(7, 10, 1), (10, 3));
    }

    /// The old figure was snapshots received over the window's seconds times the snapshot rate.
    /// Two turns of bots at 30 Hz (60 Hz ticks, tick `t` made at `t / 60` s), a window of 20.002 s
    /// from just before tick 1,002 to just after tick 2,202: turn 0 (even ticks) got 601 snapshots
    /// in it and turn 1 (odd) 600, so it read 100.07 % on a perfect server, as the capacity table's
    /// first row did. In ticks, each bot was due 600 and received 600.
    #[test]
    fn a_window_whose_edges_fall_badly_reads_100_percent_not_more() {
        let deliveries = Deliveries::default();
        let room = room(&deliveries);
        let mut bots: Vec<SessionTicks> = (0..4).map(|_| SessionTicks::new(room.clone())).collect();
        // Before the window: each bot has its first snapshot.
        for (i, bot) in bots.iter_mut().enumerate() {
            bot.snapshot(1_000 + i as u64 % 2);
        }
        let start = Instant::now();
        deliveries.open(Window::Main, start);
        let mut received = [0u64; 4];
        for tick in 1_002..=2_202u64 {
            for (i, bot) in bots.iter_mut().enumerate() {
                if tick % 2 == i as u64 % 2 {
                    bot.snapshot(tick);
                    received[i] += 1;
                }
            }
        }
        let old = received.iter().sum::<u64>() as f64 / 4.0 / (20.002 * 30.0);
        assert!(old > 1.0005, "the old figure {old}");
        let end = start + Duration::from_millis(20_002);
        deliveries.close(Window::Main, end);
        for bot in &bots {
            deliveries.settle(bot, start - Duration::from_secs(1), end);
        }
        let ledger = deliveries.ledger(Window::Main);
        assert_eq!(ledger.sessions.len(), 4);
        assert!(ledger.sessions.iter().all(|s| *s == due(600, 600)));
        assert_eq!(ledger.delivery(), 1.0);
        assert_eq!(ledger.rates(30.0, 30), vec![30.0; 4]);
        assert!((ledger.bot_seconds - 4.0 * 20.002).abs() < 1e-6);
    }

    #[test]
    fn lost_snapshots_show_and_late_ones_count_for_their_window() {
        let deliveries = Deliveries::default();
        let room = room(&deliveries);
        let mut steady = SessionTicks::new(room.clone());
        let mut lossy = SessionTicks::new(room.clone());
        steady.snapshot(10);
        lossy.snapshot(11);
        deliveries.open(Window::Main, Instant::now());
        for tick in 12..=51u64 {
            if tick % 2 == 0 && tick < 50 {
                steady.snapshot(tick);
            } else if tick % 2 == 1 && tick % 10 != 3 {
                // The lossy bot misses one in five.
                lossy.snapshot(tick);
            }
        }
        // The window closes at the room's newest, 51: it is (11, 51].
        deliveries.close(Window::Main, Instant::now());
        // A snapshot of a tick inside the window arriving after it closed still counts; one after
        // it does not.
        steady.snapshot(50);
        steady.snapshot(52);
        lossy.snapshot(53);
        let now = Instant::now();
        deliveries.settle(&steady, now, now);
        deliveries.settle(&lossy, now, now);
        let ledger = deliveries.ledger(Window::Main);
        // 20 of each turn's ticks in the window.
        assert_eq!(ledger.sessions[0], due(20, 20));
        assert_eq!(ledger.sessions[1], due(16, 20));
        assert!((ledger.delivery() - 0.9).abs() < 1e-12);
    }

    /// With churn, a player joins and leaves within the window: it is due snapshots from its first
    /// one until the room's newest when it left, in whole intervals, and an off-turn snapshot (a
    /// seat that waited for its byte budget) never lifts it above what it was due.
    #[test]
    fn a_player_who_comes_and_goes_is_due_what_its_stay_held() {
        let deliveries = Deliveries::default();
        let room = room(&deliveries);
        let mut incumbent = SessionTicks::new(room.clone());
        incumbent.snapshot(100);
        deliveries.open(Window::Main, Instant::now());
        let mut newcomer = SessionTicks::new(room.clone());
        // The newcomer's first snapshot (tick 121) starts its count; then 123, an off-turn 124,
        // 125, 127; it leaves when the room's newest is 128.
        for tick in 101..=128u64 {
            if tick % 2 == 0 {
                incumbent.snapshot(tick);
            }
            if tick >= 121 && (tick % 2 == 1 || tick == 124) {
                newcomer.snapshot(tick);
            }
        }
        let now = Instant::now();
        deliveries.settle(&newcomer, now, now);
        let ledger = deliveries.ledger(Window::Main);
        assert_eq!(ledger.sessions, vec![due(3, 3)]);
        // Nothing opened after the session ended: it is not in that window.
        assert_eq!(newcomer.settle(Window::Burst as usize), None);
    }

    #[test]
    fn a_room_first_seen_in_a_window_counts_from_its_start_and_after_it_not_at_all() {
        let deliveries = Deliveries::default();
        deliveries.open(Window::Main, Instant::now());
        let mut early = SessionTicks::new(deliveries.room("EARLY", 1, 60));
        for tick in 1..=11 {
            early.snapshot(tick);
        }
        deliveries.close(Window::Main, Instant::now());
        let mut late = SessionTicks::new(deliveries.room("LATE", 1, 60));
        for tick in 1..=11 {
            late.snapshot(tick);
        }
        assert_eq!(early.settle(Window::Main as usize), Some(due(10, 10)));
        assert_eq!(late.settle(Window::Main as usize), None);
    }

    /// A room that falls behind drops ticks, and a dropped tick sends nothing: in ticks its
    /// players got everything, but at the room's rate they got 90 %.
    #[test]
    fn a_room_that_drops_ticks_delivers_less_than_its_rate() {
        let deliveries = Deliveries::default();
        let room = room(&deliveries);
        let mut bot = SessionTicks::new(room.clone());
        bot.snapshot(1_000);
        let start = Instant::now();
        deliveries.open(Window::Main, start);
        // 10 s at 60 Hz call for 600 ticks; the room ran 540.
        for tick in (1_002..=1_540).step_by(2) {
            bot.snapshot(tick);
        }
        let end = start + Duration::from_secs(10);
        deliveries.close(Window::Main, end);
        deliveries.settle(&bot, start, end);
        let ledger = deliveries.ledger(Window::Main);
        assert_eq!(ledger.sessions[0].received, 270);
        assert_eq!(ledger.sessions[0].due, 270);
        assert!((ledger.delivery_of_ticks_run() - 1.0).abs() < 1e-12);
        assert!(
            (ledger.delivery() - 0.9).abs() < 1e-9,
            "{}",
            ledger.delivery()
        );
        assert!((ledger.rates(30.0, 30)[0] - 27.0).abs() < 1e-9);
        assert_eq!(tick_ratio(5.0, 0.0), 1.0);
        assert_eq!(tick_ratio(61.0, 60.0), 1.0);
    }

    #[test]
    fn a_session_that_never_got_a_snapshot_was_due_them_all() {
        let deliveries = Deliveries::default();
        let room = room(&deliveries);
        let mut other = SessionTicks::new(room.clone());
        other.snapshot(200);
        deliveries.open(Window::Main, Instant::now());
        let silent = SessionTicks::new(room.clone());
        for tick in (202..=240).step_by(2) {
            other.snapshot(tick);
        }
        assert_eq!(silent.settle(Window::Main as usize), Some(due(0, 20)));
    }
}
