//! Request bodies without a length. uhttpd decodes a `Transfer-Encoding: chunked` body
//! and hands it to the CGI on stdin, but sets no CONTENT_LENGTH (it copies only a
//! Content-Length header): the CGI answers 411 with a clear message, and `serve`, which
//! does not decode chunked bodies, answers the same.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

/// The CGI as uhttpd runs it for a chunked request: the decoded body on stdin, a
/// CONTENT_TYPE, no CONTENT_LENGTH.
fn cgi_without_length(node: &Node, query: &str, content_type: &str, body: &[u8]) -> Reply {
    let mut child = Command::new(bin())
        .env_clear()
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("MESHCHAT_CONFIG", &node.config)
        .env("REQUEST_METHOD", "POST")
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", content_type)
        .env("SERVER_PORT", "8080")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The CGI may answer without reading: a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(body);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    parse_cgi_output(&out.stdout, String::from_utf8_lossy(&out.stderr).into())
}

fn assert_length_required(r: &Reply, what: &str) {
    assert_eq!(r.status, 411, "{what}: {}", r.text());
    let (status, reply) = r.status_reply();
    assert_eq!(status, 411, "{what}");
    assert!(
        reply.contains("Content-Length is required"),
        "{what}: {reply}"
    );
}

#[test]
fn the_cgi_answers_411_to_a_body_without_a_length() {
    let node = Node::new("chunked-cgi", "node-ch", &[]);
    let form = format!(
        "action=send_message&message=chunked&call_sign=K1ABC&epoch={}",
        now()
    );
    let r = cgi_without_length(
        &node,
        "",
        "application/x-www-form-urlencoded",
        form.as_bytes(),
    );
    assert_length_required(&r, "form");
    let upload = Cgi::upload("action=upload_file", "uploadfile", "a.txt", b"hello\n");
    let r = cgi_without_length(
        &node,
        "action=upload_file",
        upload.content_type.as_deref().unwrap(),
        &upload.body,
    );
    assert_length_required(&r, "upload");
    // Nothing was stored, and the same request with its length works.
    assert_eq!(node.get("action=messages").json(), serde_json::json!([]));
    let r = node.post(&[
        ("action", "send_message"),
        ("message", "with a length"),
        ("call_sign", "K1ABC"),
    ]);
    assert_eq!(r.status_reply().0, 200);
    // A POST with neither a type nor a length has no body: answered as usual.
    let mut cmd = Command::new(bin());
    let out = cmd
        .env_clear()
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("MESHCHAT_CONFIG", &node.config)
        .env("REQUEST_METHOD", "POST")
        .env("QUERY_STRING", "action=messages")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let r = parse_cgi_output(&out.stdout, String::new());
    assert_eq!(r.status, 200);
    assert_eq!(r.json().as_array().unwrap().len(), 1);
}

#[test]
fn serve_answers_411_to_a_chunked_body_the_same_way() {
    let node = Node::new("chunked-serve", "node-cs", &[]);
    let mut server = Server::start(&node, "127.0.0.1:0");
    let body = "action=send_message&message=chunked&call_sign=K1ABC";
    let raw = format!(
        "POST /cgi-bin/meshchat HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let r = server.request(raw.as_bytes());
    assert_length_required(&r, "serve");
    assert_eq!(
        server.get("/cgi-bin/meshchat?action=messages").json(),
        serde_json::json!([])
    );
    server.stop();
}
