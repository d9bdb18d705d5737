//! The daemon loop: discovery every `poll_interval`, each peer synced every
//! `poll_interval` on a small fixed pool of worker threads, counters in RAM, logs on
//! stderr (procd sends them to syslog), SIGTERM obeyed within a second.
//!
//! Peers are scheduled one by one, not in lock-step rounds: a peer that hangs until its
//! timeout holds one worker, and the others keep their own schedule. A peer that cannot
//! be reached is retried less often (up to 6 intervals apart) so that a services file
//! full of dead entries cannot occupy every worker; a `404` backs off for 600 s, as the
//! legacy client does. Worker threads are never joined on exit: every store write is an
//! atomic append or rename, so abandoning one mid-round loses nothing.

use std::collections::HashMap;
use std::io::Write;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::discovery::{self, Peer};
use super::{digest, legacy, Error, Memo, Node, Outcome};
use crate::config::Config;
use crate::http::client::Client;
use crate::http::FetchError;
use crate::protocol::NodeName;
use crate::store::peers::{Mode, PeerStats, Peers};
use crate::sys;

/// Worker threads: peers synced at once.
pub const WORKERS: usize = 4;
/// Seconds a peer that answered `404` is left alone (legacy).
pub const BACKOFF_404: Duration = Duration::from_secs(600);
/// A peer absent from discovery this long is forgotten, with its file list.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);
/// How often the loop looks at the clock, the stop flag and finished work.
const TICK: Duration = Duration::from_millis(100);

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// One round with every peer, then exit.
    pub once: bool,
    /// Log every round, not only changes.
    pub verbose: bool,
    /// Print one line per finished round on stdout (for benchmarks and tests).
    pub stats: bool,
    /// Stall window of the peer client.
    pub stall: Duration,
    /// Worker threads.
    pub workers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            once: false,
            verbose: false,
            stats: false,
            stall: crate::http::client::STALL,
            workers: WORKERS,
        }
    }
}

/// Why the daemon could not run, or why a `--once` round failed (no peer reached).
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

type PeerKey = (NodeName, u16);

struct Job {
    key: PeerKey,
    peer: Peer,
    memo: Memo,
}

struct Done {
    key: PeerKey,
    memo: Memo,
    result: Result<Outcome, Error>,
    bytes: u64,
    body_bytes: u64,
    requests: u32,
    took: Duration,
    /// CPU time the worker spent on the round.
    cpu: Duration,
}

struct State {
    peer: Peer,
    memo: Memo,
    stats: PeerStats,
    busy: bool,
    due: Instant,
    backoff_until: Option<Instant>,
    failures: u32,
    last_seen: Instant,
    /// Listed by the latest discovery: only those are synced.
    listed: bool,
    /// What was last logged about this peer, so a dead peer is not logged every round.
    last_logged: String,
}

/// One round with one peer: the extension when the peer speaks it, else legacy.
fn round(node: &Node, peer: &Peer, client: &Client, memo: &mut Memo) -> Result<Outcome, Error> {
    if memo.digest {
        let out = digest::pull(node, peer, client, memo)?;
        if out.downgrade {
            *memo = Memo::default();
        }
        return Ok(out);
    }
    let mut out = legacy::pull(node, peer, client, memo)?;
    if out.upgrade {
        memo.digest = true;
        let more = digest::pull(node, peer, client, memo)?;
        out.tally += more.tally;
        out.refused = out.refused.or(more.refused);
        if more.downgrade {
            *memo = Memo::default();
        }
    }
    Ok(out)
}

/// CPU time of the calling thread, from `/proc`; zero where unavailable.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

fn work(node: &Node, job: Job) -> Done {
    let started = Instant::now();
    let cpu = thread_cpu();
    let client = Client::new(job.peer.url(), node.stall);
    let mut memo = job.memo;
    let result = round(node, &job.peer, &client, &mut memo);
    Done {
        key: job.key,
        memo,
        result,
        bytes: client.bytes(),
        body_bytes: client.body_bytes(),
        requests: client.requests(),
        took: started.elapsed(),
        cpu: thread_cpu().saturating_sub(cpu),
    }
}

fn spawn_workers(node: &Arc<Node>, n: usize, done: &Sender<Done>) -> Sender<Job> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..n.max(1) {
        let (node, rx, done) = (node.clone(), rx.clone(), done.clone());
        thread::spawn(move || loop {
            let job = {
                let guard = rx.lock().unwrap_or_else(|e| e.into_inner());
                guard.recv()
            };
            let Ok(job) = job else { break };
            if done.send(work(&node, job)).is_err() {
                break;
            }
        });
    }
    tx
}

/// True for failures that mean "nobody answered": retried less and less often.
fn unreachable(e: &Error) -> bool {
    matches!(
        e,
        Error::Fetch(
            FetchError::Connect(_) | FetchError::NoHost | FetchError::Timeout | FetchError::Slow
        )
    )
}

/// "1 peer", "2 peers".
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn log(msg: &str) {
    eprintln!("meshchat sync: {msg}");
}

/// The daemon.
struct Daemon {
    node: Arc<Node>,
    opts: Options,
    interval: Duration,
    peers: HashMap<PeerKey, State>,
    order: Vec<PeerKey>,
    counters: Peers,
    dirty: bool,
    /// Rounds in which the peer answered (well or not): `--once` fails when none did.
    reached: usize,
}

impl Daemon {
    fn refresh(&mut self, now: Instant) {
        let found = discovery::discover(&self.node.cfg);
        for s in self.peers.values_mut() {
            s.listed = false;
        }
        if self.opts.verbose {
            log(&format!(
                "{} ({} refused service entries)",
                count(found.peers.len(), "peer"),
                found.rejected
            ));
        }
        for peer in found.peers {
            let key = (peer.name.clone(), peer.port);
            match self.peers.get_mut(&key) {
                Some(s) => {
                    s.last_seen = now;
                    s.listed = true;
                    s.peer = peer;
                }
                None => {
                    self.order.push(key.clone());
                    self.peers.insert(
                        key,
                        State {
                            stats: PeerStats::new(peer.name.clone(), peer.port),
                            peer,
                            memo: Memo::default(),
                            busy: false,
                            due: now,
                            backoff_until: None,
                            failures: 0,
                            last_seen: now,
                            listed: true,
                            last_logged: String::new(),
                        },
                    );
                    self.dirty = true;
                }
            }
        }
        // Forget peers gone from every list for a while, and their file lists.
        let gone: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, s)| !s.busy && now.duration_since(s.last_seen) > FORGET_AFTER)
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            self.peers.remove(&key);
            self.order.retain(|k| *k != key);
            if !self.peers.keys().any(|k| k.0 == key.0) {
                let _ = self.node.files.set_remote(&key.0, &[]);
            }
            log(&format!("{}: no longer advertised, forgotten", key.0));
            self.dirty = true;
        }
        // Remote users age out even when no peer sends anything new.
        let remote = self.node.cfg.paths.remote_users();
        if std::fs::metadata(&remote).is_ok_and(|m| m.len() > 0) {
            if let Err(e) = self
                .node
                .users
                .merge_remote(&[], crate::protocol::Epoch::now())
            {
                log(&format!("pruning remote users: {e}"));
            }
        }
    }

    fn dispatch(&mut self, jobs: &Sender<Job>, now: Instant) -> usize {
        let mut sent = 0;
        for key in &self.order {
            let Some(s) = self.peers.get_mut(key) else {
                continue;
            };
            if !s.listed || s.busy || now < s.due || s.backoff_until.is_some_and(|t| now < t) {
                continue;
            }
            s.backoff_until = None;
            s.busy = true;
            s.due = now + self.interval;
            let job = Job {
                key: key.clone(),
                peer: s.peer.clone(),
                memo: s.memo.clone(),
            };
            if jobs.send(job).is_ok() {
                sent += 1;
            }
        }
        sent
    }

    fn finish(&mut self, d: Done, now: Instant) {
        let Some(s) = self.peers.get_mut(&d.key) else {
            return;
        };
        s.busy = false;
        if !matches!(&d.result, Err(e) if unreachable(e)) {
            self.reached += 1;
        }
        s.memo = d.memo;
        s.stats.rounds += 1;
        s.stats.bytes += d.bytes;
        s.stats.mode = if s.memo.digest {
            Mode::Digest
        } else {
            Mode::Legacy
        };
        let (ok, summary) = match &d.result {
            Ok(out) => {
                s.failures = 0;
                s.stats.pulled += out.tally.pulled;
                s.stats.rejected += out.tally.rejected;
                match &out.refused {
                    Some(e) => {
                        s.stats.errors += 1;
                        s.stats.set_error(&e.to_string());
                        (false, format!("body refused: {e}"))
                    }
                    None => {
                        s.stats.last_sync = crate::protocol::Epoch::now();
                        s.stats.last_error.clear();
                        (true, format!("in sync ({})", s.stats.mode.as_str()))
                    }
                }
            }
            Err(e) => {
                s.stats.errors += 1;
                s.stats.set_error(&e.to_string());
                if matches!(e, Error::Fetch(FetchError::NotFound)) {
                    s.backoff_until = Some(now + BACKOFF_404);
                    s.stats.mode = Mode::Backoff;
                    s.memo = Memo::default();
                } else if unreachable(e) {
                    s.failures += 1;
                    let factor = 1u32 << s.failures.saturating_sub(1).min(3);
                    s.due = now + self.interval * factor.min(6);
                }
                (false, e.to_string())
            }
        };
        let (pulled, rejected) = d
            .result
            .as_ref()
            .map_or((0, 0), |o| (o.tally.pulled, o.tally.rejected));
        if self.opts.verbose || summary != s.last_logged {
            log(&format!(
                "{}: {summary}; pulled {pulled}, refused {rejected} lines, {} requests, {} bytes",
                s.peer, d.requests, d.bytes
            ));
            s.last_logged = summary;
        } else if pulled > 0 || rejected > 0 {
            log(&format!(
                "{}: pulled {pulled}, refused {rejected} lines",
                s.peer
            ));
        }
        if self.opts.stats {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "peer={} mode={} ok={} pulled={pulled} rejected={rejected} requests={} body_bytes={} wire_bytes={} ms={} cpu_us={}",
                s.peer,
                s.stats.mode.as_str(),
                u8::from(ok),
                d.requests,
                d.body_bytes,
                d.bytes,
                d.took.as_millis(),
                d.cpu.as_micros()
            );
            let _ = out.flush();
        }
        self.dirty = true;
    }

    fn write_counters(&mut self) {
        if !self.dirty {
            return;
        }
        let list: Vec<PeerStats> = self
            .order
            .iter()
            .filter_map(|k| self.peers.get(k))
            .map(|s| s.stats.clone())
            .collect();
        if let Err(e) = self.counters.write(&list) {
            log(&format!("writing counters: {e}"));
        }
        self.dirty = false;
    }

    fn busy(&self) -> bool {
        self.peers.values().any(|s| s.busy)
    }
}

/// CPU time this process has used (all threads), from `/proc`; zero where unavailable.
pub fn cpu_time() -> Duration {
    let mut ns = 0u64;
    if let Ok(rd) = std::fs::read_dir("/proc/self/task") {
        for t in rd.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    Duration::from_nanos(ns)
}

/// Runs the daemon until SIGTERM/SIGINT (or after one round with `opts.once`).
pub fn run(cfg: Config, opts: Options) -> Result<(), StartError> {
    cfg.paths
        .create_dirs()
        .map_err(|e| StartError(e.to_string()))?;
    sys::catch_stop_signals();
    let interval = Duration::from_secs(cfg.poll_interval.max(1));
    log(&format!(
        "node {} zone '{}', every {}s{}",
        cfg.node(),
        cfg.zone(),
        interval.as_secs(),
        if cfg.digest_sync {
            ", digest-v1 on"
        } else {
            ", legacy only"
        }
    ));
    let counters = Peers::new(&cfg.paths);
    let node = Node::new(cfg, opts.stall);
    let (done_tx, done_rx): (Sender<Done>, Receiver<Done>) = mpsc::channel();
    let jobs = spawn_workers(&node, opts.workers, &done_tx);
    let mut d = Daemon {
        node,
        opts,
        interval,
        peers: HashMap::new(),
        order: Vec::new(),
        counters,
        dirty: true,
        reached: 0,
    };
    let mut next_discovery = Instant::now();
    let mut dispatched_once = false;
    loop {
        if sys::stop_requested() {
            log("stopping");
            break;
        }
        let now = Instant::now();
        if now >= next_discovery && !(d.opts.once && dispatched_once) {
            d.refresh(now);
            next_discovery = now + interval;
        }
        if !(d.opts.once && dispatched_once) {
            d.dispatch(&jobs, now);
            dispatched_once = true;
        }
        if d.opts.once && !d.busy() {
            break;
        }
        match done_rx.recv_timeout(TICK) {
            Ok(done) => {
                d.finish(done, Instant::now());
                // Take whatever else finished before writing the counters once.
                while let Ok(more) = done_rx.try_recv() {
                    d.finish(more, Instant::now());
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        d.write_counters();
    }
    d.write_counters();
    if d.opts.stats && d.opts.once {
        println!("cpu_us={}", cpu_time().as_micros());
    }
    if d.opts.once && d.reached == 0 && !sys::stop_requested() {
        return Err(StartError(if d.peers.is_empty() {
            "no peers found (service files and `peer` options name none)".into()
        } else {
            format!(
                "no peer could be reached ({} tried)",
                count(d.peers.len(), "peer")
            )
        }));
    }
    Ok(())
}
