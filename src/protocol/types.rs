//! Typed fields of the MeshChat wire formats.
//!
//! Every value that arrives from outside (a form field, a peer's line, a file on disk) is
//! parsed into one of these types before it is used. `FromStr` validates, `Display` writes
//! the exact wire form. Nothing here does I/O.

use std::fmt;
use std::str::FromStr;

use super::limits::{MAX_CALL_SIGN, MAX_CHANNEL, MAX_FILE_NAME, MAX_NODE_NAME, MAX_SESSION_ID};

/// Why a field was refused. The message names the field, so it can go straight to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The wire name of the field (`call_sign`, `id`, ...).
    pub field: &'static str,
    /// What is wrong with it, lowercase, no trailing period.
    pub reason: &'static str,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.reason)
    }
}

impl std::error::Error for FieldError {}

fn err(field: &'static str, reason: &'static str) -> FieldError {
    FieldError { field, reason }
}

/// True for C0 controls, DEL and the C1 range: never allowed in identity fields, since a
/// TAB or newline there corrupts every legacy database that stores the line.
pub fn is_control(c: char) -> bool {
    c.is_control()
}

/// True when `s` holds a control character other than those in `allowed` (ASCII only).
/// Byte-wise: C0 and DEL are single bytes, C1 (U+0080..U+009F) is `C2 80`..`C2 9F` in
/// UTF-8. This runs on every field of every line read, so it avoids decoding chars.
pub fn has_control_except(s: &str, allowed: &[u8]) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &x)| {
        ((x < 0x20 || x == 0x7f) && !allowed.contains(&x))
            || (x == 0xc2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    })
}

/// True when `s` holds any control character.
pub fn has_control(s: &str) -> bool {
    has_control_except(s, &[])
}

/// A message id: 8 hex digits, the mesh-wide de-duplication key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u32);

impl FromStr for MessageId {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err("id", "must be 8 hex characters"));
        }
        u32::from_str_radix(s, 16)
            .map(MessageId)
            .map_err(|_| err("id", "must be 8 hex characters"))
    }
}

impl MessageId {
    /// The 8 lowercase hex digits, without allocating.
    pub fn hex(self) -> [u8; 8] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 8];
        for (i, o) in out.iter_mut().enumerate() {
            *o = HEX[(self.0 >> (28 - 4 * i) & 15) as usize];
        }
        out
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// Unix seconds. Stored as `u64` so epochs outlive 2038 on 32-bit targets too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Epoch(pub u64);

/// How far ahead of our clock a message may be dated (the legacy rule).
pub const MAX_FUTURE_SECS: u64 = 30 * 24 * 3600;

impl Epoch {
    /// The system clock; a clock before 1970 reads as 0.
    pub fn now() -> Epoch {
        Epoch(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
    }

    /// True when this epoch is further ahead of `now` than the mesh accepts.
    pub fn too_far_ahead(self, now: Epoch) -> bool {
        self.0 > now.0.saturating_add(MAX_FUTURE_SECS)
    }
}

impl FromStr for Epoch {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        // Decimal digits only (no sign, no exponent); 12 digits reach year 33658.
        if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("epoch", "must be unix seconds"));
        }
        s.parse()
            .map(Epoch)
            .map_err(|_| err("epoch", "must be unix seconds"))
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! string_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The wire form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_type!(
    /// A call sign as users type it. Legacy nodes accept anything without a TAB; we also
    /// refuse every control character and cap the length.
    CallSign
);

impl CallSign {
    /// Validates without allocating (surrounding spaces are not trimmed here).
    pub fn check(s: &str) -> Result<(), FieldError> {
        if s.trim().is_empty() {
            return Err(err("call_sign", "is empty"));
        }
        if s.len() > MAX_CALL_SIGN {
            return Err(err("call_sign", "is too long"));
        }
        if has_control(s) {
            return Err(err("call_sign", "contains a control character"));
        }
        Ok(())
    }
}

impl FromStr for CallSign {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        let s = s.trim();
        CallSign::check(s)?;
        Ok(CallSign(s.to_string()))
    }
}

string_type!(
    /// A channel name; empty is the "Everything" channel. No control characters. Spaces
    /// are accepted from peers (legacy nodes store them) but see [`Channel::has_space`].
    Channel
);

impl Channel {
    /// The "Everything" channel.
    pub fn everything() -> Channel {
        Channel(String::new())
    }

    /// Legacy parsers read the channel as `%S*`: a message whose channel holds whitespace
    /// is invisible in their UI, so new messages may not use one.
    pub fn has_space(&self) -> bool {
        self.0.chars().any(char::is_whitespace)
    }
}

impl Channel {
    /// Validates without allocating.
    pub fn check(s: &str) -> Result<(), FieldError> {
        if s.len() > MAX_CHANNEL {
            return Err(err("channel", "is too long"));
        }
        if has_control(s) {
            return Err(err("channel", "contains a control character"));
        }
        Ok(())
    }
}

impl FromStr for Channel {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        Channel::check(s)?;
        Ok(Channel(s.to_string()))
    }
}

string_type!(
    /// A node (host) name: letters, digits, `-`, `_` and `.`, as it appears in service
    /// lists and DNS. Validated before it is ever put in a URL or a file name.
    NodeName
);

impl FromStr for NodeName {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        NodeName::check(s)?;
        Ok(NodeName(s.to_string()))
    }
}

impl NodeName {
    /// A name known valid at compile time (a built-in fallback).
    pub fn from_static(s: &'static str) -> NodeName {
        debug_assert!(NodeName::check(s).is_ok());
        NodeName(s.to_string())
    }

    /// Validates without allocating.
    pub fn check(s: &str) -> Result<(), FieldError> {
        if s.is_empty() {
            return Err(err("node", "is empty"));
        }
        if s.len() > MAX_NODE_NAME {
            return Err(err("node", "is too long"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(err(
                "node",
                "may hold only letters, digits, '-', '_' and '.'",
            ));
        }
        if s.starts_with('.') || s.starts_with('-') {
            return Err(err("node", "must start with a letter or digit"));
        }
        Ok(())
    }
}

string_type!(
    /// A browser session id (the legacy UI makes 5 alphanumerics; we allow up to 32 of
    /// `[A-Za-z0-9_-]`).
    SessionId
);

impl FromStr for SessionId {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        if s.is_empty() {
            return Err(err("id", "is empty"));
        }
        if s.len() > MAX_SESSION_ID
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(err("id", "must be up to 32 letters, digits, '-' or '_'"));
        }
        Ok(SessionId(s.to_string()))
    }
}

/// Where a message or user comes from: a node (port 8080) or a Pi-style host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// An AREDN node.
    Node,
    /// Anything else (Raspberry Pi, Debian box).
    Pi,
}

impl FromStr for Platform {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        match s {
            "node" => Ok(Platform::Node),
            "pi" => Ok(Platform::Pi),
            _ => Err(err("platform", "must be 'node' or 'pi'")),
        }
    }
}

impl Platform {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Node => "node",
            Platform::Pi => "pi",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

string_type!(
    /// A shared file's name: a safe base name that can be joined to the files directory.
    FileName
);

impl FileName {
    /// Reduces an uploaded file name to a safe base name: the part after the last `/` or
    /// `\`, without control characters and leading dots, at most 255 bytes. `None` when
    /// nothing usable is left.
    pub fn sanitize(raw: &str) -> Option<FileName> {
        let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
        let cleaned: String = base.chars().filter(|c| !is_control(*c)).collect();
        let cleaned = cleaned.trim().trim_start_matches('.');
        let mut end = cleaned.len().min(MAX_FILE_NAME);
        while !cleaned.is_char_boundary(end) {
            end -= 1;
        }
        let name = cleaned[..end].trim_end();
        if name.is_empty() {
            None
        } else {
            Some(FileName(name.to_string()))
        }
    }
}

impl FromStr for FileName {
    type Err = FieldError;
    /// Strict form, for names that must already be safe (a download or delete request, a
    /// peer's file list): refused rather than rewritten.
    fn from_str(s: &str) -> Result<Self, FieldError> {
        if s.is_empty() {
            return Err(err("file", "is empty"));
        }
        if s.len() > MAX_FILE_NAME {
            return Err(err("file", "is too long"));
        }
        if has_control(s) {
            return Err(err("file", "contains a control character"));
        }
        if s.contains('/') || s.contains('\\') || s.starts_with('.') {
            return Err(err("file", "must be a plain file name"));
        }
        Ok(FileName(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_wise_control_check_matches_char_check() {
        for s in [
            "plain",
            "tab\there",
            "nul\0",
            "del\u{7f}",
            "c1\u{85}x",
            "é ü ñ €",
            "\u{9f}",
            "\u{a0}",
            "\u{2028}",
        ] {
            assert_eq!(has_control(s), s.chars().any(is_control), "{s:?}");
        }
        assert!(!has_control_except("a\rb", b"\r"));
    }

    #[test]
    fn message_id_round_trips_lowercase() {
        let id: MessageId = "0A1B2C3D".parse().unwrap();
        assert_eq!(id.to_string(), "0a1b2c3d");
        assert_eq!(&id.hex(), b"0a1b2c3d");
        assert_eq!(&MessageId(u32::MAX).hex(), b"ffffffff");
        assert!("0a1b2c3".parse::<MessageId>().is_err());
        assert!("0a1b2c3g".parse::<MessageId>().is_err());
        assert!("+a1b2c3d".parse::<MessageId>().is_err());
    }

    #[test]
    fn epoch_rejects_signs_and_garbage() {
        assert_eq!("1795661251".parse::<Epoch>().unwrap(), Epoch(1795661251));
        for bad in ["", "-1", "1e9", " 1", "12345678901234"] {
            assert!(bad.parse::<Epoch>().is_err(), "{bad}");
        }
        let now = Epoch(1000);
        assert!(!Epoch(1000 + MAX_FUTURE_SECS).too_far_ahead(now));
        assert!(Epoch(1001 + MAX_FUTURE_SECS).too_far_ahead(now));
    }

    #[test]
    fn identity_fields_refuse_controls() {
        for bad in ["K1\tABC", "K1\nABC", "K1\0", "K1\rX", "\u{7f}x"] {
            assert!(bad.parse::<CallSign>().is_err(), "{bad:?}");
            assert!(bad.parse::<Channel>().is_err(), "{bad:?}");
            assert!(bad.parse::<NodeName>().is_err(), "{bad:?}");
        }
        assert!("net control".parse::<Channel>().unwrap().has_space());
        assert_eq!("".parse::<Channel>().unwrap().as_str(), "");
        assert!("KN6PLV-hap".parse::<NodeName>().is_ok());
        assert!("a;rm -rf".parse::<NodeName>().is_err());
        assert!("-x".parse::<NodeName>().is_err());
    }

    #[test]
    fn file_names_are_reduced_to_safe_base_names() {
        let s = |x: &str| FileName::sanitize(x).map(|f| f.0);
        assert_eq!(s("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(s("C:\\x\\y.txt").as_deref(), Some("y.txt"));
        assert_eq!(s(".hidden").as_deref(), Some("hidden"));
        assert_eq!(s("a\nb\0c.txt").as_deref(), Some("abc.txt"));
        assert_eq!(s("$(reboot);`x`.txt").as_deref(), Some("$(reboot);`x`.txt"));
        assert_eq!(s("..").as_deref(), None);
        assert_eq!(s("dir/").as_deref(), None);
        let long = "é".repeat(200);
        assert!(s(&long).unwrap().len() <= 255);
        assert!("../x".parse::<FileName>().is_err());
        assert!(".x".parse::<FileName>().is_err());
        assert!("x%2Fy".parse::<FileName>().is_ok());
    }
}
