//! HTTP/1.x for the peer client, over any reader: the request it sends, the response head
//! it reads, and the framing of the response body.
//!
//! In scope: the base URL (`http://host[:port]/path`), the HTTP/1.0 request head, the
//! status line and headers (with caps on their size and number), and a body reader for
//! each framing: `Content-Length` (a shorter body is an error), `Transfer-Encoding:
//! chunked` (decoded; for a server that answers HTTP/1.1 anyway), or until the connection
//! closes (what uhttpd sends for CGI output without a length).
//! Out of scope: sockets, timeouts, the body cap and checksums ([`super::client`]).
//!
//! Every error is a [`FetchError`]; the body reader returns it wrapped in an
//! `io::Error` that [`from_io`] unwraps again.

use std::io::{self, BufRead, Read};

use super::error::FetchError;

/// Bytes of a response's status line and headers together.
pub const MAX_HEAD: usize = 16 * 1024;
/// Headers in a response (uhttpd sends fewer than ten).
pub const MAX_HEADERS: usize = 64;
/// Bytes of a chunk-size line (extensions included) or of a trailer line.
const MAX_CHUNK_LINE: usize = 1024;

/// A peer's API address, from `http://host[:port]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The host name or address to connect to (an IPv6 address without brackets).
    pub host: String,
    pub port: u16,
    /// `host[:port]` as written: the `Host` header.
    pub authority: String,
    /// The path, `/` when none was given.
    pub path: String,
}

fn bad_url(why: &str) -> FetchError {
    FetchError::BadUrl(why.to_string())
}

/// Parses a base URL. Only plain `http://` exists on the mesh (no TLS, no credentials).
pub fn parse_url(url: &str) -> Result<Url, FetchError> {
    let rest = url
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("http://"))
        .map(|_| &url[7..])
        .ok_or_else(|| bad_url("only http:// URLs are supported"))?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return Err(bad_url("bad host"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        // `[::1]` alone: the colon is inside the brackets.
        Some((h, p)) if !p.ends_with(']') => {
            let port = p.parse().map_err(|_| bad_url("bad port"))?;
            (h, port)
        }
        _ => (authority, 80),
    };
    let host = match host.strip_prefix('[') {
        Some(h) => h.strip_suffix(']').ok_or_else(|| bad_url("bad host"))?,
        None if host.contains([':', '[', ']']) => return Err(bad_url("bad host")),
        None => host,
    };
    if host.is_empty() || !authority.bytes().all(visible) || !path.bytes().all(visible) {
        return Err(bad_url("bad host or path"));
    }
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    Ok(Url {
        host: host.to_string(),
        port,
        authority: authority.to_string(),
        path,
    })
}

/// A byte that may stand in a request target as is.
fn visible(b: u8) -> bool {
    b.is_ascii_graphic()
}

/// The whole request: an HTTP/1.0 head (so that uhttpd answers close-delimited rather
/// than chunked) and, for a POST, the urlencoded form.
pub fn request(url: &Url, query: Option<&str>, form: Option<&str>) -> Result<Vec<u8>, FetchError> {
    let mut target = url.path.clone();
    if let Some(q) = query {
        if !q.bytes().all(visible) {
            return Err(bad_url("space or control character in the query"));
        }
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str(q);
    }
    let method = if form.is_some() { "POST" } else { "GET" };
    let mut out = format!(
        "{method} {target} HTTP/1.0\r\nHost: {}\r\nUser-Agent: meshchat/{}\r\nConnection: close\r\n",
        url.authority,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(f) = form {
        out.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            f.len()
        ));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(form.unwrap_or("").as_bytes());
    Ok(out)
}

fn broken(why: &str) -> FetchError {
    FetchError::Broken(why.to_string())
}

/// The status code of a status line such as `HTTP/1.1 200 OK` (the reason may be
/// missing).
pub fn parse_status_line(line: &str) -> Result<u16, FetchError> {
    let bad = || broken("bad status line");
    let rest = line.strip_prefix("HTTP/1.").ok_or_else(bad)?;
    let mut parts = rest.splitn(3, ' ');
    let minor = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if minor.len() != 1
        || !minor.bytes().all(|b| b.is_ascii_digit())
        || code.len() != 3
        || !code.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    match code.parse() {
        Ok(c) if c >= 100 => Ok(c),
        _ => Err(bad()),
    }
}

/// A header line's name and value: the shared parser, with the client's error.
pub fn parse_header(line: &str) -> Result<(&str, &str), FetchError> {
    super::head::parse_header(line).map_err(broken)
}

/// A response's status and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

/// How the body's end is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the peer closes the connection.
    Close,
}

impl Head {
    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        super::head::find_header(&self.headers, name)
    }

    /// The body's framing (RFC 9112 6.3): a transfer coding wins over a length; several
    /// lengths must agree.
    pub fn framing(&self) -> Result<Framing, FetchError> {
        if matches!(self.status, 204 | 304) {
            return Ok(Framing::Length(0));
        }
        let values = |name: &'static str| {
            self.headers
                .iter()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
                .flat_map(|(_, v)| v.split(','))
                .map(|v| v.trim_matches([' ', '\t']))
        };
        if let Some(last) = values("Transfer-Encoding").next_back() {
            return if last.eq_ignore_ascii_case("chunked") {
                Ok(Framing::Chunked)
            } else {
                Err(broken("unsupported Transfer-Encoding"))
            };
        }
        let mut length = None;
        for v in values("Content-Length") {
            let n: u64 = match v.parse() {
                Ok(n) if v.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(broken("bad Content-Length")),
            };
            if length.is_some_and(|l| l != n) {
                return Err(broken("conflicting Content-Length"));
            }
            length = Some(n);
        }
        Ok(length.map_or(Framing::Close, Framing::Length))
    }
}

/// Reads one line of at most `max` bytes (newline included), without its line ending.
/// `None` at a clean end of input.
fn read_line<R: BufRead>(r: &mut R, max: usize, what: &str) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = r.take(max as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.pop() != Some(b'\n') {
        let why = if n > max { "too long" } else { "cut short" };
        return Err(io::Error::other(FetchError::Broken(format!(
            "{what} {why}"
        ))));
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// Reads a response head: at most [`MAX_HEAD`] bytes and [`MAX_HEADERS`] headers.
/// Interim `1xx` responses are skipped (their bytes count against the same cap).
pub fn read_head<R: BufRead>(r: &mut R) -> Result<Head, FetchError> {
    let mut left = MAX_HEAD;
    loop {
        let mut status = None;
        let mut headers = Vec::new();
        loop {
            let line = read_line(r, left, "response head").map_err(from_io)?;
            let line = line.ok_or_else(|| match status {
                None => broken("no response"),
                Some(_) => broken("response head cut short"),
            })?;
            left = left.saturating_sub(line.len() + 2);
            let line = String::from_utf8_lossy(&line);
            if status.is_none() {
                status = Some(parse_status_line(&line)?);
                continue;
            }
            if line.is_empty() {
                break;
            }
            if headers.len() == MAX_HEADERS {
                return Err(broken("too many response headers"));
            }
            let (name, value) = parse_header(&line)?;
            headers.push((name.to_string(), value.to_string()));
        }
        let status = status.unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        return Ok(Head { status, headers });
    }
}

/// The size of a chunk from its size line (`1a3f;name=value`).
pub fn parse_chunk_size(line: &[u8]) -> Result<u64, FetchError> {
    let hex = line.split(|&b| b == b';').next().unwrap_or(b"");
    let hex = hex.trim_ascii();
    if hex.is_empty() || hex.len() > 15 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return Err(broken("bad chunk size"));
    }
    let hex = std::str::from_utf8(hex).map_err(|_| broken("bad chunk size"))?;
    u64::from_str_radix(hex, 16).map_err(|_| broken("bad chunk size"))
}

/// A response body, read according to its [`Framing`].
pub struct Body<R> {
    inner: R,
    framing: Framing,
    /// Chunked: bytes left in the current chunk.
    chunk_left: u64,
    /// Chunked: a chunk's data ended and its CRLF is still to come.
    chunk_end: bool,
    /// Chunked: the last chunk and the trailers were read.
    done: bool,
}

impl<R: BufRead> Body<R> {
    pub fn new(inner: R, framing: Framing) -> Body<R> {
        Body {
            inner,
            framing,
            chunk_left: 0,
            chunk_end: false,
            done: false,
        }
    }

    /// Reads at most `max` bytes of what is left; the end of input is an error.
    fn read_some(&mut self, buf: &mut [u8], max: u64, what: &str) -> io::Result<usize> {
        let max = buf.len().min(usize::try_from(max).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::other(FetchError::Broken(what.to_string())));
        }
        Ok(n)
    }

    fn read_chunked(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let line = |r: &mut R| match read_line(r, MAX_CHUNK_LINE, "chunk line")? {
            Some(l) => Ok(l),
            None => Err(io::Error::other(broken("chunked body cut short"))),
        };
        while !self.done {
            if self.chunk_left > 0 {
                let n = self.read_some(buf, self.chunk_left, "chunked body cut short")?;
                self.chunk_left -= n as u64;
                self.chunk_end = self.chunk_left == 0;
                return Ok(n);
            }
            if self.chunk_end {
                if !line(&mut self.inner)?.is_empty() {
                    return Err(io::Error::other(broken("no CRLF after a chunk")));
                }
                self.chunk_end = false;
            }
            let size = parse_chunk_size(&line(&mut self.inner)?).map_err(io::Error::other)?;
            if size == 0 {
                // The trailers: read and ignored, within the same caps as headers.
                let mut count = 0;
                while !line(&mut self.inner)?.is_empty() {
                    count += 1;
                    if count > MAX_HEADERS {
                        return Err(io::Error::other(broken("too many trailers")));
                    }
                }
                self.done = true;
            }
            self.chunk_left = size;
        }
        Ok(0)
    }
}

impl<R: BufRead> Read for Body<R> {
    crate::reading::shared_reads!();

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.framing {
            Framing::Length(0) => Ok(0),
            Framing::Length(left) => {
                let n = self.read_some(buf, left, "body shorter than its Content-Length")?;
                self.framing = Framing::Length(left - n as u64);
                Ok(n)
            }
            Framing::Chunked => self.read_chunked(buf),
            Framing::Close => self.inner.read(buf),
        }
    }
}

/// The [`FetchError`] for an I/O error: a timeout, a refused connection, or one of our
/// own errors carried through `io::Read`.
pub fn from_io(e: io::Error) -> FetchError {
    use io::ErrorKind as K;
    match e.kind() {
        K::TimedOut | K::WouldBlock => FetchError::Timeout,
        K::ConnectionRefused | K::HostUnreachable | K::NetworkUnreachable => {
            FetchError::Connect(e.to_string())
        }
        _ => match e.get_ref().and_then(|i| i.downcast_ref::<FetchError>()) {
            Some(f) => f.clone(),
            None => FetchError::Broken(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn url(s: &str) -> Url {
        parse_url(s).unwrap()
    }

    #[test]
    fn parses_base_urls() {
        let u = url("http://node-a.local.mesh:8080/cgi-bin/meshchat");
        assert_eq!(
            (
                u.host.as_str(),
                u.port,
                u.authority.as_str(),
                u.path.as_str()
            ),
            (
                "node-a.local.mesh",
                8080,
                "node-a.local.mesh:8080",
                "/cgi-bin/meshchat"
            )
        );
        let u = url("HTTP://10.1.2.3");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("10.1.2.3", 80, "/")
        );
        let u = url("http://[fe80::1]:8080/x");
        assert_eq!(
            (u.host.as_str(), u.port, u.authority.as_str()),
            ("fe80::1", 8080, "[fe80::1]:8080")
        );
        assert_eq!(url("http://[::1]/").port, 80);
        for bad in [
            "https://node/",
            "node:8080/cgi-bin/meshchat",
            "http://",
            "http://:8080/",
            "http://user@node/",
            "http://node:99999/",
            "http://node:x/",
            "http://::1/",
            "http://[::1/",
            "http://node/a b",
        ] {
            assert!(
                matches!(parse_url(bad), Err(FetchError::BadUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn writes_http_1_0_requests() {
        let u = url("http://10.0.0.1:8080/cgi-bin/meshchat");
        let get = request(&u, Some("action=users_raw&node=a%20b"), None).unwrap();
        let want = format!(
            "GET /cgi-bin/meshchat?action=users_raw&node=a%20b HTTP/1.0\r\nHost: 10.0.0.1:8080\r\n\
             User-Agent: meshchat/{}\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(String::from_utf8(get).unwrap(), want);
        let post = String::from_utf8(request(&u, None, Some("a=1&b=2")).unwrap()).unwrap();
        assert!(
            post.starts_with("POST /cgi-bin/meshchat HTTP/1.0\r\n"),
            "{post}"
        );
        assert!(post.ends_with(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2"
        ));
        // Nothing can split the request line or add a header.
        for q in ["a=1 HTTP/1.1", "a=1\r\nX-Evil: 1", "a=\u{7f}", "a=é"] {
            assert!(
                matches!(request(&u, Some(q), None), Err(FetchError::BadUrl(_))),
                "{q}"
            );
        }
    }

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK").unwrap(), 200);
        assert_eq!(parse_status_line("HTTP/1.0 404 Not Found").unwrap(), 404);
        assert_eq!(parse_status_line("HTTP/1.1 500").unwrap(), 500);
        assert_eq!(parse_status_line("HTTP/1.1 200 ").unwrap(), 200);
        for bad in [
            "",
            "HTTP/1.1",
            "HTTP/2 200 OK",
            "HTTP/1.11 200 OK",
            "http/1.1 200 OK",
            "ICY 200 OK",
            "HTTP/1.1 20 OK",
            "HTTP/1.1 2000 OK",
            "HTTP/1.1 +20 OK",
            "HTTP/1.1 099 Low",
            "HTTP/1.1  200 OK",
            "Status: 200 OK",
        ] {
            assert!(
                matches!(parse_status_line(bad), Err(FetchError::Broken(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn parses_headers() {
        assert_eq!(
            parse_header("Content-MD5: ab12 \t").unwrap(),
            ("Content-MD5", "ab12")
        );
        assert_eq!(parse_header("X-Empty:").unwrap(), ("X-Empty", ""));
        assert_eq!(
            parse_header("Date: 02:47:31").unwrap(),
            ("Date", "02:47:31")
        );
        for bad in [
            "no colon here",
            ": no name",
            " Folded: x",
            "Bad Name: x",
            "\tX: y",
        ] {
            assert!(
                matches!(parse_header(bad), Err(FetchError::Broken(_))),
                "{bad}"
            );
        }
    }

    fn head(raw: &str) -> Result<Head, FetchError> {
        read_head(&mut Cursor::new(raw.as_bytes()))
    }

    #[test]
    fn reads_heads_within_caps() {
        let mut c = Cursor::new(
            &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-MD5: AB\r\nX-Meshchat-Sync: digest-v1\nContent-Length: 2\r\n\r\nhi"[..],
        );
        let h = read_head(&mut c).unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.header("content-md5"), Some("AB"));
        assert_eq!(h.header("x-meshchat-sync"), Some("digest-v1"));
        assert_eq!(h.framing().unwrap(), Framing::Length(2));
        let mut rest = String::new();
        c.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "hi", "the head reader stops at the blank line");

        let err = |raw: &str| match head(raw) {
            Err(FetchError::Broken(why)) => why,
            other => panic!("{raw:?}: {other:?}"),
        };
        assert_eq!(err(""), "no response");
        assert_eq!(
            err("HTTP/1.1 200 OK\r\nServer: x\r\n"),
            "response head cut short"
        );
        assert_eq!(err("HTTP/1.1 200 OK\r\nServ"), "response head cut short");
        assert_eq!(err("garbage\r\n\r\n"), "bad status line");
        assert_eq!(
            err("HTTP/1.1 200 OK\r\nno colon\r\n\r\n"),
            "header without ':'"
        );
        let huge = format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(err(&huge), "response head too long");
        // Lines that each fit add up to the same cap.
        let line = format!("X-A: {}\r\n", "b".repeat(300));
        let long = format!("HTTP/1.1 200 OK\r\n{}\r\n", line.repeat(MAX_HEADERS - 4));
        assert_eq!(err(&long), "response head too long");
        let many = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "X-A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(err(&many), "too many response headers");
        let exactly = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "X-A: b\r\n".repeat(MAX_HEADERS)
        );
        assert_eq!(head(&exactly).unwrap().headers.len(), MAX_HEADERS);
    }

    #[test]
    fn frames_bodies() {
        let framing = |status: u16, headers: &[(&str, &str)]| {
            Head {
                status,
                headers: headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
            }
            .framing()
        };
        assert_eq!(framing(200, &[]).unwrap(), Framing::Close);
        assert_eq!(framing(204, &[]).unwrap(), Framing::Length(0));
        assert_eq!(
            framing(200, &[("content-length", "12")]).unwrap(),
            Framing::Length(12)
        );
        assert_eq!(
            framing(200, &[("Content-Length", "12"), ("Content-Length", "12")]).unwrap(),
            Framing::Length(12)
        );
        assert_eq!(
            framing(
                200,
                &[("Transfer-Encoding", "CHUNKED"), ("Content-Length", "3")]
            )
            .unwrap(),
            Framing::Chunked
        );
        assert_eq!(
            framing(200, &[("Transfer-Encoding", "gzip, chunked")]).unwrap(),
            Framing::Chunked
        );
        for bad in [
            [("Content-Length", "12"), ("Content-Length", "13")],
            [("Content-Length", "12, 13"), ("X", "")],
            [("Content-Length", "-1"), ("X", "")],
            [("Content-Length", "+1"), ("X", "")],
            [("Content-Length", ""), ("X", "")],
            [("Content-Length", "99999999999999999999999"), ("X", "")],
            [("Transfer-Encoding", "gzip"), ("X", "")],
        ] {
            assert!(
                matches!(framing(200, &bad), Err(FetchError::Broken(_))),
                "{bad:?}"
            );
        }
    }

    fn body(raw: &[u8], framing: Framing) -> Result<Vec<u8>, FetchError> {
        let mut out = Vec::new();
        Body::new(Cursor::new(raw), framing)
            .read_to_end(&mut out)
            .map_err(from_io)?;
        Ok(out)
    }

    #[test]
    fn reads_length_and_close_delimited_bodies() {
        assert_eq!(body(b"hello world", Framing::Length(5)).unwrap(), b"hello");
        assert_eq!(body(b"", Framing::Length(0)).unwrap(), b"");
        assert_eq!(
            body(b"abc", Framing::Length(10)),
            Err(FetchError::Broken(
                "body shorter than its Content-Length".into()
            ))
        );
        assert_eq!(body(b"all of it", Framing::Close).unwrap(), b"all of it");
    }

    #[test]
    fn decodes_chunked_bodies() {
        let raw = b"5\r\nhello\r\n6;name=value\r\n world\r\nA \r\n, 10 bytes\r\n0\r\nTrailer: x\r\n\r\nafter";
        assert_eq!(
            body(raw, Framing::Chunked).unwrap(),
            b"hello world, 10 bytes"
        );
        // Bare LF line endings are tolerated; upper-case hex too.
        assert_eq!(
            body(b"B\nhello world\n0\n\n", Framing::Chunked).unwrap(),
            b"hello world"
        );
        assert_eq!(body(b"0\r\n\r\n", Framing::Chunked).unwrap(), b"");

        let err = |raw: &[u8]| match body(raw, Framing::Chunked) {
            Err(FetchError::Broken(why)) => why,
            other => panic!("{}: {other:?}", String::from_utf8_lossy(raw)),
        };
        for bad_size in [
            &b"zz\r\nhello\r\n0\r\n\r\n"[..],
            b"\r\nhello\r\n0\r\n\r\n",
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"fffffffffffffffff\r\nx\r\n",
            b"5\r\nhello\r\nzz\r\n",
        ] {
            assert_eq!(err(bad_size), "bad chunk size");
        }
        assert_eq!(err(b"5\r\nhelloXX0\r\n\r\n"), "no CRLF after a chunk");
        assert_eq!(err(b"5\r\nhel"), "chunked body cut short");
        assert_eq!(err(b"5\r\nhello\r\n"), "chunked body cut short");
        assert_eq!(err(b"5\r\nhello"), "chunked body cut short");
        assert_eq!(err(b"0\r\nTrailer: x\r\n"), "chunked body cut short");
        assert_eq!(err(b"5\r"), "chunk line cut short");
        let long = format!("5;{}\r\nhello\r\n0\r\n\r\n", "x".repeat(MAX_CHUNK_LINE));
        assert_eq!(err(long.as_bytes()), "chunk line too long");
        let trailers = format!("0\r\n{}\r\n", "T: x\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(err(trailers.as_bytes()), "too many trailers");
    }

    #[test]
    fn io_errors_map_to_fetch_errors() {
        use io::ErrorKind as K;
        assert_eq!(from_io(K::TimedOut.into()), FetchError::Timeout);
        assert_eq!(from_io(K::WouldBlock.into()), FetchError::Timeout);
        assert!(matches!(
            from_io(K::ConnectionRefused.into()),
            FetchError::Connect(_)
        ));
        assert_eq!(
            from_io(io::Error::other(FetchError::Slow)),
            FetchError::Slow
        );
        assert!(matches!(
            from_io(K::ConnectionReset.into()),
            FetchError::Broken(_)
        ));
    }
}
