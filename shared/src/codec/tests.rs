use super::*;
use crate::map::Map;
use crate::physics::{Dir, Pos};
use crate::protocol::*;

fn arena() -> Map {
    Map::parse(include_str!("../../../assets/maps/arena.map")).expect("arena is valid")
}

fn sample_snapshot() -> Snapshot {
    Snapshot {
        tick: Tick(123_456),
        proof: 0x5c,
        baseline: Some(Tick(123_454)),
        ack_input_seq: 9_001,
        entered: vec![
            EntityState::Player(PlayerState {
                id: EntityId(7),
                motion: WireMotion {
                    age: 3,
                    pos: Pos::new(12_345, -6),
                    dir: Dir::NorthWest,
                },
                aim: 200,
                hp: 75,
                status: status::PROTECTED,
            }),
            EntityState::Projectile(ProjectileState {
                id: EntityId(70_001),
                age: 1,
                launch: Launch::At(Pos::new(500, 600)),
                aim: 40_000,
            }),
            EntityState::Projectile(ProjectileState {
                id: EntityId(70_003),
                age: 2,
                launch: Launch::Shooter(EntityId(7)),
                aim: 65_535,
            }),
        ],
        updated: vec![PlayerUpdate {
            id: EntityId(8),
            fields: vec![
                PlayerField::Motion(WireMotion {
                    age: 0,
                    pos: Pos::new(1, 2),
                    dir: Dir::Still,
                }),
                PlayerField::Turn {
                    age: 2,
                    dir: Dir::South,
                },
                PlayerField::Aim(1),
                PlayerField::Hp(0),
                PlayerField::Status(status::DEAD),
            ],
        }],
        left: vec![EntityId(3), EntityId(4_000_000_000)],
        events: vec![
            GameEvent::Roster(vec![RosterEntry {
                id: EntityId(7),
                name: "Ada".into(),
                bot: false,
            }]),
            GameEvent::PlayerJoined(RosterEntry {
                id: EntityId(8),
                name: "Grace".into(),
                bot: true,
            }),
            GameEvent::Hit {
                victim: EntityId(8),
                hp: 0,
            },
            GameEvent::PlayerLeft(EntityId(2)),
            GameEvent::Chat {
                from: EntityId(7),
                text: "gg ✓".into(),
            },
            GameEvent::Kill {
                killer: Some(EntityId(7)),
                victim: EntityId(8),
            },
            GameEvent::Leaderboard(vec![ScoreEntry {
                id: EntityId(7),
                score: 3,
                kills: 3,
                deaths: 1,
            }]),
            GameEvent::YourScore(ScoreEntry::default()),
            GameEvent::Notice("maintenance in 5 minutes".into()),
        ],
        check: [0xde, 0xad, 0xbe, 0xef],
    }
}

fn every_client_msg() -> Vec<ClientMsg> {
    vec![
        ClientMsg::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            name: "Ada".into(),
            resume_token: None,
            rate: 0,
            room: None,
            watch: false,
        }),
        ClientMsg::Hello(Hello {
            protocol_version: 99,
            name: "é".repeat(MAX_NAME_CHARS),
            resume_token: Some(ResumeToken([0xAB; 16])),
            rate: 0,
            room: Some("Z".repeat(crate::protocol::ROOM_CODE_CHARS)),
            watch: true,
        }),
        ClientMsg::Input(InputFrame {
            seq: u32::MAX,
            move_x: -1,
            move_y: 1,
            aim: 65_535,
            buttons: buttons::FIRE,
            ..InputFrame::default()
        }),
        ClientMsg::Chat {
            text: "日本".repeat(MAX_CHAT_CHARS / 2),
        },
        ClientMsg::Ping {
            nonce: 42,
            acked_tick: 1_000_000,
            proof: 255,
        },
        ClientMsg::Leave,
        ClientMsg::RequestFullSnapshot,
    ]
}

fn every_server_msg() -> Vec<ServerMsg> {
    vec![
        ServerMsg::Welcome(Box::new(Welcome {
            player_id: EntityId(1),
            room: RoomId(2),
            room_code: "K7MPQR".into(),
            respawn_delay_ms: 2_000,
            spawn_protection_ms: 1_500,
            tick_rate: 60,
            snapshot_rate: 30,
            view_radius: 10_240,
            map: arena(),
            resume_token: ResumeToken([7; 16]),
            spectator_delay_ms: Some(2_000),
        })),
        ServerMsg::Refused {
            reason: RefuseReason::VersionMismatch { server: 1 },
            detail: "server speaks protocol 1".into(),
        },
        ServerMsg::Refused {
            reason: RefuseReason::ServerFull,
            detail: String::new(),
        },
        ServerMsg::Refused {
            reason: RefuseReason::BadResumeToken,
            detail: String::new(),
        },
        ServerMsg::Refused {
            reason: RefuseReason::ExpectedHello,
            detail: String::new(),
        },
        ServerMsg::Refused {
            reason: RefuseReason::AddressLimit,
            detail: String::new(),
        },
        ServerMsg::Refused {
            reason: RefuseReason::RoomFull,
            detail: "room K7MPQR is full".into(),
        },
        ServerMsg::Refused {
            reason: RefuseReason::NoSuchRoom,
            detail: String::new(),
        },
        ServerMsg::Snapshot(sample_snapshot()),
        ServerMsg::Snapshot(Snapshot::default()),
        ServerMsg::Pong {
            nonce: 1,
            tick: Tick(2),
        },
    ]
}

#[test]
fn every_client_message_round_trips() {
    for msg in every_client_msg() {
        let bytes = encode_client(&msg);
        assert!(
            bytes.len() <= MAX_CLIENT_MSG_BYTES,
            "{msg:?} is {} bytes",
            bytes.len()
        );
        assert_eq!(decode_client(&bytes), Ok(msg));
    }
}

#[test]
fn every_server_message_round_trips() {
    for msg in every_server_msg() {
        let bytes = encode_server(&msg);
        assert_eq!(decode_server(&bytes), Ok(msg));
    }
}

#[test]
fn every_truncation_is_rejected() {
    let client = every_client_msg()
        .iter()
        .map(encode_client)
        .collect::<Vec<_>>();
    for bytes in &client {
        for len in 0..bytes.len() {
            assert!(
                decode_client(&bytes[..len]).is_err(),
                "prefix {len} of {bytes:?}"
            );
        }
    }
    for msg in every_server_msg() {
        let bytes = encode_server(&msg);
        for len in 0..bytes.len() {
            assert!(
                decode_server(&bytes[..len]).is_err(),
                "prefix {len} of {msg:?}"
            );
        }
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = encode_client(&ClientMsg::Ping {
        nonce: 5,
        acked_tick: 0,
        proof: 0,
    });
    bytes.extend_from_slice(&[0, 0]);
    assert_eq!(
        decode_client(&bytes),
        Err(CodecError::TrailingBytes { extra: 2 })
    );
    let mut bytes = encode_server(&ServerMsg::Snapshot(sample_snapshot()));
    bytes.push(0);
    assert_eq!(
        decode_server(&bytes),
        Err(CodecError::TrailingBytes { extra: 1 })
    );
}

#[test]
fn oversized_messages_are_rejected_before_decoding() {
    let bytes = vec![0u8; MAX_CLIENT_MSG_BYTES + 1];
    assert_eq!(
        decode_client(&bytes),
        Err(CodecError::TooLarge {
            len: MAX_CLIENT_MSG_BYTES + 1,
            max: MAX_CLIENT_MSG_BYTES
        })
    );
    assert_eq!(decode_client(&[]), Err(CodecError::Empty));
}

#[test]
fn length_prefixes_cannot_claim_more_than_the_limit() {
    // Chat (variant 2) whose string length claims u32::MAX bytes: must fail, not allocate.
    let mut bytes = vec![2u8];
    encode_append(&u64::from(u32::MAX), &mut bytes);
    bytes.extend_from_slice(b"hi");
    assert!(matches!(decode_client(&bytes), Err(CodecError::Invalid(_))));
    // A snapshot claiming 2^40 entered entities.
    let mut bytes = Vec::new();
    encode_append(&2u32, &mut bytes);
    encode_append(&Tick(1), &mut bytes);
    encode_append(&None::<Tick>, &mut bytes);
    encode_append(&0u32, &mut bytes);
    encode_append(&(1u64 << 40), &mut bytes);
    assert!(matches!(decode_server(&bytes), Err(CodecError::Invalid(_))));
}

#[test]
fn invalid_contents_are_rejected() {
    // Unknown ClientMsg variant.
    assert!(matches!(decode_client(&[9]), Err(CodecError::Invalid(_))));
    // Chat with invalid UTF-8.
    assert!(matches!(
        decode_client(&[2, 2, 0xC3, 0x28]),
        Err(CodecError::Invalid(_))
    ));
    // Input with a Dir-free frame is fine, but an unknown Dir in a snapshot is not.
    let mut snapshot = encode_server(&ServerMsg::Snapshot(Snapshot {
        tick: Tick(1),
        updated: vec![PlayerUpdate {
            id: EntityId(1),
            fields: vec![PlayerField::Motion(WireMotion {
                age: 0,
                pos: Pos::new(0, 0),
                dir: Dir::NorthEast,
            })],
        }],
        ..Snapshot::default()
    }));
    let dir_at = snapshot
        .iter()
        .rposition(|&b| b == 8)
        .expect("NorthEast is variant 8");
    snapshot[dir_at] = 9;
    assert!(matches!(
        decode_server(&snapshot),
        Err(CodecError::Invalid(_))
    ));
    // A Welcome whose map does not hold width * height tiles.
    let welcome = encode_server(&every_server_msg()[0]);
    let mut short = welcome.clone();
    short.truncate(welcome.len() - 20);
    assert!(decode_server(&short).is_err());
}

#[test]
fn random_bytes_never_panic() {
    // A small deterministic generator: decoding garbage must fail or succeed, never panic or hang.
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let len = (next() % 64) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = decode_client(&bytes);
        let _ = decode_server(&bytes);
    }
    // Mutations of valid messages: flip one byte at a time.
    for msg in every_server_msg().iter().skip(1) {
        let bytes = encode_server(msg);
        for i in 0..bytes.len() {
            let mut mutated = bytes.clone();
            mutated[i] ^= (next() as u8) | 1;
            if let Ok(decoded) = decode_server(&mutated) {
                assert_eq!(decode_server(&encode_server(&decoded)), Ok(decoded));
            }
        }
    }
}

#[test]
fn spliced_snapshots_match_the_serde_encoding() {
    let snapshot = sample_snapshot();
    // The server writes each id per viewer and splices a body encoded once.
    let mut entered = Vec::new();
    let mut ids = sections::IdGaps::default();
    for state in &snapshot.entered {
        match state {
            EntityState::Player(p) => {
                ids.put_kind(&mut entered, p.id, sections::KIND_PLAYER);
                sections::put_player_body(&mut entered, p);
            }
            EntityState::Projectile(p) => {
                ids.put_kind(&mut entered, p.id, sections::KIND_PROJECTILE);
                sections::put_projectile_body(&mut entered, p);
            }
        }
    }
    let mut updated = Vec::new();
    let mut ids = sections::IdGaps::default();
    for update in &snapshot.updated {
        ids.put(&mut updated, update.id);
        sections::put_update_body(&mut updated, &update.fields);
    }
    let mut left = Vec::new();
    sections::put_left(&mut left, &snapshot.left);
    // Events are packed once each (the room's log) and spliced back to back.
    let events: Vec<Vec<u8>> = snapshot
        .events
        .iter()
        .map(|event| {
            let mut out = Vec::new();
            events::put_event(&mut out, event);
            out
        })
        .collect();
    let mut spliced = Vec::new();
    write_snapshot(
        &mut spliced,
        &SnapshotParts {
            tick: snapshot.tick,
            proof: snapshot.proof,
            baseline: snapshot.baseline,
            ack_input_seq: snapshot.ack_input_seq,
            check: snapshot.check,
            entered: &entered,
            updated: &updated,
            left: &left,
            events: &events.concat(),
        },
    );
    assert_eq!(spliced, encode_server(&ServerMsg::Snapshot(snapshot)));
}

/// A snapshot as the server sends them in a busy arena: ascending ids, even players, odd
/// projectiles, fields in order.
fn arena_snapshot(seed: u64) -> Snapshot {
    let mut random = xorshift(seed | 1);
    let mut next = move |n: u32| (random() % u64::from(n)) as u32;
    let dirs = [
        Dir::Still,
        Dir::East,
        Dir::SouthWest,
        Dir::North,
        Dir::NorthEast,
    ];
    let mut player_ids: Vec<u32> = (0..40).map(|_| 2 + 2 * next(1_000)).collect();
    player_ids.sort_unstable();
    player_ids.dedup();
    let mut shot_ids: Vec<u32> = (0..12).map(|_| 1 + 2 * next(100_000)).collect();
    shot_ids.sort_unstable();
    shot_ids.dedup();
    let mut entered: Vec<EntityState> = player_ids[..5]
        .iter()
        .map(|&id| {
            EntityState::Player(PlayerState {
                id: EntityId(id),
                motion: WireMotion {
                    age: next(200),
                    pos: Pos::new(next(32_768) as i32, next(24_576) as i32),
                    dir: dirs[next(5) as usize],
                },
                aim: next(4_096) as u16,
                hp: next(101) as u8,
                status: next(4) as u8,
            })
        })
        .collect();
    entered.extend(shot_ids.iter().map(|&id| {
        EntityState::Projectile(ProjectileState {
            id: EntityId(id),
            age: next(72),
            launch: match next(3) {
                0 => Launch::At(Pos::new(next(32_768) as i32, next(24_576) as i32)),
                1 => Launch::Shooter(EntityId(player_ids[next(player_ids.len() as u32) as usize])),
                _ => Launch::ShooterAim(
                    EntityId(player_ids[next(player_ids.len() as u32) as usize]),
                    next(16) as i8 - 8,
                ),
            },
            aim: next(65_536) as u16,
        })
    }));
    // The aim of a projectile at its shooter's aim is not sent.
    for state in &mut entered {
        if let EntityState::Projectile(p) = state {
            if matches!(p.launch, Launch::ShooterAim(..)) {
                p.aim = 0;
            }
        }
    }
    let updated = player_ids[5..]
        .iter()
        .map(|&id| {
            let mut fields = Vec::new();
            match next(3) {
                0 => fields.push(PlayerField::Turn {
                    age: next(3),
                    dir: dirs[next(5) as usize],
                }),
                1 => fields.push(PlayerField::Motion(WireMotion {
                    age: next(3),
                    pos: Pos::new(next(32_768) as i32, next(24_576) as i32),
                    dir: dirs[next(5) as usize],
                })),
                _ => {}
            }
            if next(2) == 0 || fields.is_empty() {
                fields.push(PlayerField::Aim(next(4_096) as u16));
            }
            if next(4) == 0 {
                fields.push(PlayerField::Hp(next(101) as u8));
                fields.push(PlayerField::Status(next(4) as u8));
            }
            PlayerUpdate {
                id: EntityId(id),
                fields,
            }
        })
        .collect();
    let mut left: Vec<EntityId> = player_ids[..3]
        .iter()
        .chain(&shot_ids[..4])
        .map(|&id| EntityId(id + 4_000))
        .collect();
    left.sort_unstable_by_key(|id| (id.0 & 1, id.0));
    Snapshot {
        tick: Tick(10_000 + next(100_000)),
        proof: next(256) as u8,
        baseline: Some(Tick(9_998)),
        ack_input_seq: next(100_000),
        check: [1, 2, 3, 4],
        entered,
        updated,
        left,
        events: vec![],
    }
}

#[test]
fn packed_sections_round_trip_and_mean_one_thing() {
    for seed in 1..200 {
        let snapshot = arena_snapshot(seed);
        let bytes = encode_server(&ServerMsg::Snapshot(snapshot.clone()));
        let decoded = decode_server(&bytes).expect("decodes");
        assert_eq!(
            decoded,
            ServerMsg::Snapshot(snapshot.clone()),
            "seed {seed}"
        );
        assert_eq!(encode_server(&decoded), bytes, "seed {seed}");
        // Each section alone, too.
        let mut out = Vec::new();
        sections::put_entered(&mut out, &snapshot.entered);
        assert_eq!(sections::read_entered(&out), Ok(snapshot.entered.clone()));
        out.clear();
        sections::put_updated(&mut out, &snapshot.updated);
        assert_eq!(sections::read_updated(&out), Ok(snapshot.updated.clone()));
        out.clear();
        sections::put_left(&mut out, &snapshot.left);
        assert_eq!(sections::read_left(&out), Ok(snapshot.left.clone()));
    }
}

#[test]
fn packed_sections_keep_any_ids_in_any_order() {
    let ids = [0, 1, 2, 3, u32::MAX, u32::MAX - 1, 7, 6, 1 << 31, 5, 4];
    let left: Vec<EntityId> = ids.iter().map(|&id| EntityId(id)).collect();
    let mut out = Vec::new();
    sections::put_left(&mut out, &left);
    assert_eq!(sections::read_left(&out), Ok(left.clone()));
    let updated: Vec<PlayerUpdate> = left
        .iter()
        .map(|&id| PlayerUpdate { id, fields: vec![] })
        .collect();
    out.clear();
    sections::put_updated(&mut out, &updated);
    assert_eq!(sections::read_updated(&out), Ok(updated));
    // Odd players and even projectiles too: the kind is carried, not guessed from the id.
    let entered: Vec<EntityState> = ids
        .iter()
        .map(|&id| {
            if id % 3 == 0 {
                EntityState::Player(PlayerState {
                    id: EntityId(id),
                    motion: WireMotion {
                        age: u32::MAX,
                        pos: Pos::new(i32::MIN, -1),
                        dir: Dir::NorthEast,
                    },
                    aim: 4_095,
                    hp: u8::MAX,
                    status: u8::MAX,
                })
            } else {
                EntityState::Projectile(ProjectileState {
                    id: EntityId(id),
                    age: u32::MAX,
                    launch: if id % 2 == 0 {
                        Launch::Shooter(EntityId(u32::MAX))
                    } else {
                        Launch::At(Pos::new(i32::MAX, i32::MIN))
                    },
                    aim: u16::MAX,
                })
            }
        })
        .collect();
    out.clear();
    sections::put_entered(&mut out, &entered);
    assert_eq!(sections::read_entered(&out), Ok(entered));
}

#[test]
fn packed_entries_are_small() {
    let mut out = Vec::new();
    // An update of a player 100 ids after the one before: a turn is 2 bytes, an aim 4, both 4.
    let mut ids = sections::IdGaps::default();
    ids.put(&mut out, EntityId(1_000));
    out.clear();
    ids.put(&mut out, EntityId(1_100));
    sections::put_update_body(
        &mut out,
        &[PlayerField::Turn {
            age: 1,
            dir: Dir::West,
        }],
    );
    assert_eq!(out.len(), 2);
    out.clear();
    ids.put(&mut out, EntityId(1_200));
    sections::put_update_body(&mut out, &[PlayerField::Aim(4_000)]);
    assert_eq!(out.len(), 4);
    out.clear();
    ids.put(&mut out, EntityId(1_300));
    let turn_and_aim = [
        PlayerField::Turn {
            age: 3,
            dir: Dir::NorthEast,
        },
        PlayerField::Aim(4_095),
    ];
    sections::put_update_body(&mut out, &turn_and_aim);
    assert_eq!(out.len(), 4);
    // A fresh projectile from a shooter the viewer holds: 6 bytes; from a point: 10.
    let mut ids = sections::IdGaps::default();
    ids.put_kind(&mut out, EntityId(90_001), sections::KIND_PROJECTILE);
    out.clear();
    ids.put_kind(&mut out, EntityId(90_041), sections::KIND_PROJECTILE);
    let mut shot = ProjectileState {
        id: EntityId(90_041),
        age: 2,
        launch: Launch::Shooter(EntityId(1_998)),
        aim: 40_000,
    };
    sections::put_projectile_body(&mut out, &shot);
    assert_eq!(out.len(), 6);
    // At its shooter's aim: 4.
    out.clear();
    ids.put_kind(&mut out, EntityId(90_081), sections::KIND_PROJECTILE);
    shot.launch = Launch::ShooterAim(EntityId(1_998), -8);
    shot.age = 1;
    sections::put_projectile_body(&mut out, &shot);
    assert_eq!(out.len(), 4);
    out.clear();
    shot.launch = Launch::At(Pos::new(30_000, 20_000));
    sections::put_projectile_body(&mut out, &shot);
    assert_eq!(out.len(), 9, "without its id");
}

/// `valid` (bytes `read` accepts) cut anywhere either fails or decodes to what `put` writes back
/// as the cut bytes; with any one byte flipped, it fails or decodes to what round-trips.
fn cut_and_flipped_bytes_fail_cleanly<T: PartialEq + std::fmt::Debug, E: std::fmt::Debug>(
    valid: &[u8],
    read: impl Fn(&[u8]) -> Result<T, E>,
    put: impl Fn(&T) -> Vec<u8>,
    next: &mut impl FnMut() -> u64,
) {
    read(valid).expect("valid bytes");
    for cut in 0..valid.len() {
        if let Ok(decoded) = read(&valid[..cut]) {
            assert_eq!(put(&decoded), &valid[..cut]);
        }
    }
    for i in 0..valid.len() {
        let mut mutated = valid.to_vec();
        mutated[i] ^= next() as u8 | 1;
        if let Ok(decoded) = read(&mutated) {
            let again = put(&decoded);
            assert_eq!(read(&again).expect("re-encoded bytes decode"), decoded);
        }
    }
}

#[test]
fn hostile_sections_never_panic() {
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    for len in 0..400 {
        let bytes: Vec<u8> = (0..len % 40).map(|_| next() as u8).collect();
        for read in [
            |b: &[u8]| sections::read_entered(b).map(|v| v.len()),
            |b: &[u8]| sections::read_updated(b).map(|v| v.len()),
            |b: &[u8]| sections::read_left(b).map(|v| v.len()),
        ] {
            let _ = read(&bytes);
        }
    }
    // Valid sections cut anywhere or with a byte flipped fail cleanly, or decode to something that
    // re-encodes to the same bytes.
    let snapshot = arena_snapshot(7);
    let mut entered = Vec::new();
    sections::put_entered(&mut entered, &snapshot.entered);
    let mut updated = Vec::new();
    sections::put_updated(&mut updated, &snapshot.updated);
    cut_and_flipped_bytes_fail_cleanly(
        &entered,
        sections::read_entered,
        |v| packed(sections::put_entered, v),
        &mut next,
    );
    cut_and_flipped_bytes_fail_cleanly(
        &updated,
        sections::read_updated,
        |v| packed(sections::put_updated, v),
        &mut next,
    );
    // Overlong and oversized varints are refused.
    assert!(sections::read_left(&[0x80, 0x00]).is_err(), "overlong zero");
    assert!(sections::read_left(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]).is_err());
    assert!(
        sections::read_updated(&[0x00, 104]).is_err(),
        "past the turn codes"
    );
    assert!(
        sections::read_updated(&[0x00, 0xFF]).is_err(),
        "past the turn codes"
    );
    // A recent turn (and aim) written with field bits has a shorter form: refused.
    assert!(
        sections::read_updated(&[0x00, 0x02, 9]).is_err(),
        "turn of age 1"
    );
    assert!(sections::read_updated(&[0x00, 0x06, 9, 0, 0]).is_err());
    assert_eq!(
        sections::read_updated(&[0x00, 0x0A, 9, 50]).map(|u| u[0].fields.len()),
        Ok(2),
        "a turn with hit points takes field bits"
    );
    assert_eq!(
        sections::read_updated(&[0x00, 0x02, 36]).map(|u| u[0].fields.clone()),
        Ok(vec![PlayerField::Turn {
            age: 4,
            dir: Dir::Still
        }]),
        "an older turn takes field bits"
    );
    assert_eq!(
        sections::read_updated(&[0x00, 103, 0xFF, 0x0F]).map(|u| u[0].fields.clone()),
        Ok(vec![
            PlayerField::Turn {
                age: 3,
                dir: Dir::NorthEast
            },
            PlayerField::Aim(4_095)
        ]),
        "the last turn code"
    );
    assert!(
        sections::read_updated(&[0x00, 0x01, 0, 0, 0, 9]).is_err(),
        "a tenth direction"
    );
    // Projectile forms: 3 is none; an age past 32 bits is refused; every offset of the shooter's
    // aim, and the widest age, come back.
    assert_eq!(
        sections::read_entered(&[0x03, 0x03, 0x02]),
        Err(sections::SectionError::BadForm)
    );
    assert!(sections::read_entered(&[0x03, 0xFC, 0xFF, 0xFF, 0xFF, 0x3F, 0x02]).is_err());
    for offset in -8..=7 {
        for age in [0, 1, 2, 3, 1_000, u32::MAX] {
            let shot = EntityState::Projectile(ProjectileState {
                id: EntityId(3),
                age,
                launch: Launch::ShooterAim(EntityId(u32::MAX), offset),
                aim: 0,
            });
            let mut out = Vec::new();
            sections::put_entered(&mut out, std::slice::from_ref(&shot));
            assert_eq!(sections::read_entered(&out), Ok(vec![shot]));
        }
    }
}

/// Every kind of event, with its fields at their extremes: the largest and odd ids, no killer,
/// empty and non-ASCII text, and counts.
fn extreme_events() -> Vec<GameEvent> {
    let entry = |id: u32, name: &str, bot: bool| RosterEntry {
        id: EntityId(id),
        name: name.into(),
        bot,
    };
    let score = |id: u32, n: u32| ScoreEntry {
        id: EntityId(id),
        score: n,
        kills: n,
        deaths: u32::MAX - n,
    };
    vec![
        GameEvent::Roster(vec![]),
        GameEvent::Roster(vec![
            entry(u32::MAX, "", true),
            entry(0, "Ada", false),
            entry(2, "Zoë ✓", true),
            entry(1, &"x".repeat(300), false),
        ]),
        GameEvent::PlayerJoined(entry(u32::MAX - 1, "名前", false)),
        GameEvent::PlayerLeft(EntityId(u32::MAX)),
        GameEvent::PlayerLeft(EntityId(0)),
        GameEvent::Chat {
            from: EntityId(3),
            text: String::new(),
        },
        GameEvent::Hit {
            victim: EntityId(u32::MAX),
            hp: u8::MAX,
        },
        GameEvent::Kill {
            killer: None,
            victim: EntityId(0),
        },
        GameEvent::Kill {
            killer: Some(EntityId(u32::MAX)),
            victim: EntityId(u32::MAX),
        },
        GameEvent::Kill {
            killer: Some(EntityId(0)),
            victim: EntityId(1),
        },
        GameEvent::Leaderboard(vec![]),
        GameEvent::Leaderboard(vec![score(u32::MAX, 0), score(4, u32::MAX)]),
        GameEvent::YourScore(score(1, 7)),
        GameEvent::Notice("x".repeat(70_000)),
    ]
}

#[test]
fn packed_events_round_trip_and_mean_one_thing() {
    let mut events = sample_snapshot().events;
    events.extend(extreme_events());
    let mut out = Vec::new();
    events::put_events(&mut out, &events);
    assert_eq!(events::read_events(&out), Ok(events.clone()));
    // Each alone, and the snapshot carrying them.
    for event in &events {
        let mut one = Vec::new();
        events::put_event(&mut one, event);
        assert_eq!(
            events::read_events(&one),
            Ok(vec![event.clone()]),
            "{event:?}"
        );
    }
    let snapshot = Snapshot {
        events: events.clone(),
        ..sample_snapshot()
    };
    let bytes = encode_server(&ServerMsg::Snapshot(snapshot.clone()));
    assert_eq!(decode_server(&bytes), Ok(ServerMsg::Snapshot(snapshot)));
}

#[test]
fn packed_events_are_small() {
    let packed = |event: GameEvent| {
        let mut out = Vec::new();
        events::put_event(&mut out, &event);
        out.len()
    };
    let kill = |killer: u32, victim: u32| GameEvent::Kill {
        killer: Some(EntityId(killer)),
        victim: EntityId(victim),
    };
    // A kill: 3 bytes in a room of 64 (ids below 250), 4 in a room of 1,000; bincode took 4 and 8.
    assert_eq!(packed(kill(200, 180)), 3);
    assert_eq!(encode_one(&kill(200, 180)).len(), 4);
    assert_eq!(packed(kill(1_998, 1_500)), 4);
    assert_eq!(encode_one(&kill(1_998, 1_500)).len(), 8);
    // A chat line: kind and speaker in one varint, length, text.
    let chat = GameEvent::Chat {
        from: EntityId(1_200),
        text: "gg".into(),
    };
    assert_eq!(packed(chat.clone()), 5);
    assert_eq!(encode_one(&chat).len(), 7);
    // A leaderboard of ten in a room of 1,000: 2 bytes an id, a byte for each small count.
    let board = GameEvent::Leaderboard(
        (0..10)
            .map(|i| ScoreEntry {
                id: EntityId(1_000 + 2 * i),
                score: 12,
                kills: 12,
                deaths: 3,
            })
            .collect(),
    );
    assert_eq!(packed(board.clone()), 2 + 10 * 5);
    assert_eq!(encode_one(&board).len(), 2 + 10 * 6);
}

#[test]
fn hostile_events_never_panic_and_are_refused() {
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    for len in 0..2_000 {
        let bytes: Vec<u8> = (0..len % 48).map(|_| next() as u8).collect();
        if let Ok(decoded) = events::read_events(&bytes) {
            let mut again = Vec::new();
            events::put_events(&mut again, &decoded);
            assert_eq!(again, bytes, "bytes mean one thing");
        }
    }
    // Valid events cut anywhere or with a byte flipped fail cleanly, or decode to something that
    // re-encodes to the same bytes.
    let mut valid = Vec::new();
    events::put_events(&mut valid, &sample_snapshot().events);
    cut_and_flipped_bytes_fail_cleanly(
        &valid,
        events::read_events,
        |v| packed(events::put_events, v),
        &mut next,
    );
    let refused = [
        (&[9][..], "an unknown kind"),
        (&[0x1F], "an unknown kind"),
        (&[0xFF], "a varint cut short"),
        (&[0x13, 2, 0xC3, 0x28], "chat that is not UTF-8"),
        (&[0x13, 5, b'g', b'g'], "chat longer than the bytes"),
        (&[0x80, 0x7D], "a roster counting past the bytes"),
        (&[0x36, 2, 0, 0, 0], "a leaderboard counting past the bytes"),
        (&[0x82, 0x00], "an overlong opening varint"),
        (&[0x82, 0x80, 0x80, 0x80, 0x80, 0x02], "an id past u32"),
        (&[0x25, 0x81, 0x80, 0x80, 0x80, 0x10], "a killer past u32"),
        (&[0x24], "a hit without its hit points"),
        (
            &[0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            "a notice of 2^60 bytes",
        ),
    ];
    for (bytes, what) in refused {
        assert!(events::read_events(bytes).is_err(), "{what}: {bytes:?}");
    }
    // The largest killer there is (u32::MAX, rotated, plus one) is not refused.
    let mut out = Vec::new();
    events::put_event(
        &mut out,
        &GameEvent::Kill {
            killer: Some(EntityId(u32::MAX)),
            victim: EntityId(2),
        },
    );
    assert!(events::read_events(&out).is_ok());
}

#[test]
fn a_snapshot_tick_can_be_read_without_decoding_the_rest() {
    let mut snapshot = sample_snapshot();
    snapshot.tick = Tick(70_000);
    snapshot.proof = 0xA7;
    let bytes = encode_server(&ServerMsg::Snapshot(snapshot));
    assert_eq!(peek_snapshot_ack(&bytes), Some((Tick(70_000), 0xA7)));
    assert_eq!(peek_snapshot_ack(&bytes[..2]), None, "cut inside the tick");
    let pong = encode_server(&ServerMsg::Pong {
        nonce: 1,
        tick: Tick(5),
    });
    assert_eq!(peek_snapshot_ack(&pong), None);
    assert_eq!(peek_snapshot_ack(&[]), None);
}

/// A small deterministic generator (xorshift64; `seed` must not be 0).
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// What a packing function writes for `value`.
fn packed<T: ?Sized>(put: impl Fn(&mut Vec<u8>, &T), value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    put(&mut out, value);
    out
}

fn encode_one<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_append(value, &mut out);
    out
}
