//! UCI configuration files (`/etc/config/meshchat`, `/etc/config.mesh/setup`,
//! `/etc/local/uci/hsmmmesh`): `config TYPE 'NAME'` sections of `option` and `list` lines.
//!
//! Read-only. [`parse`] is forgiving (the node's own files: a line that is not understood
//! is skipped); [`parse_checked`] also says which lines were skipped and why, so meshchat's
//! own file can be checked (`meshchat check-config`).

/// One `config` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub kind: String,
    pub name: Option<String>,
    /// `option` and `list` values in file order; a list repeats its key.
    pub values: Vec<(String, String)>,
    /// The 1-based line of each value, in the same order.
    pub lines: Vec<usize>,
    /// The 1-based line of the `config` line.
    pub line: usize,
}

/// A line [`parse_checked`] skipped: its 1-based number and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub why: &'static str,
}

impl Section {
    /// The last value of an option.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a list (or option).
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.values
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Where a run of ordinary characters ends: at whitespace (as `char::is_whitespace`), a
/// quote or a backslash. Bytes, decoding only beyond ASCII.
fn word_end(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\t'..=b'\r' | b' ' | b'\'' | b'"' | b'\\' => return i,
            0..=0x7f => i += 1,
            _ => {
                let c = s[i..].chars().next().unwrap_or(' ');
                if c.is_whitespace() {
                    return i;
                }
                i += c.len_utf8();
            }
        }
    }
    i
}

/// Splits a line into words, honouring single and double quotes and `#` comments; an
/// unclosed quote is an error. Runs of ordinary characters are copied as slices (this
/// runs on every CGI start).
fn words(line: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        match c {
            '#' if !in_word => break,
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                rest = after;
            }
            '\'' => {
                in_word = true;
                let end = after.find('\'').ok_or("unclosed ' quote")?;
                cur.push_str(&after[..end]);
                rest = after.get(end + 1..).unwrap_or("");
            }
            '"' => {
                in_word = true;
                rest = after;
                loop {
                    let Some(i) = rest.find(['"', '\\']) else {
                        return Err("unclosed \" quote");
                    };
                    cur.push_str(&rest[..i]);
                    let quote = rest.as_bytes()[i] == b'"';
                    rest = &rest[i + 1..];
                    if quote {
                        break;
                    }
                    if let Some(n) = rest.chars().next() {
                        cur.push(n);
                        rest = &rest[n.len_utf8()..];
                    }
                }
            }
            '\\' => {
                in_word = true;
                rest = after;
                if let Some(n) = rest.chars().next() {
                    cur.push(n);
                    rest = &rest[n.len_utf8()..];
                }
            }
            _ => {
                in_word = true;
                let end = word_end(rest);
                cur.push_str(&rest[..end]);
                rest = &rest[end..];
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Parses a whole file, skipping what it does not understand.
pub fn parse(text: &str) -> Vec<Section> {
    parse_checked(text).0
}

/// Parses a whole file; the lines skipped come back too. A line is `config TYPE ['NAME']`,
/// `option NAME 'VALUE'`, `list NAME 'VALUE'` (inside a section), `package NAME`, blank or
/// a comment; anything else, or extra words, is an error.
pub fn parse_checked(text: &str) -> (Vec<Section>, Vec<LineError>) {
    let mut sections: Vec<Section> = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut fail = |why| errors.push(LineError { line: n, why });
        let w = match words(line) {
            Ok(w) => w,
            Err(why) => {
                fail(why);
                continue;
            }
        };
        // Extra words are reported, but the line is still read as before (the node's
        // own files are read leniently).
        match (w.first().map(String::as_str), w.len()) {
            (None, _) => {}
            (Some("config"), 2..) => {
                if w.len() > 3 {
                    fail("extra words after config TYPE 'NAME'");
                }
                sections.push(Section {
                    kind: w[1].clone(),
                    name: w.get(2).cloned(),
                    values: Vec::new(),
                    lines: Vec::new(),
                    line: n,
                })
            }
            (Some("option" | "list"), 3..) => match sections.last_mut() {
                Some(s) => {
                    if w.len() > 3 {
                        fail("extra words after the value (quote a value with blanks)");
                    }
                    s.values.push((w[1].clone(), w[2].clone()));
                    s.lines.push(n);
                }
                None => fail("option before any 'config' line"),
            },
            (Some("package"), 2) => {}
            (Some("config"), _) => fail("expected config TYPE 'NAME'"),
            (Some("option"), _) => fail("expected option NAME 'VALUE'"),
            (Some("list"), _) => fail("expected list NAME 'VALUE'"),
            _ => fail("not a config, option or list line"),
        }
    }
    (sections, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_escapes_and_comments() {
        let w = |l| words(l).unwrap();
        assert_eq!(w("option a 'b c'd # x"), ["option", "a", "b cd"]);
        assert_eq!(w(r#"x "a\"b\\c" e\ f"#), ["x", "a\"b\\c", "e f"]);
        assert_eq!(words("x 'unterminated  q"), Err("unclosed ' quote"));
        assert_eq!(words(r#"x "open \"end"#), Err("unclosed \" quote"));
        assert_eq!(w("a#b 'c#d' #e"), ["a#b", "c#d"]);
        assert_eq!(w("\u{a0}word\u{3000}é '' x\\"), ["word", "é", "", "x"]);
    }

    #[test]
    fn parses_sections_options_and_lists() {
        let s = parse(
            "# comment\nconfig meshchat 'main'\n\toption zone 'Ops Chat' # trailing\n\
\toption max_messages \"1000\"\n\tlist peer 'a:8080'\n\tlist peer b:80\n\
config services 'services'\n\tlist service 'MeshChat [chat]|1|http|KN6PLV-hap|8080|meshchat'\n\
garbage line\noption orphan x\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].kind, "meshchat");
        assert_eq!(s[0].name.as_deref(), Some("main"));
        assert_eq!(s[0].get("zone"), Some("Ops Chat"));
        assert_eq!(s[0].get("max_messages"), Some("1000"));
        assert_eq!(s[0].all("peer").collect::<Vec<_>>(), ["a:8080", "b:80"]);
        assert_eq!(
            s[1].get("service"),
            Some("MeshChat [chat]|1|http|KN6PLV-hap|8080|meshchat")
        );
    }
}
