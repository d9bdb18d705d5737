//! The daemon loop: discovery every `poll_interval`, rounds with the peers the planner
//! (`strategy`) picks, on a small fixed pool of worker threads, counters in RAM, logs
//! on stderr (procd sends them to syslog), SIGTERM obeyed within a second.
//!
//! Which peers, when, and after which failures is decided by [`super::strategy`],
//! which the mesh simulator runs too; this file only carries those decisions out over
//! real sockets, threads and clocks. A peer that hangs until its timeout holds one
//! worker, and the others keep going. Peers that hint they hold news (the hints file
//! the `sync_digest` action leaves) are pulled at once. Worker threads are never joined
//! on exit: every store write is an atomic append or rename, so abandoning one
//! mid-round loses nothing. Between rounds the loop sleeps until the planner's next
//! wake, a finished round, a stop signal, or a hint or local post another process
//! leaves (inotify): an idle daemon does not wake to look at the clock.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::discovery::{self, Peer};
use super::local::Snapshot;
use super::patience::Patience;
use super::strategy::{Ending, Millis, Planner, Strategy};
use super::{delivery, digest, legacy, Error, Memo, Node, Outcome};
use crate::config::Config;
use crate::count;
use crate::http::client::{Client, Transport};
use crate::http::FetchError;
use crate::protocol::digest::Key;
use crate::protocol::NodeName;
use crate::queue::{self, Recv, Sender};
use crate::store::hints;
use crate::store::peers::{Mode, PeerStats, Peers};
use crate::sys;

/// Worker threads: peers synced at once. Under load (1 message a second mesh-wide) a
/// node starts about one pull a second and a far one over lossy radio holds a worker 5 to
/// 15 s: with 4 workers, rounds queued and a post waited behind them (docs/SYNC.md).
pub const WORKERS: usize = 8;
/// A peer absent from discovery this long is forgotten, with its file list.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);
/// The longest sleep, a bound should a wake-up be missed.
const LONGEST_SLEEP: Duration = Duration::from_secs(60);

/// What wakes the loop: a finished round, a stop signal, or hints or a local post left
/// by another process.
enum Wake {
    Done(Box<Done>),
    Stop,
    Changed,
}

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
    patience: Patience,
}

struct Done {
    key: PeerKey,
    memo: Memo,
    result: Result<Outcome, Error>,
    bytes: u64,
    body_bytes: u64,
    /// Requests tried, and those sent on a connection that opened.
    attempts: u32,
    requests: u32,
    took: Duration,
    /// How long the first answer took: the peer's distance.
    first_reply: Option<Duration>,
    /// CPU time the worker spent on the round.
    cpu: Duration,
}

/// One peer, at the same index as its slot in the planner.
struct State {
    key: PeerKey,
    peer: Peer,
    memo: Memo,
    stats: PeerStats,
    last_seen: Instant,
    /// What was last logged about this peer, so a dead peer is not logged every round.
    last_logged: String,
}

/// One round with one peer: the extension when the peer speaks it, else legacy. The
/// daemon and the mesh simulator both run rounds through here.
///
/// A peer we know nothing about is asked with the extension first: a meshchat peer then
/// costs one request, not two (with gossip most contacts are first contacts), and a
/// legacy peer, which answers without a checksum, costs one extra request once and is
/// pulled the legacy way in the same round.
pub fn round(
    node: &Node,
    peer: &Peer,
    client: &dyn Transport,
    memo: &mut Memo,
) -> Result<Outcome, Error> {
    if node.cfg.digest_sync && !memo.legacy {
        memo.digest = true;
        let out = digest::pull(node, peer, client, memo)?;
        if !out.downgrade {
            return Ok(out);
        }
        *memo = Memo {
            legacy: true,
            ..Memo::default()
        };
    }
    let mut out = legacy::pull(node, peer, client, memo)?;
    if out.upgrade {
        *memo = Memo {
            digest: true,
            users_crc: memo.users_crc,
            ..Memo::default()
        };
        let more = digest::pull(node, peer, client, memo)?;
        out.tally += more.tally;
        out.refused = out.refused.or(more.refused);
        out.learned = more.learned;
        if more.downgrade {
            *memo = Memo {
                legacy: true,
                ..Memo::default()
            };
        }
    }
    Ok(out)
}

/// How a round ended, for the peer choice.
pub fn ending(result: &Result<Outcome, Error>, first_reply: Option<Duration>) -> Ending {
    match result {
        Ok(out) => Ending::Answered {
            news: out.tally.pulled > 0,
            rtt_ms: first_reply.map(|d| d.as_millis().clamp(1, u128::from(u32::MAX)) as u32),
        },
        Err(Error::Fetch(FetchError::NotFound)) => Ending::NotFound,
        Err(e) if unreachable(e) => Ending::Unreachable,
        Err(_) => Ending::Failed,
    }
}

/// The peers a hint names whose message we lack: by node name, or the first label of
/// the advertised host (`node-a` for `node-a.local.mesh`).
pub fn hinted<'a>(
    hints: &'a [(NodeName, Key)],
    ours: &'a Snapshot,
) -> impl Iterator<Item = &'a NodeName> + 'a {
    hints
        .iter()
        .filter(|(_, k)| !ours.has(k.id) && ours.above_floor(*k))
        .map(|(n, _)| n)
}

/// True when a hint from `node` names `peer`.
pub fn names(peer: &Peer, node: &NodeName) -> bool {
    let name = peer.name.as_str();
    let node = node.as_str();
    name.eq_ignore_ascii_case(node)
        || name
            .split_once('.')
            .is_some_and(|(first, _)| first.eq_ignore_ascii_case(node))
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
    let client =
        Client::new(job.peer.url(), job.patience.stall).connect_within(job.patience.connect);
    let mut memo = job.memo;
    let result = round(node, &job.peer, &client, &mut memo);
    Done {
        key: job.key,
        memo,
        result,
        bytes: client.bytes(),
        body_bytes: client.body_bytes(),
        attempts: client.attempts(),
        requests: client.requests(),
        took: started.elapsed(),
        first_reply: client.first_reply(),
        cpu: thread_cpu().saturating_sub(cpu),
    }
}

fn spawn_workers(node: &Arc<Node>, n: usize, done: &Sender<Wake>) -> Sender<Job> {
    let (tx, rx) = queue::unbounded::<Job>();
    for _ in 0..n.max(1) {
        let (node, rx, done) = (node.clone(), rx.clone(), done.clone());
        sys::thread(Box::new(move || {
            while let Ok(job) = rx.recv() {
                if done.send(Wake::Done(Box::new(work(&node, job)))).is_err() {
                    break;
                }
            }
        }));
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

fn log(msg: &str) {
    eprintln!("meshchat sync: {msg}");
}

/// A seed for the peer choice: differs between nodes and runs.
fn seed() -> u64 {
    let mut b = [0u8; 8];
    let _ = sys::random(&mut b);
    u64::from_le_bytes(b)
}

/// The daemon.
struct Daemon {
    node: Arc<Node>,
    opts: Options,
    /// Zero of the planner's clock.
    epoch: Instant,
    planner: Planner,
    peers: Vec<State>,
    counters: Peers,
    dirty: bool,
    /// Our newest key when last looked at (local posts are news).
    newest: Option<Key>,
    /// Rounds in which the peer answered (well or not): `--once` fails when none did.
    reached: usize,
}

impl Daemon {
    fn ms(&self, t: Instant) -> Millis {
        t.saturating_duration_since(self.epoch).as_millis() as Millis
    }

    fn index(&self, key: &PeerKey) -> Option<usize> {
        self.peers.iter().position(|s| s.key == *key)
    }

    fn refresh(&mut self, now: Instant) {
        let found = discovery::discover(&self.node.cfg);
        let now_ms = self.ms(now);
        for i in 0..self.peers.len() {
            self.planner.slot_mut(i).listed = false;
        }
        if self.opts.verbose {
            log(&format!(
                "{} ({} refused service entries)",
                count(found.peers.len() as u64, "peer"),
                found.rejected
            ));
        }
        for peer in found.peers {
            let key = (peer.name.clone(), peer.port);
            match self.index(&key) {
                Some(i) => {
                    let s = &mut self.peers[i];
                    s.last_seen = now;
                    s.peer = peer;
                    self.planner.slot_mut(i).listed = true;
                }
                None => {
                    self.planner.add(now_ms);
                    self.peers.push(State {
                        stats: PeerStats::new(peer.name.clone(), peer.port),
                        key,
                        peer,
                        memo: Memo::default(),
                        last_seen: now,
                        last_logged: String::new(),
                    });
                    self.dirty = true;
                }
            }
        }
        if let Some(name) = &found.listed_as {
            delivery::set_me(&self.node, name);
        }
        delivery::set_roster(
            &self.node,
            self.peers
                .iter()
                .enumerate()
                .filter(|(i, _)| self.planner.slot(*i).listed)
                .map(|(_, s)| s.key.0.as_str()),
        );
        // Forget peers gone from every list for a while, and their file lists.
        let mut i = 0;
        while i < self.peers.len() {
            let s = &self.peers[i];
            if self.planner.slot(i).listed
                || self.planner.slot(i).busy()
                || now.duration_since(s.last_seen) <= FORGET_AFTER
            {
                i += 1;
                continue;
            }
            let gone = self.peers.swap_remove(i);
            let key = gone.key;
            self.planner.remove(i);
            let _ = self.node.files.set_remote(&gone.peer.key, &[]);
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

    /// A message posted here (our newest key changed without a pull) is news to pass
    /// on. The snapshot is cached: this costs one `stat` of the log.
    fn local_news(&mut self, now: Instant) {
        let Ok(ours) = self.node.local.snapshot() else {
            return;
        };
        let newest = ours.keys.last().copied();
        if newest != self.newest {
            if self.newest.is_some() {
                self.planner.news(self.ms(now));
            }
            self.newest = newest;
        }
    }

    /// Peers whose check told us they hold a message we lack are pulled at once.
    fn take_hints(&mut self) {
        let hints = hints::take(&self.node.cfg.paths);
        if hints.is_empty() {
            return;
        }
        let Ok(ours) = self.node.local.snapshot() else {
            return;
        };
        for node in hinted(&hints, &ours) {
            for i in 0..self.peers.len() {
                if names(&self.peers[i].peer, node) {
                    if self.opts.verbose {
                        log(&format!("{}: holds news, pulling now", self.peers[i].peer));
                    }
                    self.planner.hint(i);
                }
            }
        }
    }

    fn dispatch(&mut self, jobs: &Sender<Job>, now: Instant) -> usize {
        let mut sent = 0;
        for i in self.planner.start(self.ms(now)) {
            let s = &self.peers[i];
            let job = Job {
                key: s.key.clone(),
                peer: s.peer.clone(),
                memo: s.memo.clone(),
                patience: self.planner.patience(i, self.node.stall),
            };
            if jobs.send(job).is_ok() {
                sent += 1;
            }
        }
        sent
    }

    fn finish(&mut self, d: Done, now: Instant) {
        let Some(i) = self.index(&d.key) else {
            return;
        };
        let ending = ending(&d.result, d.first_reply);
        if !matches!(ending, Ending::Unreachable) {
            self.reached += 1;
        }
        let now_ms = self.ms(now);
        self.planner.finished(i, now_ms, ending);
        if matches!(ending, Ending::Answered { news: true, .. }) {
            self.planner.news(now_ms);
        }
        let s = &mut self.peers[i];
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
                    s.stats.mode = Mode::Backoff;
                    s.memo = Memo::default();
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
                "{}: {summary}; pulled {pulled}, refused {}, {}, {}",
                s.peer,
                count(rejected, "line"),
                count(u64::from(d.requests), "request"),
                count(d.bytes, "byte")
            ));
            s.last_logged = summary;
        } else if pulled > 0 || rejected > 0 {
            log(&format!(
                "{}: pulled {pulled}, refused {}",
                s.peer,
                count(rejected, "line")
            ));
        }
        if self.opts.stats {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "peer={} mode={} ok={} pulled={pulled} rejected={rejected} attempts={} requests={} body_bytes={} wire_bytes={} ms={} cpu_us={}",
                s.peer,
                s.stats.mode.as_str(),
                u8::from(ok),
                d.attempts,
                d.requests,
                d.body_bytes,
                d.bytes,
                // As u64: printing u128 costs its own formatting code.
                d.took.as_millis() as u64,
                d.cpu.as_micros() as u64
            );
            let _ = out.flush();
        }
        self.dirty = true;
    }

    fn write_counters(&mut self) {
        if !self.dirty {
            return;
        }
        let list: Vec<PeerStats> = self.peers.iter().map(|s| s.stats.clone()).collect();
        if let Err(e) = self.counters.write(&list) {
            log(&format!("writing counters: {e}"));
        }
        self.dirty = false;
    }

    fn busy(&self) -> bool {
        self.planner.any_busy()
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

/// Threads that sleep until something the loop must see at once, and then wake it: a
/// stop signal; the hints file or our log written by another process (the `sync_digest`
/// action, a post). Without inotify, hints and posts wait for the next wake-up.
fn wake_on_signals_and_files(node: &Node, wake: &Sender<Wake>) {
    let tx = wake.clone();
    sys::thread(Box::new(move || {
        while !sys::wait_for_stop(None) {}
        let _ = tx.send(Wake::Stop);
    }));
    let paths = &node.cfg.paths;
    let name = |p: std::path::PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let wanted = [name(hints::path(paths)), name(paths.log())];
    match sys::Watch::new(&[&paths.ram_dir, &paths.data_dir]) {
        Ok(watch) => {
            let tx = wake.clone();
            sys::thread(Box::new(move || {
                while let Ok(names) = watch.wait() {
                    let news = names
                        .iter()
                        .any(|n| wanted.iter().flatten().any(|w| w == n));
                    if news && tx.send(Wake::Changed).is_err() {
                        break;
                    }
                }
            }));
        }
        Err(e) => log(&format!("cannot watch for hints and posts: {e}")),
    }
}

/// Runs the daemon until SIGTERM/SIGINT (or after one round with `opts.once`).
pub fn run(cfg: Config, opts: Options) -> Result<(), StartError> {
    cfg.paths
        .create_dirs()
        .map_err(|e| StartError(e.to_string()))?;
    sys::catch_stop_signals();
    let interval = Duration::from_secs(cfg.poll_interval.max(1));
    log(&format!(
        "node {} zone '{}', every {}s, {}{}",
        cfg.node(),
        cfg.zone(),
        interval.as_secs(),
        Strategy::from_fanout(cfg.sync_fanout).name(),
        if cfg.digest_sync {
            ", digest-v1 on"
        } else {
            ", legacy only"
        }
    ));
    let node = Node::new(cfg, opts.stall);
    let counters = node.peers.clone();
    // Hooks run beside the sync loop, never in it (src/hooks).
    let hooks = crate::hooks::Hooks::start(&node.cfg.paths, &node.local.log, &node.cfg.hooks)
        .map_err(|e| StartError(e.to_string()))?;
    // The Raven bridge runs beside the rounds, on its own thread (docs/RAVEN.md).
    #[cfg(feature = "raven")]
    let _raven = (!opts.once).then(|| super::raven::spawn(&node)).flatten();
    #[cfg(not(feature = "raven"))]
    if node.cfg.raven.enabled {
        log("raven: this build has no Raven bridge: option raven ignored");
    }
    let (done_tx, done_rx) = queue::unbounded::<Wake>();
    let jobs = spawn_workers(&node, opts.workers, &done_tx);
    wake_on_signals_and_files(&node, &done_tx);
    // `--once` pulls every peer once, whatever the fan-out.
    let strategy = if opts.once {
        Strategy::AllPeers
    } else {
        Strategy::from_fanout(node.cfg.sync_fanout)
    };
    let epoch = Instant::now();
    let mut d = Daemon {
        planner: Planner::new(strategy, interval.as_millis() as Millis, seed(), 0),
        node,
        opts,
        epoch,
        peers: Vec::new(),
        counters,
        dirty: true,
        newest: None,
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
            d.take_hints();
            d.local_news(now);
            d.dispatch(&jobs, now);
            dispatched_once = true;
        }
        if d.opts.once && !d.busy() {
            break;
        }
        // Asleep until the planner has work or discovery is due (or something wakes it).
        let due = d.planner.next_wake(d.ms(Instant::now()));
        let wait = Duration::from_millis(due.saturating_sub(d.ms(Instant::now())))
            .min(next_discovery.saturating_duration_since(Instant::now()))
            .min(LONGEST_SLEEP);
        match done_rx.recv_timeout(wait) {
            Ok(Wake::Done(done)) => {
                d.finish(*done, Instant::now());
                // Take whatever else finished before writing the counters once.
                while let Ok(Wake::Done(more)) = done_rx.recv_timeout(Duration::ZERO) {
                    d.finish(*more, Instant::now());
                }
            }
            Ok(Wake::Stop | Wake::Changed) | Err(Recv::Timeout) => {}
            Err(Recv::Gone) => break,
        }
        d.write_counters();
    }
    d.write_counters();
    if let Some(h) = hooks {
        h.stop(d.opts.once);
    }
    if d.opts.stats && d.opts.once {
        println!("cpu_us={}", cpu_time().as_micros() as u64);
    }
    if d.opts.once && d.reached == 0 && !sys::stop_requested() {
        return Err(StartError(if d.peers.is_empty() {
            "no peers found (service files and `peer` options name none)".into()
        } else {
            format!(
                "no peer could be reached ({} tried)",
                count(d.peers.len() as u64, "peer")
            )
        }));
    }
    Ok(())
}
