//! Shared helpers for the integration tests: a temporary node (config + directories), the
//! real binary run as a CGI program with the environment uhttpd gives, and `serve`.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `meshchat ARGS` with a cleared environment: (success, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin()).args(args).env_clear().output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_meshchat")
}

/// A node in a temporary directory, removed on drop.
pub struct Node {
    pub dir: PathBuf,
    pub config: PathBuf,
}

impl Node {
    /// A fresh node named `name` with extra UCI option lines.
    pub fn new(tag: &str, name: &str, extra: &[(&str, &str)]) -> Node {
        let dir = std::env::temp_dir().join(format!("meshchat-it-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("meshchat.conf");
        let mut text = format!(
            "config meshchat 'main'\n\toption node '{name}'\n\toption data_dir '{0}/data'\n\
\toption ram_dir '{0}/ram'\n\toption platform 'node'\n\toption services_dir '{0}/services'\n\
\toption services_olsr '{0}/services_olsr'\n\toption shadow_file '{0}/shadow'\n",
            dir.display()
        );
        for (k, v) in extra {
            text.push_str(&format!("\toption {k} '{v}'\n"));
        }
        std::fs::write(&config, text).unwrap();
        Node { dir, config }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("data/messages.log")
    }

    pub fn files_dir(&self) -> PathBuf {
        self.dir.join("ram/files")
    }

    /// Runs one CGI request.
    pub fn cgi(&self, req: &Cgi) -> Reply {
        run_cgi(&self.config, req)
    }

    /// GET with a query string.
    pub fn get(&self, query: &str) -> Reply {
        self.cgi(&Cgi::get(query))
    }

    /// POST of urlencoded form fields.
    pub fn post(&self, fields: &[(&str, &str)]) -> Reply {
        self.cgi(&Cgi::form(fields))
    }

    /// Every file below the node's directory, with its size: what "nothing else changed"
    /// compares.
    /// `meshchat ARGS --config <this node's>` with a cleared environment.
    pub fn command(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin())
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .env_clear()
            .output()
            .unwrap()
    }

    /// `meshchat sync --stats` for this node, its stats lines on a pipe, stderr dropped.
    pub fn sync_with_stats(&self) -> Child {
        Command::new(bin())
            .args(["sync", "--stats", "--config"])
            .arg(&self.config)
            .env_clear()
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// The ids of the messages the API lists, sorted.
    pub fn message_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .get("action=messages")
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }

    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(&self.dir, &self.dir, &mut out);
        // Caches and the lock are not state: rebuilt or recreated whenever needed.
        out.retain(|k, _| {
            !k.ends_with("/lock") && !k.ends_with("messages.meta") && !k.contains("/cache.")
        });
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.insert(
                p.strip_prefix(root).unwrap().display().to_string(),
                std::fs::read(&p).unwrap_or_default(),
            );
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("test node left in {}", self.dir.display());
        }
    }
}

/// A CGI request.
#[derive(Default, Clone)]
pub struct Cgi {
    pub method: String,
    pub query: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub env: Vec<(String, String)>,
}

impl Cgi {
    pub fn get(query: &str) -> Cgi {
        Cgi {
            method: "GET".into(),
            query: query.into(),
            ..Default::default()
        }
    }

    pub fn form(fields: &[(&str, &str)]) -> Cgi {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        Cgi {
            method: "POST".into(),
            content_type: Some("application/x-www-form-urlencoded".into()),
            body: body.into_bytes(),
            ..Default::default()
        }
    }

    /// A multipart upload as curl -F sends it.
    pub fn upload(query: &str, field: &str, filename: &str, data: &[u8]) -> Cgi {
        let boundary = "------------------------meshchatTestBoundary7";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n\
Content-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        Cgi {
            method: "POST".into(),
            query: query.into(),
            content_type: Some(format!("multipart/form-data; boundary={boundary}")),
            body,
            ..Default::default()
        }
    }

    pub fn with_env(mut self, k: &str, v: &str) -> Cgi {
        self.env.push((k.into(), v.into()));
        self
    }
}

/// Percent-encodes like curl --data-urlencode.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A parsed CGI (or HTTP) reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub stderr: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    /// The legacy `{"status":..., "response":...}` reply.
    pub fn status_reply(&self) -> (u64, String) {
        let v = self.json();
        (
            v["status"].as_u64().unwrap(),
            v["response"].as_str().unwrap().to_string(),
        )
    }
}

/// Runs the binary as uhttpd runs a CGI: a cleared environment with the CGI variables.
pub fn run_cgi(config: &Path, req: &Cgi) -> Reply {
    let mut cmd = Command::new(bin());
    cmd.env_clear()
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("MESHCHAT_CONFIG", config)
        .env("REQUEST_METHOD", &req.method)
        .env("QUERY_STRING", &req.query)
        .env("SERVER_PORT", "8081")
        .env("SERVER_NAME", "127.0.0.1")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("SCRIPT_NAME", "/cgi-bin/meshchat")
        .env("DOCUMENT_ROOT", "/www")
        .env("REQUEST_URI", format!("/cgi-bin/meshchat?{}", req.query))
        .env("HTTP_HOST", "127.0.0.1:8081");
    if let Some(ct) = &req.content_type {
        cmd.env("CONTENT_TYPE", ct)
            .env("CONTENT_LENGTH", req.body.len().to_string());
    }
    for (k, v) in &req.env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn meshchat");
    let mut stdin = child.stdin.take().unwrap();
    let body = req.body.clone();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    assert!(
        out.status.success(),
        "CGI exited with {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_cgi_output(
        &out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Splits CGI output into status, headers and body.
pub fn parse_cgi_output(out: &[u8], stderr: String) -> Reply {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("CGI output has a blank line");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let mut status = 200;
    let mut headers = Vec::new();
    for line in head.split("\r\n") {
        let (k, v) = line.split_once(": ").expect("header line");
        if k == "Status" {
            status = v[..3].parse().unwrap();
        } else {
            headers.push((k.to_string(), v.to_string()));
        }
    }
    Reply {
        status,
        headers,
        body: out[split + 4..].to_vec(),
        stderr,
    }
}

/// A recorded legacy response (`curl -i` output).
pub fn fixture(name: &str) -> Reply {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lua-meshchat-2.18")
        .join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
        stderr: String::new(),
    }
}

/// A running `meshchat serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    pub fn start(node: &Node, listen: &str) -> Server {
        let mut child = Command::new(bin())
            .args(["serve", "--listen", listen, "--config"])
            .arg(&node.config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|s| s.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, addr }
    }

    /// One HTTP/1.1 request with `Connection: close`; raw bytes in, parsed reply out.
    pub fn request(&self, raw: &[u8]) -> Reply {
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(raw).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        parse_http(&out)
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    }

    pub fn post(&self, path: &str, content_type: &str, body: &[u8], extra: &str) -> Reply {
        let mut raw = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {content_type}\r\n\
Content-Length: {}\r\n{extra}\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        self.request(&raw)
    }

    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses an HTTP/1.1 response (Content-Length or close-delimited; chunked decoded).
pub fn parse_http(out: &[u8]) -> Reply {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP response has a blank line");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let mut body = out[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut decoded = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().trim(), 16)
                .unwrap();
            if n == 0 {
                break;
            }
            decoded.extend_from_slice(&rest[nl + 2..nl + 2 + n]);
            rest = &rest[nl + 4 + n..];
        }
        body = decoded;
    }
    Reply {
        status,
        headers,
        body,
        stderr: String::new(),
    }
}

/// Waits until `cond` holds, or panics after `secs`.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("timed out waiting for {what}");
}

/// Decompresses gzip with the system's gzip.
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "gzip -dc failed");
    out.stdout
}

/// Lowercase hex MD5.
pub fn md5_hex(b: &[u8]) -> String {
    format!("{:x}", md5::compute(b))
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `meshchat sync ARGS --config CONFIG` with a cleared environment, its stderr into `log`.
pub fn spawn_sync(args: &[&str], config: &Path, log: std::fs::File) -> Child {
    Command::new(bin())
        .arg("sync")
        .args(args)
        .arg("--config")
        .arg(config)
        .env_clear()
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Asks `child` to stop (SIGTERM, as procd does) and waits for it.
pub fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// The source up to its first inline `#[cfg(test)] mod NAME {`: the code a build ships
/// and its comments, without the unit tests.
pub fn without_unit_tests(text: &str) -> &str {
    let mark = "\n#[cfg(test)]\nmod ";
    let mut end = text.len();
    for (i, _) in text.match_indices(mark) {
        let line = text[i + mark.len()..].lines().next().unwrap_or("");
        if line.trim_end().ends_with('{') {
            end = i;
            break;
        }
    }
    &text[..end]
}
