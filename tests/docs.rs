//! The repository's documents hold together: every file a source, script, test or
//! document refers to exists in the repository (nothing points outside it), and every
//! action of the API is described in docs/API.md, docs/PROTOCOL.md and docs/openapi.yaml.
#![allow(clippy::unwrap_used)]

mod common;

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

/// Paths in other repositories the packaging names (the OpenWrt `packages` feed).
const ELSEWHERE: &[&str] = &["lang/rust/"];

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
    // Everything a clone holds (less build output and installed packages, SKIP), the
    // fuzz corpus (inputs, not text) and the recorded Lua fixtures (bytes as served).
    walk(&root, &mut scanned);
    scanned.retain(|p| {
        !p.starts_with(root.join("fuzz/corpus"))
            && !p.starts_with(root.join("tests/fixtures"))
            && !p.starts_with(root.join("target-cross"))
    });
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
                || ELSEWHERE.iter().any(|p| r.starts_with(p))
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

/// Every file meshchat keeps under `data_dir` or `ram_dir` (a literal name joined to one
/// of them in the shipped code) is in the README's data-layout table, and every name the
/// table gives is one the code writes.
#[test]
fn the_readme_data_layout_names_every_file_meshchat_keeps() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let table = readme
        .split("## Data layout")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap();
    let mut sources = Vec::new();
    walk(&root().join("src"), &mut sources);
    let mut kept = BTreeSet::new();
    for file in sources
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
    {
        let text = std::fs::read_to_string(file).unwrap();
        let shipped = common::without_unit_tests(&text);
        for dir in ["ram_dir.join(\"", "data_dir.join(\""] {
            for part in shipped.split(dir).skip(1) {
                kept.insert(part.split('"').next().unwrap().to_string());
            }
        }
    }
    assert!(kept.len() > 15, "{kept:?}");
    let listed =
        |name: &str| table.contains(&format!("/{name}`")) || table.contains(&format!("`{name}`"));
    let missing: Vec<&String> = kept
        .iter()
        .filter(|n| *n != "files" && !listed(n))
        .collect();
    assert!(missing.is_empty(), "README's data layout lacks {missing:?}");
    // The other way: each `<ram_dir>/name` of the table is a file the code keeps.
    for cell in table.split("`<").skip(1) {
        let name = cell.split('`').next().unwrap();
        let Some((_, file)) = name.split_once(">/") else {
            continue;
        };
        if file.is_empty() || file.contains('<') || file.contains('*') {
            continue; // `<files_dir>/`, `remote_files.<node>`, `cache.*`: names built
        }
        assert!(
            kept.contains(file),
            "README's data layout names {file}, which nothing writes"
        );
    }
}

/// README's "Dependencies" names every crate the binary links (Cargo.toml's
/// `[dependencies]`) and counts those every build links, and docs/PACKAGING.md accounts
/// for each; the `make run` variables
/// of the Makefile are in the README.
#[test]
fn the_readme_says_what_the_binary_links_and_what_make_run_takes() {
    let read = |p: &str| std::fs::read_to_string(root().join(p)).unwrap();
    let (cargo, readme, packaging, makefile) = (
        read("Cargo.toml"),
        read("README.md"),
        read("docs/PACKAGING.md"),
        read("Makefile"),
    );
    let lines: Vec<&str> = cargo
        .split("\n[dependencies]\n")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .collect();
    let deps: Vec<&str> = lines
        .iter()
        .map(|l| l.split('=').next().unwrap().trim())
        .collect();
    // What every build links (the node binary); optional ones only some builds.
    let always = lines
        .iter()
        .filter(|l| !l.contains("optional = true"))
        .count();
    assert!(always > 0);
    let section = readme
        .split("## Dependencies")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap();
    let words = ["one", "two", "three", "four", "five", "six"];
    let count = format!("links {} crate", words[always - 1]);
    assert!(section.contains(&count), "README: \"{count}\" ({deps:?})");
    for d in &deps {
        assert!(
            section.contains(&format!("`{d}`")),
            "README's Dependencies: {d}"
        );
        assert!(packaging.contains(d), "docs/PACKAGING.md: {d}");
    }
    let vars: Vec<&str> = makefile
        .lines()
        .filter_map(|l| l.split_once(" ?=").map(|(v, _)| v.trim()))
        .filter(|v| v.starts_with("RUN_"))
        .collect();
    assert_eq!(vars.len(), 3, "{vars:?}");
    for v in vars {
        assert!(
            readme.contains(&format!("{v}=")),
            "README: make run {v}=..."
        );
    }
}

/// README's source layout names every file and folder at the top of `src/`.
#[test]
fn the_readme_source_layout_names_every_part_of_src() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let layout = readme.split("Source layout:").nth(1).unwrap();
    let layout = layout.split("\n\n").next().unwrap();
    let mut missing = Vec::new();
    for e in std::fs::read_dir(root().join("src")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "lib.rs" {
            continue; // named as the public face
        }
        let shown = if e.path().is_dir() {
            format!("`src/{name}/`")
        } else {
            format!("`src/{name}`")
        };
        if !layout.contains(&shown) {
            missing.push(shown);
        }
    }
    assert!(
        missing.is_empty(),
        "README's source layout lacks {missing:?}"
    );
}

/// The option names of the first column of a Markdown table's rows, after `heading`.
fn table_options(doc: &str, heading: &str) -> BTreeSet<String> {
    let section = doc.split(heading).nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    let mut names = BTreeSet::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split(" | ").next().unwrap();
        if first.contains("sections") {
            continue; // `config hook` sections: a section type, not an option
        }
        for (i, part) in first.split('`').enumerate() {
            if i % 2 == 1 {
                names.insert(part.to_string());
            }
        }
    }
    names
}

/// The strings of a `const NAME: &[&str] = &[...]` in a source file.
fn const_list(file: &str, name: &str) -> BTreeSet<String> {
    let src = std::fs::read_to_string(root().join(file)).unwrap();
    let list = src
        .split(&format!("const {name}: &[&str] = &["))
        .nth(1)
        .unwrap();
    let list = list.split("];").next().unwrap();
    list.split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// README's configuration table gives exactly the options meshchat knows (each one
/// accepted by the binary), and docs/CONVERSATIONS.md exactly a hook section's.
#[test]
fn the_documented_options_are_the_known_ones() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let documented = table_options(&readme, "## Configuration");
    let known = const_list("src/config.rs", "OPTIONS");
    assert!(known.len() > 20, "{known:?}");
    assert_eq!(
        documented, known,
        "README's configuration table and src/config.rs"
    );
    let empty = std::env::temp_dir().join(format!("meshchat-docs-{}.conf", std::process::id()));
    std::fs::write(&empty, "config meshchat 'main'\n").unwrap();
    for name in &documented {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_meshchat"))
            .args(["check-config", "--config"])
            .arg(&empty)
            .args(["-o", &format!("{name}=x")])
            .env_clear()
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("unknown option"), "{name}: {err}");
    }
    let _ = std::fs::remove_file(&empty);
    let conversations = std::fs::read_to_string(root().join("docs/CONVERSATIONS.md")).unwrap();
    assert_eq!(
        table_options(&conversations, "## Action hooks"),
        const_list("src/hooks/mod.rs", "OPTIONS"),
        "docs/CONVERSATIONS.md's hook table and src/hooks/mod.rs"
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
