//! The export formats of `meshchat export` and what `meshchat import` reads back:
//! `legacy` (the database lines, byte for byte what `messages_raw` serves), `jsonl` (one
//! JSON object per line, the members of the `messages` action) and `csv` (for
//! spreadsheets; written only).
//!
//! A jsonl line is read back by turning it into a database line and parsing that with the
//! one line parser, so an export imported into an empty node exports identically.

use std::fmt;
use std::str::FromStr;

use super::json::{parse_flat_object, Flat, Object};
use super::lines::{LineError, Message, MessageRef};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Legacy,
    Jsonl,
    Csv,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "legacy" => Ok(Format::Legacy),
            "jsonl" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            _ => Err(format!("unknown format '{s}': use jsonl, csv or legacy")),
        }
    }
}

/// The header line of the csv format.
pub const CSV_HEADER: &str = "id,epoch,message,call_sign,node,platform,channel\n";

/// Appends one message as the JSON object of the `messages` action (no newline).
pub fn push_message(out: &mut Vec<u8>, m: &MessageRef) {
    push_message_counted(out, m, None);
}

/// The same, with `"held_by":N` when given (`messages&delivery=1`, docs/API.md).
pub fn push_message_counted(out: &mut Vec<u8>, m: &MessageRef, held_by: Option<u64>) {
    let mut o = Object::new(out);
    o.str("id", std::str::from_utf8(&m.id.hex()).unwrap_or_default())
        .num("epoch", m.epoch.0)
        .stored_text("message", m.text)
        .str("call_sign", m.call_sign)
        .str("node", m.node)
        .str("platform", m.platform.as_str())
        .str("channel", m.channel);
    if let Some(n) = held_by {
        o.num("held_by", n);
    }
    o.end();
}

/// A csv cell: quoted when it holds a separator, a quote or a line break; a cell a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a leading `'`.
fn push_csv(out: &mut Vec<u8>, s: &str) {
    let formula = s.starts_with(['=', '+', '-', '@']);
    if !formula && !s.contains([',', '"', '\n', '\r']) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.push(b'"');
    if formula {
        out.push(b'\'');
    }
    out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
    out.push(b'"');
}

/// Appends one message in `format`, with its newline.
pub fn push_line(out: &mut Vec<u8>, format: Format, m: &MessageRef) {
    match format {
        Format::Legacy => out.extend_from_slice(m.line.as_bytes()),
        Format::Jsonl => push_message(out, m),
        Format::Csv => {
            out.extend_from_slice(&m.id.hex());
            out.push(b',');
            out.extend_from_slice(m.epoch.0.to_string().as_bytes());
            let mut text = String::with_capacity(m.text.len());
            super::lines::unescape_each(m.text, |p| text.push_str(p));
            for s in [
                text.as_str(),
                m.call_sign,
                m.node,
                m.platform.as_str(),
                m.channel,
            ] {
                out.push(b',');
                push_csv(out, s);
            }
        }
    }
    out.push(b'\n');
}

/// Why a jsonl line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonlError {
    /// Not a flat JSON object of strings and numbers.
    NotAnObject,
    /// A member is missing or has the wrong type.
    Member(&'static str),
    /// A member holds a TAB or line break where the database line cannot hold one.
    Control(&'static str),
    /// The message it describes is not valid.
    Line(LineError),
}

impl fmt::Display for JsonlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonlError::NotAnObject => f.write_str("not a JSON object of strings and numbers"),
            JsonlError::Member(m) => write!(f, "member '{m}' is missing or not valid"),
            JsonlError::Control(m) => write!(f, "member '{m}' holds a control character"),
            JsonlError::Line(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for JsonlError {}

/// The legacy stored form of a text read from an export: the exact inverse of the
/// unescape `messages` applies (a newline becomes `\n`, `"` becomes `\"`; nothing else is
/// changed), so the text exports again as it was read.
fn stored_form(text: &str) -> Result<String, JsonlError> {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            '\r' => out.push('\r'),
            c if c.is_control() => return Err(JsonlError::Control("message")),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Reads one jsonl line back into a message.
pub fn parse_jsonl(line: &str) -> Result<Message, JsonlError> {
    let members = parse_flat_object(line.as_bytes()).ok_or(JsonlError::NotAnObject)?;
    let get = |k: &'static str| members.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    let text = |k: &'static str| match get(k) {
        Some(Flat::Str(s)) if !s.chars().any(char::is_control) => Ok(s.as_str()),
        Some(Flat::Str(_)) => Err(JsonlError::Control(k)),
        _ => Err(JsonlError::Member(k)),
    };
    let epoch = match get("epoch") {
        Some(Flat::Num(n)) => *n,
        _ => return Err(JsonlError::Member("epoch")),
    };
    let message = match get("message") {
        Some(Flat::Str(s)) => stored_form(s)?,
        _ => return Err(JsonlError::Member("message")),
    };
    let line = format!(
        "{}\t{epoch}\t{message}\t{}\t{}\t{}\t{}",
        text("id")?,
        text("call_sign")?,
        text("node")?,
        text("platform")?,
        text("channel")?
    );
    Message::parse(&line).map_err(JsonlError::Line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str =
        "0a1b2c3d\t1795661251\t=SUM(A1) \\\"q\\\", a\\nb\\\\n\r\tK1ABC\tnode-a\tnode\t@K1ABC+W2XYZ";

    #[test]
    fn jsonl_reads_back_what_it_writes() {
        let m = MessageRef::parse(LINE).unwrap();
        let mut out = Vec::new();
        push_line(&mut out, Format::Jsonl, &m);
        let text = String::from_utf8(out.clone()).unwrap();
        let back = parse_jsonl(text.trim_end()).unwrap();
        let mut again = String::new();
        back.write_line(&mut again);
        assert_eq!(again.trim_end(), LINE);
        assert_eq!(
            parse_jsonl("{\"id\":\"0a1b2c3d\",\"epoch\":1,\"message\":\"x\",\"call_sign\":\"a\\tb\",\"node\":\"n\",\"platform\":\"node\",\"channel\":\"\"}"),
            Err(JsonlError::Control("call_sign"))
        );
        assert_eq!(parse_jsonl("[1]"), Err(JsonlError::NotAnObject));
        assert_eq!(
            parse_jsonl("{\"id\":\"0a1b2c3d\"}"),
            Err(JsonlError::Member("epoch"))
        );
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let m = MessageRef::parse(LINE).unwrap();
        let mut out = Vec::new();
        push_line(&mut out, Format::Csv, &m);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "0a1b2c3d,1795661251,\"'=SUM(A1) \"\"q\"\", a\nb\\\n\r\",K1ABC,node-a,node,\"'@K1ABC+W2XYZ\"\n"
        );
        let mut out = Vec::new();
        push_line(&mut out, Format::Legacy, &m);
        assert_eq!(out, format!("{LINE}\n").as_bytes());
    }
}
