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

/// Deletes the log, the RAM files and the shared files (`meshchat purge`, before the
/// package is removed: package managers cannot pass that wish to the package's scripts).
pub fn purge(cfg: &Config) -> Result<(), String> {
    cfg.paths.purge().map_err(|e| e.to_string())?;
    eprintln!("meshchat: deleted the message log and the RAM files");
    Ok(())
}
