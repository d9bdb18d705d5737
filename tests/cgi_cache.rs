//! The cached `messages` bodies: the first request after a change builds the body, the
//! ones after it are sent straight from the cache file. Both must be the same bytes, with
//! the right `Content-Length`, plain and gzip'd, and a change must be seen at once.

#![allow(clippy::unwrap_used)]

mod common;

use common::{enc, Cgi, Node};

fn send(node: &Node, text: &str) {
    let r = node.cgi(&Cgi::form(&[
        ("action", "send_message"),
        ("message", text),
        ("call_sign", "K1ABC"),
        ("channel", ""),
    ]));
    assert_eq!(r.status_reply(), (200, "OK".into()), "{}", enc(text));
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    assert_eq!(&gz[..3], &[0x1f, 0x8b, 8], "a gzip member");
    let body = &gz[10..gz.len() - 8];
    miniz_oxide::inflate::decompress_to_vec(body).expect("valid deflate data")
}

#[test]
fn cached_bodies_are_the_built_ones() {
    let node = Node::new("cgi-cache", "node-a", &[]);
    for i in 0..30 {
        send(&node, &format!("message {i} with some words"));
    }
    let gzip = || Cgi::get("action=messages").with_env("HTTP_ACCEPT_ENCODING", "gzip");
    let built = node.get("action=messages");
    let cached = node.get("action=messages");
    assert_eq!(built.status, 200);
    assert_eq!(cached.body, built.body, "the cached body is the built one");
    assert_eq!(
        cached.header("Content-Length"),
        Some(built.body.len().to_string().as_str())
    );
    assert_eq!(built.json().as_array().map(Vec::len), Some(30));

    let gz_built = node.cgi(&gzip());
    let gz_cached = node.cgi(&gzip());
    assert_eq!(gz_cached.header("Content-Encoding"), Some("gzip"));
    assert_eq!(gz_cached.body, gz_built.body);
    assert_eq!(gunzip(&gz_cached.body), built.body);

    // A change is seen at once: the cache is keyed on the log's state.
    send(&node, "one more");
    let after = node.get("action=messages");
    assert_eq!(after.json().as_array().map(Vec::len), Some(31));
    // (Same second: the order among these follows the random ids.)
    let v = after.json();
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["message"] == "one more"));
    assert_eq!(gunzip(&node.cgi(&gzip()).body), after.body);
}
