//! JSON: the writer for every response body (compact, no allocation per value), and one
//! small reader for what comes in (the legacy status reply, Raven datagrams and
//! arednlink entries).
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
    push_escaped_bytes(out, s.as_bytes());
}

/// Escapes bytes: only ASCII ever needs it, so anything else passes as it is.
fn push_escaped_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
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
    std::str::from_utf8(body).ok()?;
    let Value::Obj(members) = parse(body).ok()? else {
        return None;
    };
    members
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Str(s) => Flat::Str(String::from_utf8(s).ok()?),
                Value::Int(n) => Flat::Num(u64::try_from(n).ok()?),
                _ => return None,
            };
            Some((String::from_utf8(k).ok()?, v))
        })
        .collect()
}

/// Nesting a JSON text may have: deeper is refused rather than recursed into.
pub const MAX_DEPTH: usize = 32;

/// A JSON value. Strings are kept as bytes: the reader accepts any byte of 0x80 and above
/// inside a string as it is (see [`parse`]), and escapes are resolved to UTF-8.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// A whole number that fits an `i64`.
    Int(i64),
    /// Any other number (a fraction, an exponent, out of range), as it was written.
    Frac(String),
    Str(Vec<u8>),
    Arr(Vec<Value>),
    /// Members in their order; a repeated key is kept twice ([`Value::get`] finds the first).
    Obj(Vec<(Vec<u8>, Value)>),
}

impl Value {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Obj(m) => m.iter().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A whole number in `0..=u32::MAX`.
    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Value::Int(n) => u32::try_from(*n).ok(),
            _ => None,
        }
    }

    /// A whole number.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// A string's bytes.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An array's items.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Arr(a) => Some(a),
            _ => None,
        }
    }

    /// True for `true`, and for the numbers other than 0 (ucode writes flags either way).
    pub fn truthy(&self) -> bool {
        matches!(self, Value::Bool(true)) || matches!(self, Value::Int(n) if *n != 0)
    }
}

/// Why a JSON text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at this byte offset.
    Syntax(usize),
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonError::Syntax(at) => write!(f, "not JSON at byte {at}"),
            JsonError::TooDeep => write!(f, "JSON nested deeper than {MAX_DEPTH}"),
        }
    }
}

impl std::error::Error for JsonError {}

/// Reads one JSON text. Byte-tolerant: bytes 0x80 to 0xFF inside a string are taken as
/// they are, valid UTF-8 or not, because ucode (the language of the Raven chat and of
/// AREDN's own tools) writes binary fields that way. Everything else is strict JSON.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    Reader::new(bytes, false).document()
}

/// [`parse`], also accepting a comma before a closing `}` or `]`, as ucode's reader does
/// (AREDN's arednlink writes its publish files with one).
pub fn parse_lenient(bytes: &[u8]) -> Result<Value, JsonError> {
    Reader::new(bytes, true).document()
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    trailing_commas: bool,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8], trailing_commas: bool) -> Reader<'a> {
        Reader {
            b,
            i: 0,
            trailing_commas,
        }
    }

    fn err<T>(&self) -> Result<T, JsonError> {
        Err(JsonError::Syntax(self.i))
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn document(mut self) -> Result<Value, JsonError> {
        let v = self.value(0)?;
        self.skip_ws();
        if self.i != self.b.len() {
            return self.err();
        }
        Ok(v)
    }

    fn eat(&mut self, word: &[u8]) -> bool {
        let ok = self.b[self.i..].starts_with(word);
        if ok {
            self.i += word.len();
        }
        ok
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth >= MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        self.skip_ws();
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                if self.close(b'}') {
                    return Ok(Value::Obj(members));
                }
                loop {
                    self.skip_ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return self.err();
                    }
                    let key = self.string()?;
                    self.skip_ws();
                    if !self.eat(b":") {
                        return self.err();
                    }
                    members.push((key, self.value(depth + 1)?));
                    if self.next_item(b'}')? {
                        return Ok(Value::Obj(members));
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                if self.close(b']') {
                    return Ok(Value::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.next_item(b']')? {
                        return Ok(Value::Arr(items));
                    }
                }
            }
            Some(b'"') => self.string().map(Value::Str),
            Some(b't') if self.eat(b"true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Value::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.err(),
        }
    }

    /// After a member or item: `true` at the closing byte, `false` after a comma.
    fn next_item(&mut self, closing: u8) -> Result<bool, JsonError> {
        self.skip_ws();
        if self.eat(b",") {
            return Ok(self.trailing_commas && self.close(closing));
        }
        if self.eat(&[closing]) {
            return Ok(true);
        }
        self.err()
    }

    /// Consumes `closing` (after white space) if it comes next.
    fn close(&mut self, closing: u8) -> bool {
        self.skip_ws();
        self.eat(&[closing])
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.i;
        self.eat(b"-");
        let digits = |r: &mut Self| {
            let s = r.i;
            while r.b.get(r.i).is_some_and(u8::is_ascii_digit) {
                r.i += 1;
            }
            r.i - s
        };
        let int_digits = digits(self);
        if int_digits == 0 || (int_digits > 1 && self.b[self.i - int_digits] == b'0') {
            return self.err();
        }
        let mut whole = true;
        if self.eat(b".") {
            whole = false;
            if digits(self) == 0 {
                return self.err();
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            whole = false;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return self.err();
            }
        }
        // Digits and a sign are ASCII: the slice is valid UTF-8.
        let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
        Ok(match (whole, text.parse::<i64>()) {
            (true, Ok(n)) => Value::Int(n),
            _ => Value::Frac(text.to_string()),
        })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .ok_or(JsonError::Syntax(self.i))?;
        let v = std::str::from_utf8(h)
            .ok()
            .filter(|s| s.bytes().all(|c| c.is_ascii_hexdigit()))
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .ok_or(JsonError::Syntax(self.i))?;
        self.i += 4;
        Ok(v)
    }

    /// A string at `self.i` (on its opening quote), escapes resolved.
    fn string(&mut self) -> Result<Vec<u8>, JsonError> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let run = self.b[self.i..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .ok_or(JsonError::Syntax(self.b.len()))?;
            out.extend_from_slice(&self.b[self.i..self.i + run]);
            self.i += run;
            match self.b[self.i] {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.i += 1;
                    let e = *self.b.get(self.i).ok_or(JsonError::Syntax(self.i))?;
                    self.i += 1;
                    let c = match e {
                        b'"' | b'\\' | b'/' => e,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'f' => 12,
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                if !self.eat(b"\\u") {
                                    return self.err();
                                }
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return self.err();
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            let ch = char::from_u32(code).ok_or(JsonError::Syntax(self.i))?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            continue;
                        }
                        _ => return self.err(),
                    };
                    out.push(c);
                }
                _ => return self.err(),
            }
        }
    }
}

/// Appends any [`Value`] as JSON (strings byte for byte, as [`parse`] read them).
pub fn push_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Frac(text) => out.extend_from_slice(text.as_bytes()),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(n) => {
            if *n < 0 {
                out.push(b'-');
            }
            push_u64(out, n.unsigned_abs());
        }
        Value::Str(s) => {
            out.push(b'"');
            push_escaped_bytes(out, s);
            out.push(b'"');
        }
        Value::Arr(a) => push_array(out, a, push_value),
        Value::Obj(m) => {
            out.push(b'{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'"');
                push_escaped_bytes(out, k);
                out.extend_from_slice(b"\":");
                push_value(out, v);
            }
            out.push(b'}');
        }
    }
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
