//! `meshchat purge`, the "remove and delete my messages" of a package removal: it deletes
//! the log, the RAM folder and the shared files and nothing else, the node starts afresh
//! after it, and it deletes nothing when the configuration names a folder that is not
//! meshchat's own.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn purge_deletes_what_meshchat_stored_and_nothing_else() {
    let node = Node::new("purge", "node-purge", &[]);
    let r = node.post(&[
        ("action", "send_message"),
        ("message", "to be purged"),
        ("call_sign", "K1ABC"),
    ]);
    assert_eq!(r.status_reply().0, 200);
    let r = node.cgi(&Cgi::upload(
        "action=upload_file",
        "uploadfile",
        "shared.txt",
        b"a shared file\n",
    ));
    assert_eq!(r.status_reply().0, 200, "{}", r.text());
    assert!(node.files_dir().join("shared.txt").exists());
    let beside = node.dir.join("data/not-meshchats.txt");
    std::fs::write(&beside, "kept").unwrap();

    let out = node.command(&["purge"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!node.log_path().exists(), "the log survived");
    assert!(!node.dir.join("ram").exists(), "the RAM folder survived");
    assert!(beside.exists(), "a file that is not meshchat's was deleted");
    assert!(node.config.exists(), "the configuration was deleted");

    // The node starts afresh.
    assert_eq!(node.message_ids(), Vec::<String>::new());
    let r = node.post(&[
        ("action", "send_message"),
        ("message", "after the purge"),
        ("call_sign", "K1ABC"),
    ]);
    assert_eq!(r.status_reply().0, 200);
    assert_eq!(node.message_ids().len(), 1);
}

#[test]
fn purge_deletes_nothing_when_the_ram_folder_is_not_its_own() {
    // ram_dir names the folder the data directory lives in: deleting it whole would
    // take everything in it.
    let dir = std::env::temp_dir().join(format!("meshchat-it-purge-shared-{}", std::process::id()));
    let node = Node::new(
        "purge-shared",
        "node-ps",
        &[("ram_dir", dir.to_str().unwrap())],
    );
    assert_eq!(node.dir, dir);
    let r = node.post(&[
        ("action", "send_message"),
        ("message", "kept"),
        ("call_sign", "K1ABC"),
    ]);
    assert_eq!(r.status_reply().0, 200);
    let other = node.dir.join("someone-elses-file");
    std::fs::write(&other, "kept").unwrap();

    let out = node.command(&["purge"]);
    assert!(!out.status.success(), "purge of a shared folder succeeded");
    let why = stderr(&out);
    assert!(
        why.contains("purge deletes nothing: ram_dir") && why.contains("holds the data directory"),
        "{why}"
    );
    assert!(other.exists() && node.log_path().exists() && node.config.exists());
    assert_eq!(node.message_ids().len(), 1);
}
