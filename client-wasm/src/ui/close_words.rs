//! Why a connection ended, in words a player understands ("code 1006" means nothing to most).

use skirmish_shared::protocol::close_code;

/// What happens after a close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseWords {
    /// The status line's words for it.
    pub text: String,
    /// Whether the client tries again by itself (otherwise only a reload plays again).
    pub retry: bool,
}

/// Words for a close with `code` and the server's `reason` (which may be empty).
pub fn describe(code: u16, reason: &str) -> CloseWords {
    let (words, retry) = match code {
        close_code::NORMAL => ("connection closed", true),
        close_code::GOING_AWAY => ("server restarting", true),
        close_code::SERVER_FULL => ("server full", true),
        close_code::TOO_SLOW => ("connection too slow", true),
        close_code::JOIN_TIMEOUT => ("join timed out", true),
        close_code::REPLACED => ("your seat was taken over by another tab", true),
        close_code::ADDRESS_LIMIT => ("too many players from your address", true),
        close_code::KICKED => ("removed by the server's operators", false),
        close_code::BANNED => ("banned for a while by the server's operators", false),
        close_code::VERSION_MISMATCH => ("this page is out of date: reload it", false),
        close_code::BAD_RESUME_TOKEN => ("your seat has expired", true),
        close_code::INTERNAL_ERROR => ("server error", true),
        close_code::PROTOCOL_ERROR
        | close_code::UNSUPPORTED_DATA
        | close_code::INVALID_PAYLOAD
        | close_code::POLICY_VIOLATION
        | close_code::MESSAGE_TOO_BIG => ("the server refused a message", true),
        // 1006 (no close frame) and anything else: the network dropped it.
        _ => ("connection lost", true),
    };
    let reason = reason.trim();
    let text = if reason.is_empty() || reason.eq_ignore_ascii_case(words) {
        words.to_string()
    } else {
        format!("{words}: {reason}")
    };
    CloseWords { text, retry }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abnormal_close_is_a_lost_connection() {
        let words = describe(1006, "");
        assert_eq!(words.text, "connection lost");
        assert!(words.retry);
        assert!(!words.text.contains("1006"));
    }

    #[test]
    fn known_codes_have_words_and_keep_the_reason() {
        assert_eq!(
            describe(close_code::GOING_AWAY, "").text,
            "server restarting"
        );
        assert_eq!(
            describe(close_code::SERVER_FULL, "no free seat").text,
            "server full: no free seat"
        );
        assert!(!describe(close_code::KICKED, "spam").retry);
        assert!(!describe(close_code::VERSION_MISMATCH, "").retry);
    }
}
