//! The JSON writer for every response body: compact, no allocation per value.
//!
//! Hand-written rather than serde because the hot path (`messages`) streams each stored
//! message text through the legacy unescape straight into the JSON escape.

use super::lines::unescape_each;

/// Appends `s` as a quoted JSON string.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_escaped(out, s);
    out.push(b'"');
}

/// Appends a stored message text, unescaped the legacy way, as a quoted JSON string.
pub fn push_stored_text(out: &mut Vec<u8>, stored: &str) {
    out.push(b'"');
    unescape_each(stored, |piece| push_escaped(out, piece));
    out.push(b'"');
}

/// Bytes a JSON string cannot hold as they are; `<` and `>` too, so a body can never be
/// sniffed into markup.
static ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0x7f] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t
};

fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !ESCAPE[b as usize] {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends a number without allocating.
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Builds one JSON object, key by key.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    /// Starts an object at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, first: true }
    }

    /// Keys are this program's own constants: written as they are, never escaped.
    fn key(&mut self, k: &str) -> &mut Vec<u8> {
        debug_assert!(!k.bytes().any(|b| ESCAPE[b as usize]));
        self.out
            .extend_from_slice(if self.first { b"\"" } else { b",\"" });
        self.first = false;
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// A string member.
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        let out = self.key(k);
        push_str(out, v);
        self
    }

    /// A message text member, stored form in, user form out.
    pub fn stored_text(&mut self, k: &str, v: &str) -> &mut Self {
        let out = self.key(k);
        push_stored_text(out, v);
        self
    }

    /// A number member.
    pub fn num(&mut self, k: &str, v: u64) -> &mut Self {
        let out = self.key(k);
        push_u64(out, v);
        self
    }

    /// A member whose value is already JSON.
    pub fn raw(&mut self, k: &str, json: &[u8]) -> &mut Self {
        let out = self.key(k);
        out.extend_from_slice(json);
        self
    }

    /// Closes the object.
    pub fn end(&mut self) {
        self.out.push(b'}');
    }
}

/// Writes a JSON array of the items, each written by `write`.
pub fn push_array<T>(
    out: &mut Vec<u8>,
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_parses_back() {
        let nasty = "a\"b\\c\nd\te\u{1}f<script>é\u{7f}\u{1f}";
        let mut out = Vec::new();
        Object::new(&mut out).str("k", nasty).num("n", 42).end();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["k"], nasty);
        assert_eq!(v["n"], 42);
        assert!(!out.windows(7).any(|w| w == b"<script"));
    }

    #[test]
    fn stored_text_is_unescaped() {
        let mut out = Vec::new();
        push_stored_text(&mut out, "line1\\nline2 \\\"q\\\"");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, "line1\nline2 \"q\"");
    }

    #[test]
    fn numbers() {
        for n in [0u64, 7, 10, 1795661251, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn arrays() {
        let mut out = Vec::new();
        push_array(&mut out, [1u64, 2, 3], |o, n| {
            o.extend_from_slice(n.to_string().as_bytes())
        });
        assert_eq!(out, b"[1,2,3]");
        let mut out = Vec::new();
        push_array(&mut out, Vec::<u64>::new(), |_, _| {});
        assert_eq!(out, b"[]");
    }
}
