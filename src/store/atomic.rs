//! Replacing a file so that a reader or a crash sees either the old or the new contents:
//! write a temporary file beside it, fsync, rename over, fsync the directory.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Error, Result};

/// The temporary name used while `path` is rewritten (per process, so two writers that
/// somehow skipped the lock cannot share it).
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

/// Replaces `path` with `contents`. `durable` adds the fsyncs (flash); RAM files skip them.
pub fn replace(path: &Path, contents: &[u8], durable: bool) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        let mut f = super::open_in_dir(&opts, &tmp).map_err(Error::io("create", &tmp))?;
        f.write_all(contents).map_err(Error::io("write", &tmp))?;
        if durable {
            f.sync_all().map_err(Error::io("sync", &tmp))?;
        }
        fs::rename(&tmp, path).map_err(Error::io("rename into place", path))?;
        if durable {
            sync_dir(path)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename in `path`'s directory durable.
pub fn sync_dir(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("sync directory", dir))
}
