//! Secrets an operator configures (the admin API's bearer token): kept out of `Debug` output and
//! logs, and compared in constant time. Their own module, because both the configuration (which
//! parses and checks them) and the admin API (which compares them) use them.
//!
//! Also the server's secret random source ([`random_bytes`], [`random_u64`]): the operating
//! system's CSPRNG, for what players must not predict (resume tokens, room codes).

/// Fills `out` from the operating system's CSPRNG (never from player data or anything an observer
/// can predict).
///
/// # Panics
/// When the operating system has no random source at all: the process cannot keep seats safe then.
pub fn random_bytes(out: &mut [u8]) {
    if let Err(e) = getrandom::fill(out) {
        panic!("the operating system's random source failed: {e}");
    }
}

/// 64 bits from the secret random source ([`random_bytes`]).
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    random_bytes(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// An operator's secret, kept out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret's bytes.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    /// Takes any value (trimmed of surrounding whitespace, such as a secret file's last newline);
    /// [`Secret::check`] judges it, so that parse errors never print it.
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.trim().to_string()))
    }
}

impl Secret {
    /// Whether the secret is fit to use: at least 16 characters, none of them spaces or control
    /// characters.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.0.chars().count() < 16 {
            return Err("must be at least 16 characters");
        }
        if self.0.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters");
        }
        Ok(())
    }
}

/// Whether `a` and `b` are equal, taking the same time whatever their contents (it depends on their
/// lengths only).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"abcdef", b"abcdef"));
        assert!(!constant_time_eq(b"abcdef", b"abcdeg"));
        assert!(!constant_time_eq(b"abcdef", b"abcde"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn secrets_are_checked_trimmed_and_hidden() {
        let token: Secret = "0123456789abcdef".parse().expect("long enough");
        let short: Secret = "short".parse().expect("any value parses");
        assert!(short.check().is_err());
        let spaced: Secret = "0123456789 abcdef".parse().expect("parses");
        assert!(spaced.check().is_err());
        let trimmed: Secret = " 0123456789abcdef\n".parse().expect("parses");
        assert!(trimmed.check().is_ok() && trimmed == token);
        assert_eq!(format!("{token:?}"), "Secret(..)");
    }
}
