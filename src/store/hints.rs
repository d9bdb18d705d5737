//! Sync hints: "peer P holds a message newer than any of ours", left in the RAM
//! directory by the `sync_digest` action (run for a pulling peer) for this node's sync
//! daemon, which then pulls P at once (docs/SYNC.md, "Hints").
//!
//! One line per hint, `NODE \t EPOCH.ID \n`, appended with one `write`; readers ignore
//! lines they do not understand and fields after the second, so later versions may add
//! fields. The daemon takes the whole file by renaming it. The file never grows past
//! [`MAX_BYTES`]: a hint is an optimisation (the next random round heals anyway), so a
//! full file simply drops new ones until the daemon takes it.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Error, Paths, Result};
use crate::protocol::digest::{Bound, Key};
use crate::protocol::NodeName;

/// Largest hints file: about 80 hints.
pub const MAX_BYTES: u64 = 4096;

/// The hints file of a node.
pub fn path(paths: &Paths) -> PathBuf {
    paths.ram_dir.join("sync_hints")
}

/// Records that `node` holds the message with key `newest`.
pub fn record(paths: &Paths, node: &NodeName, newest: Key) -> Result<()> {
    let path = path(paths);
    if fs::metadata(&path).is_ok_and(|m| m.len() >= MAX_BYTES) {
        return Ok(());
    }
    let line = format!("{node}\t{}\n", Bound::Key(newest));
    let mut opts = OpenOptions::new();
    opts.append(true).create(true);
    let mut f = super::open_in_dir(&opts, &path).map_err(Error::io("open", &path))?;
    f.write_all(line.as_bytes())
        .map_err(Error::io("append to", &path))
}

/// Takes every hint left since the last call: (node, key), oldest first.
pub fn take(paths: &Paths) -> Vec<(NodeName, Key)> {
    let path = path(paths);
    if !fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
        return Vec::new();
    }
    let taken = paths.ram_dir.join("sync_hints.taken");
    if fs::rename(&path, &taken).is_err() {
        return Vec::new();
    }
    let text = read_limited(&taken);
    let _ = fs::remove_file(&taken);
    parse(&text)
}

fn read_limited(path: &Path) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    if let Ok(f) = fs::File::open(path) {
        let _ = f.take(2 * MAX_BYTES).read_to_end(&mut out);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The hints of a file's text; anything malformed is skipped.
pub fn parse(text: &str) -> Vec<(NodeName, Key)> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let node = f.next()?.parse().ok()?;
            match f.next()?.parse::<Bound>().ok()? {
                Bound::Key(k) => Some((node, k)),
                Bound::End => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Epoch, MessageId};
    use crate::store::log::tests::temp_paths;

    #[test]
    fn hints_are_taken_once_and_bounded() {
        let p = temp_paths("hints");
        assert!(take(&p).is_empty());
        let a: NodeName = "node-a".parse().unwrap();
        let k = Key::new(Epoch(1_795_661_251), MessageId(0x0a1b_2c3d));
        record(&p, &a, k).unwrap();
        record(&p, &a, k).unwrap();
        assert_eq!(take(&p), [(a.clone(), k), (a.clone(), k)]);
        assert!(take(&p).is_empty());
        for _ in 0..1000 {
            record(&p, &a, k).unwrap();
        }
        let n = take(&p).len() as u64;
        let line = "node-a\t1795661251.0a1b2c3d\n".len() as u64;
        assert_eq!(n, MAX_BYTES.div_ceil(line));
    }

    #[test]
    fn garbage_and_future_fields_are_tolerated() {
        let got = parse("node-a\t100.0000000a\textra\nbad line\n\t1\nnode-b\t~\nnode-c\t7\n");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, Key::new(Epoch(100), MessageId(10)));
        assert_eq!(got[1].1, Key::new(Epoch(7), MessageId(0)));
    }
}
