//! `meshchat serve`: the API at `/cgi-bin/meshchat` and the embedded web UI at
//! `/meshchat/`, for hosts without uhttpd (a Pi, a Debian box, a laptop).
//!
//! A fixed pool of worker threads takes accepted connections from a bounded queue; when
//! the queue is full a new connection gets an immediate 503. Every socket has read and
//! write timeouts, request heads and bodies are capped (see `crate::http::server`), and
//! a connection closes after its response: memory and threads stay bounded whatever
//! clients do.
//! SIGTERM/SIGINT stop the server after in-flight requests finish (at most a second);
//! until then no thread wakes unless a client connects.
//!
//! Written on std rather than tiny_http: tiny_http 0.12 has no socket timeouts, spawns a
//! thread per connection without bound, and its accept loop ends for good on the first
//! accept error (EMFILE, or EAGAIN once a listener timeout is set), after which the
//! server silently stops answering.

use std::io::{Cursor, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::api::{Api, Body, Request, Response};
use crate::config::Config;
use crate::http::server as http;
use crate::queue::{self, Receiver, Refused};
use crate::sys;

#[cfg(feature = "embed-ui")]
include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// What `serve` answers for the UI in a node build (no `embed-ui`): the node's own web
/// server has it.
#[cfg(not(feature = "embed-ui"))]
pub const NO_UI: &str = "this meshchat is a node build without the web UI: the node's web \
server (uhttpd) serves it from /www/meshchat/, at http://<node>:8080/meshchat/\n";

/// Worker threads answering requests (small stacks: 16 cost about 2 MB at most).
pub const WORKERS: usize = 16;
/// Accepted connections waiting for a worker; beyond this, 503.
pub const QUEUE: usize = 32;
/// How long a refused request's remaining bytes are drained before the connection closes.
const DRAIN: Duration = Duration::from_millis(200);
/// Stack of a worker thread: requests are handled without deep recursion or big frames.
const WORKER_STACK: usize = 256 * 1024;

/// Why the server could not run.
#[derive(Debug)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Creates the data directories and makes sure files can be written in them, so a
/// server without rights there says so at start, not on the first message.
fn writable(cfg: &Config) -> Result<(), String> {
    cfg.paths.create_dirs().map_err(|e| e.to_string())?;
    let p = &cfg.paths;
    for dir in [&p.data_dir, &p.ram_dir, &p.files_dir] {
        let probe = dir.join(format!(".write-test.{}", std::process::id()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
        let _ = std::fs::remove_file(&probe);
    }
    Ok(())
}

struct Shared {
    cfg: Config,
    port: u16,
    busy: AtomicUsize,
}

/// Binds `listen`, prints `listening on http://ADDR/` (tests read it to learn the port),
/// and serves until SIGTERM or SIGINT.
pub fn run(cfg: Config, listen: &str) -> Result<(), Error> {
    // HOST:PORT with a host and a port number; the hint keeps a port that was given
    // (`18082` alone is a port without a host).
    let (host, port) = listen.rsplit_once(':').unwrap_or(("", listen));
    let port = port.parse::<u16>().ok();
    if host.is_empty() || port.is_none() {
        return Err(Error(format!(
            "invalid --listen '{listen}': expected HOST:PORT, e.g. 127.0.0.1:{}",
            port.unwrap_or(8080)
        )));
    }
    writable(&cfg).map_err(|e| {
        Error(format!(
            "{e}; use --data DIR to keep meshchat's files in a folder of yours"
        ))
    })?;
    let listener =
        TcpListener::bind(listen).map_err(|e| Error(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener.local_addr().map_err(|e| Error(e.to_string()))?;
    sys::catch_stop_signals();
    println!("listening on http://{addr}/");
    #[cfg(not(feature = "embed-ui"))]
    eprint!("meshchat: API only: {NO_UI}");
    eprintln!(
        "meshchat: serving node {} zone '{}' on http://{addr}/meshchat/",
        cfg.node(),
        cfg.zone()
    );
    eprintln!(
        "meshchat: messages in {}, presence and sync state in {}, shared files in {}",
        cfg.paths.data_dir.display(),
        cfg.paths.ram_dir.display(),
        cfg.paths.files_dir.display()
    );

    let shared = Arc::new(Shared {
        cfg,
        port: addr.port(),
        busy: AtomicUsize::new(0),
    });
    let (tx, rx) = queue::bounded::<TcpStream>(QUEUE);
    for _ in 0..WORKERS {
        let (rx, shared) = (rx.clone(), shared.clone());
        sys::thread_with(
            None,
            Some(WORKER_STACK),
            Box::new(move || worker(&rx, &shared)),
        )
        .map_err(|e| Error(format!("cannot start a worker thread: {e}")))?;
    }
    sys::thread(Box::new(move || {
        for conn in listener.incoming() {
            match conn {
                Ok(stream) => match tx.send(stream) {
                    Ok(()) => {}
                    Err(Refused::Full(stream)) => overloaded(stream),
                    Err(Refused::Gone(_)) => return,
                },
                // Out of descriptors, or a connection reset before accept: wait, go on.
                Err(e) => {
                    eprintln!("meshchat: accept: {e}");
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }));
    // Asleep until a stop signal: an idle server does not wake.
    while !sys::wait_for_stop(None) {}
    // Let requests in flight finish (their writes are atomic anyway), then leave.
    let deadline = Instant::now() + Duration::from_millis(900);
    while shared.busy.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    eprintln!("meshchat: stopped");
    Ok(())
}

fn worker(rx: &Receiver<TcpStream>, shared: &Shared) {
    while let Ok(stream) = rx.recv() {
        shared.busy.fetch_add(1, Ordering::SeqCst);
        // A client that hangs up or stalls is not an error worth a log line.
        let _ = serve_connection(stream, shared);
        shared.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Every worker is busy and the queue is full: say so at once and close. The request is
/// drained briefly first: closing on unread bytes would reset the connection and the
/// client would never see the 503.
fn overloaded(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut sink = [0u8; 4096];
    let _ = stream.read(&mut sink);
    let body = b"busy, try again\n";
    let _ = http::write_response(
        &mut stream,
        503,
        &[
            ("Content-type", "text/plain".into()),
            ("Retry-After", "2".into()),
        ],
        &mut &body[..],
        body.len() as u64,
        false,
    );
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.read(&mut sink);
}

/// Reads and drops what a refused client still sends, for at most [`DRAIN`].
fn drain(mut stream: &TcpStream) {
    let until = Instant::now() + DRAIN;
    let mut sink = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => return,
        }
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = http::prepare(&stream)?;
    let mut out = std::io::BufWriter::with_capacity(16 * 1024, &stream);
    let head = match http::read_head(&mut reader) {
        Ok(h) => Some(h),
        Err(crate::http::HeadError::Gone) => return Ok(()),
        // The same refusal as the CGI's (a chunked body): one message for both.
        Err(crate::http::HeadError::LengthRequired) => None,
        Err(e) => {
            let status = match e {
                crate::http::HeadError::TooLarge => 431,
                crate::http::HeadError::Timeout => 408,
                _ => 400,
            };
            let msg = format!("{e}\n");
            http::write_response(
                &mut out,
                status,
                &[("Content-type", "text/plain".into())],
                &mut msg.as_bytes(),
                msg.len() as u64,
                false,
            )?;
            drop(out);
            // Bytes the client sent after what was read would make the close a reset,
            // which can destroy the reply before the client reads it: close our side,
            // then drain briefly.
            let _ = stream.shutdown(std::net::Shutdown::Write);
            drain(&stream);
            return Ok(());
        }
    };
    reader.get_mut().head_done()?;
    let (head_only, response) = match head {
        Some(head) => {
            if head
                .header("Expect")
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
            {
                std::io::Write::write_all(&mut out, b"HTTP/1.1 100 Continue\r\n\r\n")?;
                std::io::Write::flush(&mut out)?;
            }
            let mut body = http::BodyReader::new(&mut reader, head.content_length);
            (head.method == "HEAD", route(shared, &head, &mut body))
        }
        None => (false, Response::length_required()),
    };
    let Response {
        status,
        headers,
        body,
    } = response;
    let (mut content, len): (Box<dyn Read>, u64) = match body {
        Body::Bytes(b) => {
            let len = b.len() as u64;
            (Box::new(Cursor::new(b)), len)
        }
        Body::File(f, len) => (Box::new(f), len),
    };
    http::write_response(&mut out, status, &headers, &mut content, len, head_only)
}

fn route(shared: &Shared, head: &http::Head, body: &mut dyn Read) -> Response {
    let (path, query) = head.target.split_once('?').unwrap_or((&head.target, ""));
    let accept_gzip = head
        .header("Accept-Encoding")
        .is_some_and(|v| v.contains("gzip"));
    let get = matches!(head.method.as_str(), "GET" | "HEAD");
    match path {
        "/cgi-bin/meshchat" if get || head.method == "POST" => {
            let mut req = Request {
                query,
                post: head.method == "POST",
                content_type: head.header("Content-Type"),
                content_length: Some(head.content_length),
                body,
                accept_gzip,
                cookie: head.header("Cookie"),
                authorization: head.header("Authorization"),
                server_port: shared.port,
            };
            Api::new(&shared.cfg).handle(&mut req)
        }
        "/" if get => redirect("/meshchat/"),
        p if get => asset(p, accept_gzip),
        _ => Response::text("method not allowed\n").status(405),
    }
}

#[cfg(feature = "embed-ui")]
fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn redirect(to: &str) -> Response {
    Response::text(format!("see {to}\n"))
        .status(302)
        .header("Location", to)
}

/// In a node build, `/meshchat/...` says where the UI is.
#[cfg(not(feature = "embed-ui"))]
fn asset(_path: &str, _accept_gzip: bool) -> Response {
    Response::text(NO_UI).status(404)
}

/// `/meshchat`, `/meshchat/` and `/meshchat/<file>` from the embedded UI. `/meshchat`
/// answers 200 itself: the node's hourly service check requires it.
#[cfg(feature = "embed-ui")]
fn asset(path: &str, accept_gzip: bool) -> Response {
    let name = match path {
        "/meshchat" | "/meshchat/" => "index.html",
        p => match p.strip_prefix("/meshchat/") {
            Some(n) => n,
            None => return Response::text("not found\n").status(404),
        },
    };
    let Some(i) = ASSETS.iter().position(|(n, _)| *n == name) else {
        return Response::text("not found\n").status(404);
    };
    let (n, gz) = ASSETS[i];
    let mut r = if accept_gzip {
        Response::new(content_type(n), gz.to_vec()).header("Content-Encoding", "gzip")
    } else {
        match crate::api::gzip::decompress(gz) {
            Some(raw) => Response::new(content_type(n), raw),
            None => return Response::failed("embedded asset is damaged"),
        }
    };
    r = r
        .header("Cache-Control", "no-cache")
        .header("X-Content-Type-Options", "nosniff");
    if n.ends_with(".html") {
        r = r
            .header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
            .header("X-Frame-Options", "DENY");
    }
    r
}

impl Response {
    /// Sets the HTTP status.
    pub fn status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }
}
