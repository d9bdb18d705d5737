//! The message log: a flat file of append-only records, one message each.
//!
//! A record is `CRC32 \t LINE \n`: the CRC-32 (8 lowercase hex digits) covers the
//! legacy database line that follows it. A record torn by power loss or corrupted later
//! fails its CRC and is skipped; the newline framing keeps every other record readable.
//!
//! Writers take the store lock and append whole records with one `write` on an `O_APPEND`
//! descriptor, then `fdatasync` before anyone is told "OK". The logical database (what
//! every action serves) is derived on read: de-duplicated by id (the first record wins),
//! ordered by epoch then id, newest `max` kept, as the legacy trim does. The file itself
//! is rewritten (temp, fsync, rename) only when it has grown past 1.5 times `max`
//! records, so a `send_message` costs one append whatever the database size.
//!
//! Facts that would need a full read on every request (the record count that decides
//! compaction, the version number legacy peers poll) are cached in a small RAM file keyed
//! on the log's identity (inode, size, mtime), so flash is never written for them.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::atomic;
use super::lock::Lock;
use super::{Error, Paths, Result};
use crate::protocol::limits::MAX_LINE;
use crate::protocol::lines::{Message, MessageRef};
use crate::protocol::{Epoch, MessageId};

/// The log grows to this many times `max` records before it is compacted.
const COMPACT_NUM: usize = 3;
const COMPACT_DEN: usize = 2;

/// Appends one record (CRC, TAB, line, newline) for `m` to `out`.
pub fn write_record(out: &mut String, m: &Message) {
    let mut line = String::with_capacity(128);
    m.write_line(&mut line);
    let body = line.trim_end_matches('\n');
    out.push_str(&format!(
        "{:08x}\t",
        crate::protocol::crc32::hash(body.as_bytes())
    ));
    out.push_str(body);
    out.push('\n');
}

/// The line inside a record, if its CRC holds.
pub fn record_line(record: &[u8]) -> Option<&str> {
    if record.len() < 10 || record[8] != b'\t' {
        return None;
    }
    let crc = u32::from_str_radix(std::str::from_utf8(&record[..8]).ok()?, 16).ok()?;
    let line = &record[9..];
    (crate::protocol::crc32::hash(line) == crc).then_some(())?;
    std::str::from_utf8(line).ok()
}

/// Hashes a message id with one multiplication: ids are already random (they come from
/// MD5 or an RNG), so SipHash's protection buys nothing on this hot path.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A set of message ids.
pub type IdSet = HashSet<u32, BuildHasherDefault<IdHasher>>;

/// The raw bytes of the log, read once; [`Contents::view`] borrows from it.
pub struct Contents {
    bytes: Vec<u8>,
    key: Option<Key>,
}

/// The logical database derived from the log.
pub struct View<'a> {
    /// Oldest first (epoch, then id), de-duplicated, at most `max`.
    pub messages: Vec<MessageRef<'a>>,
    /// Every id present in the file, trimmed or not.
    pub all_ids: IdSet,
    /// Records in the file, valid or not.
    pub records: usize,
    /// Records that failed their CRC or did not parse.
    pub corrupt: usize,
}

impl View<'_> {
    /// The legacy version number: the sum of the ids read as hex numbers.
    pub fn version(&self) -> u64 {
        self.messages.iter().map(|m| u64::from(m.id.0)).sum()
    }
}

impl Contents {
    /// Builds the logical database, keeping the newest `max` messages.
    pub fn view(&self, max: usize) -> View<'_> {
        let mut messages = Vec::with_capacity(max.min(self.bytes.len() / 64 + 1));
        let mut all_ids = IdSet::with_capacity_and_hasher(messages.capacity(), Default::default());
        let mut records = 0;
        let mut corrupt = 0;
        for record in self.bytes.split(|&b| b == b'\n') {
            if record.is_empty() {
                continue;
            }
            records += 1;
            match record_line(record).map(MessageRef::parse) {
                Some(Ok(m)) => {
                    if all_ids.insert(m.id.0) {
                        messages.push(m);
                    }
                }
                _ => corrupt += 1,
            }
        }
        crate::sort::sort_by_key(&mut messages, |m| (m.epoch, m.id));
        if messages.len() > max {
            messages.drain(..messages.len() - max);
        }
        View {
            messages,
            all_ids,
            records,
            corrupt,
        }
    }

    /// Identifies this state of the log (with the trim limit `max`) for response caches;
    /// `None` when the log changed while it was read, or there is none.
    pub fn identity(&self, max: usize) -> Option<String> {
        self.key.map(|k| k.identity(max))
    }

    /// The raw size of the log in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when the log is empty or absent.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Identity of the log file: changes whenever it is appended to or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    ino: u64,
    size: u64,
    mtime_ns: i64,
}

impl Key {
    /// A text form for caches keyed on this state of the log and the trim limit.
    fn identity(&self, max: usize) -> String {
        format!("log {} {} {} {max}", self.ino, self.size, self.mtime_ns)
    }

    fn of(meta: &fs::Metadata) -> Key {
        Key {
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        }
    }
}

/// Cached facts about one state of the log (a line in the RAM meta file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    key: Key,
    records: usize,
    version: Option<u64>,
    /// The newest key (epoch, id), known whenever `version` is.
    newest: Option<(Epoch, MessageId)>,
}

impl Meta {
    fn parse(text: &str) -> Option<Meta> {
        let mut w = text.split_whitespace();
        let mut num = || w.next()?.parse::<i64>().ok();
        let key = Key {
            ino: num()? as u64,
            size: num()? as u64,
            mtime_ns: num()?,
        };
        let records = num()? as usize;
        let version = num().filter(|v| *v >= 0).map(|v| v as u64);
        // Older caches end here: the newest key is then unknown, and so is the version.
        let newest = match (num(), num()) {
            (Some(e), Some(id)) if e >= 0 && id >= 0 => {
                Some((Epoch(e as u64), MessageId(id as u32)))
            }
            (Some(-1), Some(-1)) => None,
            _ => {
                return Some(Meta {
                    key,
                    records,
                    version: None,
                    newest: None,
                })
            }
        };
        Some(Meta {
            key,
            records,
            version,
            newest,
        })
    }

    fn write(&self) -> String {
        let (e, id) = self
            .newest
            .map_or((-1, -1), |(e, id)| (e.0 as i64, i64::from(id.0)));
        format!(
            "{} {} {} {} {} {e} {id}\n",
            self.key.ino,
            self.key.size,
            self.key.mtime_ns,
            self.records,
            self.version.map_or(-1, |v| v as i64)
        )
    }
}

/// What a merge did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    /// Messages appended.
    pub added: usize,
    /// Messages already present (or too old to be kept).
    pub known: usize,
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// Valid records read (duplicates included).
    pub records: usize,
    /// Messages written back.
    pub kept: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// The message log of one node.
#[derive(Debug, Clone)]
pub struct Log {
    path: PathBuf,
    meta_path: PathBuf,
    lock_path: PathBuf,
    max: usize,
}

impl Log {
    /// The log described by `paths`, keeping `max` messages (at least 1).
    pub fn new(paths: &Paths, max: usize) -> Log {
        Log {
            path: paths.log(),
            meta_path: paths.log_meta(),
            lock_path: paths.lock(),
            max: max.max(1),
        }
    }

    /// How many messages are kept.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the whole log (no lock: records are appended whole, files replaced whole).
    pub fn read(&self) -> Result<Contents> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Contents {
                    bytes: Vec::new(),
                    key: None,
                })
            }
            Err(e) => return Err(Error::io("open", &self.path)(e)),
        };
        let meta = f.metadata().map_err(Error::io("stat", &self.path))?;
        let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
        f.read_to_end(&mut bytes)
            .map_err(Error::io("read", &self.path))?;
        // The key is only trusted if nothing was appended while we read.
        let key = (bytes.len() as u64 == meta.len()).then(|| Key::of(&meta));
        Ok(Contents { bytes, key })
    }

    fn current_key(&self) -> Result<Option<Key>> {
        match fs::metadata(&self.path) {
            Ok(m) => Ok(Some(Key::of(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("stat", &self.path)(e)),
        }
    }

    /// Identifies the log's current state for response caches (see [`Contents::identity`]).
    pub fn identity(&self) -> Result<String> {
        Ok(self
            .current_key()?
            .map_or_else(|| "log none".to_string(), |k| k.identity(self.max)))
    }

    fn cached_meta(&self) -> Option<Meta> {
        let text = fs::read_to_string(&self.meta_path).ok()?;
        Meta::parse(&text)
    }

    fn store_meta(&self, meta: Meta) {
        // A cache: failing to write it only costs a re-read later.
        let _ = atomic::replace(&self.meta_path, meta.write().as_bytes(), false);
    }

    /// The legacy version number of the database, from the RAM cache when the log has
    /// not changed since it was computed.
    pub fn version(&self) -> Result<u64> {
        Ok(self.summary()?.0)
    }

    /// The legacy version number and the newest key (epoch, id) of the database, from
    /// the RAM cache when the log has not changed since they were computed.
    pub fn summary(&self) -> Result<(u64, Option<(Epoch, MessageId)>)> {
        let Some(key) = self.current_key()? else {
            return Ok((0, None));
        };
        if let Some(meta) = self.cached_meta() {
            if meta.key == key {
                if let Some(v) = meta.version {
                    return Ok((v, meta.newest));
                }
            }
        }
        let contents = self.read()?;
        let view = contents.view(self.max);
        let version = view.version();
        let newest = view.messages.last().map(|m| (m.epoch, m.id));
        if let Some(key) = contents.key {
            let _lock = Lock::exclusive(&self.lock_path)?;
            // Only record it if no writer changed the log meanwhile.
            if self.current_key()? == Some(key) {
                self.store_meta(Meta {
                    key,
                    records: view.records,
                    version: Some(version),
                    newest,
                });
            }
        }
        Ok((version, newest))
    }

    /// Appends messages as they are: no read of the log, one write, one fdatasync. The
    /// caller has validated them; duplicates are resolved on read. Compacts when the log
    /// has grown past its threshold.
    pub fn append(&self, messages: &[Message]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let _lock = Lock::exclusive(&self.lock_path)?;
        self.append_locked(messages)
    }

    fn append_locked(&self, messages: &[Message]) -> Result<()> {
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        let mut f = super::open_in_dir(&opts, &self.path).map_err(Error::io("open", &self.path))?;
        let before = f.metadata().map_err(Error::io("stat", &self.path))?;
        let mut buf = String::with_capacity(160 * messages.len());
        // A record torn by a crash has no newline: end it, so ours starts on a fresh line.
        if before.len() > 0 {
            let mut last = [0u8];
            f.seek(SeekFrom::End(-1))
                .and_then(|_| f.read_exact(&mut last))
                .map_err(Error::io("read", &self.path))?;
            if last[0] != b'\n' {
                buf.push('\n');
            }
        }
        for m in messages {
            write_record(&mut buf, m);
        }
        let written = f.write_all(buf.as_bytes()).and_then(|_| f.sync_data());
        if let Err(e) = written {
            // Take back a partial record (full disk) so nothing half-written stays.
            let _ = f.set_len(before.len());
            return Err(Error::io("append to", &self.path)(e));
        }
        let after = f.metadata().map_err(Error::io("stat", &self.path))?;
        let records = match self.cached_meta() {
            Some(meta) if meta.key == Key::of(&before) => meta.records + messages.len(),
            _ => count_records(&self.path)?,
        };
        if records > self.max * COMPACT_NUM / COMPACT_DEN {
            match self.compact_locked() {
                Ok(_) => return Ok(()),
                // The messages are stored: a failed compaction (a full flash has room for
                // a record, not for the copy) must not report them lost, or a sender
                // sends again. The next append tries again; `meshchat compact` reports.
                Err(e) => eprintln!("meshchat: stored, but compacting the log failed: {e}"),
            }
        }
        self.store_meta(Meta {
            key: Key::of(&after),
            records,
            version: None,
            newest: None,
        });
        Ok(())
    }

    /// Adds the messages whose ids the log does not hold yet (sync, import). Messages
    /// older than everything kept in a full database are not added: the trim would drop
    /// them again.
    pub fn merge(&self, messages: &[Message]) -> Result<Merged> {
        if messages.is_empty() {
            return Ok(Merged::default());
        }
        let _lock = Lock::exclusive(&self.lock_path)?;
        let (mut seen, floor) = self.scan_keys()?;
        let mut fresh = Vec::new();
        for m in messages {
            let too_old = floor.is_some_and(|f| (m.epoch, m.id) < f);
            if !too_old && seen.insert(m.id.0) {
                fresh.push(m.clone());
            }
        }
        let merged = Merged {
            added: fresh.len(),
            known: messages.len() - fresh.len(),
        };
        self.append_locked(&fresh)?;
        Ok(merged)
    }

    /// The keys (epoch, id) of the logical database, oldest first: what [`Contents::view`]
    /// holds, read record by record without keeping the log in memory.
    pub fn keys(&self) -> Result<Vec<(Epoch, MessageId)>> {
        let mut seen = IdSet::default();
        let mut keys = Vec::new();
        self.scan(|_, _, m| {
            if seen.insert(m.id.0) {
                keys.push((m.epoch, m.id));
            }
        })?;
        crate::sort::sort(&mut keys);
        if keys.len() > self.max {
            keys.drain(..keys.len() - self.max);
        }
        Ok(keys)
    }

    /// The ids of the messages posted on node `node` (compared without case), read
    /// record by record: how the sync daemon finds which messages are this node's own.
    pub fn ids_from(&self, node: &str) -> Result<Vec<MessageId>> {
        let mut ids = Vec::new();
        self.scan(|_, _, m| {
            if m.node.eq_ignore_ascii_case(node) {
                ids.push(m.id);
            }
        })?;
        Ok(ids)
    }

    /// Every id in the log, and the (epoch, id) of the oldest message kept when the
    /// database is full; read record by record, so a 10,000-message log costs a few
    /// hundred KB of keys rather than its whole contents (the sync daemon merges often).
    fn scan_keys(&self) -> Result<(IdSet, Option<(Epoch, MessageId)>)> {
        let mut all = IdSet::default();
        let mut keys: Vec<(Epoch, MessageId)> = Vec::new();
        self.scan(|_, _, m| {
            if all.insert(m.id.0) {
                keys.push((m.epoch, m.id));
            }
        })?;
        // A sort, not `select_nth_unstable`: the sort's code is in the binary already
        // (`keys`), a selection would add 3 KB for the same answer.
        let floor = (keys.len() >= self.max).then(|| {
            crate::sort::sort(&mut keys);
            keys[keys.len() - self.max]
        });
        Ok((all, floor))
    }

    /// Calls `each(offset, record length, message)` for every valid record, in file order,
    /// holding one record at a time.
    fn scan(&self, each: impl FnMut(u64, usize, MessageRef)) -> Result<()> {
        self.scan_from(0, each).map(|_| ())
    }

    /// [`Log::scan`] from byte `start` (the end of a record): returns the offset just past
    /// the last complete (newline-ended) record, where a later call can go on. Lets a
    /// reader follow the appends (the Raven bridge) without re-reading the log.
    pub fn scan_from(
        &self,
        start: u64,
        mut each: impl FnMut(u64, usize, MessageRef),
    ) -> Result<u64> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io("open", &self.path)(e)),
        };
        if start > 0 {
            f.seek(SeekFrom::Start(start))
                .map_err(Error::io("read", &self.path))?;
        }
        let mut r = std::io::BufReader::with_capacity(16 * 1024, f);
        let mut record = Vec::with_capacity(256);
        let limit = (MAX_LINE + 16) as u64;
        let mut offset = start;
        let mut complete = start;
        loop {
            record.clear();
            let n = std::io::BufRead::read_until(&mut (&mut r).take(limit), b'\n', &mut record)
                .map_err(Error::io("read", &self.path))?;
            if n == 0 {
                return Ok(complete);
            }
            let at = offset;
            offset += n as u64;
            if record.last() == Some(&b'\n') {
                record.pop();
                complete = offset;
            } else if n as u64 == limit {
                // Not a record of ours: skip the rest of this line.
                let mut rest = Vec::new();
                let more = std::io::BufRead::read_until(&mut r, b'\n', &mut rest)
                    .map_err(Error::io("read", &self.path))?;
                offset += more as u64;
                if rest.last() == Some(&b'\n') {
                    complete = offset;
                }
                continue;
            }
            if let Some(Ok(m)) = record_line(&record).map(MessageRef::parse) {
                each(at, record.len(), m);
            }
        }
    }

    /// Rewrites the log now: only the logical database is kept.
    pub fn compact(&self) -> Result<Compacted> {
        let _lock = Lock::exclusive(&self.lock_path)?;
        self.compact_locked()
    }

    /// Streams the logical database into a new file: one pass collects the keys and
    /// offsets of the records kept, a second copies those records in order. Memory is
    /// the keys, never the log (a 10,000-message log is 1.5 MB; the daemon compacts too).
    fn compact_locked(&self) -> Result<Compacted> {
        use std::os::unix::fs::FileExt;
        self.remove_stale_temps();
        let bytes_before = fs::metadata(&self.path).map_or(0, |m| m.len());
        let mut seen = IdSet::default();
        let mut kept: Vec<(Epoch, MessageId, u64, u32)> = Vec::new();
        let mut records = 0;
        self.scan(|at, len, m| {
            records += 1;
            if seen.insert(m.id.0) {
                kept.push((m.epoch, m.id, at, len as u32));
            }
        })?;
        drop(seen);
        crate::sort::sort_by_key(&mut kept, |k| (k.0, k.1));
        if kept.len() > self.max {
            kept.drain(..kept.len() - self.max);
        }
        let src = match File::open(&self.path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("open", &self.path)(e)),
        };
        let tmp = atomic::temp_path(&self.path);
        let written = (|| {
            let f = File::create(&tmp).map_err(Error::io("create", &tmp))?;
            let mut out = std::io::BufWriter::with_capacity(32 * 1024, f);
            let mut record = Vec::with_capacity(256);
            for &(_, _, at, len) in &kept {
                record.resize(len as usize, 0);
                if let Some(src) = &src {
                    src.read_exact_at(&mut record, at)
                        .map_err(Error::io("read", &self.path))?;
                }
                record.push(b'\n');
                out.write_all(&record).map_err(Error::io("write", &tmp))?;
            }
            let f = out
                .into_inner()
                .map_err(|e| Error::io("write", &tmp)(e.into_error()))?;
            f.sync_all().map_err(Error::io("sync", &tmp))?;
            fs::rename(&tmp, &self.path).map_err(Error::io("rename into place", &self.path))?;
            atomic::sync_dir(&self.path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        let version = kept.iter().map(|k| u64::from(k.1 .0)).sum();
        if let Some(key) = self.current_key()? {
            self.store_meta(Meta {
                key,
                records: kept.len(),
                version: Some(version),
                newest: kept.iter().max().map(|k| (k.0, k.1)),
            });
        }
        Ok(Compacted {
            records,
            kept: kept.len(),
            bytes_before,
            bytes_after: fs::metadata(&self.path).map_or(0, |m| m.len()),
        })
    }
}

impl Log {
    /// Removes temporary files of compactions that were killed midway (we hold the lock:
    /// no other compaction is running), so flash space never leaks.
    fn remove_stale_temps(&self) {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let prefix = format!("{}.tmp", name.to_string_lossy());
        if let Ok(rd) = fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }
}

/// Records in the log file, counted by newlines (a torn tail counts as one more).
fn count_records(path: &Path) -> Result<usize> {
    let bytes = super::read_optional(path)?;
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    Ok(lines + usize::from(bytes.last().is_some_and(|&b| b != b'\n')))
}

/// Makes a fresh random message id from the OS RNG.
pub fn random_id() -> Result<MessageId> {
    let mut b = [0u8; 4];
    crate::sys::random(&mut b).map_err(Error::io(
        "create the message id: read",
        Path::new("/dev/urandom"),
    ))?;
    Ok(MessageId(u32::from_le_bytes(b)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::protocol::lines::StoredText;

    pub(crate) fn temp_paths(tag: &str) -> Paths {
        let base = std::env::temp_dir().join(format!("meshchat-test-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let p = Paths {
            data_dir: base.join("data"),
            ram_dir: base.join("ram"),
            files_dir: base.join("files"),
        };
        p.create_dirs().unwrap();
        p
    }

    pub(crate) fn msg(id: u32, epoch: u64, text: &str) -> Message {
        Message {
            id: MessageId(id),
            epoch: Epoch(epoch),
            text: StoredText::escape(text).unwrap(),
            call_sign: "K1ABC".parse().unwrap(),
            node: "node-a".parse().unwrap(),
            platform: crate::protocol::Platform::Node,
            channel: "".parse().unwrap(),
        }
    }

    fn ids(log: &Log) -> Vec<u32> {
        let c = log.read().unwrap();
        c.view(log.max()).messages.iter().map(|m| m.id.0).collect()
    }

    #[test]
    fn append_is_an_append_and_reads_back_sorted() {
        let p = temp_paths("append");
        let log = Log::new(&p, 500);
        log.append(&[msg(3, 30, "c")]).unwrap();
        let ino = fs::metadata(log.path()).unwrap().ino();
        log.append(&[msg(1, 10, "a"), msg(2, 10, "b"), msg(1, 99, "dup")])
            .unwrap();
        assert_eq!(
            fs::metadata(log.path()).unwrap().ino(),
            ino,
            "appends never replace the file"
        );
        assert_eq!(ids(&log), [1, 2, 3]);
        assert_eq!(log.version().unwrap(), 6);
        // Cached now; still right after another append.
        assert_eq!(log.version().unwrap(), 6);
        log.append(&[msg(10, 5, "old")]).unwrap();
        assert_eq!(log.version().unwrap(), 16);
        assert_eq!(ids(&log), [10, 1, 2, 3]);
    }

    #[test]
    fn torn_and_corrupt_records_are_skipped() {
        let p = temp_paths("torn");
        let log = Log::new(&p, 500);
        log.append(&[msg(1, 10, "one"), msg(2, 20, "two"), msg(3, 30, "three")])
            .unwrap();
        let mut bytes = fs::read(log.path()).unwrap();
        // Flip a byte inside the second record's text.
        let second = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        let pos = second + 9 + 15;
        bytes[pos] ^= 0x20;
        // Tear the last record: power lost mid-write.
        bytes.truncate(bytes.len() - 7);
        fs::write(log.path(), &bytes).unwrap();
        let c = log.read().unwrap();
        let v = c.view(500);
        assert_eq!(v.messages.iter().map(|m| m.id.0).collect::<Vec<_>>(), [1]);
        assert_eq!(v.corrupt, 2);
        // The next append starts on a fresh line and is readable.
        log.append(&[msg(4, 40, "four")]).unwrap();
        assert_eq!(ids(&log), [1, 4]);
    }

    #[test]
    fn compaction_waits_for_the_threshold_and_keeps_the_newest() {
        let p = temp_paths("compact");
        let log = Log::new(&p, 10);
        for i in 0..15u32 {
            log.append(&[msg(i + 1, 100 + u64::from(i), "m")]).unwrap();
        }
        let ino = fs::metadata(log.path()).unwrap().ino();
        assert_eq!(
            count_records(log.path()).unwrap(),
            15,
            "no compaction at 1.5x"
        );
        log.append(&[msg(16, 115, "m")]).unwrap();
        assert_ne!(
            fs::metadata(log.path()).unwrap().ino(),
            ino,
            "compacted past 1.5x"
        );
        assert_eq!(count_records(log.path()).unwrap(), 10);
        assert_eq!(ids(&log), (7..=16).collect::<Vec<_>>());
        // Meta survives being deleted (a reboot clears RAM).
        fs::remove_file(p.log_meta()).unwrap();
        log.append(&[msg(17, 116, "m")]).unwrap();
        assert_eq!(log.version().unwrap(), (8..=17).sum::<u64>());
    }

    #[test]
    fn a_compaction_killed_midway_leaves_the_log_whole() {
        let p = temp_paths("killed");
        let log = Log::new(&p, 10);
        log.append(
            &(1..=12u32)
                .map(|i| msg(i, u64::from(i), "m"))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let before = fs::read(log.path()).unwrap();
        // What a compactor killed while writing leaves behind: a partial temporary file.
        let stale = atomic::temp_path(log.path()).with_extension("tmp999");
        fs::write(&stale, &before[..before.len() / 2]).unwrap();
        assert_eq!(
            fs::read(log.path()).unwrap(),
            before,
            "the log itself is untouched"
        );
        assert_eq!(ids(&log), (3..=12).collect::<Vec<_>>());
        log.compact().unwrap();
        assert!(!stale.exists(), "the next compaction removes it");
        assert_eq!(ids(&log), (3..=12).collect::<Vec<_>>());
    }

    #[test]
    fn key_scan_agrees_with_the_view() {
        let p = temp_paths("scan");
        let log = Log::new(&p, 50);
        let msgs: Vec<Message> = (1..=70u32)
            .map(|i| msg(i.wrapping_mul(2654435761), u64::from(i % 13), "m"))
            .collect();
        log.append(&msgs).unwrap();
        // A corrupt record and an over-long garbage line are skipped by both.
        let mut f = OpenOptions::new().append(true).open(log.path()).unwrap();
        f.write_all(b"deadbeef\tnot a record\n").unwrap();
        f.write_all(&vec![b'x'; MAX_LINE * 2]).unwrap();
        f.write_all(b"\n").unwrap();
        log.append(&[msg(7, 3, "after garbage")]).unwrap();
        let (all, floor) = log.scan_keys().unwrap();
        let c = log.read().unwrap();
        let v = c.view(50);
        assert_eq!(all, v.all_ids);
        let keys: Vec<_> = v.messages.iter().map(|m| (m.epoch, m.id)).collect();
        assert_eq!(log.keys().unwrap(), keys);
        assert_eq!(floor, v.messages.first().map(|m| (m.epoch, m.id)));
    }

    #[test]
    fn merge_skips_known_and_too_old() {
        let p = temp_paths("merge");
        let log = Log::new(&p, 3);
        log.append(&[msg(1, 10, "a"), msg(2, 20, "b"), msg(3, 30, "c")])
            .unwrap();
        let r = log
            .merge(&[msg(2, 20, "b"), msg(9, 5, "too old"), msg(4, 40, "d")])
            .unwrap();
        assert_eq!(r, Merged { added: 1, known: 2 });
        assert_eq!(ids(&log), [2, 3, 4]);
    }
}
