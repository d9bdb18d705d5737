//! The peer client: plain HTTP/1.0 requests to a peer's API over `std::net` (no TLS, one
//! request per connection), with the limits a router needs against a broken or hostile
//! peer.
//!
//! - resolving and connecting within 5 s each (every address in turn; the sync daemon
//!   gives far and failing peers longer to connect: `sync::patience`);
//! - a stall timeout per read and write, and a slow-transfer cutoff: less than 1000 B/s
//!   over a window of that length aborts (the legacy client's rule);
//! - a hard deadline for the whole request;
//! - response heads of at most 16 KB and 64 headers ([`super::framing`]);
//! - a body cap ([`MAX_PEER_BODY`]) enforced while reading: an oversized body is an
//!   error, never truncated, never buffered past the cap; an announced length above the
//!   cap is refused before reading;
//! - `Content-MD5` checked over exactly the bytes received;
//! - no redirects followed, no proxies.
//!
//! Every byte sent and received on the socket is counted, so the daemon can report what
//! a round really cost.

#[cfg(not(target_has_atomic = "64"))]
use self::no_atomic64::AtomicU64;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
#[cfg(target_has_atomic = "64")]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::FetchError;
use super::framing::{self, from_io, Body, Framing, Url};
use super::MIN_RATE;
use crate::protocol::limits::{MAX_LINE, MAX_PEER_BODY};

/// Seconds to wait for a host name to resolve, and for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default stall window: a read may wait this long, and a transfer slower than
/// [`MIN_RATE`] over this long is cut off.
pub const STALL: Duration = Duration::from_secs(10);
/// A whole request (connect to last body byte) never takes longer than this.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// A client for one peer: its base URL, its limits, and byte counters.
pub struct Client {
    url: Result<Url, FetchError>,
    bytes: Arc<AtomicU64>,
    body_bytes: Arc<AtomicU64>,
    /// Requests tried, whether or not a connection opened.
    attempts: AtomicU64,
    /// Requests sent on an open connection.
    requests: AtomicU64,
    /// Microseconds from the first request's start to its response head; 0: none yet.
    first_reply_us: AtomicU64,
    stall: Duration,
    connect: Duration,
}

/// A response whose body is still to be read.
pub struct Reply {
    /// `Content-MD5`, lowercased.
    pub md5: Option<String>,
    /// The extensions the peer advertises ([`crate::protocol::digest::HEADER`]).
    pub extensions: Option<String>,
    body: Body<BufReader<Source>>,
    stall: Duration,
    body_bytes: Arc<AtomicU64>,
}

/// Where a reply's bytes come from: a socket, or memory (a reply handed over by the
/// mesh simulator, which supplies the transport and nothing else).
type Source = Box<dyn Read + Send>;

/// What a sync round needs from the network: a request out, a reply back. [`Client`]
/// is the real one; the mesh simulator has its own.
pub trait Transport {
    /// `GET base?query`.
    fn get(&self, query: &str) -> Result<Reply, FetchError>;
    /// `POST base` with an urlencoded form body.
    fn post(&self, form: &str) -> Result<Reply, FetchError>;
}

impl Transport for Client {
    fn get(&self, query: &str) -> Result<Reply, FetchError> {
        Client::get(self, query)
    }
    fn post(&self, form: &str) -> Result<Reply, FetchError> {
        Client::post(self, form)
    }
}

impl Client {
    /// A client for the API at `base` (`http://host:port/cgi-bin/meshchat`); `stall` is
    /// the stall window ([`STALL`] unless tests shorten it). A bad URL fails each request.
    pub fn new(base: String, stall: Duration) -> Client {
        Client {
            url: framing::parse_url(&base),
            bytes: Arc::new(AtomicU64::new(0)),
            body_bytes: Arc::new(AtomicU64::new(0)),
            attempts: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            first_reply_us: AtomicU64::new(0),
            stall,
            connect: CONNECT_TIMEOUT,
        }
    }

    /// The same client with connections given `connect` to open instead of
    /// [`CONNECT_TIMEOUT`] (a far peer over lossy radio needs more SYNs).
    pub fn connect_within(mut self, connect: Duration) -> Client {
        self.connect = connect;
        self
    }

    /// Bytes sent and received on the wire so far (headers included).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Bytes of request and response bodies so far.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes.load(Ordering::Relaxed)
    }

    /// Requests tried so far, including those whose connection never opened.
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed) as u32
    }

    /// Requests sent so far: a connection opened and the request went out on it.
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed) as u32
    }

    /// How long the first request took to bring its response head: the peer's
    /// distance, as the peer choice sees it.
    pub fn first_reply(&self) -> Option<Duration> {
        match self.first_reply_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// `GET base?query`.
    pub fn get(&self, query: &str) -> Result<Reply, FetchError> {
        self.request(Some(query), None, false)
    }

    /// `POST base` with an urlencoded form body, whatever the status (`serve` answers a
    /// refusal with 400 and the reason in the body). Only `meshchat send` needs it.
    #[cfg(feature = "client")]
    pub fn post_any_status(&self, form: &str) -> Result<Reply, FetchError> {
        self.request(None, Some(form), true)
    }

    /// `POST base` with an urlencoded form body.
    pub fn post(&self, form: &str) -> Result<Reply, FetchError> {
        self.request(None, Some(form), false)
    }

    fn request(
        &self,
        query: Option<&str>,
        form: Option<&str>,
        any_status: bool,
    ) -> Result<Reply, FetchError> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let url = self.url.as_ref().map_err(FetchError::clone)?;
        let request = framing::request(url, query, form)?;
        let started = Instant::now();
        let deadline = started + DEADLINE;
        let mut conn = Conn {
            stream: connect(url, self.connect)?,
            bytes: self.bytes.clone(),
            deadline,
            stall: self.stall,
            timeout: None,
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = form {
            self.body_bytes.fetch_add(f.len() as u64, Ordering::Relaxed);
        }
        conn.write_all(&request).map_err(from_io)?;
        let mut input = BufReader::with_capacity(8 * 1024, Box::new(conn) as Source);
        let head = framing::read_head(&mut input)?;
        if self.first_reply_us.load(Ordering::Relaxed) == 0 {
            let us = started.elapsed().as_micros().clamp(1, u128::from(u32::MAX)) as u64;
            self.first_reply_us.store(us, Ordering::Relaxed);
        }
        let header = |n: &str| head.header(n).map(str::to_ascii_lowercase);
        let md5 = header("content-md5");
        let extensions = header(crate::protocol::digest::HEADER);
        match head.status {
            200 => {}
            _ if any_status => {}
            404 => return Err(FetchError::NotFound),
            s => return Err(FetchError::Status(s)),
        }
        let framing = head.framing()?;
        if matches!(framing, Framing::Length(n) if n > MAX_PEER_BODY as u64) {
            return Err(FetchError::TooLarge);
        }
        Ok(Reply {
            md5,
            extensions,
            body: Body::new(input, framing),
            stall: self.stall,
            body_bytes: self.body_bytes.clone(),
        })
    }
}

/// A connection to the first address of `url`'s host that accepts one within `within`.
fn connect(url: &Url, within: Duration) -> Result<TcpStream, FetchError> {
    let mut last = FetchError::NoHost;
    for addr in super::resolve::lookup(&url.host, url.port, CONNECT_TIMEOUT)? {
        match TcpStream::connect_timeout(&addr, within) {
            Ok(s) => return Ok(s),
            Err(e) => {
                last = match e.kind() {
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => FetchError::Timeout,
                    _ => FetchError::Connect(e.to_string()),
                }
            }
        }
    }
    Err(last)
}

/// The socket of one request: counts every byte, and gives each read or write the stall
/// window, shortened to what is left before the deadline.
struct Conn {
    stream: TcpStream,
    bytes: Arc<AtomicU64>,
    deadline: Instant,
    stall: Duration,
    /// The timeout currently set on the socket.
    timeout: Option<Duration>,
}

impl Conn {
    fn arm(&mut self) -> io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let t = left.min(self.stall);
        if self.timeout != Some(t) {
            self.stream.set_read_timeout(Some(t))?;
            self.stream.set_write_timeout(Some(t))?;
            self.timeout = Some(t);
        }
        Ok(())
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        let n = self.stream.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    crate::reading::shared_reads!();
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        let n = self.stream.write(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// The body reader: caps the size, cuts off slow transfers, hashes what passes.
struct Guarded<R> {
    inner: R,
    counter: Arc<AtomicU64>,
    total: usize,
    window_start: Instant,
    window_bytes: u64,
    stall: Duration,
    md5: crate::protocol::md5::Context,
}

impl<R: Read> Read for Guarded<R> {
    crate::reading::shared_reads!();

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        if self.total > MAX_PEER_BODY {
            return Err(io::Error::other(FetchError::TooLarge));
        }
        self.window_bytes += n as u64;
        let elapsed = self.window_start.elapsed();
        if elapsed >= self.stall {
            if self.window_bytes < MIN_RATE * self.stall.as_secs().max(1) {
                return Err(io::Error::other(FetchError::Slow));
            }
            self.window_start = Instant::now();
            self.window_bytes = 0;
        }
        self.md5.consume(&buf[..n]);
        Ok(n)
    }
}

impl Reply {
    #[cfg(feature = "sim")]
    /// A complete 200 reply held in memory, read through the same checks as one from
    /// a socket.
    pub fn in_memory(md5: Option<String>, extensions: Option<String>, body: Vec<u8>) -> Reply {
        let len = body.len() as u64;
        Reply {
            md5,
            extensions,
            body: Body::new(
                BufReader::new(Box::new(io::Cursor::new(body)) as Source),
                Framing::Length(len),
            ),
            stall: STALL,
            body_bytes: Arc::new(AtomicU64::new(0)),
        }
    }

    fn guarded(&mut self) -> Guarded<&mut Body<BufReader<Source>>> {
        Guarded {
            inner: &mut self.body,
            counter: self.body_bytes.clone(),
            total: 0,
            window_start: Instant::now(),
            window_bytes: 0,
            stall: self.stall,
            md5: crate::protocol::md5::Context::new(),
        }
    }

    fn check(md5: Option<&str>, got: crate::protocol::md5::Digest) -> Result<(), FetchError> {
        let want = md5.ok_or(FetchError::NoChecksum)?;
        if format!("{got:x}") == want {
            Ok(())
        } else {
            Err(FetchError::BadChecksum)
        }
    }

    /// The whole body (at most [`MAX_PEER_BODY`]), without a checksum check.
    pub fn bytes(mut self) -> Result<Vec<u8>, FetchError> {
        let mut out = Vec::new();
        self.guarded().read_to_end(&mut out).map_err(from_io)?;
        Ok(out)
    }

    /// The whole body, accepted only when it matches its `Content-MD5`.
    pub fn checked_bytes(mut self) -> Result<Vec<u8>, FetchError> {
        let md5 = self.md5.take();
        let mut g = self.guarded();
        let mut out = Vec::new();
        g.read_to_end(&mut out).map_err(from_io)?;
        Reply::check(md5.as_deref(), g.md5.finalize())?;
        Ok(out)
    }

    /// Streams the body line by line (without the newline; invalid UTF-8 replaced) to
    /// `each`, then checks the `Content-MD5`. The caller must discard what it collected
    /// when this fails: the lines were not yet proven to be what the peer sent.
    pub fn checked_lines(mut self, mut each: impl FnMut(&str)) -> Result<(), FetchError> {
        let md5 = self.md5.take();
        let mut r = BufReader::with_capacity(8 * 1024, self.guarded());
        let mut line = Vec::with_capacity(256);
        loop {
            line.clear();
            let n = (&mut r)
                .take(MAX_LINE as u64 + 2)
                .read_until(b'\n', &mut line)
                .map_err(from_io)?;
            if n == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            } else if n > MAX_LINE {
                return Err(FetchError::LineTooLong);
            }
            each(&String::from_utf8_lossy(&line));
        }
        let digest = r.into_inner().md5.finalize();
        Reply::check(md5.as_deref(), digest)
    }
}

/// MIPS (mips_24kc, mipsel_24kc) has 32-bit atomics only: the counters' API over a mutex.
#[cfg(not(target_has_atomic = "64"))]
mod no_atomic64 {
    use std::sync::atomic::Ordering;
    use std::sync::Mutex;

    #[derive(Debug)]
    pub struct AtomicU64(Mutex<u64>);

    impl AtomicU64 {
        pub const fn new(v: u64) -> AtomicU64 {
            AtomicU64(Mutex::new(v))
        }

        pub fn load(&self, _: Ordering) -> u64 {
            *self.0.lock().unwrap_or_else(|e| e.into_inner())
        }

        pub fn fetch_add(&self, n: u64, _: Ordering) -> u64 {
            let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let old = *v;
            *v = old.wrapping_add(n);
            old
        }

        pub fn store(&self, n: u64, _: Ordering) {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot loopback server: answers the first connection with `answer` and hands
    /// back the request it read (the head, and the body a `Content-Length` announced).
    fn serve(answer: Vec<u8>) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!(
            "http://127.0.0.1:{}/cgi-bin/meshchat",
            listener.local_addr().unwrap().port()
        );
        let t = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut byte = [0u8; 1];
            while !got.ends_with(b"\r\n\r\n") && c.read(&mut byte).unwrap() == 1 {
                got.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&got).to_ascii_lowercase();
            if let Some(len) = head.split("content-length: ").nth(1) {
                let len: usize = len.split('\r').next().unwrap().parse().unwrap();
                let mut body = vec![0u8; len];
                c.read_exact(&mut body).unwrap();
                got.extend_from_slice(&body);
            }
            let _ = c.write_all(&answer);
            got
        });
        (base, t)
    }

    fn md5_hex(b: &[u8]) -> String {
        format!("{:x}", crate::protocol::md5::compute(b))
    }

    #[test]
    fn get_sends_http_1_0_and_counts_every_byte() {
        let body = b"0a1b2c3d\t1\thello\tK1ABC\tnode\tnode\t\n";
        let mut answer = format!(
            "HTTP/1.0 200 OK\r\nContent-MD5: {}\r\nX-Meshchat-Sync: DIGEST-v1\r\n\r\n",
            md5_hex(body)
        )
        .into_bytes();
        answer.extend_from_slice(body);
        let (base, server) = serve(answer.clone());
        let c = Client::new(base.clone(), STALL);
        let reply = c.get("action=messages_raw").unwrap();
        assert_eq!(reply.extensions.as_deref(), Some("digest-v1"));
        let mut lines = Vec::new();
        reply.checked_lines(|l| lines.push(l.to_string())).unwrap();
        assert_eq!(lines, ["0a1b2c3d\t1\thello\tK1ABC\tnode\tnode\t"]);
        let sent = server.join().unwrap();
        let host = base
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap();
        let want = format!(
            "GET /cgi-bin/meshchat?action=messages_raw HTTP/1.0\r\nHost: {host}\r\nUser-Agent: meshchat/{}\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(String::from_utf8_lossy(&sent), want);
        assert_eq!(c.bytes(), (sent.len() + answer.len()) as u64);
        assert_eq!(c.body_bytes(), body.len() as u64);
        assert_eq!((c.attempts(), c.requests()), (1, 1));
    }

    #[test]
    fn post_sends_the_form_and_any_status_passes_refusals_through() {
        let (base, server) = serve(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 16\r\n\r\n{\"status\":400}\r\n".to_vec(),
        );
        let c = Client::new(base, STALL);
        let reply = c
            .post_any_status("action=send_message&message=a%20b")
            .unwrap();
        assert_eq!(reply.bytes().unwrap(), b"{\"status\":400}\r\n");
        let sent = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(
            sent.starts_with("POST /cgi-bin/meshchat HTTP/1.0\r\n"),
            "{sent}"
        );
        assert!(sent.contains("\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 33\r\n\r\naction=send_message&message=a%20b"), "{sent}");
        assert_eq!(c.body_bytes(), 33 + 16);

        let (base, _) = serve(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec());
        let c = Client::new(base, STALL);
        assert_eq!(c.post("action=x").err(), Some(FetchError::Status(400)));
    }

    #[test]
    fn statuses_map_to_errors_and_redirects_are_not_followed() {
        for (line, want) in [
            ("404 Not Found", FetchError::NotFound),
            ("500 Internal Server Error", FetchError::Status(500)),
            (
                "302 Found\r\nLocation: http://127.0.0.1:1/",
                FetchError::Status(302),
            ),
        ] {
            let (base, _) = serve(format!("HTTP/1.1 {line}\r\n\r\n").into_bytes());
            assert_eq!(Client::new(base, STALL).get("action=x").err(), Some(want));
        }
    }

    #[test]
    fn chunked_answers_are_decoded_and_checksummed_after_decoding() {
        let body = b"hello world\n";
        let answer = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-MD5: {}\r\n\r\n6\r\nhello \r\n6\r\nworld\n\r\n0\r\n\r\n",
            md5_hex(body)
        );
        let (base, _) = serve(answer.into_bytes());
        let c = Client::new(base, STALL);
        assert_eq!(c.get("action=x").unwrap().checked_bytes().unwrap(), body);
        assert_eq!(c.body_bytes(), body.len() as u64);
    }

    #[test]
    fn bodies_are_checked_capped_and_never_truncated() {
        // Announced above the cap: refused before reading.
        let (base, _) = serve(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\nxx",
                MAX_PEER_BODY + 1
            )
            .into_bytes(),
        );
        let c = Client::new(base, STALL);
        assert_eq!(c.get("action=x").err(), Some(FetchError::TooLarge));
        assert_eq!(c.body_bytes(), 0);

        // Close-delimited, one byte over the cap.
        let mut answer = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        answer.resize(answer.len() + MAX_PEER_BODY + 1, b'a');
        let (base, _) = serve(answer);
        let r = Client::new(base, STALL).get("action=x").unwrap();
        assert_eq!(r.bytes().err(), Some(FetchError::TooLarge));

        // Shorter than announced: an error, not a short success.
        let (base, _) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec());
        let r = Client::new(base, STALL).get("action=x").unwrap();
        assert!(matches!(r.bytes(), Err(FetchError::Broken(_))));

        // Checksums: wrong, missing.
        let (base, _) = serve(
            b"HTTP/1.1 200 OK\r\nContent-MD5: 0123456789abcdef0123456789abcdef\r\n\r\nabc".to_vec(),
        );
        let r = Client::new(base, STALL).get("action=x").unwrap();
        assert_eq!(r.checked_bytes().err(), Some(FetchError::BadChecksum));
        let (base, _) = serve(b"HTTP/1.1 200 OK\r\n\r\nabc\n".to_vec());
        let r = Client::new(base, STALL).get("action=x").unwrap();
        assert_eq!(r.checked_lines(|_| {}).err(), Some(FetchError::NoChecksum));

        // A line longer than any valid line.
        let long = "a".repeat(MAX_LINE + 10);
        let (base, _) = serve(
            format!(
                "HTTP/1.0 200 OK\r\nContent-MD5: {}\r\n\r\n{long}",
                md5_hex(long.as_bytes())
            )
            .into_bytes(),
        );
        let r = Client::new(base, STALL).get("action=x").unwrap();
        assert_eq!(r.checked_lines(|_| {}).err(), Some(FetchError::LineTooLong));
    }

    #[test]
    fn broken_heads_silence_and_refusals_are_errors() {
        let (base, _) = serve(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n".to_vec());
        let e = Client::new(base, STALL).get("action=x").err();
        assert_eq!(e, Some(FetchError::Broken("header without ':'".into())));

        // Accepts, reads the request, never answers: the stall window ends it.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let c = Client::new(base, Duration::from_millis(300));
        assert_eq!(c.get("action=x").err(), Some(FetchError::Timeout));
        assert!(c.bytes() > 0, "the request was sent and counted");
        drop(listener);

        // Nobody listens.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Client::new(format!("http://127.0.0.1:{port}/"), STALL);
        assert!(matches!(c.get("action=x"), Err(FetchError::Connect(_))));
        assert_eq!(
            (c.attempts(), c.requests(), c.bytes()),
            (1, 0, 0),
            "a connection that never opened is an attempt, not a request"
        );

        let c = Client::new("https://node:8080/cgi-bin/meshchat".into(), STALL);
        assert!(matches!(c.get("action=x"), Err(FetchError::BadUrl(_))));
    }
}
