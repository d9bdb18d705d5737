//! The repository's documents hold together: every file a source, script, test or
//! document refers to exists in the repository (nothing points outside it), and every
//! action of the API is described in docs/API.md, docs/PROTOCOL.md and docs/openapi.yaml.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Folders never scanned or searched: build output, installed packages, generated files.
const SKIP: &[&str] = &[
    "target",
    "node_modules",
    ".git",
    "build",
    "dist",
    "tools",
    "artifacts",
    "run-data",
];

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if !SKIP.contains(&name.as_str()) && !name.starts_with("target") {
                walk(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

/// Reports that make targets write (`make sim`, `make fuzz`, `make bench`): referred to
/// before they are first made.
const REPORTS: &[&str] = &[
    "bench/SIM.md",
    "bench/sim.json",
    "fuzz/RESULTS.md",
    "bench/RESULTS.md",
];

/// Paths on a node, as package members name them (no leading `/`): not in the repository.
const NODE_PATHS: &[&str] = &["www/meshchat/", "www/apps/", "www/cgi-bin/", "etc/", "usr/"];

/// Extensions of the files a reference may name.
const KINDS: &[&str] = &[
    "md", "rs", "py", "sh", "mk", "mjs", "js", "yaml", "yml", "toml", "css", "html", "json",
];

/// The file references in `text`: tokens such as `docs/API.md`, `./net.js`,
/// `src/http/client.rs`, or a bare `SYNC.md` (bare names only for documents: a bare
/// `nope.js` in a test is data, not a reference). Absolute paths and URLs are not files
/// of the repository and are left out.
fn references(text: &str) -> Vec<String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "_./-+$".contains(c);
    text.split(|c: char| !token(c))
        .map(|t| t.trim_end_matches('.'))
        // `$ROOT/x`: a path built at run time, not a name in the text.
        .filter(|t| !t.starts_with('/') && !t.contains("//") && !t.contains('$'))
        .filter(|t| {
            let Some((_, ext)) = t.rsplit_once('.') else {
                return false;
            };
            let pathlike = t.contains('/');
            KINDS.contains(&ext) && (pathlike || ext == "md") && !t.starts_with('.')
                || t.starts_with("./") && KINDS.contains(&ext)
                || t.starts_with("../") && KINDS.contains(&ext)
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn the_reference_scanner_finds_what_it_should() {
    let text = "see docs/API.md. and [SYNC](SYNC.md), import './net.js'; \
                /etc/config/meshchat, https://rustup.rs/x.md, nope.js, a.txt, \
                (src/http/client.rs) ../notes/x.md";
    assert_eq!(
        references(text),
        [
            "docs/API.md",
            "SYNC.md",
            "./net.js",
            "src/http/client.rs",
            "../notes/x.md"
        ]
    );
}

#[test]
fn every_referenced_file_exists_in_the_repository() {
    let root = root();
    let mut all = Vec::new();
    walk(&root, &mut all);
    let names: BTreeSet<String> = all
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let mut scanned = Vec::new();
    for top in ["src", "docs", "mk", "scripts", "tests", "www"] {
        walk(&root.join(top), &mut scanned);
    }
    scanned.push(root.join("README.md"));
    scanned.push(root.join("Makefile"));
    let mut missing = Vec::new();
    let mut count = 0;
    for file in &scanned {
        let ext = file.extension().map(|e| e.to_string_lossy().into_owned());
        if matches!(ext.as_deref(), Some("http" | "png" | "ico" | "gz"))
            || file.starts_with(root.join("tests/fixtures/services/arednlink"))
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let rel = file.strip_prefix(&root).unwrap().display().to_string();
        if rel == "tests/docs.rs" {
            continue; // its own examples
        }
        let dir = file.parent().unwrap();
        // A clone holds the repository only: no reference may climb out of it.
        for r in references(&text).iter().filter(|r| r.starts_with("../")) {
            if !inside(&root, dir, r) {
                missing.push(format!("{rel}: points outside the repository ({r})"));
            }
        }
        // Test code builds paths of its own temporary folders (`out/x.json`): there only
        // documents are references.
        let test_code = rel.starts_with("tests/") && !rel.ends_with(".md");
        for r in references(&text) {
            if test_code && !r.ends_with(".md") {
                continue;
            }
            count += 1;
            let bare = !r.contains('/');
            // Build output (target/, tests/ui/artifacts/, ...) appears when it is made.
            let generated = r.split('/').any(|c| SKIP.contains(&c));
            // `DIR/sim.json`: a placeholder folder in usage text.
            let placeholder = r
                .split('/')
                .next()
                .is_some_and(|c| r.contains('/') && c.bytes().all(|b| b.is_ascii_uppercase()));
            let found = generated
                || placeholder
                || REPORTS.contains(&r.as_str())
                || NODE_PATHS.iter().any(|p| r.starts_with(p))
                || dir
                    .ancestors()
                    .take_while(|a| a.starts_with(&root))
                    .any(|a| a.join(&r).exists())
                || (bare && (root.join("docs").join(&r).exists() || names.contains(&r)));
            if !found {
                missing.push(format!("{rel}: {r}"));
            }
        }
    }
    assert!(count > 100, "the scan saw only {count} references");
    assert!(
        missing.is_empty(),
        "references to files that are not in the repository:\n{}",
        missing.join("\n")
    );
}

/// The actions `Api::handle` dispatches, from its source.
fn actions() -> Vec<String> {
    let src = std::fs::read_to_string(root().join("src/api/mod.rs")).unwrap();
    let body = src.split("match action.as_str() {").nth(1).unwrap();
    let body = body.split("_ =>").next().unwrap();
    body.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix('"')?;
            let (name, tail) = rest.split_once('"')?;
            tail.trim_start()
                .starts_with("=>")
                .then(|| name.to_string())
        })
        .collect()
}

#[test]
fn every_action_is_documented_everywhere() {
    let actions = actions();
    assert!(actions.len() >= 20, "{actions:?}");
    let read = |p: &str| std::fs::read_to_string(root().join(p)).unwrap();
    let (api, protocol, openapi) = (
        read("docs/API.md"),
        read("docs/PROTOCOL.md"),
        read("docs/openapi.yaml"),
    );
    let mut undocumented = Vec::new();
    for a in &actions {
        if !api.contains(&format!("`{a}`")) {
            undocumented.push(format!("docs/API.md: {a}"));
        }
        if !protocol.contains(&format!("`{a}`")) {
            undocumented.push(format!("docs/PROTOCOL.md: {a}"));
        }
        if !openapi.contains(&format!("/cgi-bin/meshchat?action={a}:")) {
            undocumented.push(format!("docs/openapi.yaml: {a}"));
        }
    }
    assert!(undocumented.is_empty(), "{}", undocumented.join("\n"));
}

/// Direct messages and replies are conventions of the wire (docs/CONVERSATIONS.md): the
/// protocol and the API pages both state them; `action_log` is described as the hooks'
/// outcomes, not as the empty legacy leftover it was.
#[test]
fn the_conversation_conventions_are_in_the_protocol_and_the_api() {
    let read = |p: &str| std::fs::read_to_string(root().join(p)).unwrap();
    for doc in ["docs/PROTOCOL.md", "docs/API.md"] {
        let text = read(doc);
        for must in [
            "`@` followed by the two call signs",
            "upper-cased",
            "byte order",
            "joined by `+`",
            "@K1ABC+W2XYZ",
            "to oneself is not a direct message",
            "> K1ABC (0a1b2c3d): ",
            "60 characters",
            "the original's channel",
        ] {
            assert!(text.contains(must), "{doc} does not say {must:?}");
        }
    }
    let protocol = read("docs/PROTOCOL.md");
    let row = protocol
        .lines()
        .find(|l| l.starts_with("| `action_log`"))
        .expect("an action_log row in docs/PROTOCOL.md");
    assert!(row.contains("last 100 outcomes"), "{row}");
    let openapi = read("docs/openapi.yaml");
    let op = openapi
        .split("/cgi-bin/meshchat?action=action_log:")
        .nth(1)
        .unwrap();
    assert!(
        op.contains("enum: [ok, failed, killed, error, dropped]") && !op.contains("maxItems: 0"),
        "docs/openapi.yaml: action_log is not the outcomes list"
    );
}

/// Whether `r`, relative to `dir`, names a place under `root` (resolved by its text: the
/// place need not exist).
fn inside(root: &Path, dir: &Path, r: &str) -> bool {
    let mut at: Vec<_> = dir.components().collect();
    for c in Path::new(r).components() {
        match c {
            std::path::Component::ParentDir => {
                at.pop();
            }
            std::path::Component::Normal(_) => at.push(c),
            _ => {}
        }
    }
    at.iter().collect::<PathBuf>().starts_with(root)
}
