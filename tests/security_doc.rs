//! docs/SECURITY.md names, for each claim, the test that proves it: every test it names
//! must exist (a renamed or deleted test would leave a claim without its proof), and its
//! fuzz target table must list exactly the targets of fuzz/Cargo.toml.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap()
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The `code spans` of a Markdown text.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// A test function's name: lower-case words joined by at least three underscores (option
/// names such as `max_messages` and fuzz targets such as `log_records` have fewer).
fn looks_like_a_test(span: &str) -> bool {
    span.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && span.bytes().filter(|&b| b == b'_').count() >= 3
}

#[test]
fn every_test_the_security_model_names_exists() {
    let doc = read("docs/SECURITY.md");
    let mut sources = Vec::new();
    rust_files(&root().join("tests"), &mut sources);
    rust_files(&root().join("src"), &mut sources);
    let code: Vec<String> = sources
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let named: BTreeSet<&str> = code_spans(&doc)
        .into_iter()
        .filter(|s| looks_like_a_test(s))
        .collect();
    assert!(
        named.len() >= 10,
        "only {named:?} found in docs/SECURITY.md"
    );
    let missing: Vec<&&str> = named
        .iter()
        .filter(|name| !code.iter().any(|c| c.contains(&format!("fn {name}("))))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/SECURITY.md names tests that do not exist: {missing:?}"
    );

    // UI tests are named by their title after the file: `tests/ui/x.test.mjs` "title".
    let mut ui = 0;
    for (i, _) in doc.match_indices("`tests/ui/") {
        let rest = &doc[i + 1..];
        let file = &rest[..rest.find('`').unwrap()];
        let after = rest[file.len() + 1..].trim_start();
        let Some(title) = after.strip_prefix('"').and_then(|t| t.split('"').next()) else {
            continue;
        };
        let source = read(file);
        assert!(
            source.contains(title),
            "docs/SECURITY.md: {file} has no test {title:?}"
        );
        ui += 1;
    }
    assert!(ui >= 2, "only {ui} UI tests named by title");
}

#[test]
fn the_fuzz_target_table_lists_every_target() {
    let doc = read("docs/SECURITY.md");
    let table: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    let cargo = read("fuzz/Cargo.toml");
    let targets: BTreeSet<String> = cargo
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "meshchat-fuzz")
        .map(str::to_string)
        .collect();
    assert!(targets.len() >= 10, "{targets:?}");
    assert_eq!(
        table, targets,
        "docs/SECURITY.md's fuzz target table and fuzz/Cargo.toml differ"
    );
    for t in &targets {
        let path = root().join(format!("fuzz/fuzz_targets/{t}.rs"));
        assert!(path.exists(), "{}", path.display());
        assert!(
            root().join(format!("fuzz/corpus/{t}")).is_dir(),
            "fuzz/corpus/{t}: no committed corpus"
        );
    }
}
