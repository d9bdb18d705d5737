//! Everything meshchat keeps on disk: the message log (persistent), and in the RAM
//! directory the presence lists, remote file lists, sync status and shared files.
//!
//! In scope: file formats on disk, locking, crash safety, trimming. Out of scope: HTTP,
//! CGI, configuration files, the clock (callers pass `now`).

pub mod atomic;
pub mod cache;
pub mod delivery;
pub mod files;
pub mod hints;
pub mod lock;
pub mod log;
pub mod peers;
#[cfg(test)]
mod processes;
#[cfg_attr(not(feature = "raven"), allow(dead_code))]
pub mod raven;
pub mod status;
pub mod users;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A store operation that failed.
#[derive(Debug)]
pub enum Error {
    /// A file operation failed; `what` says which, `path` where.
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The file system has no room left (`ENOSPC`, `EFBIG`, `EDQUOT`) for the operation
    /// `what` on `path`.
    NoSpace { what: &'static str, path: PathBuf },
}

impl Error {
    /// Wraps an I/O error with what was being done, and where.
    pub fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
        move |source| {
            // EFBIG: the file-size limit of the process, a full disk by another name.
            if matches!(
                source.raw_os_error(),
                Some(libc::ENOSPC) | Some(libc::EFBIG) | Some(libc::EDQUOT)
            ) {
                Error::NoSpace {
                    what,
                    path: path.to_path_buf(),
                }
            } else {
                Error::Io {
                    what,
                    path: path.to_path_buf(),
                    source,
                }
            }
        }
    }
}

/// The file's name without where it lives: what a reply may say.
fn file_name(path: &Path) -> std::borrow::Cow<'_, str> {
    path.file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
}

/// The cause of a full file system, named for the medium: the log lives on flash, the rest
/// in the RAM directories.
fn no_space(path: &Path) -> &'static str {
    if file_name(path).starts_with("messages.log") {
        "no space left on the node's flash"
    } else {
        "no space left in the node's RAM"
    }
}

impl Error {
    /// The text an HTTP client sees: what failed and why, naming the file but not the
    /// server path it lives at (the log line, [`fmt::Display`], has the path).
    pub fn reply(&self) -> String {
        match self {
            Error::Io { what, path, source } => {
                format!("cannot {what} {}: {source}", file_name(path))
            }
            Error::NoSpace { what, path } => {
                format!("cannot {what} {}: {}", file_name(path), no_space(path))
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { what, path, source } => {
                write!(f, "cannot {what} {}: {source}", path.display())
            }
            Error::NoSpace { what, path } => {
                write!(f, "cannot {what} {}: {}", path.display(), no_space(path))
            }
        }
    }
}

impl std::error::Error for Error {}

/// Results of store operations.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything a node keeps, opened once (cheap: nothing is read until it is used). The
/// configuration builds it ([`crate::config::Config::store`]) for the API, the sync daemon
/// and the command line alike.
pub struct Store {
    pub log: log::Log,
    pub users: users::Users,
    pub files: files::Files,
    pub status: status::Status,
    pub cache: cache::Cache,
    pub peers: peers::Peers,
}

impl Store {
    /// The store under `paths`, keeping at most `max_messages` messages and
    /// `max_file_storage` bytes of shared files.
    pub fn new(paths: &Paths, max_messages: usize, max_file_storage: u64) -> Store {
        Store {
            log: log::Log::new(paths, max_messages),
            users: users::Users::new(paths),
            files: files::Files::new(paths, max_file_storage),
            status: status::Status::new(paths),
            cache: cache::Cache::new(paths),
            peers: peers::Peers::new(paths),
        }
    }
}

/// Where everything lives. Built from the configuration; every path can point anywhere,
/// so tests run in temporary directories.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Persistent: the message log.
    pub data_dir: PathBuf,
    /// RAM: users, remote lists, sync status, caches, the lock file.
    pub ram_dir: PathBuf,
    /// Shared files (RAM by default).
    pub files_dir: PathBuf,
}

impl Paths {
    /// The message log.
    pub fn log(&self) -> PathBuf {
        self.data_dir.join("messages.log")
    }
    /// The one lock file every writer takes.
    pub fn lock(&self) -> PathBuf {
        self.ram_dir.join("lock")
    }
    /// Cached facts about the log (record count, version), keyed on its identity.
    pub fn log_meta(&self) -> PathBuf {
        self.ram_dir.join("messages.meta")
    }
    /// This node's users.
    pub fn local_users(&self) -> PathBuf {
        self.ram_dir.join("users_local")
    }
    /// Users learnt from peers.
    pub fn remote_users(&self) -> PathBuf {
        self.ram_dir.join("users_remote")
    }
    /// When each peer was last synced.
    pub fn sync_status(&self) -> PathBuf {
        self.ram_dir.join("sync_status")
    }
    /// Per-peer sync counters for the status page.
    pub fn peer_stats(&self) -> PathBuf {
        self.ram_dir.join("peer_stats")
    }
    /// The start of every peer's file list's name ([`Paths::remote_files`]).
    pub const REMOTE_FILES: &'static str = "remote_files.";

    /// A peer's file list.
    pub fn remote_files(&self, node: &crate::protocol::NodeName) -> PathBuf {
        self.ram_dir.join(format!("{}{node}", Paths::REMOTE_FILES))
    }
    /// Who may delete which shared file.
    pub fn file_owners(&self) -> PathBuf {
        self.ram_dir.join("file_owners")
    }

    /// Creates the directories that do not exist yet, and checks that each takes a new
    /// file: a read-only data directory is reported when a daemon starts, not at the
    /// first message it fails to store.
    pub fn create_dirs(&self) -> Result<()> {
        for dir in [&self.data_dir, &self.ram_dir, &self.files_dir] {
            std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
            let probe = dir.join(format!(".write-test{}", std::process::id()));
            std::fs::File::create(&probe).map_err(Error::io("write to the directory", dir))?;
            let _ = std::fs::remove_file(&probe);
        }
        Ok(())
    }
}

impl Paths {
    /// Deletes everything meshchat stored for this node: the message log (and any
    /// temporary copy of it), then the RAM and files directories. The data directory
    /// itself goes too when nothing else is left in it. Holds the lock meanwhile, so no
    /// writer is half-way through a record.
    pub fn purge(&self) -> Result<()> {
        let _lock = lock::Lock::exclusive(&self.lock()).ok();
        if let Ok(rd) = std::fs::read_dir(&self.data_dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with("messages.log") {
                    let p = e.path();
                    std::fs::remove_file(&p).map_err(Error::io("delete", &p))?;
                }
            }
        }
        for dir in [&self.files_dir, &self.ram_dir] {
            match std::fs::remove_dir_all(dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(Error::io("delete", dir)(e))
                }
                _ => {}
            }
        }
        let _ = std::fs::remove_dir(&self.data_dir);
        Ok(())
    }
}

/// Reads a whole small file; a missing file reads as empty.
pub fn read_optional(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("read", path)(e)),
    }
}

/// Opens with `opts`; when the parent directory is missing (RAM directories vanish at
/// reboot), creates it and tries once more.
pub fn open_in_dir(opts: &std::fs::OpenOptions, path: &Path) -> io::Result<std::fs::File> {
    match opts.open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            opts.open(path)
        }
        r => r,
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn replies_name_the_cause_and_the_file_never_the_path() {
        let log = Path::new("/usr/local/meshchat/messages.log");
        let full = Error::io("append to", log)(io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(
            full.reply(),
            "cannot append to messages.log: no space left on the node's flash"
        );
        assert!(full
            .to_string()
            .contains("/usr/local/meshchat/messages.log"));
        let ram = Error::io("write", Path::new("/tmp/meshchat/users_local"))(
            io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert_eq!(
            ram.reply(),
            "cannot write users_local: no space left in the node's RAM"
        );
        let ro = Error::io("append to", log)(io::Error::from_raw_os_error(libc::EROFS));
        assert!(ro
            .reply()
            .starts_with("cannot append to messages.log: Read-only file system"));
        assert!(!ro.reply().contains('/'));
    }

    #[test]
    fn purge_deletes_the_log_and_the_ram_files_only() {
        let dir = std::env::temp_dir().join(format!("meshchat-purge-{}", std::process::id()));
        let p = Paths {
            data_dir: dir.join("data"),
            ram_dir: dir.join("ram"),
            files_dir: dir.join("ram/files"),
        };
        p.create_dirs().unwrap();
        std::fs::write(p.log(), "x\n").unwrap();
        std::fs::write(p.data_dir.join("messages.log.tmp7"), "x\n").unwrap();
        std::fs::write(p.files_dir.join("a.txt"), "x\n").unwrap();
        std::fs::write(dir.join("keep"), "x\n").unwrap();
        p.purge().unwrap();
        assert!(!p.data_dir.exists() && !p.ram_dir.exists());
        assert!(dir.join("keep").exists());
        p.purge().unwrap(); // nothing left: still fine
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
