//! Direct messages: an ordinary message whose channel is `@` followed by the two call
//! signs, upper-cased (ASCII letters), sorted (byte order) and joined by `+` (`@K1ABC+W2XYZ`). Legacy
//! nodes store, sync and show it as a channel of that name; nothing about it is private.

use super::limits::MAX_CHANNEL;
use super::types::{Channel, FieldError};

/// Why no direct channel can be made for two call signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectError {
    /// Both call signs are the same person: a message to oneself is not a direct message.
    Oneself,
    /// A call sign holds whitespace, `+` or `@`, or is empty: the channel could not be
    /// read back (or shown by a legacy UI).
    BadCallSign(String),
    /// The channel would be longer than a channel may be.
    TooLong,
}

impl std::fmt::Display for DirectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DirectError::Oneself => f.write_str("a message to oneself is not a direct message"),
            DirectError::BadCallSign(c) => write!(
                f,
                "'{c}' cannot be part of a direct channel (no spaces, '+' or '@')"
            ),
            DirectError::TooLong => write!(
                f,
                "the direct channel would be longer than {MAX_CHANNEL} bytes"
            ),
        }
    }
}

impl std::error::Error for DirectError {}

impl From<FieldError> for DirectError {
    fn from(_: FieldError) -> Self {
        DirectError::TooLong
    }
}

fn member(call: &str) -> Result<String, DirectError> {
    let c = call.trim().to_ascii_uppercase();
    if c.is_empty()
        || c.chars()
            .any(|ch| ch.is_whitespace() || ch.is_control() || ch == '+' || ch == '@')
    {
        return Err(DirectError::BadCallSign(call.to_string()));
    }
    Ok(c)
}

/// The channel of the conversation between `a` and `b` (either order, any case).
pub fn channel(a: &str, b: &str) -> Result<Channel, DirectError> {
    let (mut x, mut y) = (member(a)?, member(b)?);
    if x == y {
        return Err(DirectError::Oneself);
    }
    if y < x {
        std::mem::swap(&mut x, &mut y);
    }
    let ch = format!("@{x}+{y}");
    if ch.len() > MAX_CHANNEL {
        return Err(DirectError::TooLong);
    }
    Ok(ch.parse()?)
}

/// The two call signs of a direct channel, or `None` for any other channel (only the
/// exact form [`channel`] writes counts).
pub fn members(channel: &str) -> Option<(&str, &str)> {
    let (a, b) = channel.strip_prefix('@')?.split_once('+')?;
    let ok = |c: &str| member(c).is_ok_and(|m| m == c);
    (ok(a) && ok(b) && a < b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_upper_cased_and_symmetric() {
        let ch = channel("w2xyz", "K1ABC").unwrap();
        assert_eq!(ch.as_str(), "@K1ABC+W2XYZ");
        assert_eq!(channel(" K1ABC ", "w2xyz").unwrap(), ch);
        assert_eq!(members("@K1ABC+W2XYZ"), Some(("K1ABC", "W2XYZ")));
        assert_eq!(
            channel("KN6PLV/M", "K1ABC").unwrap().as_str(),
            "@K1ABC+KN6PLV/M"
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(channel("k1abc", "K1ABC"), Err(DirectError::Oneself));
        assert!(matches!(
            channel("K1 ABC", "W2XYZ"),
            Err(DirectError::BadCallSign(_))
        ));
        assert!(matches!(
            channel("K1+A", "W2XYZ"),
            Err(DirectError::BadCallSign(_))
        ));
        assert!(matches!(
            channel("", "W2XYZ"),
            Err(DirectError::BadCallSign(_))
        ));
        assert_eq!(
            channel(&"A".repeat(40), &"B".repeat(40)),
            Err(DirectError::TooLong)
        );
        for other in [
            "",
            "ops",
            "@ops",
            "@W2XYZ+K1ABC",
            "@k1abc+W2XYZ",
            "@K1ABC+K1ABC",
            "@+A",
            "@A+B+C",
        ] {
            assert_eq!(members(other), None, "{other}");
        }
    }
}
