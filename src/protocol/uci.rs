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

/// Splits a line into words, honouring single and double quotes and `#` comments; an
/// unclosed quote is an error.
fn words(line: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '#' if !in_word => break,
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                let mut closed = false;
                for q in chars.by_ref() {
                    if q == '\'' {
                        closed = true;
                        break;
                    }
                    cur.push(q);
                }
                if !closed {
                    return Err("unclosed ' quote");
                }
            }
            '"' => {
                in_word = true;
                let mut closed = false;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => {
                            if let Some(n) = chars.next() {
                                cur.push(n);
                            }
                        }
                        q => cur.push(q),
                    }
                }
                if !closed {
                    return Err("unclosed \" quote");
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
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
        assert_eq!(s[0].lines, [3, 4, 5, 6]);
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number() {
        let (s, errors) = parse_checked(
            "option early 'x'\nconfig meshchat 'main'\n\toption zone 'Unclosed\n\
bogus line here\n\toption max_messages\n\toption a 'b' c\n\tlist peer \"x\n\
config\n\toption node 'ok' # fine\n\n# comment\npackage meshchat\n",
        );
        let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.why)).collect();
        assert_eq!(
            got,
            [
                (1, "option before any 'config' line"),
                (3, "unclosed ' quote"),
                (4, "not a config, option or list line"),
                (5, "expected option NAME 'VALUE'"),
                (6, "extra words after the value (quote a value with blanks)"),
                (7, "unclosed \" quote"),
                (8, "expected config TYPE 'NAME'"),
            ]
        );
        let names: Vec<&str> = s[0].values.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["a", "node"]);
        assert_eq!(s[0].lines, [6, 9]);
    }
}
