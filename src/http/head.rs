//! HTTP/1.x header lines, shared by the server ([`super::server`], request heads) and the
//! peer client ([`super::framing`], response heads): one parser for the one format; and
//! the reason phrases of the statuses meshchat sends.

/// A header line's name and value (surrounding blanks removed), or why it is not one: no
/// `:`, or a name that is not an RFC 9110 token (an obsolete folded line starts with a
/// blank, so it is refused too).
pub fn parse_header(line: &str) -> Result<(&str, &str), &'static str> {
    let (name, value) = line.split_once(':').ok_or("header without ':'")?;
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err("bad header name");
    }
    Ok((name, value.trim_matches([' ', '\t'])))
}

/// The first value of header `name` (names compare case-insensitively).
pub fn find_header<'a, N: AsRef<str>>(headers: &'a [(N, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The reason phrase for the statuses meshchat sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines() {
        assert_eq!(
            parse_header("Content-MD5:  ab \t"),
            Ok(("Content-MD5", "ab"))
        );
        assert_eq!(parse_header("X-Empty:"), Ok(("X-Empty", "")));
        assert_eq!(parse_header("no colon"), Err("header without ':'"));
        assert_eq!(parse_header(": v"), Err("bad header name"));
        assert_eq!(parse_header(" folded: v"), Err("bad header name"));
        assert_eq!(parse_header("bad name: v"), Err("bad header name"));
        let h = vec![("Cookie".to_string(), "a=b".to_string())];
        assert_eq!(find_header(&h, "COOKIE"), Some("a=b"));
        assert_eq!(find_header(&h, "Host"), None);
    }
}
