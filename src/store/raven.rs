//! The Raven bridge's report in RAM (docs/RAVEN.md): `raven.json`, the whole report as
//! one JSON object that `sync_peers` appends to its list, and `raven_peers`, each Raven
//! peer and when it was last heard in the `sync_status` line format. Only the bridge
//! (inside `meshchat sync`) writes them, whole and atomically; the actions read them.

use std::path::PathBuf;

use super::{atomic, read_optional, Paths, Result};
use crate::protocol::lines::{parse_all, SyncStatus};

/// Bytes of `raven.json` an action embeds at most.
pub const MAX_REPORT: usize = 256 * 1024;

fn report_path(paths: &Paths) -> PathBuf {
    paths.ram_dir.join("raven.json")
}

fn peers_path(paths: &Paths) -> PathBuf {
    paths.ram_dir.join("raven_peers")
}

/// Replaces both files (RAM: no fsync).
pub fn write(paths: &Paths, report: &[u8], peers: &[SyncStatus]) -> Result<()> {
    let mut lines = String::with_capacity(peers.len() * 40);
    for p in peers {
        p.write_line(&mut lines);
    }
    atomic::replace(&peers_path(paths), lines.as_bytes(), false)?;
    atomic::replace(&report_path(paths), report, false)
}

/// Removes both (the bridge is not configured: an old report would mislead).
pub fn clear(paths: &Paths) {
    let _ = std::fs::remove_file(report_path(paths));
    let _ = std::fs::remove_file(peers_path(paths));
}

/// The report as the bridge last wrote it, if any, to embed as it is.
pub fn read_report(paths: &Paths) -> Option<Vec<u8>> {
    let bytes = read_optional(&report_path(paths)).ok()?;
    let ok = bytes.len() <= MAX_REPORT && bytes.starts_with(b"{") && bytes.ends_with(b"}");
    ok.then_some(bytes)
}

/// The Raven peers and when each was last heard.
pub fn read_peers(paths: &Paths) -> Vec<SyncStatus> {
    let bytes = read_optional(&peers_path(paths)).unwrap_or_default();
    parse_all(&String::from_utf8_lossy(&bytes), SyncStatus::parse).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::log::tests::temp_paths;

    #[test]
    fn report_round_trips_and_bad_files_are_not_embedded() {
        let p = temp_paths("raven-report");
        assert_eq!(read_report(&p), None);
        assert!(read_peers(&p).is_empty());
        let peers = [SyncStatus {
            node: "KN6PLV-raven".parse().unwrap(),
            epoch: crate::protocol::Epoch(5),
        }];
        write(&p, b"{\"mode\":\"raven\"}", &peers).unwrap();
        assert_eq!(read_report(&p).unwrap(), b"{\"mode\":\"raven\"}");
        assert_eq!(read_peers(&p), peers);
        std::fs::write(report_path(&p), b"{\"cut").unwrap();
        assert_eq!(read_report(&p), None);
        clear(&p);
        assert!(read_peers(&p).is_empty());
    }
}
