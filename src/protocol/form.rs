//! Query strings and `application/x-www-form-urlencoded` bodies.
//!
//! Parameters from the query string and the body are merged (legacy behaviour); the first
//! occurrence of a name wins. Invalid UTF-8 becomes U+FFFD: the typed field parsers
//! downstream decide whether that is acceptable.

/// Request parameters, in arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// An empty set.
    pub fn new() -> Params {
        Params(Vec::new())
    }

    /// Adds every `name=value` pair of an urlencoded string.
    pub fn add_urlencoded(&mut self, s: &[u8]) {
        for pair in s.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            self.push(percent_decode(name), percent_decode(value));
        }
    }

    /// Adds one parameter.
    pub fn push(&mut self, name: String, value: String) {
        self.0.push((name, value));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, `None` when absent or empty (optional parameters).
    pub fn get_nonempty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

/// Decodes `%XX` escapes and `+` (a space in forms). A malformed escape stays literal.
pub fn percent_decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Encodes a value for a query string (unreserved characters stay as they are).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms() {
        let mut p = Params::new();
        p.add_urlencoded(
            b"action=send_message&message=Hello+from+A+%22quoted%22+%26+a%2Bplus&channel=&x",
        );
        assert_eq!(p.get("action"), Some("send_message"));
        assert_eq!(p.get("message"), Some("Hello from A \"quoted\" & a+plus"));
        assert_eq!(p.get("channel"), Some(""));
        assert_eq!(p.get_nonempty("channel"), None);
        assert_eq!(p.get("x"), Some(""));
        assert_eq!(p.get("y"), None);
    }

    #[test]
    fn malformed_escapes_stay_literal() {
        assert_eq!(percent_decode(b"%"), "%");
        assert_eq!(percent_decode(b"%4"), "%4");
        assert_eq!(percent_decode(b"%zz%41"), "%zzA");
        assert_eq!(percent_decode(b"a%0Ab%09c%00"), "a\nb\tc\0");
        assert_eq!(percent_decode(b"%ff"), "\u{fffd}");
        assert_eq!(percent_decode(b"%2F..%2F"), "/../");
    }

    #[test]
    fn encode_round_trips() {
        let s = "K1 ABC/ü&=%";
        assert_eq!(percent_decode(percent_encode(s).as_bytes()), s);
    }
}
