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
                pos: Pos::new(500, 600),
                aim: 40_000,
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
            room_code: "K7MPQ".into(),
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
            detail: "room K7MPQ is full".into(),
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
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
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
    let list = |items: &[Vec<u8>]| (items.len(), items.concat());
    let entered: Vec<Vec<u8>> = snapshot.entered.iter().map(encode_one).collect();
    let updated: Vec<Vec<u8>> = snapshot.updated.iter().map(encode_one).collect();
    let events: Vec<Vec<u8>> = snapshot.events.iter().map(encode_one).collect();
    let (entered, updated, events) = (list(&entered), list(&updated), list(&events));
    let mut spliced = Vec::new();
    write_snapshot(
        &mut spliced,
        &SnapshotParts {
            tick: snapshot.tick,
            proof: snapshot.proof,
            baseline: snapshot.baseline,
            ack_input_seq: snapshot.ack_input_seq,
            check: snapshot.check,
            entered: EncodedList {
                count: entered.0,
                bytes: &entered.1,
            },
            updated: EncodedList {
                count: updated.0,
                bytes: &updated.1,
            },
            left: &snapshot.left,
            events: EncodedList {
                count: events.0,
                bytes: &events.1,
            },
        },
    );
    assert_eq!(spliced, encode_server(&ServerMsg::Snapshot(snapshot)));
}

fn encode_one<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_append(value, &mut out);
    out
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
