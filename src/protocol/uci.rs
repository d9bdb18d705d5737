//! UCI configuration files (`/etc/config/meshchat`, `/etc/config.mesh/setup`,
//! `/etc/local/uci/hsmmmesh`): `config TYPE 'NAME'` sections of `option` and `list` lines.
//!
//! Read-only and forgiving: a line that is not understood is skipped, as `uci` itself
//! reports and skips it.

/// One `config` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub kind: String,
    pub name: Option<String>,
    /// `option` and `list` values in file order; a list repeats its key.
    pub values: Vec<(String, String)>,
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

/// Splits a line into words, honouring single and double quotes and `#` comments. Runs
/// of ordinary characters are copied as slices (this runs on every CGI start).
fn words(line: &str) -> Vec<String> {
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
                let end = after.find('\'').unwrap_or(after.len());
                cur.push_str(&after[..end]);
                rest = after.get(end + 1..).unwrap_or("");
            }
            '"' => {
                in_word = true;
                rest = after;
                loop {
                    let Some(i) = rest.find(['"', '\\']) else {
                        // Unterminated: the rest of the line belongs to the word.
                        cur.push_str(rest);
                        rest = "";
                        break;
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
    out
}

/// Parses a whole file.
pub fn parse(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    for line in text.lines() {
        let w = words(line);
        match w.first().map(String::as_str) {
            Some("config") if w.len() >= 2 => sections.push(Section {
                kind: w[1].clone(),
                name: w.get(2).cloned(),
                values: Vec::new(),
            }),
            Some("option") | Some("list") if w.len() >= 3 => {
                if let Some(s) = sections.last_mut() {
                    s.values.push((w[1].clone(), w[2].clone()));
                }
            }
            _ => {}
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_escapes_and_comments() {
        assert_eq!(words("option a 'b c'd # x"), ["option", "a", "b cd"]);
        assert_eq!(words(r#"x "a\"b\\c" e\ f"#), ["x", "a\"b\\c", "e f"]);
        assert_eq!(words("x 'unterminated  q"), ["x", "unterminated  q"]);
        assert_eq!(words(r#"x "open \"end"#), ["x", "open \"end"]);
        assert_eq!(words("a#b 'c#d' #e"), ["a#b", "c#d"]);
        assert_eq!(words("\u{a0}word\u{3000}é '' x\\"), ["word", "é", "", "x"]);
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
