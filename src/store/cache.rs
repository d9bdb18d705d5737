//! Response caches in the RAM directory, keyed on the state of what they were made from.
//!
//! Many browsers fetch the same `messages` body after each change; building it once and
//! serving the bytes afterwards keeps a CGI request close to the cost of exec itself. A
//! cache file is `KEY \n BODY`; a stale or missing one is simply rebuilt, so every error
//! here is ignored.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use super::{atomic, Paths};

/// Largest cached gzip'd `messages` body (what browsers fetch: 10,000 messages of
/// ordinary chat compress to about 340 KB).
pub const MAX_GZIP: usize = 512 * 1024;
/// Largest cached `messages_raw` body (legacy peers).
pub const MAX_RAW: usize = 256 * 1024;
/// Largest cached plain `messages` body (scripts and tools; browsers take gzip).
pub const MAX_PLAIN: usize = 128 * 1024;
/// Longest key line (`log INODE SIZE MTIME_NS MAX` is well under this).
const MAX_KEY: usize = 160;
// Together at most 896 KB of RAM: docs/BUDGETS.md allows /tmp "everything else ≤ 1 MB".

/// The response caches of one node.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The caches described by `paths`.
    pub fn new(paths: &Paths) -> Cache {
        Cache {
            dir: paths.ram_dir.clone(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("cache.{name}"))
    }

    /// The cached body of `name` if it was made from state `key`: the open file,
    /// positioned at the body, and the body's length. Sending it from there costs no
    /// buffer (the CGI hands it to the kernel).
    pub fn open(&self, name: &str, key: &str) -> Option<(File, u64)> {
        let mut file = File::open(self.path(name)).ok()?;
        let len = file.metadata().ok()?.len();
        // The key line is short: one read holds it.
        let mut head = [0u8; MAX_KEY + 1];
        let n = file.read(&mut head).ok()?;
        let line = head[..n].iter().position(|&b| b == b'\n')?;
        if &head[..line] != key.as_bytes() {
            return None;
        }
        let at = line as u64 + 1;
        file.seek(SeekFrom::Start(at)).ok()?;
        Some((file, len.checked_sub(at)?))
    }

    /// The cached body of `name` if it was made from state `key`, read into memory.
    pub fn get(&self, name: &str, key: &str) -> Option<Vec<u8>> {
        let (file, len) = self.open(name, key)?;
        let mut body = Vec::with_capacity(usize::try_from(len).ok()? + 1);
        file.take(len).read_to_end(&mut body).ok()?;
        Some(body)
    }

    /// Stores `body` for `name` as made from state `key`, or drops the entry when the
    /// body is larger than `limit`.
    pub fn put(&self, name: &str, key: &str, body: &[u8], limit: usize) {
        if body.len() > limit || key.len() > MAX_KEY || key.contains('\n') {
            let _ = std::fs::remove_file(self.path(name));
            return;
        }
        let mut data = Vec::with_capacity(key.len() + 1 + body.len());
        data.extend_from_slice(key.as_bytes());
        data.push(b'\n');
        data.extend_from_slice(body);
        let _ = atomic::replace(&self.path(name), &data, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::log::tests::temp_paths;

    #[test]
    fn hit_miss_and_limit() {
        let c = Cache::new(&temp_paths("cache"));
        assert_eq!(c.get("m", "k1"), None);
        c.put("m", "k1", b"body\nwith lines", 100);
        assert_eq!(c.get("m", "k1").as_deref(), Some(&b"body\nwith lines"[..]));
        assert_eq!(c.get("m", "k2"), None);
        c.put("m", "k2", &[0; 200], 100);
        assert_eq!(
            c.get("m", "k1"),
            None,
            "an over-limit body drops the old entry"
        );
    }
}
