//! The client's clocks: its estimate of the server's tick, kept in sync by pings and snapshots
//! ([`TickClock`]), and the clock its inputs are stamped by, which runs ahead of that estimate so each
//! input reaches the server before its tick ([`InputClock`]).
//!
//! Each pong gives a sample: the server's tick when it answered, plus half the round trip. The estimate
//! is `local_ms * rate + offset`; the offset moves toward each sample smoothly, and jumps when it is far
//! off (at start, or after a stall). Each pong also updates the smoothed round trip and its mean
//! deviation (as TCP's retransmission timer does), which set how far ahead inputs must be sent.
//!
//! Time is passed in as milliseconds (`f64`) from any fixed origin; nothing here reads a clock.

use std::iter::StepBy;
use std::ops::Range;

/// Weight of one new sample in the offset, once a few samples have come in (the first ones are
/// averaged evenly, so the estimate settles within seconds of joining).
const SAMPLE_WEIGHT: f64 = 0.1;

/// Samples further than this many ticks from the estimate replace it.
const RESET_TICKS: f64 = 30.0;

/// Round-trip time smoothing weight.
const RTT_WEIGHT: f64 = 0.2;

/// Smoothing weight of the round trip's mean deviation (TCP's RTTVAR uses 1/4).
const DEVIATION_WEIGHT: f64 = 0.25;

/// Pongs taken at the quick cadence after joining: until then a client pings every
/// [`QUICK_PING_MS`], then every [`PING_MS`]. The first seconds matter: the estimate and the jitter
/// margin start as guesses (the margin from a deviation of half the first round trip), and at one
/// ping a second the margin took about ten seconds to come down, drawing remote players later
/// relative to the own inputs (a longer view lag, more to rewind) all that while.
pub const QUICK_PINGS: u32 = 8;

/// Milliseconds between pings while the clock is learning (the server allows a burst of pings and a
/// few a second; see `limits.rs` in the server).
pub const QUICK_PING_MS: f64 = 250.0;

/// Milliseconds between pings once the clock has learned.
pub const PING_MS: f64 = 1_000.0;

/// Server tick estimate and round-trip time.
#[derive(Debug, Clone)]
pub struct TickClock {
    ticks_per_ms: f64,
    offset: Option<f64>,
    /// Pong samples taken into the offset so far (they set its weight while few).
    samples: u32,
    rtt_ms: Option<f64>,
    /// Mean deviation of the round-trip samples from the smoothed round trip.
    rtt_deviation_ms: Option<f64>,
}

impl TickClock {
    /// A clock for a server running at `tick_rate` Hz.
    pub fn new(tick_rate: u16) -> TickClock {
        TickClock {
            ticks_per_ms: f64::from(tick_rate.max(1)) / 1000.0,
            offset: None,
            samples: 0,
            rtt_ms: None,
            rtt_deviation_ms: None,
        }
    }

    fn sample(&mut self, now_ms: f64, server_tick: f64, weight: f64) {
        let offset = server_tick - now_ms * self.ticks_per_ms;
        self.offset = Some(match self.offset {
            Some(old) if (old - offset).abs() < RESET_TICKS => old + (offset - old) * weight,
            _ => offset,
        });
    }

    /// A pong for a ping sent at `sent_ms`, answered at server tick `tick`, arrived at `now_ms`.
    pub fn on_pong(&mut self, sent_ms: f64, now_ms: f64, tick: u32) {
        let rtt = (now_ms - sent_ms).max(0.0);
        if !rtt.is_finite() {
            return;
        }
        match (self.rtt_ms, self.rtt_deviation_ms) {
            (Some(smoothed), Some(deviation)) => {
                self.rtt_deviation_ms =
                    Some(deviation + ((rtt - smoothed).abs() - deviation) * DEVIATION_WEIGHT);
                self.rtt_ms = Some(smoothed + (rtt - smoothed) * RTT_WEIGHT);
            }
            _ => {
                // Nothing known of the jitter yet: assume much of it, and learn less from there.
                self.rtt_ms = Some(rtt);
                self.rtt_deviation_ms = Some(rtt / 2.0);
            }
        }
        self.samples = self.samples.saturating_add(1);
        let weight = (1.0 / f64::from(self.samples)).max(SAMPLE_WEIGHT);
        self.sample(
            now_ms,
            f64::from(tick) + rtt / 2.0 * self.ticks_per_ms,
            weight,
        );
    }

    /// A snapshot for `tick` arrived at `now_ms`. Used before the first pong, and to recover from a
    /// clock that drifted far.
    pub fn on_snapshot(&mut self, now_ms: f64, tick: u32) {
        let one_way = self.rtt_ms.unwrap_or(0.0) / 2.0 * self.ticks_per_ms;
        let sample = f64::from(tick) + one_way;
        let far = self
            .estimate(now_ms)
            .is_none_or(|estimate| (estimate - sample).abs() >= RESET_TICKS);
        if far {
            self.sample(now_ms, sample, 1.0);
        }
    }

    /// The estimated server tick now (fractional), once any sample has arrived.
    pub fn estimate(&self, now_ms: f64) -> Option<f64> {
        self.offset
            .map(|offset| now_ms * self.ticks_per_ms + offset)
    }

    /// How long to wait before the next ping, ms: [`QUICK_PING_MS`] for the first
    /// [`QUICK_PINGS`] pongs, then [`PING_MS`].
    pub fn ping_interval_ms(&self) -> f64 {
        if self.samples < QUICK_PINGS {
            QUICK_PING_MS
        } else {
            PING_MS
        }
    }

    /// The smoothed round-trip time.
    pub fn rtt_ms(&self) -> Option<f64> {
        self.rtt_ms
    }

    /// The mean deviation of the round-trip samples from the smoothed round trip: the jitter.
    pub fn rtt_deviation_ms(&self) -> Option<f64> {
        self.rtt_deviation_ms
    }

    /// Ticks in `ms` milliseconds.
    pub fn ticks_in(&self, ms: f64) -> f64 {
        ms * self.ticks_per_ms
    }
}

/// Mean deviations of the round trip in the input clock's jitter margin. An input is late when its
/// trip up exceeds half the round trip by more than the margin; half the difference of the two
/// trips is what varies, and two deviations of their sum cover it with room (at 150 ms ±20 ms the
/// feel bots sent 0.1-0.2 late inputs a minute with two, 0-0.03 with three, and three drew
/// targets 10 ms further in the past of each shot for lag compensation to make up).
pub const MARGIN_DEVIATIONS: f64 = 2.0;

/// Ticks added to the jitter margin: the server's tick in a pong is the last one it completed (it is
/// up to a tick further on), so the estimate trails the server by up to a tick.
pub const MARGIN_TICKS: f64 = 1.0;

/// Smoothing weight of the send delay (how long after a tick is due its input goes out).
const SEND_DELAY_WEIGHT: f64 = 0.1;

/// Send delays above this (ms) are not learned: a stall, not the client's cadence.
const MAX_SEND_DELAY_MS: f64 = 100.0;

/// The largest jitter margin, ms.
pub const MAX_MARGIN_MS: f64 = 250.0;

/// The largest lead over the server estimate, ms: well inside the second of ticks past which the
/// server stops waiting for an input's tick.
pub const MAX_LEAD_MS: f64 = 750.0;

/// The most the input clock runs faster or slower than real time while it closes on the wanted lead.
/// The own avatar's predicted motion speeds up or slows down as much, so this stays small.
pub const MAX_DILATION: f64 = 0.05;

/// Dilation per tick the input clock is off the wanted lead (it reaches [`MAX_DILATION`] at 2.5
/// ticks; below that it closes a gap with a time constant of about 50 ticks).
const DILATION_PER_TICK: f64 = 0.02;

/// Further than this many ticks from the wanted lead, the input clock jumps instead of closing the
/// gap smoothly (skipping or repeating tick numbers): at start, after the server estimate reset, or
/// when the round trip changed a lot at once.
pub const JUMP_TICKS: f64 = 10.0;

/// The most input ticks one [`InputClock::advance`] hands out: after a stall (a hidden browser tab)
/// the older ticks due are skipped, their time has passed at the server anyway.
pub const MAX_BURST: u32 = 8;

/// The clock a client stamps its inputs by: one input per tick number, each number handed out when
/// the clock reaches it. It runs ahead of the [`TickClock`] estimate of the server's tick by the
/// wanted lead, half the round trip plus a margin, so each input reaches the server before the
/// server runs its tick. The margin is [`MARGIN_DEVIATIONS`] mean deviations of the round trip and
/// [`MARGIN_TICKS`], plus the client's own send delay: a client that advances the clock once a
/// display frame sends a tick's input up to a frame after the tick is due, and the clock learns how
/// long (a client that wakes when [`InputClock::ms_until_next`] says adds nothing).
///
/// When the wanted lead changes (the round trip or its jitter changed) the clock closes on it by
/// running up to [`MAX_DILATION`] faster or slower than real time: tick numbers stay consecutive,
/// only their spacing changes. It jumps only when [`JUMP_TICKS`] off or after a stall.
///
/// A client that sends fewer inputs than there are ticks (a load-test bot at 30 inputs a second
/// against 60 ticks) asks for a stride: every `stride`-th tick number is handed out, and only those
/// count toward its send delay.
#[derive(Debug, Clone)]
pub struct InputClock {
    ticks_per_ms: f64,
    /// Tick numbers between two handed out (1: every one).
    stride: u32,
    /// The clock's position in (fractional) ticks and the local time it was at, once started.
    position: Option<(f64, f64)>,
    /// The last tick number handed out.
    issued: u32,
    /// The smoothed delay from a tick being due to its input being handed out, and its mean
    /// deviation, ms.
    send_delay: Option<(f64, f64)>,
}

impl InputClock {
    /// An input clock for a server running at `tick_rate` Hz, started by the first
    /// [`InputClock::advance`] that has a round trip to go by.
    pub fn new(tick_rate: u16) -> InputClock {
        InputClock::with_stride(tick_rate, 1)
    }

    /// An input clock that hands out every `stride`-th tick number (at least every one).
    pub fn with_stride(tick_rate: u16, stride: u32) -> InputClock {
        InputClock {
            ticks_per_ms: f64::from(tick_rate.max(1)) / 1000.0,
            stride: stride.max(1),
            position: None,
            issued: 0,
            send_delay: None,
        }
    }

    /// The jitter margin for `clock`'s round trips and this client's send delay, ms (`None` before
    /// the first pong).
    pub fn margin_ms(&self, clock: &TickClock) -> Option<f64> {
        let deviation = clock.rtt_deviation_ms()?;
        let tick_ms = 1.0 / self.ticks_per_ms;
        let margin = MARGIN_DEVIATIONS * deviation + MARGIN_TICKS * tick_ms + self.send_delay_ms();
        Some(margin.min(MAX_MARGIN_MS))
    }

    /// How long after a tick is due its input goes out, at most (as learned; the mean plus two
    /// mean deviations, the top of a uniform spread), ms.
    pub fn send_delay_ms(&self) -> f64 {
        self.send_delay
            .map_or(0.0, |(mean, deviation)| mean + 2.0 * deviation)
    }

    fn learn_send_delay(&mut self, ms: f64) {
        self.send_delay = Some(match self.send_delay {
            Some((mean, deviation)) => (
                mean + (ms - mean) * SEND_DELAY_WEIGHT,
                deviation + ((ms - mean).abs() - deviation) * SEND_DELAY_WEIGHT,
            ),
            None => (ms, 0.0),
        });
    }

    /// The lead wanted over `clock`'s estimate, ms: half the round trip plus the margin.
    pub fn wanted_lead_ms(&self, clock: &TickClock) -> Option<f64> {
        let lead = clock.rtt_ms()? / 2.0 + self.margin_ms(clock)?;
        Some(lead.min(MAX_LEAD_MS))
    }

    /// Advances the clock to `now_ms` and returns the tick numbers due, oldest first: send one input
    /// stamped with each. Empty until `clock` has an estimate and a round trip.
    pub fn advance(&mut self, now_ms: f64, clock: &TickClock) -> StepBy<Range<u32>> {
        let stride = self.stride as usize;
        let none = (0..0).step_by(stride);
        let (Some(estimate), Some(lead_ms)) = (clock.estimate(now_ms), self.wanted_lead_ms(clock))
        else {
            return none;
        };
        let target = estimate + lead_ms * self.ticks_per_ms;
        if !target.is_finite() {
            return none;
        }
        let mut stalled = false;
        let position = match self.position {
            Some((position, at)) => {
                stalled = now_ms - at > MAX_SEND_DELAY_MS;
                let elapsed = (now_ms - at).max(0.0) * self.ticks_per_ms;
                let drift = target - (position + elapsed);
                if drift.abs() > JUMP_TICKS {
                    target
                } else {
                    let speed =
                        1.0 + (drift * DILATION_PER_TICK).clamp(-MAX_DILATION, MAX_DILATION);
                    position + elapsed * speed
                }
            }
            None => {
                // Start so that the tick the clock is in is handed out at once.
                self.issued = (target.floor() as u32).saturating_sub(self.stride);
                target
            }
        };
        let position = position.clamp(0.0, f64::from(u32::MAX));
        self.position = Some((position, now_ms));
        let newest = position.floor() as u32;
        if newest < self.issued {
            // Jumped back: the numbers from here on are handed out again (the server lets a newer
            // input overtake the older ones still waiting for their ticks).
            self.issued = newest.saturating_sub(self.stride);
        }
        // Due: issued + stride, issued + 2 stride, ... up to the newest (the last MAX_BURST).
        let count = (newest - self.issued) / self.stride;
        if count == 0 {
            return none;
        }
        let last = self.issued + count * self.stride;
        let first = last - (count.min(MAX_BURST) - 1) * self.stride;
        self.issued = last;
        if !stalled {
            // The oldest tick handed out became due this long ago.
            let delay = (position - f64::from(first)) / self.ticks_per_ms;
            self.learn_send_delay(delay.clamp(0.0, MAX_SEND_DELAY_MS));
        }
        (first..last.saturating_add(1)).step_by(stride)
    }

    /// How far the clock is into the stride after the last tick handed out (0..=1): the own avatar
    /// is drawn that far from its previous predicted tick to its latest.
    pub fn fraction(&self) -> f64 {
        self.position.map_or(1.0, |(position, _)| {
            ((position - f64::from(self.issued)) / f64::from(self.stride)).clamp(0.0, 1.0)
        })
    }

    /// Where the clock stood at the last [`InputClock::advance`], in (fractional) ticks: the local
    /// tick the own avatar and its own shots are drawn at (`None` before the clock started).
    pub fn position(&self) -> Option<f64> {
        self.position.map(|(position, _)| position)
    }

    /// Milliseconds from the last [`InputClock::advance`] until the next tick is due at real-time
    /// speed (`None` before the clock started): when a client that is not frame-driven should call
    /// it next.
    pub fn ms_until_next(&self) -> Option<f64> {
        let (position, _) = self.position?;
        let next = f64::from(self.issued) + f64::from(self.stride);
        Some(((next - position) / self.ticks_per_ms).max(0.0))
    }

    /// The lead over `clock`'s estimate at the last [`InputClock::advance`], ms.
    pub fn lead_ms(&self, clock: &TickClock) -> Option<f64> {
        let (position, at) = self.position?;
        Some((position - clock.estimate(at)?) / self.ticks_per_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pongs_set_and_refine_the_estimate() {
        let mut clock = TickClock::new(60);
        assert_eq!(clock.estimate(0.0), None);
        // Ping at 1000 ms, pong for tick 600 at 1100 ms: the server is at 600 + 3 ticks at 1100 ms.
        clock.on_pong(1_000.0, 1_100.0, 600);
        assert_eq!(clock.rtt_ms(), Some(100.0));
        let estimate = clock.estimate(1_100.0).expect("set");
        assert!((estimate - 603.0).abs() < 1e-9);
        // One second later the estimate has advanced 60 ticks.
        assert!((clock.estimate(2_100.0).expect("set") - 663.0).abs() < 1e-9);
        // A sample two ticks off moves the estimate a little, not all the way.
        clock.on_pong(2_000.0, 2_100.0, 662);
        let moved = clock.estimate(2_100.0).expect("set");
        assert!(moved > 663.0 && moved < 665.0, "{moved}");
        // A snapshot far from the estimate (a stall) resets it.
        clock.on_snapshot(2_100.0, 900);
        assert!((clock.estimate(2_100.0).expect("set") - 903.0).abs() < 1e-6);
    }

    #[test]
    fn the_round_trips_deviation_is_learned() {
        let mut clock = TickClock::new(60);
        let mut sent = 0.0;
        for rtt in [
            100.0, 120.0, 80.0, 120.0, 80.0, 120.0, 80.0, 120.0, 80.0, 120.0, 80.0,
        ] {
            clock.on_pong(sent, sent + rtt, 600);
            sent += 1_000.0;
        }
        let deviation = clock.rtt_deviation_ms().expect("learned");
        assert!((10.0..30.0).contains(&deviation), "{deviation}");
        for _ in 0..30 {
            clock.on_pong(sent, sent + 100.0, 600);
            sent += 1_000.0;
        }
        let steady = clock.rtt_deviation_ms().expect("learned");
        assert!(steady < 0.1, "no jitter, no deviation: {steady}");
        assert!((clock.rtt_ms().expect("learned") - 100.0).abs() < 1.0);
    }

    #[test]
    fn input_ticks_are_consecutive_and_start_at_the_lead() {
        let mut clock = TickClock::new(60);
        let mut inputs = InputClock::new(60);
        let due = |inputs: &mut InputClock, clock: &TickClock, now: f64| -> Vec<u32> {
            inputs.advance(now, clock).collect()
        };
        assert_eq!(due(&mut inputs, &clock, 0.0), [], "no estimate yet");
        clock.on_snapshot(0.0, 600);
        assert_eq!(due(&mut inputs, &clock, 10.0), [], "no round trip yet");
        clock.on_pong(0.0, 100.0, 603);
        let lead = inputs.wanted_lead_ms(&clock).expect("known");
        // Half the round trip, two deviations of 50 ms, one tick.
        assert!(
            (lead - (50.0 + 100.0 + 1000.0 / 60.0)).abs() < 1e-9,
            "{lead}"
        );
        let expected = (606.0 + lead * 0.06).floor() as u32;
        assert_eq!(
            due(&mut inputs, &clock, 100.0),
            [expected],
            "the tick the clock is in, at once"
        );
        // Frames of 7 ms: every number once, in order.
        let mut next = expected + 1;
        let mut now = 100.0;
        for _ in 0..500 {
            now += 7.0;
            let ticks = due(&mut inputs, &clock, now);
            assert!(ticks.len() <= 1, "{ticks:?}");
            if let Some(&tick) = ticks.first() {
                assert_eq!(tick, next);
                next += 1;
            }
            assert!((0.0..=1.0).contains(&inputs.fraction()));
        }
        // After a stall of two seconds, only the last few ticks are handed out.
        let ticks = due(&mut inputs, &clock, now + 2_000.0);
        assert_eq!(ticks.len() as u32, MAX_BURST);
        assert!(ticks[0] > next + 100);
        assert!(ticks.windows(2).all(|pair| pair[1] == pair[0] + 1));
    }

    #[test]
    fn a_stride_hands_out_every_nth_tick_and_learns_only_their_delay() {
        let mut clock = TickClock::new(60);
        clock.on_snapshot(0.0, 600);
        clock.on_pong(0.0, 100.0, 603);
        let mut every_other = InputClock::with_stride(60, 2);
        let mut ticks = Vec::new();
        let mut now = 100.0;
        while now < 2_100.0 {
            ticks.extend(every_other.advance(now, &clock));
            // Wake when the next one is due, as a bot does (to the millisecond).
            now += every_other
                .ms_until_next()
                .expect("running")
                .ceil()
                .max(1.0);
        }
        assert!((59..=61).contains(&ticks.len()), "{}", ticks.len());
        assert!(
            ticks.windows(2).all(|pair| pair[1] == pair[0] + 2),
            "{ticks:?}"
        );
        assert!(
            every_other.send_delay_ms() < 2.0,
            "woken on time: {} ms",
            every_other.send_delay_ms()
        );
        assert!((0.0..=1.0).contains(&every_other.fraction()));
    }

    /// A deterministic source of uniform numbers for the simulations (xorshift64*).
    struct Dice(u64);

    impl Dice {
        fn uniform(&mut self, low: f64, high: f64) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
            low + (high - low) * (bits as f64 / (1u64 << 53) as f64)
        }
    }

    /// One direction of a link: a one-way delay of `latency_ms` ± `jitter_ms`, delivered in order
    /// (like TCP, jitter only stretches the gaps; nothing overtakes).
    struct Line<T> {
        latency_ms: f64,
        jitter_ms: f64,
        last_due: f64,
        queue: std::collections::VecDeque<(f64, T)>,
    }

    impl<T> Line<T> {
        fn new(latency_ms: f64, jitter_ms: f64) -> Line<T> {
            Line {
                latency_ms,
                jitter_ms,
                last_due: 0.0,
                queue: Default::default(),
            }
        }

        fn send(&mut self, now: f64, item: T, dice: &mut Dice) {
            let delay = self.latency_ms + dice.uniform(-self.jitter_ms, self.jitter_ms);
            let due = (now + delay).max(self.last_due);
            self.last_due = due;
            self.queue.push_back((due, item));
        }

        fn next_due(&self) -> f64 {
            self.queue.front().map_or(f64::INFINITY, |(due, _)| *due)
        }

        fn pop(&mut self) -> Option<(f64, T)> {
            self.queue.pop_front()
        }
    }

    /// What a simulated minute of play measured after its warm-up.
    #[derive(Debug)]
    struct Played {
        inputs: u32,
        late: u32,
        /// Mean lead of the input clock over the server's real tick, ms.
        lead_ms: f64,
        /// The clock's wanted lead and margin at the end, ms.
        wanted_lead_ms: f64,
        margin_ms: f64,
        /// The mean round trip the link gave, ms.
        rtt_ms: f64,
        /// Ticks handed out that were not one more than the last.
        gaps: u32,
    }

    /// Plays a minute: a server at 60 Hz sending a snapshot every other tick and answering pings, a
    /// client sending one stamped input per tick from an [`InputClock`] advanced every `frame_ms`,
    /// pinging every second, over `latency_ms` ± `jitter_ms` each way. Counts inputs that reach the
    /// server after it ran their tick, once `warm_up_ms` has passed.
    fn play(latency_ms: f64, jitter_ms: f64, frame_ms: f64, seed: u64) -> Played {
        const WARM_UP_MS: f64 = 5_000.0;
        const END_MS: f64 = 60_000.0;
        let tick_ms = 1000.0 / 60.0;
        let mut dice = Dice(seed);
        // The server ran tick `first_tick` at time `phase`, and one more every tick_ms.
        let (first_tick, phase) = (5_000.0, dice.uniform(0.0, tick_ms));
        let step_time = |tick: u32| phase + (f64::from(tick) - first_tick) * tick_ms;
        let completed = |t: f64| first_tick + ((t - phase) / tick_ms).floor();
        let mut up: Line<(bool, u32, f64)> = Line::new(latency_ms, jitter_ms); // (ping?, tick, sent)
        let mut down: Line<(bool, u32, f64)> = Line::new(latency_ms, jitter_ms);
        let mut clock = TickClock::new(60);
        let mut inputs = InputClock::new(60);
        let (mut next_frame, mut next_ping) = (0.0_f64, 0.0_f64);
        let mut next_snapshot_tick = first_tick as u32 + 2;
        let mut played = Played {
            inputs: 0,
            late: 0,
            lead_ms: 0.0,
            wanted_lead_ms: 0.0,
            margin_ms: 0.0,
            rtt_ms: 0.0,
            gaps: 0,
        };
        let (mut lead_sum, mut lead_samples, mut rtt_sum, mut rtts) = (0.0, 0u32, 0.0, 0u32);
        let mut last_issued = None;
        loop {
            let snapshot_at = step_time(next_snapshot_tick);
            let now = next_frame
                .min(next_ping)
                .min(snapshot_at)
                .min(up.next_due())
                .min(down.next_due());
            if now > END_MS {
                break;
            }
            if now == up.next_due() {
                let Some((arrived, (ping, tick, sent))) = up.pop() else {
                    break;
                };
                if ping {
                    down.send(arrived, (true, completed(arrived) as u32, sent), &mut dice);
                } else if arrived > WARM_UP_MS {
                    played.inputs += 1;
                    // Late if the server had already run the step producing its tick.
                    if arrived >= step_time(tick) {
                        played.late += 1;
                    }
                }
            } else if now == down.next_due() {
                let Some((arrived, (pong, tick, sent))) = down.pop() else {
                    break;
                };
                if pong {
                    clock.on_pong(sent, arrived, tick);
                    if arrived > WARM_UP_MS {
                        rtt_sum += arrived - sent;
                        rtts += 1;
                    }
                } else {
                    clock.on_snapshot(arrived, tick);
                }
            } else if now == snapshot_at {
                down.send(now, (false, next_snapshot_tick, now), &mut dice);
                next_snapshot_tick += 2;
            } else if now == next_ping {
                up.send(now, (true, 0, now), &mut dice);
                next_ping += 1_000.0;
            } else {
                for tick in inputs.advance(now, &clock) {
                    if last_issued.is_some_and(|last| tick != last + 1) {
                        played.gaps += 1;
                    }
                    last_issued = Some(tick);
                    up.send(now, (false, tick, now), &mut dice);
                }
                if now > WARM_UP_MS {
                    if let Some((position, _)) = inputs.position {
                        let server = first_tick + (now - phase) / tick_ms;
                        lead_sum += (position - server) * tick_ms;
                        lead_samples += 1;
                    }
                }
                next_frame += frame_ms;
            }
        }
        played.lead_ms = lead_sum / f64::from(lead_samples.max(1));
        played.rtt_ms = rtt_sum / f64::from(rtts.max(1));
        played.wanted_lead_ms = inputs.wanted_lead_ms(&clock).unwrap_or(0.0);
        played.margin_ms = inputs.margin_ms(&clock).unwrap_or(0.0);
        played
    }

    #[test]
    fn inputs_arrive_before_their_tick_at_150_ms_with_jitter() {
        let tick_ms = 1000.0 / 60.0;
        for (jitter_ms, frame_ms, seed) in [
            (10.0, 1.0, 1),
            (20.0, 1.0, 2),
            (20.0, tick_ms, 3),
            (20.0, 1000.0 / 144.0, 4),
        ] {
            let played = play(75.0, jitter_ms, frame_ms, seed);
            eprintln!("±{jitter_ms} ms, frames of {frame_ms:.1} ms: {played:?}");
            assert!(played.inputs > 3_000, "{played:?}");
            assert!(
                played.late * 1000 <= played.inputs,
                "at most one in a thousand late: {played:?}"
            );
            assert_eq!(played.gaps, 0, "no tick number skipped or repeated");
            // The lead over the server's real tick is near half the round trip plus the margin
            // (the estimate trails the server by up to a tick: pongs carry the last completed one).
            let expected = played.rtt_ms / 2.0 + played.margin_ms;
            assert!(
                (played.lead_ms - expected).abs() < 1.5 * tick_ms,
                "lead {} ms, expected about {expected} ms: {played:?}",
                played.lead_ms
            );
            assert!(
                played.margin_ms > tick_ms + jitter_ms / 2.0,
                "a margin for the jitter: {played:?}"
            );
        }
    }

    #[test]
    fn without_jitter_the_margin_shrinks_to_about_a_tick() {
        let tick_ms = 1000.0 / 60.0;
        let jittery = play(75.0, 20.0, 1.0, 7);
        let steady = play(75.0, 0.0, 1.0, 7);
        eprintln!("steady: {steady:?}");
        assert_eq!(steady.late, 0, "{steady:?}");
        assert!(steady.margin_ms < 1.2 * tick_ms, "{steady:?}");
        assert!(steady.margin_ms < jittery.margin_ms - 10.0);
        assert!(steady.lead_ms < jittery.lead_ms - 10.0);
        assert!((steady.wanted_lead_ms - (75.0 + steady.margin_ms)).abs() < 1.0);
    }

    /// Drives a clock with pongs every second over a link without jitter whose round trip is
    /// `rtt_at(t)`, advancing the input clock every millisecond for `until_ms`; returns each tick
    /// handed out with the time it was, and the clocks at the end.
    fn follow(
        rtt_at: impl Fn(f64) -> f64,
        until_ms: f64,
    ) -> (Vec<(u32, f64)>, TickClock, InputClock) {
        let tick_ms = 1000.0 / 60.0;
        let server = |t: f64| 1_000.0 + t / tick_ms;
        let mut clock = TickClock::new(60);
        let mut inputs = InputClock::new(60);
        let mut handed = Vec::new();
        let mut t = 0.0;
        while t < until_ms {
            if t % 1_000.0 == 0.0 {
                let rtt = rtt_at(t);
                clock.on_pong(t - rtt, t, server(t - rtt / 2.0).floor() as u32);
            }
            for tick in inputs.advance(t, &clock) {
                handed.push((tick, t));
            }
            t += 1.0;
        }
        (handed, clock, inputs)
    }

    #[test]
    fn a_changed_lead_is_reached_by_dilating_time_not_skipping_ticks() {
        let tick_ms = 1000.0 / 60.0;
        // The round trip grows from 100 to 160 ms after 20 s (when the clock has long settled).
        let (handed, clock, inputs) =
            follow(|t| if t < 20_000.0 { 100.0 } else { 160.0 }, 40_000.0);
        for pair in handed.windows(2) {
            let ((a, at), (b, bt)) = (pair[0], pair[1]);
            assert_eq!(b, a + 1, "consecutive at {bt} ms");
            if at > 2_000.0 {
                // Never more than the dilation allows (to the millisecond the test steps by).
                let spacing = bt - at;
                assert!(
                    spacing >= tick_ms / (1.0 + MAX_DILATION) - 1.0
                        && spacing <= tick_ms / (1.0 - MAX_DILATION) + 1.0,
                    "{spacing} ms between ticks at {bt} ms"
                );
            }
        }
        // The clock ran faster for a while: more ticks than real time in the seconds after.
        let count = |from: f64, to: f64| {
            handed
                .iter()
                .filter(|(_, t)| (from..to).contains(t))
                .count()
        };
        assert!(
            (299..=301).contains(&count(15_000.0, 20_000.0)),
            "steady before"
        );
        assert!(count(20_000.0, 25_000.0) > 302, "faster after the change");
        let lead = inputs.lead_ms(&clock).expect("running");
        let wanted = inputs.wanted_lead_ms(&clock).expect("known");
        assert!(
            (lead - wanted).abs() < 0.25 * tick_ms,
            "{lead} against {wanted}"
        );
        assert!((clock.rtt_ms().expect("known") - 160.0).abs() < 1.0);
    }

    #[test]
    fn a_lead_far_off_is_jumped_to() {
        let tick_ms = 1000.0 / 60.0;
        // The round trip grows from 100 to 900 ms at once after 20 s.
        let (handed, clock, inputs) =
            follow(|t| if t < 20_000.0 { 100.0 } else { 900.0 }, 50_000.0);
        let skips: Vec<_> = handed
            .windows(2)
            .filter(|pair| pair[1].0 != pair[0].0 + 1)
            .map(|pair| (pair[0].0, pair[1].0, pair[1].1))
            .collect();
        assert!(!skips.is_empty(), "skipped ahead");
        assert!(
            skips
                .iter()
                .all(|&(a, b, t)| b > a + JUMP_TICKS as u32 && t >= 20_000.0),
            "only far jumps, after the change: {skips:?}"
        );
        let lead = inputs.lead_ms(&clock).expect("running");
        let wanted = inputs.wanted_lead_ms(&clock).expect("known");
        assert!(
            (lead - wanted).abs() < 0.5 * tick_ms,
            "{lead} against {wanted}"
        );
        assert!(wanted <= MAX_LEAD_MS);
    }
}
