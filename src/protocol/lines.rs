//! The TAB-separated line formats: messages, users, files, sync status.
//!
//! Each record type has exactly one parser (`parse`) and one writer (`write_line`), and the
//! message text escaping lives only here. A line never holds a TAB or newline inside a
//! field, because every field is a validated type and the text is escaped.

use std::fmt;

use super::limits::{MAX_LINE, MAX_MESSAGE};
use super::types::*;

/// Why a line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// Not the expected number of TAB-separated fields.
    FieldCount(usize),
    /// Longer than [`MAX_LINE`].
    TooLong,
    /// A field failed validation.
    Field(FieldError),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::FieldCount(n) => write!(f, "expected TAB-separated fields, found {n}"),
            LineError::TooLong => write!(f, "line is too long"),
            LineError::Field(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LineError {}

impl From<FieldError> for LineError {
    fn from(e: FieldError) -> Self {
        LineError::Field(e)
    }
}

fn split_fields<const N: usize>(line: &str) -> Result<[&str; N], LineError> {
    if line.len() > MAX_LINE {
        return Err(LineError::TooLong);
    }
    // Into an array: no allocation for a line read (presence is read on every request).
    let mut fields = [""; N];
    let mut n = 0;
    let mut start = 0;
    // TAB is ASCII: byte offsets are char boundaries.
    for (i, &b) in line.as_bytes().iter().enumerate() {
        if b == b'\t' {
            if n < N {
                fields[n] = &line[start..i];
            }
            n += 1;
            start = i + 1;
        }
    }
    if n < N {
        fields[n] = &line[start..];
    }
    n += 1;
    if n != N {
        return Err(LineError::FieldCount(n));
    }
    Ok(fields)
}

/// Message text in its stored (legacy-escaped) form: a newline is `\n`, `"` is `\"`, and
/// there is no TAB, CR or other control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredText(String);

impl StoredText {
    /// Escapes text typed by a user. CRLF and CR become newlines, TAB a space (as legacy);
    /// other control characters are refused, as is empty or over-long text.
    pub fn escape(text: &str) -> Result<StoredText, FieldError> {
        let field = "message";
        if text.trim().is_empty() {
            return Err(FieldError {
                field,
                reason: "is empty",
            });
        }
        if text.len() > MAX_MESSAGE {
            return Err(FieldError {
                field,
                reason: "is longer than 4096 bytes",
            });
        }
        let mut out = String::with_capacity(text.len() + 8);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    out.push_str("\\n");
                }
                '\n' => out.push_str("\\n"),
                '"' => out.push_str("\\\""),
                '\t' => out.push(' '),
                c if is_control(c) => {
                    return Err(FieldError {
                        field,
                        reason: "contains a control character",
                    })
                }
                c => out.push(c),
            }
        }
        Ok(StoredText(out))
    }

    /// Checks text already in stored form (from our log or a peer's database line).
    pub fn check(s: &str) -> Result<(), FieldError> {
        let field = "message";
        if s.is_empty() {
            return Err(FieldError {
                field,
                reason: "is empty",
            });
        }
        // CR is tolerated: old clients sent it and it cannot break the line framing.
        if has_control_except(s, b"\r") {
            return Err(FieldError {
                field,
                reason: "contains a control character",
            });
        }
        Ok(())
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text as users see it (`\n` and `\"` restored, as the legacy reader does).
    pub fn unescape(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        unescape_each(&self.0, |piece| out.push_str(piece));
        out
    }
}

/// Calls `emit` with the pieces of the unescaped form of a stored text, in order, without
/// allocating: the JSON writer streams them.
pub fn unescape_each(stored: &str, mut emit: impl FnMut(&str)) {
    let mut rest = stored;
    while let Some(pos) = rest.find('\\') {
        emit(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('n') {
            emit("\n");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('"') {
            emit("\"");
            rest = tail;
        } else {
            emit("\\");
            rest = after;
        }
    }
    emit(rest);
}

/// One chat message: a line of the message database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub epoch: Epoch,
    pub text: StoredText,
    pub call_sign: CallSign,
    pub node: NodeName,
    pub platform: Platform,
    pub channel: Channel,
}

/// A message borrowed from a database line, validated, without allocating: what the log
/// reader hands out on the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRef<'a> {
    pub id: MessageId,
    pub epoch: Epoch,
    /// Stored (escaped) form.
    pub text: &'a str,
    pub call_sign: &'a str,
    pub node: &'a str,
    pub platform: Platform,
    pub channel: &'a str,
    /// The whole line, without its newline: exactly what `messages_raw` serves.
    pub line: &'a str,
}

impl<'a> MessageRef<'a> {
    /// Parses `id \t epoch \t message \t call_sign \t node \t platform \t channel`
    /// (without the newline). The one message line parser.
    pub fn parse(line: &'a str) -> Result<MessageRef<'a>, LineError> {
        const NAMES: [&str; 7] = [
            "id",
            "epoch",
            "message",
            "call_sign",
            "node",
            "platform",
            "channel",
        ];
        if line.len() > MAX_LINE {
            return Err(LineError::TooLong);
        }
        // One pass finds the TABs and any control character (this runs for every line of
        // every read of the log): CR alone is tolerated, in the text only.
        let b = line.as_bytes();
        let mut tabs = [0usize; 6];
        let mut n = 0;
        let mut i = 0;
        while i < b.len() {
            let x = b[i];
            if x == b'\t' {
                if n == 6 {
                    return Err(LineError::FieldCount(8));
                }
                tabs[n] = i;
                n += 1;
            } else if (x < 0x20 && !(x == b'\r' && n == 2))
                || x == 0x7f
                || (x == 0xc2 && b.get(i + 1).is_some_and(|c| (0x80..=0x9f).contains(c)))
            {
                return Err(FieldError {
                    field: NAMES[n],
                    reason: "contains a control character",
                }
                .into());
            }
            i += 1;
        }
        if n != 6 {
            return Err(LineError::FieldCount(n + 1));
        }
        // TABs are ASCII: every slice below lies on char boundaries.
        let field = |k: usize| {
            let start = if k == 0 { 0 } else { tabs[k - 1] + 1 };
            let end = if k == 6 { line.len() } else { tabs[k] };
            &line[start..end]
        };
        let text = field(2);
        if text.is_empty() {
            return Err(FieldError {
                field: "message",
                reason: "is empty",
            }
            .into());
        }
        let (call_sign, node, channel) = (field(3), field(4), field(6));
        CallSign::check(call_sign)?;
        NodeName::check(node)?;
        Channel::check(channel)?;
        Ok(MessageRef {
            id: field(0).parse()?,
            epoch: field(1).parse()?,
            text,
            call_sign,
            node,
            platform: field(5).parse()?,
            channel,
            line,
        })
    }

    /// An owned copy.
    pub fn to_message(self) -> Result<Message, LineError> {
        Ok(Message {
            id: self.id,
            epoch: self.epoch,
            text: StoredText(self.text.to_string()),
            call_sign: self.call_sign.parse()?,
            node: self.node.parse()?,
            platform: self.platform,
            channel: self.channel.parse()?,
        })
    }
}

impl Message {
    /// Parses one database line (without the newline).
    pub fn parse(line: &str) -> Result<Message, LineError> {
        MessageRef::parse(line)?.to_message()
    }

    /// Appends the line and its `\n` to `out`.
    pub fn write_line(&self, out: &mut String) {
        use std::fmt::Write;
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.id,
            self.epoch,
            self.text.as_str(),
            self.call_sign,
            self.node,
            self.platform,
            self.channel
        );
    }
}

/// A user seen by a node: `call_sign \t id \t node \t epoch \t platform`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub call_sign: CallSign,
    pub id: SessionId,
    pub node: NodeName,
    pub epoch: Epoch,
    pub platform: Platform,
}

impl User {
    /// Parses one line (without the newline).
    pub fn parse(line: &str) -> Result<User, LineError> {
        let f = split_fields::<5>(line)?;
        Ok(User {
            call_sign: f[0].parse()?,
            id: f[1].parse()?,
            node: f[2].parse()?,
            epoch: f[3].parse()?,
            platform: f[4].parse()?,
        })
    }

    /// Appends the line and its `\n` to `out`.
    pub fn write_line(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            self.call_sign, self.id, self.node, self.epoch, self.platform
        );
    }
}

/// `node:port` as file lists carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddr {
    pub node: NodeName,
    pub port: u16,
}

impl std::str::FromStr for NodeAddr {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        let bad = FieldError {
            field: "node",
            reason: "must be node:port",
        };
        let (node, port) = s.rsplit_once(':').ok_or(bad.clone())?;
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad);
        }
        Ok(NodeAddr {
            node: node.parse()?,
            port: port.parse().map_err(|_| bad)?,
        })
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.node, self.port)
    }
}

/// A shared file offered by a node: `filename \t node:port \t size \t mtime \t platform`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub name: FileName,
    pub addr: NodeAddr,
    pub size: u64,
    pub mtime: Epoch,
    pub platform: Platform,
}

impl FileEntry {
    /// Parses one line. Lua MeshChat 2.18 forgets the TAB before the platform
    /// (`1795661251node`): accepted too.
    pub fn parse(line: &str) -> Result<FileEntry, LineError> {
        if line.len() > MAX_LINE {
            return Err(LineError::TooLong);
        }
        let f: Vec<&str> = line.split('\t').collect();
        let (mtime, platform) = match f.len() {
            5 => (f[3], f[4]),
            4 => {
                let digits = f[3].bytes().take_while(u8::is_ascii_digit).count();
                f[3].split_at(digits)
            }
            n => return Err(LineError::FieldCount(n)),
        };
        let size = f[2].parse::<u64>().map_err(|_| FieldError {
            field: "size",
            reason: "must be a number",
        })?;
        Ok(FileEntry {
            name: f[0].parse()?,
            addr: f[1].parse()?,
            size,
            mtime: mtime.parse()?,
            platform: platform.parse()?,
        })
    }

    /// Appends the line (with the TAB before the platform) and its `\n` to `out`.
    pub fn write_line(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            self.name, self.addr, self.size, self.mtime, self.platform
        );
    }
}

/// When a peer was last synced: `node \t epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    pub node: NodeName,
    pub epoch: Epoch,
}

impl SyncStatus {
    /// Parses one line.
    pub fn parse(line: &str) -> Result<SyncStatus, LineError> {
        let f = split_fields::<2>(line)?;
        Ok(SyncStatus {
            node: f[0].parse()?,
            epoch: f[1].parse()?,
        })
    }

    /// Appends the line and its `\n` to `out`.
    pub fn write_line(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "{}\t{}", self.node, self.epoch);
    }
}

/// Parses every line of `text` with `parse`, keeping the good ones and counting the bad:
/// one broken line never spoils the rest.
pub fn parse_all<T>(text: &str, parse: impl Fn(&str) -> Result<T, LineError>) -> (Vec<T>, usize) {
    let mut good = Vec::new();
    let mut bad = 0;
    for line in text.split('\n') {
        if line.is_empty() {
            continue;
        }
        match parse(line) {
            Ok(v) => good.push(v),
            Err(_) => bad += 1,
        }
    }
    (good, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines recorded from Lua MeshChat 2.18 (fixtures 11, 17, 21).
    const RAW: &str =
        "0a1b2c3d\t1795661251\tHello from A \\\"quoted\\\" & a+plus\tK1ABC\tlua-node-a\tnode\t\n\
583f8359\t1795661251\tno id given, server hashes one\tK1ABC\tlua-node-a\tnode\t\n\
1f2e3d4c\t1795664851\tline1\\nline2 with tab\tW2XYZ\tlua-node-a\tnode\tops\n";

    #[test]
    fn recorded_message_lines_round_trip() {
        let (msgs, bad) = parse_all(RAW, Message::parse);
        assert_eq!(bad, 0);
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].text.unescape(), "Hello from A \"quoted\" & a+plus");
        assert_eq!(msgs[2].text.unescape(), "line1\nline2 with tab");
        assert_eq!(msgs[2].channel.as_str(), "ops");
        let mut out = String::new();
        for m in &msgs {
            m.write_line(&mut out);
        }
        assert_eq!(out, RAW);
    }

    #[test]
    fn escaping_matches_legacy() {
        let t = StoredText::escape("line1\nline2\twith tab").unwrap();
        assert_eq!(t.as_str(), "line1\\nline2 with tab");
        let t = StoredText::escape("a\r\nb\rc \"q\"").unwrap();
        assert_eq!(t.as_str(), "a\\nb\\nc \\\"q\\\"");
        assert_eq!(t.unescape(), "a\nb\nc \"q\"");
        assert!(StoredText::escape("nul\0here").is_err());
        assert!(StoredText::escape("   ").is_err());
        assert!(StoredText::escape(&"x".repeat(MAX_MESSAGE + 1)).is_err());
        assert_eq!(StoredText("a\\\\nb\\x".into()).unescape(), "a\\\nb\\x");
    }

    #[test]
    fn bad_message_lines_are_refused() {
        for bad in [
            "",
            "0a1b2c3d\t1\tx\tK\tn\tnode",
            "0a1b2c3d\t1\tx\tK\tn\tnode\t\textra",
            "zzzzzzzz\t1\tx\tK\tn\tnode\t",
            "0a1b2c3d\t-1\tx\tK\tn\tnode\t",
            "0a1b2c3d\t1\t\tK\tn\tnode\t",
            "0a1b2c3d\t1\tx\tK\tn\tmars\t",
            "0a1b2c3d\t1\tx\tK\tn;reboot\tnode\t",
            "0a1b2c3d\t1\tx\u{1b}[2J\tK\tn\tnode\t",
        ] {
            assert!(Message::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn user_and_file_lines() {
        let u = User::parse("K1ABC\tcafe0001\tlua-node-a\t1795661251\tnode").unwrap();
        let mut out = String::new();
        u.write_line(&mut out);
        assert_eq!(out, "K1ABC\tcafe0001\tlua-node-a\t1795661251\tnode\n");

        // Lua 2.18's missing TAB, and the correct form.
        let f = FileEntry::parse("hello.txt\tlua-node-a:8081\t27\t1795661251node").unwrap();
        assert_eq!(f.size, 27);
        assert_eq!(f.mtime, Epoch(1795661251));
        assert_eq!(f.platform, Platform::Node);
        let mut out = String::new();
        f.write_line(&mut out);
        assert_eq!(out, "hello.txt\tlua-node-a:8081\t27\t1795661251\tnode\n");
        assert_eq!(FileEntry::parse(out.trim_end()).unwrap(), f);
        assert!(FileEntry::parse("../x\tn:1\t1\t1\tnode").is_err());
        assert!(FileEntry::parse("x\tn:99999999\t1\t1\tnode").is_err());
    }
}
