//! Sync bookkeeping in RAM: when each peer was last synced (the `sync_status` action).

use std::path::PathBuf;

use super::atomic;
use super::lock::Lock;
use super::{read_optional, Paths, Result};
use crate::protocol::lines::{parse_all, SyncStatus};
use crate::protocol::{Epoch, NodeName};

/// The sync status file of one node.
#[derive(Debug, Clone)]
pub struct Status {
    path: PathBuf,
    lock: PathBuf,
}

impl Status {
    /// The file described by `paths`.
    pub fn new(paths: &Paths) -> Status {
        Status {
            path: paths.sync_status(),
            lock: paths.lock(),
        }
    }

    /// Every peer's last sync, newest first.
    pub fn read(&self) -> Result<Vec<SyncStatus>> {
        let bytes = read_optional(&self.path)?;
        let (mut list, _) = parse_all(&String::from_utf8_lossy(&bytes), SyncStatus::parse);
        crate::sort::sort_by_key(&mut list, |a| std::cmp::Reverse(a.epoch));
        Ok(list)
    }

    /// Records that `node` was synced at `epoch`.
    pub fn record(&self, node: &NodeName, epoch: Epoch) -> Result<()> {
        let _lock = Lock::exclusive(&self.lock)?;
        let mut list = self.read()?;
        list.retain(|s| &s.node != node);
        list.push(SyncStatus {
            node: node.clone(),
            epoch,
        });
        crate::sort::sort_by_key(&mut list, |a| std::cmp::Reverse(a.epoch));
        let mut out = String::new();
        for s in &list {
            s.write_line(&mut out);
        }
        atomic::replace(&self.path, out.as_bytes(), false)
    }
}
