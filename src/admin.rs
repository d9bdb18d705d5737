//! `meshchat import`, `meshchat compact` and `meshchat purge`: maintenance of this node's
//! message log from the shell.

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
    log.compact().map_err(|e| {
        format!(
            "imported {} messages, then compacting failed: {e}",
            merged.added
        )
    })?;
    eprintln!(
        "meshchat: imported {} messages from {} ({} already present, {} lines refused)",
        merged.added,
        file.display(),
        merged.known,
        bad
    );
    Ok(())
}

/// Rewrites the log now, keeping the newest `max_messages`.
pub fn compact(cfg: &Config) -> Result<(), String> {
    cfg.paths.create_dirs().map_err(|e| e.to_string())?;
    cfg.store().log.compact().map_err(|e| e.to_string())
}

/// Deletes the log, the RAM files and the shared files (`meshchat purge`, before the
/// package is removed: package managers cannot pass that wish to the package's scripts).
pub fn purge(cfg: &Config) -> Result<(), String> {
    cfg.paths.purge().map_err(|e| e.to_string())?;
    eprintln!("meshchat: deleted the message log and the RAM files");
    Ok(())
}
