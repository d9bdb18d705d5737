//! No module of `src/` imports one that imports it back: the layers of `lib.rs` go one
//! way. Every `crate::…`, `super::…` and `self::…` path in a module's source (tests
//! included) is an edge from that module to the sibling it reaches; a cycle among the
//! siblings of any parent fails the test, naming the modules on it.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`["http", "client"]`) of each `.rs` file under `src/` (main.rs aside).
fn modules(src: &Path) -> Vec<(Vec<String>, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            match parts.last().map(String::as_str) {
                Some("main") if parts.len() == 1 => continue,
                Some("lib") if parts.len() == 1 => parts.clear(),
                Some("mod") => {
                    parts.pop();
                }
                _ => {}
            }
            out.push((parts, path));
        }
    }
    out
}

/// Absolute module paths the source refers to (`crate::a::b`, `super::x`, `self::y`),
/// comments removed; items named after the path are harmless (a cycle needs modules).
fn references(module: &[String], text: &str) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    // `use x::{a, b::c}` groups: expand the first level of braces.
    let mut paths = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        if word(bytes[i]) && (i == 0 || !word(bytes[i - 1])) {
            let start = i;
            while i < bytes.len() && word(bytes[i]) {
                i += 1;
            }
            let p: String = bytes[start..i].iter().collect();
            if p.ends_with("::") && i < bytes.len() && bytes[i] == '{' {
                let end = (i..bytes.len()).find(|&j| bytes[j] == '}').unwrap_or(i);
                let inner: String = bytes[i + 1..end].iter().collect();
                for item in inner.split(',') {
                    paths.push(format!("{p}{}", item.trim()));
                }
            } else {
                paths.push(p);
            }
            continue;
        }
        i += 1;
    }
    // `super::` counts from the module (a mod.rs file is its directory's module).
    let here: Vec<String> = module.to_vec();
    for p in paths {
        let segs: Vec<&str> = p.split("::").filter(|s| !s.is_empty()).collect();
        let (mut base, rest): (Vec<String>, &[&str]) = match segs.first() {
            Some(&"crate") => (Vec::new(), &segs[1..]),
            Some(&"super") => {
                let mut b = here.clone();
                let mut k = 0;
                while segs.get(k) == Some(&"super") {
                    b.pop();
                    k += 1;
                }
                (b, &segs[k..])
            }
            Some(&"self") => (here.clone(), &segs[1..]),
            _ => continue,
        };
        for s in rest {
            base.push(s.trim().to_string());
        }
        out.push(base);
    }
    out
}

/// The import graph among siblings, per parent module: parent -> (child -> siblings it
/// uses).
type Graphs = BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>>;

fn graphs(mods: &[(Vec<String>, String)]) -> Graphs {
    let known: BTreeSet<Vec<String>> = mods.iter().map(|(m, _)| m.clone()).collect();
    let mut graphs = Graphs::new();
    for (m, text) in mods {
        for target in references(m, text) {
            // The deepest known module the path names.
            let mut t = target.clone();
            while !t.is_empty() && !known.contains(&t) {
                t.pop();
            }
            // The edge lives under the common parent, between the two siblings.
            let common = m.iter().zip(&t).take_while(|(a, b)| a == b).count();
            if common >= m.len() || common >= t.len() {
                continue; // a module and its own ancestor or descendant
            }
            graphs
                .entry(m[..common].to_vec())
                .or_default()
                .entry(m[common].clone())
                .or_default()
                .insert(t[common].clone());
        }
    }
    graphs
}

/// Every cycle, as `crate::parent: a -> b -> a`.
fn cycles(graphs: &Graphs) -> Vec<String> {
    let mut cycles = Vec::new();
    for (parent, g) in graphs {
        for start in g.keys() {
            // Depth-first search for a path from `start` back to itself.
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            let mut seen = BTreeSet::new();
            while let Some((n, trail)) = stack.pop() {
                for next in g.get(&n).into_iter().flatten() {
                    if next == start {
                        let mut c = trail.clone();
                        c.push(start.clone());
                        let under: Vec<&str> = std::iter::once("crate")
                            .chain(parent.iter().map(String::as_str))
                            .collect();
                        cycles.push(format!("{}: {}", under.join("::"), c.join(" -> ")));
                    } else if seen.insert(next.clone()) {
                        let mut t = trail.clone();
                        t.push(next.clone());
                        stack.push((next.clone(), t));
                    }
                }
            }
        }
    }
    cycles
}

fn m(path: &str, text: &str) -> (Vec<String>, String) {
    let p = path.split("::").filter(|s| !s.is_empty()).map(String::from);
    (p.collect(), text.to_string())
}

#[test]
fn the_check_finds_cycles_through_crate_super_and_braces() {
    let g = graphs(&[
        m("", "mod a; mod b;"),
        m("a", "use crate::b::x::{Thing, other};"),
        m("b", "// use crate::a; (a comment)\n"),
        m("b::x", "use super::super::a::Y;"),
    ]);
    assert_eq!(cycles(&g), ["crate: a -> b -> a", "crate: b -> a -> b"]);
    let g = graphs(&[
        m("", ""),
        m("s", ""),
        m("s::c", "use super::h::{self, Url};"),
        m("s::h", "use super::c::FetchError;"),
    ]);
    assert_eq!(
        cycles(&g),
        ["crate::s: c -> h -> c", "crate::s: h -> c -> h"]
    );
    let g = graphs(&[
        m("", ""),
        m("a", "use crate::b;"),
        m("b", "use crate::c;"),
        m("c", ""),
    ]);
    assert!(cycles(&g).is_empty());
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mods: Vec<(Vec<String>, String)> = modules(&src)
        .into_iter()
        .map(|(m, path)| (m, std::fs::read_to_string(path).unwrap()))
        .collect();
    let graphs = graphs(&mods);
    let top = &graphs[&Vec::new()];
    // The scan sees the layers: the API over the store, sync over the peer client.
    assert!(top["api"].contains("store"), "{top:?}");
    assert!(top["sync"].contains("http"), "{top:?}");
    let cycles = cycles(&graphs);
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}
