//! The peer client: plain HTTP/1.1 requests to a peer's API over ureq (no TLS), with the
//! limits a router needs against a broken or hostile peer.
//!
//! - connect timeout 5 s;
//! - a stall timeout per read, and a slow-transfer cutoff: less than 1000 B/s over a
//!   window of that length aborts (the legacy client's rule);
//! - a hard deadline for the whole request;
//! - a body cap ([`MAX_PEER_BODY`]) enforced while reading: an oversized body is an
//!   error, never truncated, never buffered past the cap;
//! - `Content-MD5` checked over exactly the bytes received.
//!
//! Every byte sent and received on the socket is counted, so the daemon can report what
//! a round really cost.

#[cfg(not(target_has_atomic = "64"))]
use self::no_atomic64::AtomicU64;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
#[cfg(target_has_atomic = "64")]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, NextTimeout, TcpConnector, Transport,
};
use ureq::Agent;

use crate::protocol::limits::{MAX_LINE, MAX_PEER_BODY};

/// Seconds to wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default stall window: a read may wait this long, and a transfer slower than
/// [`MIN_RATE`] over this long is cut off.
pub const STALL: Duration = Duration::from_secs(10);
/// Bytes per second below which a transfer is cut off.
pub const MIN_RATE: u64 = 1000;
/// A whole request (connect to last body byte) never takes longer than this.
pub const DEADLINE: Duration = Duration::from_secs(120);
/// Bytes of response headers accepted.
const MAX_HEADERS: usize = 16 * 1024;

/// Why a request to a peer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The host name did not resolve.
    NoHost,
    /// No TCP connection (refused, unreachable, connect timeout).
    Connect(String),
    /// The peer stopped sending (stall or deadline).
    Timeout,
    /// The peer sent slower than [`MIN_RATE`].
    Slow,
    /// The peer answered 404: the legacy back-off signal.
    NotFound,
    /// Any other non-200 status.
    Status(u16),
    /// The body is larger than [`MAX_PEER_BODY`].
    TooLarge,
    /// A line longer than any valid line.
    LineTooLong,
    /// No `Content-MD5` header where one is required.
    NoChecksum,
    /// The body's MD5 is not the one announced.
    BadChecksum,
    /// The connection broke or the peer spoke broken HTTP.
    Broken(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::NoHost => f.write_str("host not found"),
            FetchError::Connect(e) => write!(f, "cannot connect: {e}"),
            FetchError::Timeout => f.write_str("timed out"),
            FetchError::Slow => write!(f, "transfer slower than {MIN_RATE} B/s"),
            FetchError::NotFound => f.write_str("404 not found"),
            FetchError::Status(s) => write!(f, "HTTP status {s}"),
            FetchError::TooLarge => write!(f, "body larger than {MAX_PEER_BODY} bytes"),
            FetchError::LineTooLong => f.write_str("line too long"),
            FetchError::NoChecksum => f.write_str("no Content-MD5"),
            FetchError::BadChecksum => f.write_str("Content-MD5 does not match the body"),
            FetchError::Broken(e) => write!(f, "broken response: {e}"),
        }
    }
}

impl std::error::Error for FetchError {}

fn from_ureq(e: ureq::Error) -> FetchError {
    match e {
        ureq::Error::HostNotFound => FetchError::NoHost,
        ureq::Error::Timeout(_) => FetchError::Timeout,
        ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge,
        ureq::Error::Io(e) => from_io(e),
        ureq::Error::ConnectionFailed => FetchError::Connect("connection failed".into()),
        e => FetchError::Broken(e.to_string()),
    }
}

fn from_io(e: std::io::Error) -> FetchError {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused | K::HostUnreachable | K::NetworkUnreachable => {
            FetchError::Connect(e.to_string())
        }
        K::TimedOut | K::WouldBlock => FetchError::Timeout,
        _ => {
            // Our own reader wraps its errors in io::Error: unwrap them again.
            match e.get_ref().and_then(|i| i.downcast_ref::<FetchError>()) {
                Some(f) => f.clone(),
                None => match e.into_inner().map(|i| i.downcast::<ureq::Error>()) {
                    Some(Ok(u)) => from_ureq(*u),
                    Some(Err(other)) => FetchError::Broken(other.to_string()),
                    None => FetchError::Broken("i/o error".into()),
                },
            }
        }
    }
}

/// Counts the bytes of every connection an agent makes.
#[derive(Debug, Clone)]
struct Counting(Arc<AtomicU64>);

impl<In: Transport> Connector<In> for Counting {
    type Out = Counted<In>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| Counted {
            inner,
            bytes: self.0.clone(),
        }))
    }
}

#[derive(Debug)]
struct Counted<T> {
    inner: T,
    bytes: Arc<AtomicU64>,
}

impl<T: Transport> Transport for Counted<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.bytes.fetch_add(amount as u64, Ordering::Relaxed);
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let before = self.inner.buffers().input().len();
        let progress = self.inner.await_input(timeout)?;
        let after = self.inner.buffers().input().len();
        self.bytes
            .fetch_add(after.saturating_sub(before) as u64, Ordering::Relaxed);
        Ok(progress)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }
}

/// A client for one peer: its base URL, its limits, and a byte counter.
pub struct Client {
    agent: Agent,
    base: String,
    bytes: Arc<AtomicU64>,
    body_bytes: Arc<AtomicU64>,
    requests: AtomicU64,
    stall: Duration,
}

/// A response whose body is still to be read.
pub struct Reply {
    pub status: u16,
    /// `Content-MD5`, lowercased.
    pub md5: Option<String>,
    /// The extensions the peer advertises ([`crate::protocol::digest::HEADER`]).
    pub extensions: Option<String>,
    body: ureq::Body,
    stall: Duration,
    body_bytes: Arc<AtomicU64>,
}

impl Client {
    /// A client for the API at `base` (`http://host:port/cgi-bin/meshchat`); `stall` is
    /// the stall window ([`STALL`] unless tests shorten it).
    pub fn new(base: String, stall: Duration) -> Client {
        let bytes = Arc::new(AtomicU64::new(0));
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_resolve(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(stall))
            .timeout_per_write(Some(stall))
            .timeout_global(Some(DEADLINE))
            .max_response_header_size(MAX_HEADERS)
            .input_buffer_size(MAX_HEADERS)
            .output_buffer_size(16 * 1024)
            // Peers are CGI behind uhttpd: one request per connection.
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .user_agent(concat!("meshchat/", env!("CARGO_PKG_VERSION")))
            .build();
        let connector = ().chain(TcpConnector::default()).chain(Counting(bytes.clone()));
        Client {
            agent: Agent::with_parts(config, connector, DefaultResolver::default()),
            base,
            bytes,
            body_bytes: Arc::new(AtomicU64::new(0)),
            requests: AtomicU64::new(0),
            stall,
        }
    }

    /// Bytes sent and received on the wire so far (headers included).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Bytes of request and response bodies so far.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes.load(Ordering::Relaxed)
    }

    /// Requests made so far.
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed) as u32
    }

    fn reply(
        &self,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Reply, FetchError> {
        self.reply_with(r, false)
    }

    fn reply_with(
        &self,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        any_status: bool,
    ) -> Result<Reply, FetchError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = r.map_err(from_ureq)?;
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_ascii_lowercase())
        };
        let md5 = header("content-md5");
        let extensions = header(crate::protocol::digest::HEADER);
        let status = resp.status().as_u16();
        match status {
            200 => {}
            _ if any_status => {}
            404 => return Err(FetchError::NotFound),
            s => return Err(FetchError::Status(s)),
        }
        if resp
            .body()
            .content_length()
            .is_some_and(|n| n > MAX_PEER_BODY as u64)
        {
            return Err(FetchError::TooLarge);
        }
        Ok(Reply {
            status,
            md5,
            extensions,
            body: resp.into_body(),
            stall: self.stall,
            body_bytes: self.body_bytes.clone(),
        })
    }

    /// `GET base?query`.
    pub fn get(&self, query: &str) -> Result<Reply, FetchError> {
        let url = format!("{}?{query}", self.base);
        self.reply(self.agent.get(&url).call())
    }

    /// `POST base` with an urlencoded form body, whatever the status (`serve` answers a
    /// refusal with 400 and the reason in the body).
    pub fn post_any_status(&self, form: &str) -> Result<Reply, FetchError> {
        self.send_form(form, true)
    }

    /// `POST base` with an urlencoded form body.
    pub fn post(&self, form: &str) -> Result<Reply, FetchError> {
        self.send_form(form, false)
    }

    fn send_form(&self, form: &str, any_status: bool) -> Result<Reply, FetchError> {
        self.body_bytes
            .fetch_add(form.len() as u64, Ordering::Relaxed);
        let r = self
            .agent
            .post(&self.base)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(form.as_bytes());
        self.reply_with(r, any_status)
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
    md5: md5::Context,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        if self.total > MAX_PEER_BODY {
            return Err(std::io::Error::other(FetchError::TooLarge));
        }
        self.window_bytes += n as u64;
        let elapsed = self.window_start.elapsed();
        if elapsed >= self.stall {
            if self.window_bytes < MIN_RATE * self.stall.as_secs().max(1) {
                return Err(std::io::Error::other(FetchError::Slow));
            }
            self.window_start = Instant::now();
            self.window_bytes = 0;
        }
        self.md5.consume(&buf[..n]);
        Ok(n)
    }
}

impl Reply {
    fn guarded(&mut self) -> Guarded<ureq::BodyReader<'_>> {
        Guarded {
            inner: self
                .body
                .with_config()
                .limit(MAX_PEER_BODY as u64 + 1)
                .reader(),
            counter: self.body_bytes.clone(),
            total: 0,
            window_start: Instant::now(),
            window_bytes: 0,
            stall: self.stall,
            md5: md5::Context::new(),
        }
    }

    fn check(md5: Option<&str>, got: md5::Digest) -> Result<(), FetchError> {
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
    }
}
