//! `meshchat sync`: the daemon that keeps this node's history complete by pulling from
//! its peers (docs/SYNC.md).
//!
//! - [`discovery`]: who the peers are this round (service files, static peers), asked
//!   over the peer client of [`crate::http::client`];
//! - [`legacy`]: the four-request pull every MeshChat peer answers;
//! - [`digest`]: the `digest-v1` extension between peers that both run meshchat;
//! - [`local`]: our own log's snapshot, and the checks every pulled line goes through;
//! - [`delivery`]: who is known to hold our newest messages, learnt from the rounds;
//! - [`daemon`]: scheduling, bounded concurrency, signals, counters;
//! - [`raven`]: the bridge to Raven channels, on its own thread (docs/RAVEN.md).
//!
//! In scope: talking to peers and merging what they send through the store. Out of
//! scope: serving peers (the `api` module does, `sync_digest` included).

pub mod daemon;
pub mod delivery;
pub mod digest;
pub mod discovery;
pub mod legacy;
pub mod local;
pub mod patience;
#[cfg(feature = "raven")]
pub mod raven;
mod sorted;
pub mod strategy;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use daemon::{run, Options};

use crate::config::Config;
use crate::http::FetchError;
use crate::protocol::digest::DigestError;
use crate::store::files::Files;
use crate::store::peers::Peers;
use crate::store::status::Status;
use crate::store::users::Users;
use crate::store::Store;
use local::{Local, Tally};

/// Why a round with one peer failed.
#[derive(Debug)]
pub enum Error {
    /// The peer could not be reached or answered badly.
    Fetch(FetchError),
    /// The peer's `sync_digest` answer did not parse.
    Digest(DigestError),
    /// Our own store failed.
    Store(crate::store::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Fetch(e) => e.fmt(f),
            Error::Digest(e) => e.fmt(f),
            Error::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<FetchError> for Error {
    fn from(e: FetchError) -> Self {
        Error::Fetch(e)
    }
}

impl From<DigestError> for Error {
    fn from(e: DigestError) -> Self {
        Error::Digest(e)
    }
}

impl From<crate::store::Error> for Error {
    fn from(e: crate::store::Error) -> Self {
        Error::Store(e)
    }
}

/// Everything a round needs from this node, shared by the worker threads.
pub struct Node {
    pub cfg: Config,
    pub local: Local,
    pub users: Users,
    pub files: Files,
    pub status: Status,
    /// The per-peer counters the status page reads.
    pub peers: Peers,
    /// Stall window of the peer client.
    pub stall: Duration,
    /// Held by the worker pulling a large batch (a legacy `messages_raw`, a digest
    /// catch-up), so such pulls happen one at a time.
    pub bulk: Mutex<()>,
    /// Who is known to hold our newest messages (`delivery`).
    pub delivery: Mutex<delivery::Delivery>,
}

impl Node {
    /// The node `cfg` describes.
    pub fn new(cfg: Config, stall: Duration) -> Arc<Node> {
        let Store {
            log,
            users,
            files,
            status,
            peers,
            ..
        } = cfg.store();
        Arc::new(Node {
            local: Local::new(log),
            users,
            files,
            status,
            peers,
            stall,
            bulk: Mutex::new(()),
            delivery: Mutex::new(delivery::Delivery::new(cfg.node().as_str())),
            cfg,
        })
    }
}

/// What this node remembers about a peer between rounds (in memory only: a restart
/// simply starts with a full comparison).
#[derive(Debug, Clone, Default)]
pub struct Memo {
    /// The peer advertised `digest-v1` (and we use it).
    pub digest: bool,
    /// The peer answered `sync_digest` the legacy way: pull it with the legacy steps
    /// (until its `users_raw` advertises the extension).
    pub legacy: bool,
    /// Legacy: the peer's `messages_version` (trimmed) when we last pulled all of it.
    pub legacy_version: Option<String>,
    /// Digest: the peer's version after the last complete reconciliation.
    pub version: Option<u64>,
    /// Digest: CRC32 of the peer's users and files lists we last merged.
    pub users_crc: Option<u32>,
    pub files_crc: Option<u32>,
    /// Digest rounds since the last full comparison.
    pub rounds_since_full: u32,
    /// Digest: CRC32 of the peer's delivery gossip we last merged.
    pub delivery_crc: Option<u32>,
}

/// What a round that reached its peer did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub tally: Tally,
    /// A body the peer sent was refused (bad checksum, too large): its step was skipped.
    pub refused: Option<FetchError>,
    /// A legacy round found the peer speaks `digest-v1`: use it from now on.
    pub upgrade: bool,
    /// A digest peer no longer answers `sync_digest`: go back to legacy.
    pub downgrade: bool,
    /// What the round learnt the peer holds (for delivery counts and the peer choice).
    pub learned: Learned,
}

/// What a round proved about the messages a peer holds: the place where sync learns
/// "peer P holds version V". Fields are added, never changed, so that what users see
/// (how many nodes hold a message) can be built on it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Learned {
    /// The peer's message version (the legacy `messages_version`), when it told us.
    pub version: Option<u64>,
    /// After the round we hold every message the peer holds (that our trim keeps).
    pub all_pulled: bool,
}
