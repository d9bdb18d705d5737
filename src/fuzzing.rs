//! Entry points for the fuzz targets in `fuzz/` (built only with `--cfg fuzzing`, which
//! `cargo fuzz` sets): each takes arbitrary bytes, runs one parser, and panics when an
//! invariant breaks. The release binary and the crate's public face do not contain it.
//!
//! Invariants checked besides "no panic, no hang": what a parser accepts, its writer
//! writes back and the parser reads again unchanged; a CGI response is well-formed HTTP,
//! names no server path, and changes no file outside the node's data directories.

use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::protocol::{digest, form, lines, multipart, services, uci};

/// A `Read` that hands out the input in pieces of the sizes the input's first bytes
/// choose, so parsers meet every way a body can be split across reads.
struct Dribble<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    turn: usize,
}

impl<'a> Dribble<'a> {
    fn new(data: &'a [u8]) -> Dribble<'a> {
        let n = data.first().map_or(0, |&b| usize::from(b & 7));
        let n = n.min(data.len().saturating_sub(1));
        let (sizes, data) = data.get(1..).unwrap_or(&[]).split_at(n);
        Dribble {
            data,
            sizes,
            turn: 0,
        }
    }
}

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = match self.sizes.get(self.turn % self.sizes.len().max(1)) {
            Some(&s) => usize::from(s).max(1),
            None => buf.len(),
        };
        self.turn += 1;
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Query strings and urlencoded forms; percent-encoding round-trips.
pub fn form(data: &[u8]) {
    let mut p = form::Params::new();
    p.add_urlencoded(data);
    let _ = p.get("action");
    let decoded = form::percent_decode(data);
    assert_eq!(
        form::percent_decode(form::percent_encode(&decoded).as_bytes()),
        decoded
    );
}

struct CountingSink {
    open: bool,
    bytes: u64,
}

impl multipart::FileSink for CountingSink {
    type Error = &'static str;
    fn begin(&mut self, _field: &str, _filename: &str) -> Result<(), Self::Error> {
        assert!(!self.open, "a file part began inside another");
        self.open = true;
        Ok(())
    }
    fn write(&mut self, chunk: &[u8]) -> Result<(), Self::Error> {
        assert!(self.open, "file bytes outside a file part");
        self.bytes += chunk.len() as u64;
        Ok(())
    }
    fn finish(&mut self) -> Result<(), Self::Error> {
        assert!(self.open, "a file part finished twice");
        self.open = false;
        Ok(())
    }
}

/// The multipart reader, with the body split across reads at the input's choice. The
/// first line of the input is the boundary.
pub fn multipart(data: &[u8]) {
    let Some(nl) = data.iter().position(|&b| b == b'\n') else {
        return;
    };
    let Ok(ct) = std::str::from_utf8(&data[..nl]) else {
        return;
    };
    let ct = format!("multipart/form-data; boundary={ct}");
    let Some(boundary) = multipart::boundary(&ct) else {
        return;
    };
    let body = &data[nl + 1..];
    let mut params = form::Params::new();
    let mut sink = CountingSink {
        open: false,
        bytes: 0,
    };
    let r = multipart::read(Dribble::new(body), boundary, &mut params, &mut sink);
    assert!(sink.bytes <= body.len() as u64, "more file bytes than body");
    if r.is_ok() {
        assert!(!sink.open, "body accepted with a file part still open");
    }
}

/// The legacy database lines: messages, users and file lists (the first byte picks
/// which). Whatever parses writes back to a line that parses to the same value.
pub fn lines(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut out = String::new();
    match which % 3 {
        0 => {
            if let Ok(m) = lines::Message::parse(text) {
                m.write_line(&mut out);
                let again = lines::Message::parse(out.trim_end_matches('\n'));
                assert_eq!(again.as_ref().ok(), Some(&m), "message line: {out:?}");
            }
            let (all, bad) = lines::parse_all(text, lines::Message::parse);
            assert!(all.len() + bad <= text.lines().count());
        }
        1 => {
            if let Ok(u) = lines::User::parse(text) {
                u.write_line(&mut out);
                let again = lines::User::parse(out.trim_end_matches('\n'));
                assert_eq!(again.as_ref().ok(), Some(&u), "user line: {out:?}");
            }
        }
        _ => {
            if let Ok(f) = lines::FileEntry::parse(text) {
                f.write_line(&mut out);
                let again = lines::FileEntry::parse(out.trim_end_matches('\n'));
                assert_eq!(again.as_ref().ok(), Some(&f), "file line: {out:?}");
            }
        }
    }
}

/// A jsonl export line (what `meshchat import` reads back): whatever parses exports to a
/// line that parses to the same message, and the csv writer takes it too.
pub fn jsonl(data: &[u8]) {
    use crate::protocol::export::{self, Format};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(m) = export::parse_jsonl(text) else {
        return;
    };
    let mut line = String::new();
    m.write_line(&mut line);
    let r = lines::MessageRef::parse(line.trim_end_matches('\n')).expect("own line");
    let mut out = Vec::new();
    export::push_line(&mut out, Format::Jsonl, &r);
    let again = std::str::from_utf8(&out).expect("jsonl is UTF-8");
    assert_eq!(
        export::parse_jsonl(again.trim_end_matches('\n'))
            .ok()
            .as_ref(),
        Some(&m),
        "{again:?}"
    );
    let mut csv = Vec::new();
    export::push_line(&mut csv, Format::Csv, &r);
}

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("meshchat-fuzz-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The message log read from a file holding the input: torn, corrupt and forged records
/// are skipped, never trusted, and every reader of the log agrees on what it holds.
pub fn log_records(data: &[u8]) {
    let dir = TempDir::new("log");
    let paths = crate::store::Paths {
        data_dir: dir.0.join("data"),
        ram_dir: dir.0.join("ram"),
        files_dir: dir.0.join("ram/files"),
    };
    paths.create_dirs().expect("directories");
    std::fs::write(paths.log(), data).expect("log file");
    let log = crate::store::log::Log::new(&paths, 10_000);
    let contents = log.read().expect("read");
    let view = contents.view(10_000);
    let keys = log.keys().expect("keys");
    assert_eq!(
        view.messages.len(),
        keys.len(),
        "view and key scan disagree"
    );
    for (m, k) in view.messages.iter().zip(&keys) {
        assert_eq!((m.epoch, m.id), *k);
    }
}

/// Both service-file formats: the input as an arednlink services file and as the OLSR
/// file, read the way discovery reads them.
pub fn services(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = services::parse(&text);
    for s in &parsed.services {
        // A node name (no shell or URL metacharacter); whether it is a host we connect
        // to is discovery's question (`Peer::new`), asked next.
        let host = s.host.as_str();
        assert!(host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        let peer = crate::sync::discovery::Peer::new(host, s.port);
        assert_eq!(
            peer.is_some(),
            crate::sync::discovery::valid_host(host) && s.port > 0
        );
        assert!(!s.zone.contains('\t') && !s.zone.contains('\n'));
    }
    let dir = TempDir::new("services");
    std::fs::create_dir_all(dir.0.join("arednlink")).expect("services dir");
    std::fs::write(dir.0.join("arednlink/10.0.0.1"), data).expect("services file");
    std::fs::write(dir.0.join("services_olsr"), data).expect("olsr file");
    let (found, rejected) =
        crate::sync::discovery::advertised(&dir.0.join("arednlink"), &dir.0.join("services_olsr"));
    assert_eq!(found.len(), 2 * parsed.services.len());
    assert_eq!(rejected, 2 * parsed.rejected);
}

/// The digest-v1 request (`q=` queries): whatever parses writes back identically.
pub fn digest_request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(queries) = digest::parse_queries(text) {
        let written = digest::write_queries(&queries);
        assert_eq!(
            digest::parse_queries(&written).ok().as_ref(),
            Some(&queries),
            "{written:?}"
        );
    }
    let _ = digest::parse_ids(text);
    let _ = text.parse::<digest::Bound>();
}

/// The digest-v1 reply body.
pub fn digest_reply(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(reply) = digest::parse_reply(text) {
        for m in &reply.messages {
            let _ = lines::MessageRef::parse(m);
        }
    }
}

/// The server's request head reader and body reader.
pub fn server_head(data: &[u8]) {
    use crate::http::server as http;
    let mut r = BufReader::new(Dribble::new(data));
    if let Ok(head) = http::read_head(&mut r) {
        assert!(head.target.starts_with('/'));
        let mut body = http::BodyReader::new(&mut r, head.content_length);
        let mut sink = Vec::new();
        let _ = body.read_to_end(&mut sink);
        assert!(sink.len() as u64 <= head.content_length);
    }
}

/// The peer client's response head reader, framing and body decoder (chunked, length,
/// until close).
pub fn client_head(data: &[u8]) {
    use crate::http::framing as http;
    let mut r = BufReader::new(Dribble::new(data));
    let Ok(head) = http::read_head(&mut r) else {
        return;
    };
    let Ok(framing) = head.framing() else {
        return;
    };
    let mut body = http::Body::new(r, framing);
    let mut sink = Vec::new();
    let _ = body.read_to_end(&mut sink);
    if let http::Framing::Length(n) = framing {
        assert!(sink.len() as u64 <= n);
    }
    assert!(sink.len() <= data.len());
}

/// UCI files.
pub fn uci(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for s in uci::parse(&text) {
        let _ = s.get("node");
        let _ = s.all("service").count();
    }
    let raw = crate::config::Raw::from_uci(&text);
    let _ = crate::config::Config::from_raw(&raw);
}

/// Every file below `dir` except those below `skip`, with its contents.
fn snapshot(dir: &Path, skip: &[PathBuf], out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if skip.contains(&p) {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() => snapshot(&p, skip, out),
            _ => {
                out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
            }
        }
    }
}

/// Checks a CGI response: optional `Status:` line, `Name: value` headers, a
/// `Content-Length` that matches the body.
fn check_cgi_response(out: &[u8]) {
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of head");
    let head = std::str::from_utf8(&out[..end]).expect("head is not UTF-8");
    let body = &out[end + 4..];
    let mut length = None;
    for (i, line) in head.split("\r\n").enumerate() {
        let (name, value) = line.split_once(": ").expect("header without ': '");
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "bad header name {name:?}"
        );
        assert!(
            !value.bytes().any(|b| b.is_ascii_control()),
            "control byte in header {name}"
        );
        if name == "Status" {
            assert_eq!(i, 0, "Status is not the first line");
            let code: u16 = value[..3].parse().expect("status code");
            assert!((200..600).contains(&code));
        }
        if name == "Content-Length" {
            length = Some(value.parse::<usize>().expect("Content-Length"));
        }
    }
    assert_eq!(length, Some(body.len()), "Content-Length does not match");
}

/// The CGI end to end. The input is `NAME=value` lines (the environment the web server
/// gives), an empty line, then the body on stdin. The node lives in a fresh temporary
/// directory; the response must be well-formed, must not name that directory, and no
/// file outside the node's data directories may change.
pub fn cgi(data: &[u8]) {
    let split = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(data.len());
    let env_text = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 2..).unwrap_or(&[]);
    let env: Vec<(String, String)> = env_text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();

    let dir = TempDir::new("cgi");
    let root = &dir.0;
    let node = root.join("n/o");
    std::fs::create_dir_all(root.join("etc")).expect("etc");
    std::fs::write(root.join("etc/outside"), b"must not change\n").expect("sentinel");
    std::fs::write(
        root.join("etc/hsmmmesh"),
        "config settings 'settings'\n\toption node 'FUZZ-node'\n",
    )
    .expect("hsmmmesh");
    let config = format!(
        "config meshchat 'main'\n\toption data_dir '{n}/data'\n\toption ram_dir '{n}/ram'\n\
\toption platform 'node'\n\toption max_messages '50'\n\toption max_file_storage '65536'\n\
\toption admin_token 'fuzz-admin-token'\n\toption services_dir '{r}/etc/services'\n\
\toption services_olsr '{r}/etc/services_olsr'\n\toption hsmmmesh_file '{r}/etc/hsmmmesh'\n\
\toption setup_file '{r}/etc/setup'\n\toption shadow_file '{r}/etc/shadow'\n",
        n = node.display(),
        r = root.display()
    );
    let cfg = crate::config::Config::from_raw(&crate::config::Raw::from_uci(&config))
        .expect("fuzz config");
    cfg.paths.create_dirs().expect("node directories");
    let skip = vec![node.join("data"), node.join("ram")];
    let mut before = BTreeMap::new();
    snapshot(root, &skip, &mut before);

    let var = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let response = crate::cgi::handle_env(&cfg, &var, &mut Dribble::new(body));
    let mut out = Vec::new();
    crate::cgi::write_response(&mut out, response).expect("response");
    check_cgi_response(&out);
    let root_text = root.display().to_string();
    assert!(
        !out.windows(root_text.len())
            .any(|w| w == root_text.as_bytes()),
        "the response names a server path"
    );
    let mut after = BTreeMap::new();
    snapshot(root, &skip, &mut after);
    assert_eq!(before, after, "a file outside the data directories changed");
}

/// Raven datagrams and arednlink entry files: a text the parser reads is written back by
/// our writer and read again unchanged, with every header field; re-publishing our
/// entry into a publish file we wrote changes nothing.
pub fn raven(data: &[u8]) {
    use crate::protocol::raven::{self, Header, Payload};
    if let Ok(p) = raven::parse_packet(data) {
        let text = match &p.payload {
            Payload::Text(t) => std::str::from_utf8(t).ok(),
            _ => None,
        };
        let namekey = p
            .namekey
            .as_deref()
            .and_then(|n| std::str::from_utf8(n).ok());
        let callsign = p
            .callsign
            .as_deref()
            .and_then(|c| std::str::from_utf8(c).ok());
        if let (Some(text), Some(namekey)) = (text, namekey) {
            let h = Header {
                from: p.from,
                to: p.to,
                namekey,
                id: p.id,
                rx_time: p.rx_time.unwrap_or(0),
                hop_limit: 3,
                callsign,
                version: "meshchat",
            };
            let again = raven::parse_packet(&raven::write_text(&h, text)).expect("own datagram");
            assert_eq!((again.from, again.to, again.id), (p.from, p.to, p.id));
            assert_eq!(again.payload, Payload::Text(text.as_bytes().to_vec()));
            assert_eq!(again.namekey.as_deref(), Some(namekey.as_bytes()));
            assert_eq!(again.callsign.as_deref(), callsign.map(str::as_bytes));
        }
    }
    let _ = raven::parse_entries(data);
    if let Some(once) = raven::publish(data, "meshchat-fuzz", None) {
        assert_eq!(
            raven::publish(&once, "meshchat-fuzz", None).as_ref(),
            Some(&once)
        );
    }
}

/// A delivery section (`src/protocol/delivery.rs`): its roster line, then entry lines;
/// what parses writes back and parses again to the same key and holders.
pub fn delivery(data: &[u8]) {
    use crate::protocol::delivery::{self as d};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let Some(Ok((crc, n))) = lines.next().map(d::parse_roster_line) else {
        return;
    };
    let mut roster = String::new();
    d::write_roster_line(&mut roster, crc, n);
    assert_eq!(d::parse_roster_line(roster.trim_end()), Ok((crc, n)));
    for line in lines {
        if let Ok((key, holders)) = d::parse_entry(line, n) {
            let mut out = String::new();
            d::write_entry(&mut out, key, &holders, n);
            assert_eq!(
                d::parse_entry(out.trim_end(), n),
                Ok((key, holders)),
                "{line:?} -> {out:?}"
            );
        }
    }
}

/// DNS answers as the resolver reads them (`src/protocol/dns.rs`) and `/etc/hosts` text:
/// no more addresses than the answer's record count; a query we write for a name taken
/// from the input is answered, as a name server would, by NXDOMAIN or by no records.
pub fn dns(data: &[u8]) {
    use crate::protocol::dns::{self, Answer};
    let id = data
        .get(..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    if let Some(Answer::Found(ips)) = dns::answer(data, id) {
        assert!(ips.len() <= usize::from(u16::from_be_bytes([data[6], data[7]])));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let name = text.split_whitespace().nth(1).unwrap_or("node");
    let _ = dns::hosts(text, name);
    if let Some(q) = dns::query(id, name, dns::A) {
        assert!(q.len() <= 12 + 255 + 4, "{name:?}");
        let mut reply = q.clone();
        reply[2] |= 0x80;
        reply[3] = 0x83;
        assert_eq!(dns::answer(&reply, id), Some(Answer::NoName));
        reply[3] = 0x80;
        assert_eq!(dns::answer(&reply, id), Some(Answer::Found(Vec::new())));
    }
}

/// The gzip writer (`src/protocol/deflate.rs` inside `src/api/gzip.rs`): whatever the
/// bytes, the body inflates back to them.
pub fn deflate(data: &[u8]) {
    use crate::api::gzip;
    assert_eq!(
        gzip::decompress(&gzip::compress(data)).as_deref(),
        Some(data)
    );
}
