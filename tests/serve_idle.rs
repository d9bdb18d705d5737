//! `meshchat serve` keeps accepting connections after a quiet spell longer than its socket
//! timeout (the listener's receive timeout also bounds accept(), which once ended the
//! accept loop of an idle server for good).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn serve_accepts_after_an_idle_spell() {
    let dir = std::env::temp_dir().join(format!("meshchat-idle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshchat"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--node",
            "idle-node",
            "--data",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("meshchat starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.strip_suffix('/'))
        .expect("listening on http://ADDR/")
        .to_string();
    let get = || -> String {
        let mut s = TcpStream::connect(&addr).expect("server accepts");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /cgi-bin/meshchat?action=config HTTP/1.0\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).expect("an answer");
        out
    };
    let first = get();
    assert!(first.contains(" 200 "), "{first}");
    std::thread::sleep(Duration::from_secs(
        u64::from(meshchat::server::SOCKET_TIMEOUT_SECS) + 5,
    ));
    let answer = get();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(answer.contains(" 200 "), "{answer}");
}
