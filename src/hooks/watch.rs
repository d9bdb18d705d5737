//! Which messages are new to the hooks, at most once per message id, across restarts,
//! without writing flash for each message.
//!
//! The log is append-only between compactions, so a position in it is a high-water mark:
//! the mark is the log's inode and the byte offset up to which every record was handed to
//! the hooks. Each look at the log reads only the bytes past the mark. A compaction
//! (new inode) is recognised and the ids already seen, kept in memory, decide.
//!
//! The mark lives in the RAM directory (rewritten when it moves: no flash wear) and is
//! copied to the data directory only when the daemon stops cleanly; that copy is read and
//! removed at the next start, so a stale copy can never survive a power cut. With no
//! usable mark (first start, power cut, a compaction while stopped) everything already in
//! the log counts as handled: a hook may miss a message then, but never runs twice.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::protocol::lines::{Message, MessageRef};
use crate::store::atomic;
use crate::store::log::{record_line, IdSet, Log};

/// A position in the log: everything before `offset` in the file `ino` was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub ino: u64,
    pub offset: u64,
}

impl Mark {
    fn parse(text: &str) -> Option<Mark> {
        let (ino, offset) = text.trim().split_once(' ')?;
        Some(Mark {
            ino: ino.parse().ok()?,
            offset: offset.parse().ok()?,
        })
    }

    fn read(path: &Path) -> Option<Mark> {
        Mark::parse(&fs::read_to_string(path).ok()?)
    }

    fn text(&self) -> String {
        format!("{} {}\n", self.ino, self.offset)
    }
}

/// The watcher's state.
pub struct Watch {
    /// The store's log (its file is watched; read whole after a compaction).
    log: Log,
    ram: PathBuf,
    /// `None` while there is no log.
    mark: Option<Mark>,
    saved: Option<Mark>,
    seen: IdSet,
}

/// Each id of the records in `bytes` (complete lines only), in file order, with the
/// message; and how many bytes those complete lines take.
fn records<'a>(bytes: &'a [u8], mut each: impl FnMut(MessageRef<'a>)) -> usize {
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    for rec in bytes[..end].split(|&b| b == b'\n') {
        if let Some(m) = record_line(rec).and_then(|l| MessageRef::parse(l).ok()) {
            each(m);
        }
    }
    end
}

impl Watch {
    /// Looks at the log once: with a mark from `ram` (or, after a reboot, the copy at
    /// `flash`, which is then removed) that still fits the log, the records past it are
    /// new; otherwise nothing already there is.
    pub fn open(store: &Log, ram: &Path, flash: &Path) -> Watch {
        let log = store.path();
        let stored = Mark::read(ram).or_else(|| Mark::read(flash));
        if fs::symlink_metadata(flash).is_ok() {
            let _ = fs::remove_file(flash);
        }
        let mut w = Watch {
            log: store.clone(),
            ram: ram.to_path_buf(),
            mark: None,
            saved: stored,
            seen: IdSet::default(),
        };
        let Ok(bytes) = fs::read(log) else {
            return w;
        };
        let Ok(meta) = fs::metadata(log) else {
            return w;
        };
        let len = bytes.len() as u64;
        let upto = match stored {
            Some(m) if m.ino == meta.ino() && m.offset <= len => m.offset,
            _ => len,
        };
        let seen = &mut w.seen;
        let used = records(&bytes[..upto as usize], |m| {
            seen.insert(m.id.0);
        }) as u64;
        w.mark = Some(Mark {
            ino: meta.ino(),
            offset: used,
        });
        w.save_ram();
        w
    }

    /// The messages that reached the log since the last look, each once.
    pub fn poll(&mut self) -> io::Result<Vec<Message>> {
        let meta = match fs::metadata(self.log.path()) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut fresh = Vec::new();
        match self.mark {
            Some(m) if m.ino == meta.ino() && m.offset == meta.len() => return Ok(fresh),
            Some(m) if m.ino == meta.ino() && m.offset < meta.len() => {
                let mut f = File::open(self.log.path())?;
                f.seek(SeekFrom::Start(m.offset))?;
                let mut tail = Vec::with_capacity((meta.len() - m.offset) as usize);
                f.read_to_end(&mut tail)?;
                let seen = &mut self.seen;
                let used = records(&tail, |r| {
                    if seen.insert(r.id.0) {
                        if let Ok(msg) = r.to_message() {
                            fresh.push(msg);
                        }
                    }
                });
                self.mark = Some(Mark {
                    ino: m.ino,
                    offset: m.offset + used as u64,
                });
            }
            // A new file (compaction, or the first log): what the database keeps that was
            // not seen, read as every action reads it.
            _ => {
                // The inode first: a compaction in between is seen again next time.
                let ino = fs::metadata(self.log.path())?.ino();
                let contents = self
                    .log
                    .read()
                    .map_err(|e| io::Error::other(e.to_string()))?;
                let view = contents.view(self.log.max());
                for r in &view.messages {
                    if !self.seen.contains(&r.id.0) {
                        if let Ok(msg) = r.to_message() {
                            fresh.push(msg);
                        }
                    }
                }
                let end = contents.len() as u64;
                self.seen = view.all_ids;
                self.mark = Some(Mark { ino, offset: end });
            }
        }
        self.save_ram();
        Ok(fresh)
    }

    /// Keeps the mark in the RAM directory when it moved.
    fn save_ram(&mut self) {
        if self.mark != self.saved {
            if let Some(m) = self.mark {
                // A cache of the position: failing to write it only risks missing a hook.
                let _ = atomic::replace(&self.ram, m.text().as_bytes(), false);
            }
            self.saved = self.mark;
        }
    }

    /// Copies the mark to flash (a clean stop): the next start, even after a reboot,
    /// continues exactly here.
    pub fn save_flash(&self, flash: &Path) {
        if let Some(m) = self.mark {
            if let Err(e) = atomic::replace(flash, m.text().as_bytes(), true) {
                eprintln!("meshchat sync: hooks: keeping the mark: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::log::write_record;
    use crate::store::Paths;

    fn msg(id: u32, epoch: u64) -> Message {
        Message::parse(&format!("{id:08x}\t{epoch}\thi\tK1ABC\tnode-a\tnode\t")).unwrap()
    }

    fn append(path: &Path, msgs: &[Message]) {
        let mut s = String::new();
        for m in msgs {
            write_record(&mut s, m);
        }
        use std::io::Write;
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(s.as_bytes())
            .unwrap();
    }

    fn ids(v: Vec<Message>) -> Vec<u32> {
        v.into_iter().map(|m| m.id.0).collect()
    }

    #[test]
    fn once_per_id_through_restarts_and_compaction() {
        let dir = std::env::temp_dir().join(format!("meshchat-watch-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let paths = Paths {
            data_dir: dir.clone(),
            ram_dir: dir.clone(),
            files_dir: dir.clone(),
        };
        let (log, ram, flash) = (paths.log(), dir.join("mark"), dir.join("flash.mark"));
        append(&log, &[msg(1, 10), msg(2, 11)]);
        // First start: what is there counts as handled.
        let mut w = Watch::open(&Log::new(&paths, 100), &ram, &flash);
        assert_eq!(ids(w.poll().unwrap()), Vec::<u32>::new());
        append(&log, &[msg(3, 12), msg(2, 11)]);
        assert_eq!(ids(w.poll().unwrap()), [3]);
        assert_eq!(ids(w.poll().unwrap()), Vec::<u32>::new());
        // A restart (RAM mark kept): messages appended meanwhile are new, once.
        drop(w);
        append(&log, &[msg(4, 13)]);
        let mut w = Watch::open(&Log::new(&paths, 100), &ram, &flash);
        assert_eq!(ids(w.poll().unwrap()), [4]);
        // A clean stop then a reboot (RAM gone): the flash copy continues, and is removed.
        w.save_flash(&flash);
        fs::remove_file(&ram).unwrap();
        append(&log, &[msg(5, 14)]);
        let mut w = Watch::open(&Log::new(&paths, 100), &ram, &flash);
        assert!(!flash.exists());
        assert_eq!(ids(w.poll().unwrap()), [5]);
        // A compaction (new inode, sorted) with one new message in it.
        let tmp = dir.join("log.new");
        append(
            &tmp,
            &[
                msg(1, 10),
                msg(2, 11),
                msg(3, 12),
                msg(6, 12),
                msg(4, 13),
                msg(5, 14),
            ],
        );
        fs::rename(&tmp, &log).unwrap();
        assert_eq!(ids(w.poll().unwrap()), [6]);
        // A power cut (no mark at all): nothing runs twice.
        fs::remove_file(&ram).unwrap();
        let mut w = Watch::open(&Log::new(&paths, 100), &ram, &flash);
        assert_eq!(ids(w.poll().unwrap()), Vec::<u32>::new());
        // A torn record is left for the next look, not skipped.
        let mut s = String::new();
        write_record(&mut s, &msg(7, 15));
        use std::io::Write;
        let mut f = fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(&s.as_bytes()[..10]).unwrap();
        assert_eq!(ids(w.poll().unwrap()), Vec::<u32>::new());
        f.write_all(&s.as_bytes()[10..]).unwrap();
        assert_eq!(ids(w.poll().unwrap()), [7]);
        let _ = fs::remove_dir_all(&dir);
    }
}
