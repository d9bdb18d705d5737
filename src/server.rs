//! `meshchat serve`: the API at `/cgi-bin/meshchat` and the embedded web UI at
//! `/meshchat/`, over tiny_http, for hosts without uhttpd (a Pi, a Debian box, a laptop).
//!
//! A fixed pool of worker threads answers requests; sockets carry receive/send timeouts so
//! a stalled client is dropped; request bodies are capped by the API. SIGTERM/SIGINT stop
//! the server: the workers are unblocked and joined.

use std::io::{Cursor, Read};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tiny_http::{Header, Method, Server, StatusCode};

use crate::api::{self, Api, Body, Request, Response};
use crate::config::Config;
use crate::sys;

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Worker threads answering requests.
pub const WORKERS: usize = 4;
/// Seconds a client may stall before its connection is dropped.
pub const SOCKET_TIMEOUT_SECS: u32 = 20;

/// Why the server could not run.
#[derive(Debug)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Binds `listen`, prints `listening on http://ADDR/` (tests read it to learn the port),
/// and serves until SIGTERM or SIGINT.
pub fn run(cfg: Config, listen: &str) -> Result<(), Error> {
    cfg.paths.create_dirs().map_err(|e| Error(e.to_string()))?;
    let listener =
        TcpListener::bind(listen).map_err(|e| Error(format!("cannot listen on {listen}: {e}")))?;
    sys::set_listener_timeouts(&listener, SOCKET_TIMEOUT_SECS)
        .map_err(|e| Error(format!("socket options: {e}")))?;
    let addr = listener.local_addr().map_err(|e| Error(e.to_string()))?;
    let server = Arc::new(Server::from_listener(listener, None).map_err(|e| Error(e.to_string()))?);
    sys::catch_stop_signals();
    println!("listening on http://{addr}/");
    eprintln!(
        "meshchat: serving node {} zone '{}' on http://{addr}/meshchat/",
        cfg.node(),
        cfg.zone()
    );

    let cfg = Arc::new(cfg);
    let port = addr.port();
    let gz = Arc::new(compress_assets());
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let server = server.clone();
            let cfg = cfg.clone();
            let gz = gz.clone();
            thread::spawn(move || {
                while let Ok(rq) = server.recv() {
                    serve_one(&cfg, port, &gz, rq);
                }
            })
        })
        .collect();
    // accept() honours the listener's receive timeout too, and tiny_http's accept loop ends
    // at its first error: left alone, a server nobody connects to for SOCKET_TIMEOUT_SECS
    // would stop accepting. A connection to ourselves now and then keeps accept() awake.
    let wake = wake_addr(addr);
    let mut ticks = 0u32;
    while !sys::stop_requested() {
        thread::sleep(Duration::from_millis(100));
        ticks += 1;
        if ticks.is_multiple_of(SOCKET_TIMEOUT_SECS * 10 / 4) {
            let _ = std::net::TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        }
    }
    eprintln!("meshchat: stopping");
    for _ in &workers {
        server.unblock();
    }
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

/// Where this server can reach itself (a wildcard address means loopback).
fn wake_addr(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    let mut a = addr;
    if a.ip().is_unspecified() {
        a.set_ip(match a {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

/// gzip forms of the text assets, made once at start-up.
fn compress_assets() -> Vec<Option<Vec<u8>>> {
    ASSETS
        .iter()
        .map(|(name, bytes)| {
            (is_text(name) && bytes.len() > 512).then(|| api::gzip::compress(bytes))
        })
        .collect()
}

fn is_text(name: &str) -> bool {
    [".html", ".css", ".js", ".svg", ".json", ".txt"]
        .iter()
        .any(|e| name.ends_with(e))
}

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

fn header(rq: &tiny_http::Request, name: &'static str) -> Option<String> {
    rq.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str().to_string())
}

fn serve_one(cfg: &Config, port: u16, gz: &[Option<Vec<u8>>], mut rq: tiny_http::Request) {
    let url = rq.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let accept_gzip = header(&rq, "Accept-Encoding").is_some_and(|v| v.contains("gzip"));
    let response = match (rq.method(), path) {
        (Method::Get | Method::Post | Method::Head, "/cgi-bin/meshchat") => {
            let content_type = header(&rq, "Content-Type");
            let cookie = header(&rq, "Cookie");
            let authorization = header(&rq, "Authorization");
            let post = *rq.method() == Method::Post;
            let content_length = rq.body_length().map(|n| n as u64);
            let mut body: Box<dyn Read> = if post {
                Box::new(rq.as_reader())
            } else {
                Box::new(std::io::empty())
            };
            let mut req = Request {
                query,
                post,
                content_type: content_type.as_deref(),
                content_length,
                body: &mut *body,
                accept_gzip,
                cookie: cookie.as_deref(),
                authorization: authorization.as_deref(),
                server_port: port,
            };
            Api::new(cfg).handle(&mut req)
        }
        (Method::Get | Method::Head, "/") => redirect("/meshchat/"),
        (Method::Get | Method::Head, p) => asset(p, accept_gzip, gz),
        _ => Response::text("method not allowed\n").status(405),
    };
    send(rq, response);
}

fn redirect(to: &str) -> Response {
    Response::text(format!("see {to}\n"))
        .status(302)
        .header("Location", to)
}

/// `/meshchat`, `/meshchat/` and `/meshchat/<file>` from the embedded UI. `/meshchat`
/// answers 200 itself: the node's hourly service check requires it.
fn asset(path: &str, accept_gzip: bool, gz: &[Option<Vec<u8>>]) -> Response {
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
    let (n, bytes) = ASSETS[i];
    let mut r = match (&gz[i], accept_gzip) {
        (Some(z), true) => {
            Response::new(content_type(n), z.clone()).header("Content-Encoding", "gzip")
        }
        _ => Response::new(content_type(n), bytes.to_vec()),
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

fn send(rq: tiny_http::Request, response: Response) {
    let mut headers = Vec::with_capacity(response.headers.len());
    for (name, value) in &response.headers {
        if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            headers.push(h);
        }
    }
    let status = StatusCode(response.status);
    let result = match response.body {
        Body::Bytes(b) => {
            let len = b.len();
            rq.respond(tiny_http::Response::new(
                status,
                headers,
                Cursor::new(b),
                Some(len),
                None,
            ))
        }
        Body::File(f, len) => rq.respond(tiny_http::Response::new(
            status,
            headers,
            f.take(len),
            Some(len as usize),
            None,
        )),
    };
    // A client that hung up is not an error worth a log line.
    let _ = result;
}
