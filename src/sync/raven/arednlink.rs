//! AREDN's arednlink publish/subscribe, as the bridge uses it: reading the entries every
//! node published (a folder arednlink fills), and publishing ours (a shared file, then a
//! command on arednlink's socket).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::protocol::raven::{parse_entries, publish, Entry, OwnEntry};

/// The id of our entry in the node's publish file.
pub const ENTRY_ID: &str = "meshchat.raven.v1";
/// Bytes of one entries file (or the publish file) read.
pub const MAX_FILE: u64 = 1024 * 1024;
/// Entries files read from the folder (arednlink makes 16 buckets for IPv4).
pub const MAX_FILES: usize = 64;
/// How long arednlink's socket may take to answer.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of arednlink's answer read (it greets with one short line).
const MAX_ANSWER: u64 = 4096;

/// What identifies the folder's state: a sum over its files of a hash of each one's
/// name, size and change time (order-free, so nothing is sorted), and the files.
pub type Signature = (u64, Vec<PathBuf>);

/// The folder's signature, cheap to take every second.
pub fn signature(dir: &Path) -> Signature {
    let mut sum = 0u64;
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .take(MAX_FILES)
    {
        let Ok(m) = e.metadata() else { continue };
        if !m.is_file() {
            continue;
        }
        let path = e.path();
        let mut h = crate::protocol::crc32::Hasher::new();
        h.update(path.as_os_str().as_encoded_bytes());
        h.update(&m.len().to_le_bytes());
        h.update(&m.mtime().to_le_bytes());
        h.update(&m.mtime_nsec().to_le_bytes());
        sum = sum
            .wrapping_add(u64::from(h.finalize()))
            .wrapping_add(1 << 40);
        files.push(path);
    }
    (sum, files)
}

/// Every Raven entry in the folder's files, and how many entries or files did not parse.
pub fn read_entries(sig: &Signature) -> (Vec<Entry>, usize) {
    let mut all = Vec::new();
    let mut bad = 0;
    for path in &sig.1 {
        let mut bytes = Vec::new();
        let read = File::open(path).and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut bytes));
        if read.is_err() || bytes.len() as u64 > MAX_FILE {
            bad += 1;
            continue;
        }
        let (entries, b) = parse_entries(&bytes);
        all.extend(entries);
        bad += b;
    }
    (all, bad)
}

/// Puts our entry into the publish file (or takes it out, with `None`) under the file's
/// lock, as AREDN's own tools do, then asks arednlink to upload it.
pub fn publish_own(file: &Path, socket: &Path, own: Option<&OwnEntry>) -> Result<(), String> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(own.is_some())
        .truncate(false)
        .open(file)
        .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    f.lock()
        .map_err(|e| format!("cannot lock {}: {e}", file.display()))?;
    let mut old = Vec::new();
    crate::reading::to_end(&mut (&mut f).take(MAX_FILE + 1), &mut old)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if old.len() as u64 > MAX_FILE {
        return Err(format!("{} is too large", file.display()));
    }
    let new = publish(&old, ENTRY_ID, own)
        .ok_or_else(|| format!("{} is not a publish file: left alone", file.display()))?;
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.write_all(&new))
        .and_then(|_| f.set_len(new.len() as u64))
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    drop(f);
    upload(file, socket)
}

/// `upload publish FILE` on arednlink's socket.
fn upload(file: &Path, socket: &Path) -> Result<(), String> {
    let why = |e: std::io::Error| format!("arednlink socket {}: {e}", socket.display());
    let mut s = UnixStream::connect(socket).map_err(why)?;
    s.set_read_timeout(Some(SOCKET_TIMEOUT)).map_err(why)?;
    s.set_write_timeout(Some(SOCKET_TIMEOUT)).map_err(why)?;
    s.write_all(format!("upload publish {}\n", file.display()).as_bytes())
        .map_err(why)?;
    let _ = s.shutdown(std::net::Shutdown::Write);
    // Its greeting (and whatever it says after) is read so it is not cut off mid-write.
    let mut answer = String::new();
    let _ = BufReader::new(s.take(MAX_ANSWER)).read_line(&mut answer);
    Ok(())
}
