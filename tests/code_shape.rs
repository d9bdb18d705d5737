//! The shape of `src/` that README.md and `lib.rs` promise, checked on the source: one
//! HTTP module, private modules behind `lib.rs` with no dead code kept alive by hand, the
//! store assembled in one place, the configuration flags declared once.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/`, with its path relative to `src/`.
fn sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![src()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let rel = path.strip_prefix(src()).unwrap().display().to_string();
                out.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    assert!(out.len() > 50, "only {} source files", out.len());
    out
}

/// The code a build ships: comments and the inline unit-test module left out.
fn shipped(text: &str) -> String {
    common::without_unit_tests(text)
        .lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn one_http_module() {
    for (rel, text) in sources() {
        assert!(
            !rel.ends_with("http.rs"),
            "{rel}: HTTP lives in src/http/, not in a file named http.rs"
        );
        // Sockets: the HTTP module, and the server's accept loop and worker pool.
        if !rel.starts_with("http/") && rel != "server.rs" {
            let code = shipped(&text);
            assert!(
                !code.contains("TcpStream") && !code.contains("TcpListener"),
                "{rel}: a socket outside src/http/ and src/server.rs"
            );
        }
    }
    for part in ["head.rs", "server.rs", "client.rs", "error.rs"] {
        assert!(src().join("http").join(part).exists(), "src/http/{part}");
    }
}

#[test]
fn modules_are_private_and_no_dead_code_is_kept_alive() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let lines: Vec<&str> = lib.lines().collect();
    let mut private = 0;
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("mod ") {
            private += 1;
        }
        // A public module only for a harness (fuzz targets, the simulator), behind a cfg.
        if l.starts_with("pub mod ") {
            let above = &lines[i.saturating_sub(3)..i];
            assert!(
                above.iter().any(|a| a.starts_with("#[cfg(")),
                "lib.rs: `{l}` is public in the normal build"
            );
        }
    }
    assert!(private >= 10, "lib.rs declares {private} private modules");
    // The compiler reports unused items of private modules; a plain allow would hide one.
    // Feature-dependent use is said with cfg_attr, test-only items with cfg(test).
    for (rel, text) in sources() {
        for (n, l) in text.lines().enumerate() {
            assert!(
                !l.trim_start().starts_with("#[allow(dead_code)]")
                    && !l.trim_start().starts_with("#![allow(dead_code)]"),
                "src/{rel}:{}: allow(dead_code) hides unused code",
                n + 1
            );
        }
    }
}

/// Whether `code` calls `f` (`Status::new(`, not `PeerStatus::new(`).
fn calls(code: &str, f: &str) -> bool {
    code.match_indices(f).any(|(i, _)| {
        !code[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn the_store_is_assembled_in_one_place() {
    assert!(calls("x = Log::new(p)", "Log::new(") && !calls("PeerStatus::new(", "Status::new("));
    const PARTS: &[&str] = &[
        "Log::new(",
        "Users::new(",
        "Files::new(",
        "Status::new(",
        "Cache::new(",
        "Peers::new(",
    ];
    let mut found = Vec::new();
    for (rel, text) in sources() {
        // store/ builds its parts; the fuzz harness drives one log on its own.
        if rel.starts_with("store/") || rel == "fuzzing.rs" {
            continue;
        }
        let code = shipped(&text);
        for p in PARTS {
            if calls(&code, p) {
                found.push(format!("src/{rel}: {p}"));
            }
        }
        if calls(&code, "Store::new(") && rel != "config.rs" {
            found.push(format!("src/{rel}: Store::new( (Config::store builds it)"));
        }
    }
    assert!(
        found.is_empty(),
        "the store is assembled outside store::Store::new:\n{}",
        found.join("\n")
    );
    let store = std::fs::read_to_string(src().join("store/mod.rs")).unwrap();
    for p in PARTS {
        assert!(store.contains(p), "store/mod.rs does not build {p}");
    }
}

#[test]
fn the_configuration_flags_are_declared_once() {
    let args = std::fs::read_to_string(src().join("args.rs")).unwrap();
    let args = shipped(&args);
    for flag in ["node", "zone", "data", "option"] {
        let decl = format!("(\"{flag}\", ");
        assert_eq!(
            args.matches(&decl).count(),
            1,
            "args.rs declares --{flag} more than once"
        );
    }
    // main.rs turns them into the configuration's overrides in one place (`Common`).
    let main = shipped(&std::fs::read_to_string(src().join("main.rs")).unwrap());
    for flag in ["node", "zone", "option"] {
        let read = format!("(\"{flag}\")");
        assert_eq!(
            main.matches(&read).count(),
            1,
            "main.rs reads --{flag} in more than one place"
        );
    }
}
