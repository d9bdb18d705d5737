//! The binary as the CGI program of a real web server (busybox httpd, a small CGI server
//! like the node's uhttpd): what we print must be taken as headers, status and body by a
//! server that parses it, not only by our own test helper.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};

use common::*;

struct Httpd(Child);

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts busybox httpd on a free port serving `root`; returns it and its address.
fn httpd(root: &std::path::Path) -> (Httpd, String) {
    let busybox = ["/usr/bin/busybox", "/bin/busybox"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("busybox is needed for this test: `make deps` installs it");
    // busybox httpd cannot report the port it bound: take a free one, then retry if
    // another process took it first.
    for _ in 0..20 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(busybox)
            .args(["httpd", "-f", "-p", &addr, "-h"])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut server = Httpd(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                return (server, addr);
            }
            // Exited: the port was taken meanwhile; try another.
            if server.0.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }
    panic!("no port for httpd");
}

fn http(addr: &str, raw: &[u8]) -> Reply {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse_http(&out)
}

#[test]
fn under_a_real_cgi_web_server() {
    let node = Node::new("httpd", "httpd-node", &[("max_file_storage", "4000")]);
    let root = node.dir.join("www");
    std::fs::create_dir_all(root.join("cgi-bin")).unwrap();
    // The web server hands the CGI a minimal environment; the configuration comes the
    // way a CGI host points at it: MESHCHAT_CONFIG, set by a wrapper here.
    let cgi = root.join("cgi-bin/meshchat");
    std::fs::write(
        &cgi,
        format!(
            "#!/bin/sh\nMESHCHAT_CONFIG='{}' exec '{}'\n",
            node.config.display(),
            bin()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (_httpd, addr) = httpd(&root);

    let get = |q: &str| {
        http(
            &addr,
            format!("GET /cgi-bin/meshchat?{q} HTTP/1.0\r\n\r\n").as_bytes(),
        )
    };
    let r = get("action=config");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-type"), Some("application/json"));
    assert_eq!(r.json()["node"], "httpd-node");

    let body = "action=send_message&message=via+httpd&call_sign=K1ABC&channel=ops";
    let r = http(
        &addr,
        format!("POST /cgi-bin/meshchat HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len())
            .as_bytes(),
    );
    assert_eq!(r.status_reply(), (200, "OK".into()));
    assert_eq!(get("action=messages").json()[0]["message"], "via httpd");
    let raw = get("action=messages_raw");
    assert_eq!(raw.header("Content-MD5").unwrap(), md5_hex(&raw.body));

    // Upload through the server, download back identical, over quota refused.
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let up = Cgi::upload("", "uploadfile", "bin.dat", &data);
    let mut req = format!(
        "POST /cgi-bin/meshchat?action=upload_file HTTP/1.0\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
        up.content_type.as_ref().unwrap(),
        up.body.len()
    )
    .into_bytes();
    req.extend_from_slice(&up.body);
    assert_eq!(http(&addr, &req).status_reply(), (200, "OK".into()));
    let r = get("action=file_download&file=bin.dat");
    assert_eq!(r.body, data);
    assert_eq!(
        r.header("Content-Disposition"),
        Some("attachment; filename=\"bin.dat\";")
    );
    let big = Cgi::upload("", "uploadfile", "big.dat", &[0; 5000]);
    let mut req = format!(
        "POST /cgi-bin/meshchat?action=upload_file HTTP/1.0\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
        big.content_type.as_ref().unwrap(),
        big.body.len()
    )
    .into_bytes();
    req.extend_from_slice(&big.body);
    assert_eq!(
        http(&addr, &req).status_reply().1,
        "Not enough storage, delete some files"
    );
    assert_eq!(get("action=nope").text(), "error no action\n");
}
