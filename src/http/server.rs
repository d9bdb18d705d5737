//! The HTTP/1.1 side of `serve`: one request per connection, read with hard limits.
//!
//! In scope: the request head (method, target, the few headers meshchat uses), a body
//! reader bounded by `Content-Length` and a minimum transfer rate, and writing a response.
//! Out of scope: routing and everything the API does. Connections close after each
//! response, so a worker is never held by an idle keep-alive client.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::error::HeadError;
use super::MIN_RATE;

/// Bytes of the request line and headers together.
pub const MAX_HEAD: usize = 32 * 1024;
/// Headers per request.
pub const MAX_HEADERS: usize = 64;
/// Seconds a client has to send its whole request head. Browsers send it at once; over a
/// lossy radio path a lost segment may take several seconds to be sent again. The
/// deadline is checked only when more bytes are needed: a head that has arrived whole is
/// answered however late, a head still dripping in after this long gets 408.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(15);
/// How long a head read past [`HEAD_DEADLINE`] waits: just long enough to take bytes
/// that have already arrived.
const LAST_LOOK: Duration = Duration::from_millis(1);
/// Seconds any single read or write may block.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Seconds before the body rate is enforced.
pub const RATE_GRACE: Duration = Duration::from_secs(10);

/// A request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// 0 when absent.
    pub content_length: u64,
}

impl Head {
    /// A header's value (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        super::head::find_header(&self.headers, name)
    }
}

/// Reads and parses the request head from `r`. Time limits are the reader's: a
/// [`Socket`] enforces [`HEAD_DEADLINE`] whenever it has to wait for bytes.
pub fn read_head<R: BufRead>(r: &mut R) -> Result<Head, HeadError> {
    let mut total = 0usize;
    let mut lines: Vec<String> = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r
            .by_ref()
            .take((MAX_HEAD - total + 1) as u64)
            .read_until(b'\n', &mut line)
            .map_err(|e| match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => HeadError::Timeout,
                _ => HeadError::Gone,
            })?;
        if n == 0 {
            return Err(HeadError::Gone);
        }
        total += n;
        if total > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        if !line.ends_with(b"\n") {
            // EOF inside a line.
            return Err(HeadError::Gone);
        }
        let text = String::from_utf8(line).map_err(|_| HeadError::Malformed("not UTF-8"))?;
        let text = text.trim_end_matches(['\r', '\n']).to_string();
        if text.is_empty() {
            if lines.is_empty() {
                continue; // Stray CRLF before a request is allowed (RFC 9112 2.2).
            }
            break;
        }
        lines.push(text);
        if lines.len() > MAX_HEADERS + 1 {
            return Err(HeadError::TooLarge);
        }
    }
    parse_head(&lines)
}

fn parse_head(lines: &[String]) -> Result<Head, HeadError> {
    let first = lines.first().ok_or(HeadError::Malformed("empty"))?;
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed("bad request line"));
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') || method.is_empty() {
        return Err(HeadError::Malformed("bad request line"));
    }
    let mut headers = Vec::with_capacity(lines.len() - 1);
    for l in &lines[1..] {
        let (name, value) = super::head::parse_header(l).map_err(HeadError::Malformed)?;
        headers.push((name.to_string(), value.to_string()));
    }
    let mut head = Head {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        content_length: 0,
    };
    if head.header("Transfer-Encoding").is_some() {
        return Err(HeadError::LengthRequired);
    }
    if let Some(cl) = head.header("Content-Length") {
        head.content_length = cl
            .parse()
            .map_err(|_| HeadError::Malformed("bad Content-Length"))?;
    }
    Ok(head)
}

/// The request body: exactly `Content-Length` bytes, or an error when the client stalls
/// or drips slower than [`MIN_RATE`].
pub struct BodyReader<'a, R> {
    inner: &'a mut R,
    left: u64,
    read: u64,
    started: Instant,
}

impl<'a, R: Read> BodyReader<'a, R> {
    /// A reader for `len` bytes of body from `inner`.
    pub fn new(inner: &'a mut R, len: u64) -> Self {
        BodyReader {
            inner,
            left: len,
            read: 0,
            started: Instant::now(),
        }
    }
}

impl<R: Read> Read for BodyReader<'_, R> {
    crate::reading::shared_reads!();

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let elapsed = self.started.elapsed();
        if elapsed > RATE_GRACE && self.read < MIN_RATE * elapsed.as_secs() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request body is arriving too slowly",
            ));
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "request body is shorter than Content-Length",
            ));
        }
        self.left -= n as u64;
        self.read += n as u64;
        Ok(n)
    }
}

/// Writes a response and lets the connection close.
pub fn write_response(
    out: &mut impl Write,
    status: u16,
    headers: &[(&str, String)],
    body: &mut dyn Read,
    len: u64,
    head_only: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\n",
        super::head::reason_phrase(status)
    );
    for (name, value) in headers {
        // Values come from our own code, never raw from a client; still, never split a line.
        if value.contains(['\r', '\n']) {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {len}\r\nConnection: close\r\n\r\n"
    ));
    out.write_all(head.as_bytes())?;
    if !head_only {
        let copied = io::copy(&mut body.take(len), out)?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "body shorter than announced",
            ));
        }
    }
    out.flush()
}

/// A connection's socket for reading. Until [`Socket::head_done`], a read that has to
/// wait waits at most until the head's deadline; past it, a read takes only bytes that
/// have already arrived, so a head received whole is never refused.
pub struct Socket {
    stream: TcpStream,
    head_deadline: Option<Instant>,
}

impl Socket {
    /// `stream`, whose head must arrive whole by `deadline`.
    pub fn new(stream: TcpStream, deadline: Instant) -> Socket {
        Socket {
            stream,
            head_deadline: Some(deadline),
        }
    }

    /// The head has been read: from now on each read may wait [`IO_TIMEOUT`] (the body
    /// has its own rate rule, [`BodyReader`]).
    pub fn head_done(&mut self) -> io::Result<()> {
        self.head_deadline = None;
        self.stream.set_read_timeout(Some(IO_TIMEOUT))
    }
}

impl Read for Socket {
    crate::reading::shared_reads!();

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.head_deadline {
            // Past the deadline, only what has already arrived is taken (a read that
            // finds nothing ends in WouldBlock: the caller's 408).
            let left = deadline.saturating_duration_since(Instant::now());
            self.stream
                .set_read_timeout(Some(left.clamp(LAST_LOOK, IO_TIMEOUT)))?;
        }
        self.stream.read(buf)
    }
}

/// Sets the per-operation timeouts on a freshly accepted connection and wraps it for
/// reading, with [`HEAD_DEADLINE`] from now for the head.
pub fn prepare(stream: &TcpStream) -> io::Result<BufReader<Socket>> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let socket = Socket::new(stream.try_clone()?, Instant::now() + HEAD_DEADLINE);
    Ok(BufReader::with_capacity(8 * 1024, socket))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Head, HeadError> {
        read_head(&mut io::Cursor::new(raw.as_bytes().to_vec()))
    }

    /// A connected pair: the client's end and the server's, reading with a head deadline
    /// `deadline` from now.
    fn pair(deadline: Duration) -> (TcpStream, BufReader<Socket>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let socket = Socket::new(server, Instant::now() + deadline);
        (client, BufReader::new(socket))
    }

    #[test]
    fn a_head_that_arrived_whole_is_read_after_its_deadline() {
        let (mut client, mut reader) = pair(Duration::from_millis(200));
        client
            .write_all(b"GET /a HTTP/1.1\r\nHost: x\r\nX-Long: 1\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(read_head(&mut reader).unwrap().target, "/a");
    }

    #[test]
    fn a_dripping_head_times_out_at_its_deadline() {
        let (mut client, mut reader) = pair(Duration::from_millis(600));
        let drip = std::thread::spawn(move || {
            for b in b"GET /slow HTTP/1.1\r\nHost: x\r\n" {
                if client.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let t = Instant::now();
        assert!(matches!(read_head(&mut reader), Err(HeadError::Timeout)));
        assert!(
            t.elapsed() >= Duration::from_millis(550),
            "{:?}",
            t.elapsed()
        );
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        drop(reader);
        drip.join().unwrap();
    }

    #[test]
    fn parses_heads() {
        let h = head("\r\nPOST /cgi-bin/meshchat?action=x HTTP/1.1\r\nHost: a\r\ncontent-length: 12\r\nCookie: a=b; c=d\r\n\r\nbody").unwrap();
        assert_eq!(h.method, "POST");
        assert_eq!(h.target, "/cgi-bin/meshchat?action=x");
        assert_eq!(h.content_length, 12);
        assert_eq!(h.header("COOKIE"), Some("a=b; c=d"));
    }

    #[test]
    fn refuses_bad_heads() {
        assert!(matches!(head("GET / HTTP/1.1\r\nHo"), Err(HeadError::Gone)));
        assert!(matches!(
            head("GARBAGE\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            head("GET http://x/ HTTP/1.1\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            head("GET / SPDY/3\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            head("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(HeadError::LengthRequired)
        ));
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X-A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert!(matches!(head(&many), Err(HeadError::TooLarge)));
        let huge = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(matches!(head(&huge), Err(HeadError::TooLarge)));
    }

    #[test]
    fn body_reader_stops_at_content_length_and_detects_short_bodies() {
        let mut src = io::Cursor::new(b"hello world".to_vec());
        let mut out = String::new();
        BodyReader::new(&mut src, 5)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello");
        let mut src = io::Cursor::new(b"abc".to_vec());
        let err = BodyReader::new(&mut src, 10)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
