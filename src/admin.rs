//! `meshchat import` and `meshchat compact`: maintenance of this node's message log from
//! the shell.

use std::path::Path;

use crate::config::Config;
use crate::protocol::lines::{parse_all, Message};

/// Merges a legacy Lua MeshChat database (`/tmp/meshchat/messages.<zone>`) into the log,
/// then compacts it; reports what it did on stderr.
pub fn import(cfg: &Config, file: &Path) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let (messages, bad) = parse_all(&String::from_utf8_lossy(&bytes), Message::parse);
    cfg.paths.create_dirs().map_err(|e| e.to_string())?;
    let log = cfg.store().log;
    let merged = log.merge(&messages).map_err(|e| e.to_string())?;
    log.compact().map_err(|e| e.to_string())?;
    eprintln!(
        "meshchat: imported {} messages from {} ({} already present, {} lines refused)",
        merged.added,
        file.display(),
        merged.known,
        bad
    );
    Ok(())
}

/// Rewrites the log now, keeping the newest `max_messages`; says what it did on stderr.
pub fn compact(cfg: &Config) -> Result<(), String> {
    cfg.paths.create_dirs().map_err(|e| e.to_string())?;
    let c = cfg.store().log.compact().map_err(|e| e.to_string())?;
    eprintln!(
        "meshchat: compacted {}: kept {} of {} records ({} dropped: duplicates and beyond \
         max_messages {}), {} -> {} bytes",
        cfg.paths.log().display(),
        c.kept,
        c.records,
        c.records - c.kept,
        cfg.max_messages,
        c.bytes_before,
        c.bytes_after
    );
    Ok(())
}
