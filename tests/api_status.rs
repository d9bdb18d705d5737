//! One HTTP-status rule for the API, under CGI and `serve` alike (docs/API.md, "Replies
//! and errors"): 200 done, 400 refused input, 403 not allowed, 404 no such file, 413 over
//! quota, 500 a failure on the node; the legacy JSON status object is the same in both.
//! And the action of a multipart upload may come from the body's own fields.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

const TOKEN: &str = "correct-horse-battery";

/// The same request, sent to a node as uhttpd runs the CGI and to `meshchat serve`.
struct Both {
    cgi: Node,
    served: Node,
    server: Server,
}

impl Both {
    fn new(tag: &str) -> Both {
        let extra = [("max_file_storage", "5000"), ("admin_token", TOKEN)];
        let cgi = Node::new(&format!("{tag}-cgi"), "status-node", &extra);
        let served = Node::new(&format!("{tag}-serve"), "status-node", &extra);
        let server = Server::start(&served, "127.0.0.1:0");
        Both {
            cgi,
            served,
            server,
        }
    }

    /// (HTTP status, body) from each mode; they must agree.
    fn send(&self, req: &Cgi) -> (u16, Vec<u8>) {
        let a = self.cgi.cgi(req);
        let mut extra = String::new();
        for (k, v) in &req.env {
            let name = match k.as_str() {
                "HTTP_COOKIE" => "Cookie",
                "HTTP_AUTHORIZATION" => "Authorization",
                other => panic!("no header for {other}"),
            };
            extra.push_str(&format!("{name}: {v}\r\n"));
        }
        let path = format!("/cgi-bin/meshchat?{}", req.query);
        let b = match &req.content_type {
            Some(ct) => self.server.post(&path, ct, &req.body, &extra),
            None => self.server.request(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n")
                    .as_bytes(),
            ),
        };
        assert_eq!(a.status, b.status, "{}: CGI and serve differ", req.query);
        assert_eq!(a.body, b.body, "{}: CGI and serve differ", req.query);
        (a.status, a.body)
    }
}

fn reply(body: &[u8]) -> (u64, String) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    (
        v["status"].as_u64().unwrap(),
        v["response"].as_str().unwrap().to_string(),
    )
}

#[test]
fn every_outcome_has_its_status_in_both_modes() {
    let both = Both::new("status");
    let t = now().to_string();
    let msg = |call: &str| {
        Cgi::form(&[
            ("action", "send_message"),
            ("call_sign", call),
            ("message", "hi"),
            ("epoch", &t),
            ("id", "0000abcd"),
        ])
    };
    let (status, body) = both.send(&msg("K1ABC"));
    assert_eq!((status, reply(&body)), (200, (200, "OK".into())));
    let (status, body) = both.send(&msg("K1\tABC"));
    assert_eq!(status, 400);
    assert!(reply(&body).1.contains("call_sign"));

    // Upload: done, over quota, someone else's name.
    let up = Cgi::upload("action=upload_file", "uploadfile", "a.txt", b"first");
    let (status, _) = both.send(&up);
    assert_eq!(status, 200);
    let big = Cgi::upload("action=upload_file", "uploadfile", "big.bin", &[7; 6000]);
    let (status, body) = both.send(&big);
    assert_eq!(
        (status, reply(&body)),
        (413, (500, "Not enough storage, delete some files".into()))
    );
    let (status, _) = both.send(&up);
    assert_eq!(status, 403, "another browser may not replace it");

    // Delete: not allowed (403), no such file (404) for anyone, admin included.
    let (status, _) = both.send(&Cgi::get("action=delete_file&file=a.txt"));
    assert_eq!(status, 403);
    let (status, body) = both.send(&Cgi::get("action=delete_file&file=nothere.txt"));
    assert_eq!((status, reply(&body)), (404, (500, "no file".into())));
    let admin = Cgi::get("action=delete_file&file=nothere.txt")
        .with_env("HTTP_AUTHORIZATION", &format!("Bearer {TOKEN}"));
    assert_eq!(both.send(&admin).0, 404);
    let admin = Cgi::get("action=delete_file&file=a.txt")
        .with_env("HTTP_AUTHORIZATION", &format!("Bearer {TOKEN}"));
    assert_eq!(both.send(&admin).0, 200);

    // Reads answer 200; an unknown action the legacy text.
    assert_eq!(both.send(&Cgi::get("action=users")).0, 200);
    let (status, body) = both.send(&Cgi::get("action=nope"));
    assert_eq!((status, body.as_slice()), (200, &b"error no action\n"[..]));
    drop(both.served);
}

#[test]
fn a_storage_failure_is_500() {
    // The log's directory cannot exist (under a file): true even for root. `serve`
    // refuses to start there, so only the CGI meets it at request time.
    let node = Node::new(
        "status-500",
        "status-node",
        &[("data_dir", "/dev/null/meshchat")],
    );
    let r = node.post(&[
        ("action", "send_message"),
        ("call_sign", "K1ABC"),
        ("message", "hi"),
    ]);
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.status_reply().0, 500);
    assert!(
        !r.text().contains("/dev/null"),
        "no server path: {}",
        r.text()
    );
}

/// A multipart body as `curl -F action=upload_file -F uploadfile=@f URL` sends it.
fn multipart_with_action(action: Option<&str>, name: &str, data: &[u8]) -> Cgi {
    let boundary = "------------------------meshchatTestBoundary9";
    let mut body = Vec::new();
    if let Some(a) = action {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\n{a}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"uploadfile\"; filename=\"{name}\"\r\n\
Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Cgi {
        method: "POST".into(),
        query: String::new(),
        content_type: Some(format!("multipart/form-data; boundary={boundary}")),
        body,
        env: Vec::new(),
    }
}

#[test]
fn an_upload_may_name_its_action_in_the_multipart_body() {
    let both = Both::new("status-mp");
    let (status, body) = both.send(&multipart_with_action(
        Some("upload_file"),
        "f.txt",
        b"from curl -F",
    ));
    assert_eq!((status, reply(&body)), (200, (200, "OK".into())));
    let r = both
        .server
        .get("/cgi-bin/meshchat?action=file_download&file=f.txt");
    assert_eq!(r.body, b"from curl -F");
    assert_eq!(
        both.cgi
            .cgi(&Cgi::get("action=file_download&file=f.txt"))
            .body,
        b"from curl -F"
    );
    // Another action in a multipart body is refused; none at all is the legacy answer.
    let (status, body) = both.send(&multipart_with_action(Some("send_message"), "g.txt", b"x"));
    assert_eq!(status, 400);
    assert!(reply(&body).1.contains("only accepted by upload_file"));
    let (status, body) = both.send(&multipart_with_action(None, "h.txt", b"x"));
    assert_eq!((status, body.as_slice()), (200, &b"error no action\n"[..]));
    for f in ["g.txt", "h.txt"] {
        assert!(!both.cgi.files_dir().join(f).exists(), "{f} stored");
    }
}
