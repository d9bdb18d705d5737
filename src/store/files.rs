//! Shared files: this node's files (a directory, RAM by default), who uploaded each one,
//! and the file lists pulled from peers.
//!
//! An upload is streamed into a hidden temporary file in the same directory and renamed
//! to its final name only when complete and within quota; a refused or broken upload
//! removes the temporary file, so no partial file is ever listed.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::atomic;
use super::lock::Lock;
use super::{read_optional, Error, Paths, Result};
use crate::protocol::lines::{parse_all, FileEntry};
use crate::protocol::multipart::FileSink;
use crate::protocol::{Epoch, FileName, NodeName};
use crate::sys;

/// A file stored on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    pub name: FileName,
    pub size: u64,
    pub mtime: Epoch,
}

/// Storage figures for the `files` action (legacy field names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Size of the file system holding the files.
    pub total: u64,
    /// Bytes used on that file system.
    pub used: u64,
    /// Bytes of shared files.
    pub files: u64,
    /// Bytes still allowed for shared files.
    pub files_free: u64,
    /// The quota.
    pub allowed: u64,
}

/// Why an upload was refused.
#[derive(Debug)]
pub enum UploadError {
    /// Over the quota or the free space.
    NoRoom,
    /// More than one file in one request.
    TooManyFiles,
    /// The client's file name has nothing usable left once made safe.
    BadName,
    /// The file system failed.
    Store(Error),
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The legacy UI shows this text as it is.
            UploadError::NoRoom => f.write_str("Not enough storage, delete some files"),
            UploadError::TooManyFiles => f.write_str("one file per upload"),
            UploadError::BadName => f.write_str("invalid file name"),
            UploadError::Store(e) => e.fmt(f),
        }
    }
}

/// The shared files of one node.
#[derive(Debug, Clone)]
pub struct Files {
    dir: PathBuf,
    paths: Paths,
    owners: PathBuf,
    lock: PathBuf,
    allowed: u64,
}

impl Files {
    /// The files described by `paths`, with a quota of `allowed` bytes.
    pub fn new(paths: &Paths, allowed: u64) -> Files {
        Files {
            dir: paths.files_dir.clone(),
            paths: paths.clone(),
            owners: paths.file_owners(),
            lock: paths.lock(),
            allowed,
        }
    }

    /// This node's files, newest first. Hidden files (uploads in progress) and anything
    /// that is not a plain file with a safe name are left out.
    pub fn list(&self) -> Result<Vec<LocalFile>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", &self.dir)(e)),
        };
        let mut out = Vec::new();
        for entry in rd.flatten() {
            let Some(name) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<FileName>().ok())
            else {
                continue;
            };
            let Ok(meta) = fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if meta.is_file() {
                out.push(LocalFile {
                    name,
                    size: meta.len(),
                    mtime: Epoch(meta.mtime().max(0) as u64),
                });
            }
        }
        crate::sort::sort_by(&mut out, |a, b| {
            b.mtime.cmp(&a.mtime).then_with(|| a.name.cmp(&b.name))
        });
        Ok(out)
    }

    fn path_of(&self, name: &FileName) -> PathBuf {
        // FileName holds no '/', no leading '.': the join stays inside the directory.
        self.dir.join(name.as_str())
    }

    /// Opens a stored file for download, with its size.
    pub fn open(&self, name: &FileName) -> Result<Option<(File, u64)>> {
        let path = self.path_of(name);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {
                let f = File::open(&path).map_err(Error::io("open", &path))?;
                Ok(Some((f, m.len())))
            }
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("stat", &path)(e)),
        }
    }

    /// Deletes a stored file; false when there was none.
    pub fn delete(&self, name: &FileName) -> Result<bool> {
        let _lock = Lock::exclusive(&self.lock)?;
        let path = self.path_of(name);
        let removed = match fs::remove_file(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(Error::io("delete", &path)(e)),
        };
        self.set_owner_locked(name, None)?;
        Ok(removed)
    }

    /// Storage figures; `total`/`used` describe the file system holding the files.
    pub fn stats(&self) -> Result<Stats> {
        let files: u64 = self.list()?.iter().map(|f| f.size).sum();
        let space = sys::space(&self.dir).unwrap_or_default();
        Ok(Stats {
            total: space.total,
            used: space.used,
            files: files.min(self.allowed),
            files_free: self.allowed.saturating_sub(files),
            allowed: self.allowed,
        })
    }

    /// Starts an upload; pass it to the multipart reader as its sink.
    pub fn upload(&self) -> Upload<'_> {
        Upload {
            files: self,
            current: None,
            complete: None,
            done: None,
        }
    }

    /// The owner token hash recorded for a file.
    pub fn owner(&self, name: &FileName) -> Result<Option<String>> {
        Ok(self
            .owners()?
            .into_iter()
            .find(|(n, _)| n == name.as_str())
            .map(|(_, h)| h))
    }

    /// Every (file name, owner token hash) recorded, read once.
    pub fn owners(&self) -> Result<Vec<(String, String)>> {
        let bytes = read_optional(&self.owners)?;
        let text = String::from_utf8_lossy(&bytes);
        Ok(text
            .lines()
            .filter_map(|l| {
                l.split_once('\t')
                    .map(|(n, h)| (n.to_string(), h.to_string()))
            })
            .collect())
    }

    fn set_owner_locked(&self, name: &FileName, owner: Option<&str>) -> Result<()> {
        let bytes = read_optional(&self.owners)?;
        let text = String::from_utf8_lossy(&bytes);
        let mut out = String::new();
        for l in text.lines() {
            if l.split_once('\t').is_some_and(|(n, _)| n != name.as_str()) {
                out.push_str(l);
                out.push('\n');
            }
        }
        if let Some(h) = owner {
            out.push_str(&format!("{name}\t{h}\n"));
        }
        atomic::replace(&self.owners, out.as_bytes(), false)
    }

    /// Replaces the list of files a peer offers (an empty list removes it).
    pub fn set_remote(&self, node: &NodeName, entries: &[FileEntry]) -> Result<()> {
        let path = self.paths.remote_files(node);
        if entries.is_empty() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(Error::io("delete", &path)(e))
                }
                _ => Ok(()),
            };
        }
        let mut out = String::new();
        for e in entries {
            e.write_line(&mut out);
        }
        atomic::replace(&path, out.as_bytes(), false)
    }

    /// Every file list pulled from peers.
    pub fn remote(&self) -> Result<Vec<FileEntry>> {
        let rd = match fs::read_dir(&self.paths.ram_dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", &self.paths.ram_dir)(e)),
        };
        let mut out = Vec::new();
        for entry in rd.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(Paths::REMOTE_FILES) || name.contains(".tmp") {
                continue;
            }
            let bytes = read_optional(&entry.path())?;
            out.extend(parse_all(&String::from_utf8_lossy(&bytes), FileEntry::parse).0);
        }
        Ok(out)
    }
}

/// An upload in progress; implements [`FileSink`]. The file is stored only by
/// [`Upload::commit`], once the whole request body has been read; dropped without it, the
/// temporary file is removed.
pub struct Upload<'a> {
    files: &'a Files,
    current: Option<(File, PathBuf, FileName, u64, u64)>,
    complete: Option<(PathBuf, FileName, u64)>,
    done: Option<LocalFile>,
}

impl Upload<'_> {
    /// The file stored by a committed upload.
    pub fn stored(&self) -> Option<&LocalFile> {
        self.done.as_ref()
    }

    /// The name of the whole file part received, if any.
    pub fn received(&self) -> Option<&FileName> {
        self.complete.as_ref().map(|(_, name, _)| name)
    }

    /// Moves the received file into place, within quota.
    pub fn commit(&mut self) -> std::result::Result<(), UploadError> {
        let Some((tmp, name, written)) = self.complete.take() else {
            return Err(UploadError::BadName);
        };
        let _lock = Lock::exclusive(&self.files.lock).map_err(UploadError::Store)?;
        // Another upload may have landed while this one streamed: check again.
        let room = self.room(&name);
        if room.as_ref().map_or(true, |&r| written > r) {
            let _ = fs::remove_file(&tmp);
            return Err(room.err().unwrap_or(UploadError::NoRoom));
        }
        let dest = self.files.path_of(&name);
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = fs::remove_file(&tmp);
            return Err(UploadError::Store(Error::io("rename into place", &dest)(e)));
        }
        self.done = Some(LocalFile {
            name,
            size: written,
            mtime: Epoch::now(),
        });
        Ok(())
    }

    /// Records who may delete the stored file (a hash of their session token).
    pub fn set_owner(&self, owner: &str) -> Result<()> {
        if let Some(f) = &self.done {
            let _lock = Lock::exclusive(&self.files.lock)?;
            self.files.set_owner_locked(&f.name, Some(owner))?;
        }
        Ok(())
    }

    /// Bytes the new file may take: what the quota leaves (the file it replaces does not
    /// count) and what the file system has free.
    fn room(&self, name: &FileName) -> std::result::Result<u64, UploadError> {
        let list = self.files.list().map_err(UploadError::Store)?;
        let others: u64 = list
            .iter()
            .filter(|f| &f.name != name)
            .map(|f| f.size)
            .sum();
        let quota = self.files.allowed.saturating_sub(others);
        let free = sys::space(&self.files.dir)
            .map(|s| s.available)
            .unwrap_or(u64::MAX);
        Ok(quota.min(free))
    }
}

impl FileSink for Upload<'_> {
    type Error = UploadError;

    fn begin(&mut self, _field: &str, filename: &str) -> std::result::Result<(), UploadError> {
        if self.current.is_some() || self.complete.is_some() || self.done.is_some() {
            return Err(UploadError::TooManyFiles);
        }
        let name = FileName::sanitize(filename).ok_or(UploadError::BadName)?;
        let room = self.room(&name)?;
        fs::create_dir_all(&self.files.dir)
            .map_err(|e| UploadError::Store(Error::io("create directory", &self.files.dir)(e)))?;
        let mut rnd = [0u8; 4];
        // Uniqueness only: with no RNG the pid alone still names it (create_new refuses
        // a clash).
        let _ = sys::random(&mut rnd);
        let tmp = self.files.dir.join(format!(
            ".upload-{}-{:08x}",
            std::process::id(),
            u32::from_le_bytes(rnd)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| UploadError::Store(Error::io("create", &tmp)(e)))?;
        self.current = Some((file, tmp, name, 0, room));
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> std::result::Result<(), UploadError> {
        let Some((file, tmp, _, written, room)) = self.current.as_mut() else {
            return Err(UploadError::TooManyFiles);
        };
        *written += chunk.len() as u64;
        if *written > *room {
            return Err(UploadError::NoRoom);
        }
        file.write_all(chunk)
            .map_err(|e| match Error::io("write", tmp)(e) {
                Error::NoSpace { .. } => UploadError::NoRoom,
                e => UploadError::Store(e),
            })
    }

    fn finish(&mut self) -> std::result::Result<(), UploadError> {
        let Some((file, tmp, name, written, _)) = self.current.take() else {
            return Err(UploadError::TooManyFiles);
        };
        drop(file);
        self.complete = Some((tmp, name, written));
        Ok(())
    }
}

impl Drop for Upload<'_> {
    fn drop(&mut self) {
        if let Some((_, tmp, ..)) = self.current.take() {
            let _ = fs::remove_file(tmp);
        }
        if let Some((tmp, ..)) = self.complete.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::log::tests::temp_paths;

    /// True when `dir` holds hidden upload leftovers.
    fn has_leftovers(dir: &std::path::Path) -> bool {
        fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(".upload-"))
            })
            .unwrap_or(false)
    }

    #[test]
    fn upload_within_quota_then_refused_over_it() {
        let p = temp_paths("files");
        let files = Files::new(&p, 100);
        let mut up = files.upload();
        up.begin("uploadfile", "../../etc/a.txt").unwrap();
        up.write(&[1u8; 60]).unwrap();
        up.finish().unwrap();
        assert!(
            files.list().unwrap().is_empty(),
            "nothing stored before commit"
        );
        up.commit().unwrap();
        assert_eq!(up.stored().unwrap().name.as_str(), "a.txt");
        up.set_owner("h1").unwrap();
        drop(up);
        assert_eq!(
            files.owner(&"a.txt".parse().unwrap()).unwrap().as_deref(),
            Some("h1")
        );

        let mut up = files.upload();
        up.begin("uploadfile", "b.txt").unwrap();
        assert!(matches!(up.write(&[2u8; 41]), Err(UploadError::NoRoom)));
        drop(up);
        assert!(!has_leftovers(&p.files_dir));
        let names: Vec<_> = files
            .list()
            .unwrap()
            .into_iter()
            .map(|f| f.name.to_string())
            .collect();
        assert_eq!(names, ["a.txt"]);

        // Replacing a file only counts the new size.
        let mut up = files.upload();
        up.begin("uploadfile", "a.txt").unwrap();
        up.write(&[3u8; 90]).unwrap();
        up.finish().unwrap();
        up.commit().unwrap();
        let st = files.stats().unwrap();
        assert_eq!((st.files, st.files_free, st.allowed), (90, 10, 100));

        assert!(files.delete(&"a.txt".parse().unwrap()).unwrap());
        assert!(!files.delete(&"a.txt".parse().unwrap()).unwrap());
        assert_eq!(files.owner(&"a.txt".parse().unwrap()).unwrap(), None);
    }

    #[test]
    fn remote_lists_replace_per_node() {
        let p = temp_paths("rfiles");
        let files = Files::new(&p, 100);
        let e = FileEntry::parse("x.txt\tpeer:8080\t5\t100\tnode").unwrap();
        let node: NodeName = "peer".parse().unwrap();
        files.set_remote(&node, &[e.clone(), e.clone()]).unwrap();
        assert_eq!(files.remote().unwrap().len(), 2);
        files.set_remote(&node, &[e]).unwrap();
        assert_eq!(files.remote().unwrap().len(), 1);
        files.set_remote(&node, &[]).unwrap();
        assert!(files.remote().unwrap().is_empty());
    }
}
