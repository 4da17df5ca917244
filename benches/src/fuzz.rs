//! A small mutation fuzzer for every decoder, on stable Rust (cargo-fuzz needs a nightly toolchain
//! that these machines cannot fetch).
//!
//! Each target starts from a corpus of valid encodings and feeds the decoder random mutations (bit
//! flips, byte changes, insertions, deletions, truncations, splices and random bytes). It checks that
//! nothing panics and that whatever decodes re-encodes to a message that decodes to itself.

use skirmish_shared::codec::{decode_client, decode_server, encode_client, encode_server};
use skirmish_shared::fixed::Pos;
use skirmish_shared::map::Map;
use skirmish_shared::physics::{Dir, MoveParams};
use skirmish_shared::protocol::*;
use skirmish_shared::time::{Tick, TickRate};
use skirmish_shared::view::ClientView;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What can be fuzzed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// `decode_client` (what the server reads from every peer).
    Client,
    /// `decode_server` (what browsers and bots read).
    Server,
    /// `Map::parse` (map files).
    Map,
    /// `ClientView::apply` on decoded snapshots (the client's state machine).
    View,
    /// `replay::Replay::parse`, then playing, seeking and listing what parses (replay files).
    Replay,
}

/// The result of a run.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Inputs tried.
    pub cases: u64,
    /// Inputs that decoded (or parsed, or applied) successfully.
    pub accepted: u64,
    /// Inputs that made the code under test panic or break its round trip (the first is kept).
    pub failures: u64,
    /// The first failing input.
    pub first_failure: Option<Vec<u8>>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn arena() -> Map {
    Map::parse(include_str!("../../assets/maps/arena.map")).unwrap_or_else(|e| panic!("arena: {e}"))
}

fn client_corpus() -> Vec<Vec<u8>> {
    [
        ClientMsg::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            name: "fuzz".into(),
            resume_token: Some(ResumeToken([7; 16])),
            rate: 0,
            room: Some("K7MPQR".into()),
            watch: true,
        }),
        ClientMsg::Input(InputFrame {
            seq: 77,
            move_x: -1,
            move_y: 1,
            aim: 4321,
            buttons: buttons::FIRE,
            ..InputFrame::default()
        }),
        ClientMsg::Chat {
            text: "héllo ✓".into(),
        },
        ClientMsg::Ping {
            nonce: 99,
            acked_tick: 7,
            proof: 3,
        },
        ClientMsg::Leave,
        ClientMsg::RequestFullSnapshot,
    ]
    .iter()
    .map(encode_client)
    .collect()
}

/// A full snapshot (entities enter) or, with a baseline, a delta on it (updates and a removal).
fn sample_snapshot(tick: u32, baseline: Option<u32>) -> Snapshot {
    let full = Snapshot {
        tick: Tick(tick),
        proof: 0,
        baseline: baseline.map(Tick),
        ack_input_seq: 5,
        entered: vec![
            EntityState::Player(PlayerState {
                id: EntityId(2),
                motion: WireMotion {
                    age: 3,
                    pos: Pos::new(5_000, 5_000),
                    dir: Dir::East,
                },
                aim: 100,
                hp: 75,
                status: status::PROTECTED,
            }),
            EntityState::Projectile(ProjectileState {
                id: EntityId(3),
                age: 1,
                launch: Launch::At(Pos::new(6_000, 5_000)),
                aim: 16_000,
            }),
            EntityState::Projectile(ProjectileState {
                id: EntityId(5),
                age: 2,
                launch: Launch::Shooter(EntityId(2)),
                aim: 30_000,
            }),
            EntityState::Projectile(ProjectileState {
                id: EntityId(7),
                age: 0,
                launch: Launch::ShooterAim(EntityId(2), -3),
                aim: 0,
            }),
        ],
        updated: vec![PlayerUpdate {
            id: EntityId(2),
            fields: vec![
                PlayerField::Turn {
                    age: 1,
                    dir: Dir::North,
                },
                PlayerField::Aim(7),
                PlayerField::Hp(50),
            ],
        }],
        left: vec![EntityId(3)],
        events: vec![
            GameEvent::Chat {
                from: EntityId(2),
                text: "gg".into(),
            },
            GameEvent::Kill {
                killer: Some(EntityId(2)),
                victim: EntityId(4),
            },
            GameEvent::Notice("restarting soon".into()),
        ],
        check: [0; 4],
    };
    if baseline.is_some() {
        Snapshot {
            entered: Vec::new(),
            ..full
        }
    } else {
        Snapshot {
            updated: Vec::new(),
            left: Vec::new(),
            ..full
        }
    }
}

fn server_corpus() -> Vec<Vec<u8>> {
    [
        ServerMsg::Welcome(Box::new(Welcome {
            player_id: EntityId(2),
            room: RoomId(1),
            room_code: "K7MPQR".into(),
            respawn_delay_ms: 2_000,
            spawn_protection_ms: 1_500,
            tick_rate: 60,
            snapshot_rate: 30,
            view_radius: 10_240,
            map: Map::parse("name: tiny\n###\n#S#\n###").unwrap_or_else(|e| panic!("tiny: {e}")),
            resume_token: ResumeToken([1; 16]),
            spectator_delay_ms: Some(2_000),
        })),
        ServerMsg::Refused {
            reason: RefuseReason::VersionMismatch { server: 2 },
            detail: "old".into(),
        },
        ServerMsg::Snapshot(sample_snapshot(100, None)),
        ServerMsg::Snapshot(sample_snapshot(102, Some(100))),
        ServerMsg::Pong {
            nonce: 1,
            tick: Tick(9),
        },
    ]
    .iter()
    .map(encode_server)
    .collect()
}

/// A replay of a keyframe and two deltas, whole, and cut short inside its last frame.
fn replay_corpus() -> Vec<Vec<u8>> {
    use skirmish_shared::replay::{write_frame, write_header, ReplayHeader};
    let mut file = Vec::new();
    write_header(
        &ReplayHeader {
            protocol_version: PROTOCOL_VERSION,
            room_code: "K7MPQR".into(),
            map: Map::parse("name: tiny\n#####\n#S..#\n#####")
                .unwrap_or_else(|e| panic!("tiny: {e}")),
            tick_rate: 60,
            feed_rate: 20,
            started_unix_ms: 1_764_137_940_000,
            start_tick: Tick(100),
            part: 1,
            players: vec![RosterEntry {
                id: EntityId(2),
                name: "ada".into(),
                bot: false,
            }],
        },
        &mut file,
    );
    for (tick, baseline) in [(100, None), (103, Some(100)), (106, Some(103))] {
        let payload = encode_server(&ServerMsg::Snapshot(sample_snapshot(tick, baseline)));
        write_frame(Tick(tick), baseline.is_none(), &payload, &mut file);
    }
    let cut = file[..file.len() - 3].to_vec();
    vec![file, cut]
}

fn map_corpus() -> Vec<Vec<u8>> {
    vec![
        include_str!("../../assets/maps/arena.map")
            .as_bytes()
            .to_vec(),
        b"; c\nname: x\n#####\n#S.S#\n#####\n".to_vec(),
    ]
}

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    if rng.below(20) == 0 {
        return (0..rng.below(64)).map(|_| rng.next() as u8).collect();
    }
    let mut bytes = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = bytes.len();
        match rng.below(7) {
            0 if len > 0 => bytes[rng.below(len)] ^= 1 << rng.below(8),
            1 if len > 0 => bytes[rng.below(len)] = rng.next() as u8,
            2 => bytes.insert(rng.below(len + 1), rng.next() as u8),
            3 if len > 0 => {
                bytes.remove(rng.below(len));
            }
            4 => bytes.truncate(rng.below(len + 1)),
            5 => {
                let other = &corpus[rng.below(corpus.len())];
                let at = rng.below(other.len() + 1);
                bytes.extend_from_slice(&other[at..]);
            }
            _ if len > 0 => {
                bytes[rng.below(len)] = [0x00, 0x7F, 0x80, 0xFB, 0xFC, 0xFD, 0xFF][rng.below(7)]
            }
            _ => {}
        }
    }
    bytes
}

/// Runs one target for `duration` from `seed`.
pub fn run(target: Target, duration: Duration, seed: u64) -> Outcome {
    let corpus = match target {
        Target::Client => client_corpus(),
        Target::Server | Target::View => server_corpus(),
        Target::Map => map_corpus(),
        Target::Replay => replay_corpus(),
    };
    let map = Arc::new(arena());
    let params = MoveParams::new(TickRate::new(60).unwrap_or_else(|| unreachable!()));
    let mut view = ClientView::new(map, params).with_viewer(EntityId(2), 10_240);
    let mut rng = Rng(seed | 1);
    let mut outcome = Outcome::default();
    let started = Instant::now();
    while started.elapsed() < duration {
        for _ in 0..256 {
            let input = mutate(&mut rng, &corpus);
            let result = catch_unwind(AssertUnwindSafe(|| check(target, &input, &mut view)));
            outcome.cases += 1;
            match result {
                Ok(Ok(true)) => outcome.accepted += 1,
                Ok(Ok(false)) => {}
                Ok(Err(())) | Err(_) => {
                    outcome.failures += 1;
                    outcome.first_failure.get_or_insert(input);
                }
            }
        }
    }
    outcome
}

/// Feeds one input; `Ok(accepted)`, or `Err` when a round trip breaks.
fn check(target: Target, input: &[u8], view: &mut ClientView) -> Result<bool, ()> {
    match target {
        Target::Client => match decode_client(input) {
            Ok(msg) => (decode_client(&encode_client(&msg)).as_ref() == Ok(&msg))
                .then_some(true)
                .ok_or(()),
            Err(_) => Ok(false),
        },
        Target::Server => match decode_server(input) {
            Ok(msg) => (decode_server(&encode_server(&msg)).as_ref() == Ok(&msg))
                .then_some(true)
                .ok_or(()),
            Err(_) => Ok(false),
        },
        Target::Map => Ok(Map::parse(&String::from_utf8_lossy(input)).is_ok()),
        Target::Replay => {
            use skirmish_shared::replay::{Replay, ReplayCursor};
            let Ok(replay) = Replay::parse(input.to_vec()) else {
                return Ok(false);
            };
            // Whatever parses plays (each frame applies or says why not), seeks and lists.
            let mut cursor = ReplayCursor::new(&replay);
            while cursor.step(&replay).is_some() {}
            if let Some((first, last)) = replay.ticks() {
                let _ = cursor.seek(&replay, Tick(first.0 + (last.0 - first.0) / 2), |_| {});
            }
            let _ = replay.players();
            Ok(true)
        }
        Target::View => match decode_server(input) {
            Ok(ServerMsg::Snapshot(snapshot)) => {
                if view.apply(&snapshot).is_err() {
                    view.reset();
                    return Ok(false);
                }
                Ok(true)
            }
            _ => Ok(false),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_survives_a_short_run() {
        for target in [
            Target::Client,
            Target::Server,
            Target::Map,
            Target::View,
            Target::Replay,
        ] {
            let outcome = run(target, Duration::from_millis(400), 42);
            assert!(outcome.cases > 1_000, "{target:?}: {outcome:?}");
            assert!(
                outcome.accepted > 0,
                "{target:?} accepted nothing: the corpus is broken"
            );
            assert_eq!(
                outcome.failures, 0,
                "{target:?}: {:?}",
                outcome.first_failure
            );
        }
    }
}
