//! Malformed traffic for soak runs: the ways a broken or hostile client gets a message wrong, each with
//! what the server must do about it (close with a given code, or reject the message and carry on).

use crate::scenario::Dice;
use skirmish_shared::codec::encode_client;
use skirmish_shared::protocol::{
    close_code, ClientMsg, Hello, InputFrame, MAX_CHAT_CHARS, MAX_CLIENT_MSG_BYTES,
    PROTOCOL_VERSION,
};
use tokio_tungstenite::tungstenite::Message;

/// One kind of malformed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bytes whose first byte is no `ClientMsg` variant.
    Garbage,
    /// A valid input with its last byte cut off.
    Truncated,
    /// An input with an axis outside -1..=1.
    AxisOutOfRange,
    /// An input whose sequence number jumps far ahead.
    SequenceJump,
    /// A text frame.
    Text,
    /// A binary message over the protocol's size limit.
    Oversized,
    /// A second `Hello` after joining.
    HelloAgain,
    /// An input whose sequence number goes back (rejected; the connection stays).
    SequenceBack,
    /// Chat over the length cap (rejected whole; the connection stays).
    ChatTooLong,
    /// Chat that is only whitespace and control characters (dropped; the connection stays).
    ChatEmpty,
}

impl Kind {
    /// Every kind, in the order they are drawn from.
    pub const ALL: [Kind; 10] = [
        Kind::Garbage,
        Kind::Truncated,
        Kind::AxisOutOfRange,
        Kind::SequenceJump,
        Kind::Text,
        Kind::Oversized,
        Kind::HelloAgain,
        Kind::SequenceBack,
        Kind::ChatTooLong,
        Kind::ChatEmpty,
    ];

    /// A kind drawn uniformly.
    pub fn draw(dice: &mut Dice) -> Kind {
        Kind::ALL[dice.roll(Kind::ALL.len() as u64) as usize]
    }

    /// The close code the server must answer with, or `None` when it must keep the connection.
    pub fn expected_close(self) -> Option<u16> {
        match self {
            Kind::Garbage | Kind::Truncated | Kind::AxisOutOfRange | Kind::SequenceJump => {
                Some(close_code::INVALID_PAYLOAD)
            }
            Kind::Text => Some(close_code::UNSUPPORTED_DATA),
            Kind::Oversized => Some(close_code::MESSAGE_TOO_BIG),
            Kind::HelloAgain => Some(close_code::POLICY_VIOLATION),
            Kind::SequenceBack | Kind::ChatTooLong | Kind::ChatEmpty => None,
        }
    }

    /// The message, for a bot whose last input had sequence number `seq`.
    pub fn message(self, seq: u32, dice: &mut Dice) -> Message {
        let input = |seq: u32, move_x: i8| {
            encode_client(&ClientMsg::Input(InputFrame {
                seq,
                move_x,
                move_y: 0,
                aim: 0,
                buttons: 0,
                ..InputFrame::default()
            }))
        };
        let bytes = match self {
            Kind::Garbage => {
                let len = 1 + dice.roll(48) as usize;
                let mut bytes: Vec<u8> = (0..len).map(|_| dice.roll(256) as u8).collect();
                // Variant indexes 0..=4 exist; 5..=250 are single-byte varints naming none.
                bytes[0] = 5 + dice.roll(246) as u8;
                bytes
            }
            Kind::Truncated => {
                let mut bytes = input(seq.wrapping_add(1), 1);
                bytes.pop();
                bytes
            }
            Kind::AxisOutOfRange => input(seq.wrapping_add(1), 2 + dice.roll(100) as i8),
            Kind::SequenceJump => input(seq.wrapping_add(100_000), 0),
            Kind::Text => return Message::Text("{\"type\":\"input\"}".into()),
            Kind::Oversized => vec![1; MAX_CLIENT_MSG_BYTES * 2],
            Kind::HelloAgain => encode_client(&ClientMsg::Hello(Hello {
                protocol_version: PROTOCOL_VERSION,
                name: "again".into(),
                resume_token: None,
                rate: 0,
                room: None,
                watch: false,
            })),
            Kind::SequenceBack => input(seq.saturating_sub(1 + dice.roll(5) as u32).max(1), 0),
            Kind::ChatTooLong => encode_client(&ClientMsg::Chat {
                text: "x".repeat(MAX_CHAT_CHARS + 1 + dice.roll(40) as usize),
            }),
            Kind::ChatEmpty => encode_client(&ClientMsg::Chat {
                text: " \u{7}\t ".into(),
            }),
        };
        Message::Binary(bytes.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skirmish_shared::codec::decode_client;

    fn bytes(message: Message) -> Vec<u8> {
        match message {
            Message::Binary(bytes) => bytes.to_vec(),
            other => panic!("expected binary, got {other:?}"),
        }
    }

    #[test]
    fn fatal_binary_kinds_do_not_decode_to_valid_messages() {
        let mut dice = Dice::new(3);
        for _ in 0..200 {
            for kind in [Kind::Garbage, Kind::Truncated] {
                assert!(
                    decode_client(&bytes(kind.message(10, &mut dice))).is_err(),
                    "{kind:?}"
                );
            }
            match decode_client(&bytes(Kind::AxisOutOfRange.message(10, &mut dice))) {
                Ok(ClientMsg::Input(input)) => assert!(!input.is_valid()),
                other => panic!("expected an input, got {other:?}"),
            }
        }
        assert!(bytes(Kind::Oversized.message(1, &mut dice)).len() > MAX_CLIENT_MSG_BYTES);
    }

    #[test]
    fn rejected_kinds_are_valid_messages_the_rules_refuse() {
        let mut dice = Dice::new(5);
        match decode_client(&bytes(Kind::SequenceBack.message(10, &mut dice))) {
            Ok(ClientMsg::Input(input)) => assert!(input.is_valid() && input.seq < 10),
            other => panic!("expected an input, got {other:?}"),
        }
        match decode_client(&bytes(Kind::ChatTooLong.message(10, &mut dice))) {
            Ok(ClientMsg::Chat { text }) => assert!(text.chars().count() > MAX_CHAT_CHARS),
            other => panic!("expected chat, got {other:?}"),
        }
        match decode_client(&bytes(Kind::ChatEmpty.message(10, &mut dice))) {
            Ok(ClientMsg::Chat { text }) => {
                assert_eq!(skirmish_shared::text::sanitize_chat(&text), None)
            }
            other => panic!("expected chat, got {other:?}"),
        }
        for kind in [Kind::SequenceBack, Kind::ChatTooLong, Kind::ChatEmpty] {
            assert_eq!(kind.expected_close(), None);
        }
    }
}
