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

/// A value of a flat JSON object, as [`parse_flat_object`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flat {
    Str(String),
    Num(u64),
}

/// Reads a flat JSON object of string and non-negative integer members, such as the
/// legacy status reply `{"status":500, "response":"..."}`; `None` for anything else.
pub fn parse_flat_object(body: &[u8]) -> Option<Vec<(String, Flat)>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut rest = text.trim().strip_prefix('{')?.trim_start();
    let mut out = Vec::new();
    if let Some(r) = rest.strip_prefix('}') {
        return r.trim().is_empty().then_some(out);
    }
    loop {
        let (key, r) = parse_string(rest)?;
        let r = r.trim_start().strip_prefix(':')?.trim_start();
        let (value, r) = if r.starts_with('"') {
            let (s, r) = parse_string(r)?;
            (Flat::Str(s), r)
        } else {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            (Flat::Num(r[..digits].parse().ok()?), &r[digits..])
        };
        out.push((key, value));
        let r = r.trim_start();
        if let Some(r) = r.strip_prefix(',') {
            rest = r.trim_start();
        } else {
            return r.strip_prefix('}')?.trim().is_empty().then_some(out);
        }
    }
}

/// A JSON string at the start of `s` (escapes resolved), and what follows it.
fn parse_string(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let body = &s[1..];
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                out.push(match e {
                    '"' | '\\' | '/' => e,
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'u' => {
                        let hex = |chars: &mut std::str::CharIndices| -> Option<u32> {
                            let h: String = (0..4)
                                .map(|_| chars.next().map(|(_, c)| c))
                                .collect::<Option<_>>()?;
                            u32::from_str_radix(&h, 16).ok()
                        };
                        let hi = hex(&mut chars)?;
                        let code = if (0xd800..0xdc00).contains(&hi) {
                            if chars.next()?.1 != '\\' || chars.next()?.1 != 'u' {
                                return None;
                            }
                            let lo = hex(&mut chars)?;
                            0x10000 + ((hi - 0xd800) << 10) + (lo.checked_sub(0xdc00)? & 0x3ff)
                        } else {
                            hi
                        };
                        char::from_u32(code)?
                    }
                    _ => return None,
                });
            }
            c if (c as u32) < 0x20 => return None,
            c => out.push(c),
        }
    }
    None
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
    fn flat_objects_read_back_what_we_write() {
        let nasty = "a\"b\\c\nd<e> é 😀 \u{1}";
        let mut out = Vec::new();
        Object::new(&mut out)
            .num("status", 500)
            .str("response", nasty)
            .end();
        let v = parse_flat_object(&out).unwrap();
        assert_eq!(
            v,
            [
                ("status".into(), Flat::Num(500)),
                ("response".into(), Flat::Str(nasty.into()))
            ]
        );
        let legacy = br#" {"status":200, "response":"OK"}
"#;
        assert_eq!(
            parse_flat_object(legacy).unwrap()[1].1,
            Flat::Str("OK".into())
        );
        assert_eq!(
            parse_flat_object(br#"{"a":"\ud83d\ude00\/"}"#).unwrap()[0].1,
            Flat::Str("😀/".into())
        );
        assert_eq!(parse_flat_object(b"{}").unwrap(), []);
        for bad in [
            &b"[]"[..],
            b"{",
            b"{\"a\":}",
            b"{\"a\":1,}",
            b"{\"a\":1} x",
            b"{\"a\":\"\\q\"}",
            b"{\"a\":-1}",
            b"\xff",
        ] {
            assert_eq!(
                parse_flat_object(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
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
