//! The lock every writer takes: an exclusive `flock` on one file in the RAM directory.
//! Readers never lock: writers replace files atomically or append whole records.

use std::fs::{File, OpenOptions};
use std::path::Path;

use super::{Error, Result};

/// Held while a writer works; dropping it (or the process dying) releases the lock.
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Waits for the exclusive lock.
    pub fn exclusive(path: &Path) -> Result<Lock> {
        let mut opts = OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        let file = super::open_in_dir(&opts, path).map_err(Error::io("open lock file", path))?;
        file.lock().map_err(Error::io("lock", path))?;
        Ok(Lock { _file: file })
    }
}
