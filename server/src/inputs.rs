//! One player's buffered inputs, and the rule that picks the input each tick applies.
//!
//! A client stamps each input with the server tick it is for ([`InputFrame::tick`]) and sends it
//! early enough to arrive before that tick; the buffer holds it until the room runs the tick. In the
//! step that produces tick `T`:
//! - a stamped input is *due* when its tick is `T` or earlier, or when it is stamped more than the
//!   horizon (about a second of ticks) past `T`: a clock that far off is broken, and its inputs must
//!   neither wait long nor block the buffer;
//! - the newest due input (the last to arrive: sessions pass inputs on in increasing sequence) is
//!   applied, and every input that arrived before it leaves the buffer with it. Those stamped for a
//!   tick before `T`, the applied one included, arrived after their tick: they are *late*. Any other
//!   that leaves unapplied was *overtaken* (stamped for the same tick, or for a later one when the
//!   client's ticks went backwards: its newer input wins);
//! - inputs stamped for a later tick wait;
//! - unstamped inputs (`Tick(0)`: test clients, fuzzers, old clients) keep the first rule the server
//!   had: one per tick, in the order they came. An unstamped input means "now", so the stamped
//!   inputs that arrived before it are due too.
//!
//! Because the applied input is always the newest of those that leave, the sequence number the room
//! acknowledges never goes back, and every input at or below it has either been applied or never
//! will be: a client's reconciliation may replay exactly the inputs after it.

use skirmish_shared::protocol::InputFrame;
use skirmish_shared::time::Tick;
use std::collections::VecDeque;

/// What one tick takes from an [`InputBuffer`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// The input to apply this tick, if one is due.
    pub input: Option<InputFrame>,
    /// Stamped inputs that left the buffer after their tick had passed (the applied one included).
    pub late: u32,
    /// Inputs that left the buffer unapplied without being late (overtaken by a newer one).
    pub overtaken: u32,
}

/// A bounded queue of one player's inputs, in the order they arrived.
#[derive(Debug)]
pub struct InputBuffer {
    inputs: VecDeque<InputFrame>,
    capacity: usize,
}

impl InputBuffer {
    /// An empty buffer holding at most `capacity` inputs (at least one).
    pub fn new(capacity: usize) -> InputBuffer {
        InputBuffer {
            inputs: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Inputs waiting.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// Whether no input is waiting.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Buffers an input. Returns `false` if the buffer was full and its oldest input was dropped to
    /// make room (so a flooding client delays only itself).
    pub fn push(&mut self, input: InputFrame) -> bool {
        let dropped = self.inputs.len() >= self.capacity;
        if dropped {
            self.inputs.pop_front();
        }
        self.inputs.push_back(input);
        !dropped
    }

    /// Takes what the step producing tick `step` applies (see the module docs). Inputs stamped more
    /// than `horizon` ticks past `step` count as due now.
    pub fn take(&mut self, step: Tick, horizon: u32) -> Taken {
        let far = step.plus(horizon);
        let due = |input: &InputFrame| input.tick <= step || input.tick > far;
        let chosen = match self.inputs.iter().position(|i| i.tick == Tick(0)) {
            // Unstamped at the front: one per tick, in order.
            Some(0) => Some(0),
            // Stamped inputs before an unstamped one are due now; the newest of them applies.
            Some(unstamped) => Some(unstamped - 1),
            None => self.inputs.iter().rposition(due),
        };
        let Some(chosen) = chosen else {
            return Taken::default();
        };
        let mut taken = Taken::default();
        for (index, input) in self.inputs.drain(..=chosen).enumerate() {
            if input.tick != Tick(0) && input.tick < step {
                taken.late += 1;
            } else if index != chosen {
                taken.overtaken += 1;
            }
            if index == chosen {
                taken.input = Some(input);
            }
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HORIZON: u32 = 60;

    fn input(seq: u32, tick: u32) -> InputFrame {
        InputFrame {
            seq,
            tick: Tick(tick),
            ..InputFrame::default()
        }
    }

    /// The sequence number applied at each step from `from` through `to`, and the late and overtaken
    /// counts over them.
    fn run(buffer: &mut InputBuffer, from: u32, to: u32) -> (Vec<Option<u32>>, u32, u32) {
        let (mut applied, mut late, mut overtaken) = (Vec::new(), 0, 0);
        for step in from..=to {
            let taken = buffer.take(Tick(step), HORIZON);
            applied.push(taken.input.map(|i| i.seq));
            late += taken.late;
            overtaken += taken.overtaken;
        }
        (applied, late, overtaken)
    }

    #[test]
    fn stamped_inputs_wait_for_their_tick() {
        let mut buffer = InputBuffer::new(32);
        for (seq, tick) in [(1, 103), (2, 104), (3, 106)] {
            buffer.push(input(seq, tick));
        }
        let (applied, late, overtaken) = run(&mut buffer, 101, 107);
        assert_eq!(
            applied,
            [None, None, Some(1), Some(2), None, Some(3), None],
            "each at its own tick; none at 105 (the player keeps its input)"
        );
        assert_eq!((late, overtaken), (0, 0));
        assert!(buffer.is_empty());
    }

    #[test]
    fn the_newest_due_input_wins_and_the_others_are_late() {
        let mut buffer = InputBuffer::new(32);
        for (seq, tick) in [(1, 98), (2, 99), (3, 100), (4, 101)] {
            buffer.push(input(seq, tick));
        }
        let taken = buffer.take(Tick(100), HORIZON);
        assert_eq!(taken.input.map(|i| i.seq), Some(3));
        assert_eq!(taken.late, 2, "98 and 99 came after their ticks");
        assert_eq!(taken.overtaken, 0);
        assert_eq!(buffer.len(), 1, "101 waits");
        // A late input alone is still applied (the newest the player sent), and counted.
        let mut buffer = InputBuffer::new(32);
        buffer.push(input(7, 90));
        let taken = buffer.take(Tick(100), HORIZON);
        assert_eq!((taken.input.map(|i| i.seq), taken.late), (Some(7), 1));
    }

    #[test]
    fn two_inputs_for_one_tick_keep_the_newer() {
        let mut buffer = InputBuffer::new(32);
        buffer.push(input(1, 100));
        buffer.push(input(2, 100));
        let taken = buffer.take(Tick(100), HORIZON);
        assert_eq!(taken.input.map(|i| i.seq), Some(2));
        assert_eq!((taken.late, taken.overtaken), (0, 1));
    }

    #[test]
    fn unstamped_inputs_apply_one_per_tick_in_order() {
        let mut buffer = InputBuffer::new(32);
        for seq in 1..=3 {
            buffer.push(input(seq, 0));
        }
        let (applied, late, overtaken) = run(&mut buffer, 50, 53);
        assert_eq!(applied, [Some(1), Some(2), Some(3), None]);
        assert_eq!((late, overtaken), (0, 0));
    }

    #[test]
    fn an_unstamped_input_makes_the_stamped_ones_before_it_due() {
        let mut buffer = InputBuffer::new(32);
        buffer.push(input(1, 120));
        buffer.push(input(2, 121));
        buffer.push(input(3, 0));
        buffer.push(input(4, 130));
        let (applied, late, overtaken) = run(&mut buffer, 100, 102);
        assert_eq!(applied, [Some(2), Some(3), None], "then 4 waits for 130");
        assert_eq!((late, overtaken), (0, 1));
        assert_eq!(buffer.len(), 1);
    }

    #[test]
    fn hostile_stamps_neither_block_nor_stall() {
        // Far ahead: due at once.
        let mut buffer = InputBuffer::new(32);
        buffer.push(input(1, u32::MAX));
        assert_eq!(
            buffer.take(Tick(100), HORIZON).input.map(|i| i.seq),
            Some(1)
        );
        buffer.push(input(2, 100 + HORIZON + 1));
        assert_eq!(
            buffer.take(Tick(100), HORIZON).input.map(|i| i.seq),
            Some(2)
        );
        // Within the horizon: waits.
        buffer.push(input(3, 100 + HORIZON));
        assert_eq!(buffer.take(Tick(100), HORIZON).input, None);
        // Going backwards: the newer input (4, for 101) overtakes the older (3, for 160).
        buffer.push(input(4, 101));
        let taken = buffer.take(Tick(101), HORIZON);
        assert_eq!(taken.input.map(|i| i.seq), Some(4));
        assert_eq!((taken.late, taken.overtaken), (0, 1));
        assert!(
            buffer.is_empty(),
            "nothing older than the applied input is left"
        );
        // The last tick there is, and tick 1 at the end of time.
        buffer.push(input(5, u32::MAX));
        assert_eq!(
            buffer.take(Tick(u32::MAX), HORIZON).input.map(|i| i.seq),
            Some(5)
        );
        buffer.push(input(6, 1));
        let taken = buffer.take(Tick(u32::MAX), u32::MAX);
        assert_eq!((taken.input.map(|i| i.seq), taken.late), (Some(6), 1));
    }

    #[test]
    fn the_applied_sequence_never_goes_back() {
        // Whatever the stamps, an input applied after another has a higher sequence number, and
        // nothing older than an applied input is ever applied later.
        let mut state = 0x9E37_79B9_u32;
        let mut next = |bound: u32| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state % bound
        };
        let mut buffer = InputBuffer::new(8);
        let (mut seq, mut last_applied) = (0, 0);
        for step in 1_000..3_000u32 {
            for _ in 0..next(3) {
                seq += 1;
                let tick = match next(6) {
                    0 => 0,
                    1 => u32::MAX - next(3),
                    2 => step.saturating_sub(next(20)),
                    _ => step + next(2 * HORIZON),
                };
                buffer.push(input(seq, tick));
            }
            let taken = buffer.take(Tick(step), HORIZON);
            if let Some(applied) = taken.input {
                assert!(
                    applied.seq > last_applied,
                    "{} after {last_applied}",
                    applied.seq
                );
                last_applied = applied.seq;
            }
            assert!(buffer.len() <= 8);
            assert!(
                buffer.inputs.iter().all(|i| i.seq > last_applied),
                "only newer inputs wait"
            );
        }
        assert!(last_applied > 0);
    }

    #[test]
    fn a_full_buffer_drops_its_oldest() {
        let mut buffer = InputBuffer::new(4);
        for seq in 1..=6 {
            assert_eq!(buffer.push(input(seq, 0)), seq <= 4);
        }
        assert_eq!(buffer.take(Tick(1), HORIZON).input.map(|i| i.seq), Some(3));
    }
}
