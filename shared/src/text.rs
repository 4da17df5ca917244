//! Sanitizing text that players send: names and chat.
//!
//! Control characters and the Unicode bidirectional controls (which can make a line display in an order
//! other than it was typed) are removed, runs of whitespace fold to one space, and the result is capped
//! in characters. Clients must still render the text as text, never as markup.

use crate::protocol::{MAX_CHAT_CHARS, MAX_NAME_CHARS};

/// Whether a character is a bidirectional formatting control (embeddings, overrides, isolates, marks).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether a character is invisible formatting that only confuses (zero-width spaces and joiners, BOM).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Strips controls, folds whitespace, trims and caps at `max_chars` characters.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut chars = 0;
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if c.is_control() || is_bidi_control(c) || is_invisible(c) {
            continue;
        }
        if pending_space {
            if chars + 1 >= max_chars {
                break;
            }
            out.push(' ');
            chars += 1;
            pending_space = false;
        }
        if chars >= max_chars {
            break;
        }
        out.push(c);
        chars += 1;
    }
    out
}

/// A chat line fit to broadcast, or `None` if nothing is left after sanitizing.
pub fn sanitize_chat(text: &str) -> Option<String> {
    let clean = sanitize(text, MAX_CHAT_CHARS);
    (!clean.is_empty()).then_some(clean)
}

/// A display name; empty names become `player`.
pub fn sanitize_name(name: &str) -> String {
    let clean = sanitize(name, MAX_NAME_CHARS);
    if clean.is_empty() {
        String::from("player")
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_controls_and_bidi_overrides() {
        assert_eq!(
            sanitize_chat("hi\u{202E}dlrow\u{0007}\n!").as_deref(),
            Some("hidlrow !")
        );
        assert_eq!(
            sanitize_chat("\u{2066}a\u{2069}\u{200B}b").as_deref(),
            Some("ab")
        );
        assert_eq!(sanitize_chat("  \t\r\n "), None);
        assert_eq!(sanitize_chat("\u{202E}\u{0000}"), None);
    }

    #[test]
    fn folds_whitespace_and_caps_length() {
        assert_eq!(sanitize("  a   b  ", 10), "a b");
        let long = "é".repeat(500);
        let capped = sanitize_chat(&long).expect("not empty");
        assert_eq!(capped.chars().count(), MAX_CHAT_CHARS);
        assert_eq!(sanitize("ab cd", 3), "ab");
    }

    #[test]
    fn keeps_markup_as_plain_text() {
        let xss = "<img src=1 onerror=alert(1)>";
        assert_eq!(sanitize_chat(xss).as_deref(), Some(xss));
    }

    #[test]
    fn names_default_when_empty() {
        assert_eq!(sanitize_name("\u{202E}  "), "player");
        assert_eq!(sanitize_name("  Ada  Lovelace "), "Ada Lovelace");
        assert_eq!(sanitize_name(&"x".repeat(50)).len(), MAX_NAME_CHARS);
    }
}
