//! A fake peer for the sync tests: a loopback HTTP server whose answers are crafted by a
//! handler, to play a recorded legacy node or a broken and hostile one.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the handler is asked: the action and the raw parameters (query or form body).
pub struct Asked {
    pub params: String,
}

impl Asked {
    pub fn action(&self) -> &str {
        self.param("action").unwrap_or("")
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    }
}

type Handler = dyn Fn(&Asked, &mut TcpStream) + Send + Sync;

/// A running fake peer; stops accepting on drop.
pub struct Fake {
    pub port: u16,
    /// Every request's parameters, in arrival order.
    pub hits: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Fake {
    pub fn start(handler: impl Fn(&Asked, &mut TcpStream) + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (h, s) = (hits.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let (h, handler) = (h.clone(), handler.clone());
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    let Some(params) = read_request(&mut conn) else {
                        return;
                    };
                    h.lock().unwrap().push(params.clone());
                    handler(&Asked { params }, &mut conn);
                });
            }
        });
        Fake { port, hits, stop }
    }

    /// The actions asked so far.
    pub fn actions(&self) -> Vec<String> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .map(|p| Asked { params: p.clone() }.action().to_string())
            .collect()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one request; returns its query string, or its form body for a POST.
fn read_request(conn: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).ok()? == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let target = head.split(' ').nth(1)?.to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    if length > 0 {
        let mut body = vec![0u8; length];
        conn.read_exact(&mut body).ok()?;
        return Some(String::from_utf8_lossy(&body).into_owned());
    }
    Some(
        target
            .split_once('?')
            .map(|x| x.1)
            .unwrap_or("")
            .to_string(),
    )
}

/// Writes a whole response.
pub fn respond(conn: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let _ = conn.write_all(out.as_bytes());
    let _ = conn.write_all(body);
}

/// A text body with its correct Content-MD5, as a legacy node sends it.
pub fn text_md5(conn: &mut TcpStream, body: &[u8]) {
    respond(
        conn,
        "200 OK",
        &[
            ("Content-MD5", format!("{:x}", md5::compute(body))),
            ("Content-type", "text/plain".into()),
        ],
        body,
    );
}

/// A text body without a checksum (`messages_version`).
pub fn text(conn: &mut TcpStream, body: &[u8]) {
    respond(
        conn,
        "200 OK",
        &[("Content-type", "text/plain".into())],
        body,
    );
}

/// A recorded `curl -i` response, replayed byte for byte (with `Connection: close`).
pub fn replay(conn: &mut TcpStream, raw: &[u8]) {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let _ = conn.write_all(&raw[..split]);
    let _ = conn.write_all(b"\r\nConnection: close\r\n\r\n");
    let _ = conn.write_all(&raw[split + 4..]);
}
