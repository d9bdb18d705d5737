//! `meshchat import`, `meshchat compact` and `meshchat purge`: maintenance of this node's
//! message log from the shell.

use std::path::Path;

use crate::config::Config;
use crate::protocol::lines::{parse_all, Message};

/// Reads a file of legacy database lines or of jsonl (as `export` writes it); the first
/// non-blank character decides. Refused jsonl lines are reported with their numbers.
fn read_import(text: &str) -> (Vec<Message>, usize) {
    if !text.trim_start().starts_with('{') {
        return parse_all(text, Message::parse);
    }
    let (mut ok, mut bad) = (Vec::new(), 0);
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match crate::protocol::export::parse_jsonl(line.trim()) {
            Ok(m) => ok.push(m),
            Err(e) => {
                eprintln!("meshchat: line {}: {e}", n + 1);
                bad += 1;
            }
        }
    }
    (ok, bad)
}

/// Merges a legacy Lua MeshChat database (`/tmp/meshchat/messages.<zone>`) or a jsonl
/// export into the log, then compacts it; reports what it did on stderr.
pub fn import(cfg: &Config, file: &Path) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let (messages, bad) = read_import(&String::from_utf8_lossy(&bytes));
    cfg.paths.create_dirs().map_err(|e| e.to_string())?;
    let log = cfg.store().log;
    let merged = log.merge(&messages).map_err(|e| e.to_string())?;
    log.compact().map_err(|e| {
        format!(
            "imported {}, then compacting failed: {e}",
            crate::count(merged.added as u64, "message")
        )
    })?;
    eprintln!(
        "meshchat: imported {} from {} ({} already present, {} refused)",
        crate::count(merged.added as u64, "message"),
        file.display(),
        merged.known,
        crate::count(bad as u64, "line")
    );
    Ok(())
}

/// Rewrites the log now, keeping the newest `max_messages`; says what it did on stderr.
pub fn compact(cfg: &Config) -> Result<(), String> {
    cfg.paths.create_dirs().map_err(|e| e.to_string())?;
    let c = cfg.store().log.compact().map_err(|e| e.to_string())?;
    eprintln!(
        "meshchat: compacted {}: kept {} of {} ({} dropped: duplicates and beyond \
         max_messages {}), {} -> {} bytes",
        cfg.paths.log().display(),
        c.kept,
        crate::count(c.records as u64, "record"),
        c.records - c.kept,
        cfg.max_messages,
        c.bytes_before,
        c.bytes_after
    );
    Ok(())
}

/// How deep a folder purge deletes whole must lie at least: `/tmp/meshchat`, never `/tmp`.
const MIN_PURGED_DEPTH: usize = 2;

/// Why the RAM or files folder cannot be deleted whole: purge removes them with all they
/// hold, so a configuration naming a shared folder (`ram_dir '/tmp'`) would take other
/// programs' files with it.
fn unsafe_to_purge(name: &str, dir: &Path, data_dir: &Path) -> Option<String> {
    use std::path::Component;
    let mut depth = 0;
    for c in dir.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::RootDir => {}
            _ => {
                return Some(format!(
                    "{name} {} is not a plain absolute path",
                    dir.display()
                ))
            }
        }
    }
    if !dir.is_absolute() || depth < MIN_PURGED_DEPTH {
        return Some(format!(
            "{name} {} is a shared folder, not one of meshchat's own",
            dir.display()
        ));
    }
    if data_dir != dir && data_dir.starts_with(dir) {
        return Some(format!(
            "{name} {} holds the data directory {}",
            dir.display(),
            data_dir.display()
        ));
    }
    None
}

/// Deletes the log, the RAM files and the shared files (`meshchat purge`, before the
/// package is removed: package managers cannot pass that wish to the package's scripts).
/// Refuses, deleting nothing, when the RAM or files folder is not one of meshchat's own.
pub fn purge(cfg: &Config) -> Result<(), String> {
    let p = &cfg.paths;
    for (name, dir) in [("ram_dir", &p.ram_dir), ("files_dir", &p.files_dir)] {
        if let Some(why) = unsafe_to_purge(name, dir, &p.data_dir) {
            return Err(format!("purge deletes nothing: {why}"));
        }
    }
    cfg.paths.purge().map_err(|e| e.to_string())?;
    eprintln!("meshchat: deleted the message log and the RAM files");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_deletes_only_folders_of_its_own() {
        let data = Path::new("/usr/local/meshchat");
        let ok = |d: &str| unsafe_to_purge("ram_dir", Path::new(d), data);
        assert_eq!(ok("/tmp/meshchat"), None);
        assert_eq!(ok("/tmp/meshchat/files"), None);
        assert_eq!(ok("/usr/local/meshchat"), None, "the data directory itself");
        for shared in [
            "/",
            "/tmp",
            "/var",
            "tmp/meshchat",
            "/tmp/../etc",
            "/usr/local",
        ] {
            assert!(ok(shared).is_some(), "{shared}");
        }
        assert!(ok("/tmp")
            .unwrap()
            .contains("ram_dir /tmp is a shared folder"));
        assert!(ok("/usr/local")
            .unwrap()
            .contains("holds the data directory"));
    }
}
