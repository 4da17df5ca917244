//! Sanitizing text that players send: names and chat.
//!
//! Removed, because they show nothing or disturb the text around them:
//! - control characters, and format characters (General_Category `Cf`): the bidirectional controls
//!   (which can make a line display in an order other than it was typed), zero-width spaces and
//!   joiners, the soft hyphen, tag characters and the like;
//! - every other default-ignorable code point ([`is_default_ignorable`]): variation selectors, the
//!   combining grapheme joiner, Hangul fillers, Mongolian free variation selectors, ...;
//! - the braille blank (U+2800), which draws as an empty cell;
//! - combining marks beyond [`MAX_MARKS_PER_BASE`] on one base character (stacked "Zalgo" marks
//!   spill over the lines around them), and marks with no base character to sit on.
//!
//! Runs of whitespace fold to one space, the ends are trimmed, and the result is capped in characters.
//! A name must keep at least one visible character (a letter, number, punctuation or symbol), or it
//! becomes `player`; the room then makes it distinct from the names already there
//! ([`distinct_name`]). Clients must still render the text as text, never as markup.

use crate::protocol::{MAX_CHAT_CHARS, MAX_NAME_CHARS};
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

/// Most combining marks kept on one base character. Two cover accented Latin (Vietnamese stacks
/// two), Greek and Thai; more is how "Zalgo" text climbs over neighbouring lines. Marks after the
/// limit are dropped.
pub const MAX_MARKS_PER_BASE: usize = 2;

/// The name given to a player whose name shows nothing.
pub const DEFAULT_NAME: &str = "player";

/// Whether a character is a Unicode default-ignorable code point (`Default_Ignorable_Code_Point` in
/// `DerivedCoreProperties.txt`): characters that render as nothing when not supported, such as
/// variation selectors and fillers.
pub fn is_default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// Whether a character is removed wherever it stands.
fn is_removed(c: char) -> bool {
    c.is_control()
        || c.general_category() == GeneralCategory::Format
        || is_default_ignorable(c)
        || c == '\u{2800}'
}

/// Whether a character is a combining mark (General_Category `Mn`, `Mc` or `Me`).
fn is_mark(c: char) -> bool {
    c.general_category_group() == GeneralCategoryGroup::Mark
}

/// Whether a character shows something by itself: a letter, number, punctuation or symbol that is
/// not removed.
fn is_visible(c: char) -> bool {
    !is_removed(c)
        && matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter
                | GeneralCategoryGroup::Number
                | GeneralCategoryGroup::Punctuation
                | GeneralCategoryGroup::Symbol
        )
}

/// Strips what the module lists, folds whitespace, trims and caps at `max_chars` characters.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut chars = 0;
    let mut pending_space = false;
    // Marks on the last base character written, or `None` if a mark has nothing to sit on.
    let mut marks_on_base: Option<usize> = None;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            marks_on_base = None;
            continue;
        }
        if is_removed(c) {
            continue;
        }
        if is_mark(c) {
            match marks_on_base {
                Some(marks) if marks < MAX_MARKS_PER_BASE && chars < max_chars => {
                    out.push(c);
                    chars += 1;
                    marks_on_base = Some(marks + 1);
                }
                _ => {}
            }
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
        marks_on_base = Some(0);
    }
    out
}

/// A chat line fit to broadcast, or `None` if nothing is left after sanitizing.
pub fn sanitize_chat(text: &str) -> Option<String> {
    let clean = sanitize(text, MAX_CHAT_CHARS);
    (!clean.is_empty()).then_some(clean)
}

/// A display name: sanitized, and [`DEFAULT_NAME`] if no visible character is left.
pub fn sanitize_name(name: &str) -> String {
    let clean = sanitize(name, MAX_NAME_CHARS);
    if clean.chars().any(is_visible) {
        clean
    } else {
        String::from(DEFAULT_NAME)
    }
}

/// `name` if no name in `taken` is the same ignoring case; otherwise the first of `name (2)`,
/// `name (3)`, ... that is free, with `name` cut so the whole stays within [`MAX_NAME_CHARS`].
pub fn distinct_name<'a>(name: &str, taken: impl IntoIterator<Item = &'a str>) -> String {
    let taken: std::collections::HashSet<String> =
        taken.into_iter().map(str::to_lowercase).collect();
    if !taken.contains(&name.to_lowercase()) {
        return name.to_string();
    }
    // Of `taken.len() + 1` distinct candidates, one is free.
    (2..=taken.len() + 1)
        .map(|n| {
            let suffix = format!(" ({n})");
            let room = MAX_NAME_CHARS.saturating_sub(suffix.chars().count());
            let base: String = name.chars().take(room).collect();
            format!("{}{suffix}", base.trim_end())
        })
        .find(|candidate| !taken.contains(&candidate.to_lowercase()))
        .unwrap_or_else(|| name.to_string())
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
        assert_eq!(sanitize_name("\u{202E}  "), DEFAULT_NAME);
        assert_eq!(sanitize_name("  Ada  Lovelace "), "Ada Lovelace");
        assert_eq!(sanitize_name(&"x".repeat(50)).len(), MAX_NAME_CHARS);
    }

    /// Every character of `hidden` is removed from between two letters, in names and chat.
    fn assert_removed(hidden: &[char]) {
        for &c in hidden {
            let text = format!("a{c}b");
            assert_eq!(
                sanitize_chat(&text).as_deref(),
                Some("ab"),
                "U+{:04X}",
                c as u32
            );
            assert_eq!(sanitize_name(&text), "ab", "U+{:04X}", c as u32);
            assert_eq!(sanitize_chat(&c.to_string()), None, "U+{:04X}", c as u32);
            assert_eq!(sanitize_name(&format!("{c}{c}")), DEFAULT_NAME);
        }
    }

    #[test]
    fn strips_tag_characters() {
        assert_removed(&[
            '\u{E0000}',
            '\u{E0001}',
            '\u{E0020}',
            '\u{E0041}',
            '\u{E007F}',
        ]);
        // A subdivision flag is a black flag and tags: the flag is kept.
        let england = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}";
        assert_eq!(sanitize_chat(england).as_deref(), Some("\u{1F3F4}"));
    }

    #[test]
    fn strips_hangul_fillers() {
        assert_removed(&['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}']);
    }

    #[test]
    fn strips_the_braille_blank() {
        assert_removed(&['\u{2800}']);
        // Braille that shows something stays.
        assert_eq!(sanitize_name("\u{2801}"), "\u{2801}");
    }

    #[test]
    fn strips_the_soft_hyphen() {
        assert_removed(&['\u{00AD}']);
    }

    #[test]
    fn strips_variation_selectors() {
        assert_removed(&['\u{FE00}', '\u{FE0E}', '\u{FE0F}', '\u{E0100}', '\u{E01EF}']);
        assert_eq!(
            sanitize_chat("\u{2764}\u{FE0F}").as_deref(),
            Some("\u{2764}")
        );
    }

    #[test]
    fn strips_the_combining_grapheme_joiner() {
        assert_removed(&['\u{034F}']);
    }

    #[test]
    fn strips_other_default_ignorables() {
        assert_removed(&[
            '\u{180B}',
            '\u{180D}',
            '\u{180E}',
            '\u{180F}',
            '\u{2061}',
            '\u{2064}',
            '\u{206A}',
            '\u{206F}',
            '\u{FFF0}',
            '\u{FFF8}',
            '\u{1BCA0}',
            '\u{1BCA3}',
            '\u{1D173}',
            '\u{1D17A}',
            '\u{17B4}',
            '\u{2065}',
        ]);
    }

    #[test]
    fn strips_other_format_characters() {
        // Interlinear annotation and an Egyptian hieroglyph format control: format, not ignorable.
        assert_removed(&['\u{FFF9}', '\u{FFFB}', '\u{13430}']);
    }

    #[test]
    fn keeps_at_most_two_combining_marks_on_a_base() {
        let zalgo = format!("e{}x", "\u{0301}\u{0316}\u{0350}".repeat(10));
        assert_eq!(sanitize_chat(&zalgo).as_deref(), Some("e\u{0301}\u{0316}x"));
        // Each base gets its own two.
        assert_eq!(
            sanitize("a\u{0300}\u{0301}\u{0302}b\u{0303}\u{0304}\u{0305}", 20),
            "a\u{0300}\u{0301}b\u{0303}\u{0304}"
        );
        // Removed characters in between do not give a base more room.
        assert_eq!(
            sanitize("a\u{0300}\u{0301}\u{200B}\u{0302}\u{FE0F}\u{0303}", 20),
            "a\u{0300}\u{0301}"
        );
        // Enclosing and spacing marks count too.
        assert_eq!(
            sanitize("1\u{20E3}\u{20E3}\u{20E3}", 20),
            "1\u{20E3}\u{20E3}"
        );
        assert_eq!(
            sanitize("\u{0915}\u{093F}\u{093F}\u{093F}", 20),
            "\u{0915}\u{093F}\u{093F}"
        );
    }

    #[test]
    fn keeps_ordinary_accents() {
        for text in [
            "e\u{0301}",                                        // é, decomposed
            "e\u{0323}\u{0302}",                                // ệ, decomposed: two marks
            "\u{0E01}\u{0E34}\u{0E48}", // Thai: a consonant, a vowel and a tone mark
            "\u{0928}\u{092E}\u{0938}\u{094D}\u{0924}\u{0947}", // Hindi: namaste
            "1\u{20E3}",                // keycap one
        ] {
            assert_eq!(sanitize_chat(text).as_deref(), Some(text));
        }
    }

    #[test]
    fn drops_combining_marks_with_no_base() {
        assert_eq!(sanitize_chat("\u{0301}\u{0301}a").as_deref(), Some("a"));
        assert_eq!(sanitize_chat("a \u{0301}b").as_deref(), Some("a b"));
        assert_eq!(sanitize_chat("\u{0301}\u{20E3}"), None);
        assert_eq!(sanitize_name("\u{0301}\u{0301}"), DEFAULT_NAME);
        assert_eq!(sanitize_name("\u{200B}\u{0301}"), DEFAULT_NAME);
    }

    #[test]
    fn a_name_must_show_something() {
        let invisible = "\u{3164}\u{2800}\u{FE0F}\u{E0041}\u{00AD}\u{034F}\u{115F} \u{200B}";
        assert_eq!(sanitize_name(invisible), DEFAULT_NAME);
        // A private-use or unassigned character alone may draw nothing either.
        assert_eq!(sanitize_name("\u{E000}"), DEFAULT_NAME);
        assert_eq!(sanitize_name("\u{E000}a"), "\u{E000}a");
        for name in ["Ada", "7", "?", "\u{2605}", "\u{1F600}", "\u{5F20}\u{4E09}"] {
            assert_eq!(sanitize_name(name), name);
        }
    }

    #[test]
    fn distinct_names_get_a_number_ignoring_case() {
        assert_eq!(distinct_name("Ada", ["Bob"]), "Ada");
        assert_eq!(distinct_name("Ada", []), "Ada");
        assert_eq!(distinct_name("Ada", ["ada"]), "Ada (2)");
        assert_eq!(distinct_name("ADA", ["Ada", "ada (2)"]), "ADA (3)");
        assert_eq!(distinct_name("Ada (2)", ["Ada", "Ada (2)"]), "Ada (2) (2)");
        assert_eq!(
            distinct_name("\u{C9}mile", ["\u{E9}MILE"]),
            "\u{C9}mile (2)"
        );
    }

    #[test]
    fn distinct_names_stay_within_the_cap() {
        let long = "abcdefghijklmnop qrs"; // 20 characters, a space where the cut falls
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
        assert_eq!(distinct_name(long, [long]), "abcdefghijklmnop (2)");
        let wide = "\u{1F600}".repeat(MAX_NAME_CHARS);
        let mut taken = vec![wide.clone()];
        for _ in 0..12 {
            let name = distinct_name(&wide, taken.iter().map(String::as_str));
            assert!(name.chars().count() <= MAX_NAME_CHARS, "{name}");
            assert!(!taken.contains(&name));
            taken.push(name);
        }
        assert!(taken.last().is_some_and(|name| name.ends_with(" (13)")));
    }
}
