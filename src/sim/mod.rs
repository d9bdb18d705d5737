//! The mesh simulator (`make sim`, docs/SYNC.md "The simulator"): a deterministic,
//! seeded discrete-event simulation of N nodes that runs meshchat's own sync code —
//! the peer choice (`sync::strategy`), the rounds (`sync::daemon::round`, legacy and
//! `digest-v1`), the API that answers them (`api::Api`), the message log and the
//! hints — over real stores in a RAM directory. The simulator supplies only the
//! transport ([`net`]: latency, loss, bandwidth, TCP time-outs) and the clock.
//!
//! Built only with the `sim` feature (`cargo run --release --features sim --bin
//! meshchat-sim`), so the shipped binary does not carry it.
//!
//! Limits, by design: a round runs at the instant it starts, against the peers' state
//! at that instant; what it brings counts as arrived when its last answer would have
//! (start plus the simulated duration), and the worker stays busy that long. Links
//! have no queues (no congestion); the server's CPU time per request is a constant.

pub mod delivery;
pub mod net;
pub mod report;

pub use crate::config::DEFAULT_SYNC_FANOUT as DEFAULT_FANOUT;
pub use crate::sync::strategy::Strategy;

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::api::{Api, Body, Request};
use crate::config::{Config, Overrides, Raw};
use crate::http::client::{Reply, Transport, STALL};
use crate::http::FetchError;
use crate::protocol::lines::Message;
use crate::protocol::{Epoch, MessageId, NodeName};
use crate::store::hints;
use crate::sync::daemon::{self, WORKERS};
use crate::sync::discovery::Peer;
use crate::sync::patience::Patience;
use crate::sync::strategy::{Ending, Millis, Planner};
use crate::sync::{Memo, Node};
use net::{Exchange, Net, Rng, Topology};

/// Server time per request: a CGI process starting on a 650 MHz node.
pub const SERVER_MS: f64 = 40.0;
/// How long after a hint lands the daemon acts on it (it looks once a second).
pub const HINT_DELAY_MS: Millis = 500;
/// Messages every node holds before the run starts.
pub const HISTORY: usize = 50;
/// Bytes of a request head besides the query (request line, Host, Connection).
const REQUEST_HEAD: usize = 90;
/// Extra bytes of a POST head (Content-Type, Content-Length).
const POST_HEAD: usize = 70;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub strategy: Strategy,
    /// True for the strategy `meshchat sync` ships.
    pub default: bool,
    pub nodes: usize,
    pub topology: Topology,
    /// Packet loss per link and direction.
    pub loss: f64,
    /// Share of nodes that behave as the Lua MeshChat.
    pub legacy_share: f64,
    pub seed: u64,
    pub interval_ms: Millis,
    /// Before the idle window: first contacts, first comparisons.
    pub warmup_s: u64,
    /// The idle window.
    pub idle_s: u64,
    /// Messages posted at 1 a second on random nodes (spread and load); 0: none.
    pub messages: usize,
    /// How long a message may take to reach every node before the run gives up.
    pub spread_limit_s: u64,
    /// The partition: how long the mesh stays cut in two; 0: no partition.
    pub partition_s: u64,
    /// Messages posted during the partition, alternately on each side.
    pub partition_messages: usize,
    /// How long after the heal the run waits for both halves to hold everything.
    pub heal_limit_s: u64,
    /// Where the stores live (a RAM directory).
    pub dir: PathBuf,
}

impl Scenario {
    /// A full run: idle, spread and load, partition and heal.
    pub fn full(strategy: Strategy, nodes: usize, loss: f64, legacy_share: f64) -> Scenario {
        Scenario {
            strategy,
            default: strategy == Strategy::from_fanout(DEFAULT_FANOUT),
            nodes,
            topology: Topology::Aredn,
            loss,
            legacy_share,
            seed: 1,
            interval_ms: 10_000,
            warmup_s: 30,
            idle_s: 60,
            messages: 60,
            spread_limit_s: 600,
            partition_s: 600,
            partition_messages: 10,
            heal_limit_s: 900,
            dir: default_dir(),
        }
    }
}

/// `/dev/shm` when there is one (stores in RAM), else the temporary directory.
pub fn default_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Request and byte counts, per node and in total.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Requests each node served to meshchat nodes.
    pub served: Vec<u64>,
    /// Requests each node served to legacy nodes.
    pub served_legacy: Vec<u64>,
    /// HTTP bytes (heads and bodies, both ways) of meshchat nodes' requests.
    pub bytes: u64,
    /// The same for legacy nodes' requests.
    pub bytes_legacy: u64,
    /// Pull rounds by meshchat nodes, by hop count: (tried, answered).
    pub rounds_by_hops: Vec<(u64, u64)>,
    /// Hints that named a peer to pull at once.
    pub hints: u64,
}

impl Counters {
    fn new(n: usize) -> Counters {
        Counters {
            served: vec![0; n],
            served_legacy: vec![0; n],
            rounds_by_hops: vec![(0, 0); 32],
            ..Counters::default()
        }
    }

    fn minus(&self, o: &Counters) -> Counters {
        let sub = |a: &[u64], b: &[u64]| a.iter().zip(b).map(|(x, y)| x - y).collect();
        Counters {
            served: sub(&self.served, &o.served),
            served_legacy: sub(&self.served_legacy, &o.served_legacy),
            bytes: self.bytes - o.bytes,
            bytes_legacy: self.bytes_legacy - o.bytes_legacy,
            hints: self.hints - o.hints,
            rounds_by_hops: self
                .rounds_by_hops
                .iter()
                .zip(&o.rounds_by_hops)
                .map(|(a, b)| (a.0 - b.0, a.1 - b.1))
                .collect(),
        }
    }
}

/// A message the run follows.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub id: MessageId,
    pub origin: usize,
    pub posted: Millis,
    /// When each node got it.
    pub arrived: Vec<Option<Millis>>,
    pub holders: usize,
}

/// What the delivery tracking of a run can observe: called after every round that
/// concluded what a peer holds, and whenever a node gets a followed message. The true
/// holders are in [`Tracked::arrived`].
pub trait Observer {
    /// `node`'s round with `peer` ended at `at`, having learnt `learned`.
    fn round(&mut self, _at: Millis, _node: usize, _peer: usize, _learned: &crate::sync::Learned) {}
    /// `node` got message `msg` (an index into the run's tracked messages) at `at`.
    fn arrived(&mut self, _at: Millis, _node: usize, _msg: usize) {}
}

/// An observer that watches nothing.
pub struct NoObserver;
impl Observer for NoObserver {}

/// One simulated node: meshchat's own `Node` (store, log, users, files) plus the
/// daemon's state.
struct SimNode {
    node: Arc<Node>,
    legacy: bool,
    planner: Planner,
    memos: HashMap<usize, Memo>,
    queue: VecDeque<usize>,
    workers: usize,
    wake: Option<Millis>,
    hint_pending: bool,
    legacy_next: usize,
    /// A legacy node's peers in the order it pulls them (a services file's order has
    /// nothing to do with distance).
    legacy_order: Vec<usize>,
}

#[derive(Debug, Clone)]
enum Ev {
    Wake(usize),
    Done {
        node: usize,
        peer: usize,
        ending: Ending,
    },
    Hint(usize),
    LegacyNext(usize),
    Post(usize),
    /// The daemon notices a message posted on its node.
    LocalNews(usize),
    Cut(bool),
}

/// Peer slot `j` of node `i` is node `other(i, j)`.
fn other(i: usize, j: usize) -> usize {
    if j < i {
        j
    } else {
        j + 1
    }
}

fn slot_of(i: usize, peer: usize) -> usize {
    if peer < i {
        peer
    } else {
        peer - 1
    }
}

fn name(i: usize) -> String {
    format!("n{i:04}")
}

/// Everything a round may touch while it runs.
struct World {
    net: Net,
    nodes: Vec<SimNode>,
    rng: RefCell<Rng>,
    counters: RefCell<Counters>,
    /// Events produced while a round runs (hints landing).
    later: RefCell<Vec<(Millis, Ev)>>,
}

/// A served response: status, headers, body.
type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

/// The simulator's transport: each request crosses the simulated network, and the
/// peer's own API answers it.
struct SimTransport<'a> {
    w: &'a World,
    from: usize,
    to: usize,
    start: Millis,
    elapsed: Cell<f64>,
    first: Cell<Option<f64>>,
    /// The time-outs the daemon would give this peer.
    patience: Patience,
}

impl SimTransport<'_> {
    fn call(&self, query: &str, form: Option<&str>) -> Result<Reply, FetchError> {
        let w = self.w;
        let legacy_client = w.nodes[self.from].legacy;
        let target = &w.nodes[self.to];
        let req_bytes = REQUEST_HEAD + query.len() + form.map_or(0, |f| f.len() + POST_HEAD);
        let mut answer: Option<Answer> = None;
        let mut served = |w: &World| -> usize {
            let api = Api::new(&target.node.cfg);
            let mut body = form.unwrap_or("").as_bytes();
            let mut req = Request {
                query: if form.is_some() { "" } else { query },
                post: form.is_some(),
                content_type: form.map(|_| "application/x-www-form-urlencoded"),
                content_length: form.map(|f| f.len() as u64),
                body: &mut body,
                accept_gzip: false,
                cookie: None,
                authorization: None,
                server_port: 8080,
            };
            let resp = api.handle(&mut req);
            let bytes = match resp.body {
                Body::Bytes(b) => b,
                Body::File(mut f, _) => {
                    let mut v = Vec::new();
                    let _ = std::io::Read::read_to_end(&mut f, &mut v);
                    v
                }
            };
            let head: usize = 19
                + resp
                    .headers
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 4)
                    .sum::<usize>();
            let size = head + bytes.len();
            let mut c = w.counters.borrow_mut();
            if legacy_client {
                c.served_legacy[self.to] += 1;
                c.bytes_legacy += (req_bytes + size) as u64;
            } else {
                c.served[self.to] += 1;
                c.bytes += (req_bytes + size) as u64;
            }
            drop(c);
            // The hint the API may have left for its daemon.
            if !target.legacy
                && std::fs::metadata(hints::path(&target.node.cfg.paths)).is_ok_and(|m| m.len() > 0)
            {
                let at = self.start + self.elapsed.get() as Millis + HINT_DELAY_MS;
                w.later.borrow_mut().push((at, Ev::Hint(self.to)));
            }
            answer = Some((resp.status, resp.headers, bytes));
            size
        };
        let ex = {
            let mut rng = w.rng.borrow_mut();
            w.net.exchange(
                &mut rng,
                self.from,
                self.to,
                req_bytes,
                self.patience.connect.as_millis() as f64,
                self.patience.stall.as_millis() as f64,
                SERVER_MS,
                |_| served(w),
            )
        };
        match ex {
            Exchange::Done { ms } => {
                self.elapsed.set(self.elapsed.get() + ms);
                if self.first.get().is_none() {
                    self.first.set(Some(ms));
                }
            }
            Exchange::NoConnection { ms } | Exchange::Stalled { ms } => {
                self.elapsed.set(self.elapsed.get() + ms);
                return Err(FetchError::Timeout);
            }
        }
        let Some((status, headers, body)) = answer else {
            return Err(FetchError::Timeout);
        };
        match status {
            200 | 400 => {}
            404 => return Err(FetchError::NotFound),
            s => return Err(FetchError::Status(s)),
        }
        let header = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        Ok(Reply::in_memory(
            header("Content-MD5"),
            header(crate::protocol::digest::HEADER),
            body,
        ))
    }
}

impl Transport for SimTransport<'_> {
    fn get(&self, query: &str) -> Result<Reply, FetchError> {
        self.call(query, None)
    }
    fn post(&self, form: &str) -> Result<Reply, FetchError> {
        self.call("", Some(form))
    }
}

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: Scenario,
    pub idle: Counters,
    pub idle_minutes: f64,
    pub load: Option<Counters>,
    pub load_minutes: f64,
    /// Per spread message: seconds until 99% and 100% of the nodes held it.
    pub spread: Vec<(Option<f64>, Option<f64>)>,
    /// Seconds from the heal until every node held every partition message.
    pub heal_s: Option<f64>,
    /// Seconds of simulated time.
    pub simulated_s: f64,
    /// Seconds of wall time the run took.
    pub wall_s: f64,
    pub legacy_nodes: usize,
    /// Followed messages posted on legacy nodes.
    pub legacy_posts: usize,
}

fn mean(v: &[u64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<u64>() as f64 / v.len() as f64
    }
}

impl Report {
    pub fn idle_requests_mean(&self) -> f64 {
        mean(&self.idle.served) / self.idle_minutes
    }
    pub fn idle_requests_max(&self) -> f64 {
        self.idle.served.iter().copied().max().unwrap_or(0) as f64 / self.idle_minutes
    }
    pub fn idle_legacy_requests_mean(&self) -> f64 {
        mean(&self.idle.served_legacy) / self.idle_minutes
    }
    pub fn idle_bytes(&self) -> f64 {
        self.idle.bytes as f64 / self.scenario.nodes as f64 / self.idle_minutes
    }
    pub fn load_bytes(&self) -> Option<f64> {
        self.load
            .as_ref()
            .map(|c| c.bytes as f64 / self.scenario.nodes as f64 / self.load_minutes)
    }
    /// The slowest message's time to 99% of the nodes, when every one got there.
    pub fn spread_p99(&self) -> Option<f64> {
        worst(self.spread.iter().map(|s| s.0))
    }
    /// The slowest message's time to every node, when every one got there.
    pub fn spread_max(&self) -> Option<f64> {
        worst(self.spread.iter().map(|s| s.1))
    }
    /// The median message's time to every node.
    pub fn spread_median(&self) -> Option<f64> {
        let mut v: Vec<f64> = self.spread.iter().filter_map(|s| s.1).collect();
        if v.len() < self.spread.len() || v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(v[v.len() / 2])
    }
    /// Every followed message reached every node.
    pub fn complete(&self) -> bool {
        self.spread.iter().all(|s| s.1.is_some())
            && (self.scenario.partition_s == 0 || self.heal_s.is_some())
    }
}

fn worst(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let mut m: Option<f64> = Some(0.0);
    let mut any = false;
    for x in v {
        any = true;
        m = match (m, x) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    if any {
        m
    } else {
        None
    }
}

/// The run itself.
pub struct Sim<'o> {
    sc: Scenario,
    w: World,
    now: Millis,
    seq: u64,
    queue: BinaryHeap<Reverse<(Millis, u64)>>,
    events: HashMap<u64, Ev>,
    tracked: Vec<Tracked>,
    base_epoch: u64,
    root: PathBuf,
    side: Vec<bool>,
    observer: &'o mut dyn Observer,
}

/// Why a run could not start.
#[derive(Debug)]
pub struct SimError(pub String);

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SimError {}

fn config(root: &Path, i: usize, legacy: bool, sc: &Scenario) -> Result<Config, SimError> {
    let dir = root.join(name(i));
    let overrides = Overrides {
        node: Some(name(i)),
        zone: Some("MeshChat".into()),
        data: Some(dir.clone()),
        options: vec![
            ("digest_sync".into(), if legacy { "0" } else { "1" }.into()),
            (
                "sync_fanout".into(),
                match sc.strategy {
                    Strategy::AllPeers => "0".into(),
                    Strategy::Gossip { fanout } => fanout.to_string(),
                },
            ),
            ("platform".into(), "node".into()),
            (
                "services_dir".into(),
                dir.join("none").to_string_lossy().into_owned(),
            ),
            (
                "services_olsr".into(),
                dir.join("none").to_string_lossy().into_owned(),
            ),
            (
                "hsmmmesh_file".into(),
                dir.join("none").to_string_lossy().into_owned(),
            ),
            (
                "setup_file".into(),
                dir.join("none").to_string_lossy().into_owned(),
            ),
        ],
        ..Overrides::default()
    };
    let mut raw = Raw::default();
    raw.apply(&overrides);
    let cfg = Config::from_raw(&raw).map_err(|e| SimError(e.to_string()))?;
    cfg.paths
        .create_dirs()
        .map_err(|e| SimError(e.to_string()))?;
    Ok(cfg)
}

fn line(id: MessageId, epoch: u64, origin: &str, text: &str) -> Option<Message> {
    Message::parse(&format!("{id}\t{epoch}\t{text}\tSIM\t{origin}\tnode\t")).ok()
}

impl<'o> Sim<'o> {
    /// Builds the mesh and its stores (every node holding the same [`HISTORY`]).
    pub fn new(sc: Scenario, observer: &'o mut dyn Observer) -> Result<Sim<'o>, SimError> {
        let mut rng = Rng::new(sc.seed);
        let net = net::build(sc.topology, sc.nodes, sc.loss, &mut rng);
        let n = net.n;
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let root = sc.dir.join(format!(
            "meshchat-sim-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        let legacy_count = (sc.legacy_share * n as f64).round() as usize;
        let mut legacy = vec![false; n];
        let mut placed = 0;
        while placed < legacy_count {
            let i = rng.below(n);
            if !legacy[i] {
                legacy[i] = true;
                placed += 1;
            }
        }
        let base_epoch = Epoch::now().0;
        let history: Vec<Message> = (0..HISTORY)
            .filter_map(|k| {
                let id = MessageId((rng.next_u64() as u32) | 1);
                line(id, base_epoch - 3600 + k as u64 * 60, "n0000", "earlier")
            })
            .collect();
        let mut nodes = Vec::with_capacity(n);
        for (i, &is_legacy) in legacy.iter().enumerate() {
            let cfg = config(&root, i, is_legacy, &sc)?;
            let node = Node::new(cfg, STALL);
            node.local
                .log
                .append(&history)
                .map_err(|e| SimError(e.to_string()))?;
            let phase = rng.below(sc.interval_ms as usize) as Millis;
            let mut planner = Planner::new(
                sc.strategy,
                sc.interval_ms,
                sc.seed ^ (i as u64).wrapping_mul(0x9e37_79b9),
                phase,
            );
            if !is_legacy {
                for _ in 1..n {
                    planner.add(phase);
                }
            }
            nodes.push(SimNode {
                node,
                legacy: is_legacy,
                planner,
                memos: HashMap::new(),
                queue: VecDeque::new(),
                workers: 0,
                wake: None,
                hint_pending: false,
                legacy_next: 0,
                legacy_order: if is_legacy {
                    let mut order: Vec<usize> = (0..n).filter(|&p| p != i).collect();
                    for k in (1..order.len()).rev() {
                        order.swap(k, rng.below(k + 1));
                    }
                    order
                } else {
                    Vec::new()
                },
            });
        }
        delivery::set_rosters(&nodes);
        let side = net::halves(sc.topology, &net);
        let mut sim = Sim {
            w: World {
                net,
                nodes,
                rng: RefCell::new(rng),
                counters: RefCell::new(Counters::new(n)),
                later: RefCell::new(Vec::new()),
            },
            sc,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            tracked: Vec::new(),
            base_epoch,
            root,
            side,
            observer,
        };
        for i in 0..n {
            if sim.w.nodes[i].legacy {
                let phase = sim.w.rng.borrow_mut().below(sim.sc.interval_ms as usize) as Millis;
                sim.at(phase, Ev::LegacyNext(i));
            } else {
                sim.schedule_wake(i);
            }
        }
        Ok(sim)
    }

    fn at(&mut self, t: Millis, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((t, self.seq)));
        self.events.insert(self.seq, ev);
    }

    fn schedule_wake(&mut self, i: usize) {
        let t = self.w.nodes[i].planner.next_wake(self.now);
        if t == Millis::MAX {
            self.w.nodes[i].wake = None;
            return;
        }
        if self.w.nodes[i]
            .wake
            .is_some_and(|w| w <= t && w >= self.now)
        {
            return;
        }
        self.w.nodes[i].wake = Some(t);
        self.at(t, Ev::Wake(i));
    }

    /// Runs events until `until` (simulated ms).
    fn run_until(&mut self, until: Millis) {
        while let Some(&Reverse((t, seq))) = self.queue.peek() {
            if t > until {
                break;
            }
            self.queue.pop();
            let Some(ev) = self.events.remove(&seq) else {
                continue;
            };
            self.now = t;
            self.handle(ev);
        }
        self.now = until;
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Wake(i) => {
                if self.w.nodes[i].wake != Some(self.now) {
                    return;
                }
                self.w.nodes[i].wake = None;
                let now = self.now;
                let started = self.w.nodes[i].planner.start(now);
                self.w.nodes[i].queue.extend(started);
                self.launch_queued(i);
                self.schedule_wake(i);
            }
            Ev::Done { node, peer, ending } => {
                let n = &mut self.w.nodes[node];
                n.workers -= 1;
                n.planner.finished(slot_of(node, peer), self.now, ending);
                if matches!(ending, Ending::Answered { news: true, .. }) {
                    n.planner.news(self.now);
                }
                self.launch_queued(node);
                self.schedule_wake(node);
            }
            Ev::Hint(i) => {
                self.w.nodes[i].hint_pending = false;
                let node = self.w.nodes[i].node.clone();
                let taken = hints::take(&node.cfg.paths);
                if let Ok(ours) = node.local.snapshot() {
                    let names: Vec<NodeName> = daemon::hinted(&taken, &ours).cloned().collect();
                    self.w.counters.borrow_mut().hints += names.len() as u64;
                    for hinted in names {
                        for p in 0..self.w.net.n {
                            if p != i
                                && Peer::new(&name(p), 8080)
                                    .is_some_and(|peer| daemon::names(&peer, &hinted))
                            {
                                self.w.nodes[i].planner.hint(slot_of(i, p));
                            }
                        }
                    }
                }
                self.schedule_wake(i);
            }
            Ev::LegacyNext(i) => self.legacy_step(i),
            Ev::Post(i) => self.post(i),
            Ev::LocalNews(i) => {
                let now = self.now;
                self.w.nodes[i].planner.news(now);
                self.schedule_wake(i);
            }
            Ev::Cut(down) => {
                let side = self.side.clone();
                self.w.net.cut(&side, down);
            }
        }
    }

    fn launch_queued(&mut self, i: usize) {
        while self.w.nodes[i].workers < WORKERS {
            let Some(slot) = self.w.nodes[i].queue.pop_front() else {
                break;
            };
            self.w.nodes[i].workers += 1;
            let peer = other(i, slot);
            let memo = self.w.nodes[i].memos.remove(&peer).unwrap_or_default();
            let patience = self.w.nodes[i].planner.patience(slot, STALL);
            let (ending, memo, ms) = self.round(i, peer, memo, patience);
            self.w.nodes[i].memos.insert(peer, memo);
            let t = self.now + ms;
            self.at(
                t,
                Ev::Done {
                    node: i,
                    peer,
                    ending,
                },
            );
        }
    }

    /// One round of `i` with `peer`, run now through meshchat's own round code.
    fn round(
        &mut self,
        i: usize,
        peer: usize,
        mut memo: Memo,
        patience: Patience,
    ) -> (Ending, Memo, Millis) {
        let t = SimTransport {
            w: &self.w,
            from: i,
            to: peer,
            start: self.now,
            elapsed: Cell::new(0.0),
            first: Cell::new(None),
            patience,
        };
        let Some(p) = Peer::new(&name(peer), 8080) else {
            return (Ending::Failed, memo, 1);
        };
        let node = self.w.nodes[i].node.clone();
        let before = node.local.snapshot().map(|s| s.version).unwrap_or(0);
        let result = daemon::round(&node, &p, &t, &mut memo);
        let ms = (t.elapsed.get().ceil() as Millis).max(1);
        let first = t
            .first
            .get()
            .map(|f| Duration::from_micros((f * 1000.0) as u64));
        let ending = daemon::ending(&result, first);
        let hops = usize::from(self.w.net.path(i, peer).hops).min(31);
        if !self.w.nodes[i].legacy {
            let mut c = self.w.counters.borrow_mut();
            c.rounds_by_hops[hops].0 += 1;
            if result.is_ok() {
                c.rounds_by_hops[hops].1 += 1;
            }
        }
        let later: Vec<(Millis, Ev)> = self.w.later.borrow_mut().drain(..).collect();
        for (at, ev) in later {
            if let Ev::Hint(h) = ev {
                if self.w.nodes[h].hint_pending {
                    continue;
                }
                self.w.nodes[h].hint_pending = true;
            }
            self.at(at, ev);
        }
        if let Ok(out) = &result {
            self.observer.round(self.now + ms, i, peer, &out.learned);
        }
        // Also after a failed round: what it merged before failing stays.
        if self.w.nodes[i]
            .node
            .local
            .snapshot()
            .map_or(0, |s| s.version)
            != before
        {
            self.note_arrivals(i, self.now + ms);
        }
        (ending, memo, ms)
    }

    /// Records which followed messages node `i` holds now.
    fn note_arrivals(&mut self, i: usize, at: Millis) {
        let Ok(snap) = self.w.nodes[i].node.local.snapshot() else {
            return;
        };
        for (m, t) in self.tracked.iter_mut().enumerate() {
            if t.arrived[i].is_none() && snap.has(t.id) {
                t.arrived[i] = Some(at);
                t.holders += 1;
                self.observer.arrived(at, i, m);
            }
        }
    }

    /// A legacy node's loop: every peer in turn, the legacy way, then a pause.
    fn legacy_step(&mut self, i: usize) {
        let node = &mut self.w.nodes[i];
        let Some(&peer) = node.legacy_order.get(node.legacy_next) else {
            node.legacy_next = 0;
            let t = self.now + self.sc.interval_ms;
            self.at(t, Ev::LegacyNext(i));
            return;
        };
        node.legacy_next += 1;
        // The Lua client remembers nothing between rounds.
        let (_, _, ms) = self.round(i, peer, Memo::default(), Patience::of(None, 0, STALL));
        let t = self.now + ms;
        self.at(t, Ev::LegacyNext(i));
    }

    fn post(&mut self, i: usize) {
        let id = MessageId((self.w.rng.borrow_mut().next_u64() as u32) | 1);
        let epoch = self.base_epoch + self.now / 1000;
        let Some(m) = line(id, epoch, &name(i), "news") else {
            return;
        };
        if self.w.nodes[i].node.local.log.append(&[m]).is_err() {
            return;
        }
        let n = self.w.net.n;
        let mut arrived = vec![None; n];
        arrived[i] = Some(self.now);
        self.tracked.push(Tracked {
            id,
            origin: i,
            posted: self.now,
            arrived,
            holders: 1,
        });
        let idx = self.tracked.len() - 1;
        self.observer.arrived(self.now, i, idx);
        if !self.w.nodes[i].legacy {
            let t = self.now + HINT_DELAY_MS;
            self.at(t, Ev::LocalNews(i));
        }
    }

    /// Runs until every followed message from `from` on is everywhere, or `limit`.
    fn run_until_spread(&mut self, from: usize, limit: Millis) {
        let n = self.w.net.n;
        while self.now < limit {
            if self.tracked[from..].iter().all(|t| t.holders == n) {
                return;
            }
            let step = (self.now + 1000).min(limit);
            self.run_until(step);
        }
    }

    /// The followed messages.
    pub fn tracked(&self) -> &[Tracked] {
        &self.tracked
    }

    /// Runs the scenario: warm-up, idle, spread and load, partition and heal.
    pub fn run(mut self) -> Report {
        let wall = std::time::Instant::now();
        let sc = self.sc.clone();
        let n = self.w.net.n;
        let s = 1000;
        self.run_until(sc.warmup_s * s);
        let before = self.w.counters.borrow().clone();
        self.run_until((sc.warmup_s + sc.idle_s) * s);
        let idle = self.w.counters.borrow().minus(&before);

        let mut load = None;
        let mut spread = Vec::new();
        if sc.messages > 0 {
            let start = self.now;
            let first = self.tracked.len();
            for k in 0..sc.messages {
                let node = self.w.rng.borrow_mut().below(n);
                self.at(start + k as Millis * s, Ev::Post(node));
            }
            let before = self.w.counters.borrow().clone();
            self.run_until(start + sc.messages as Millis * s);
            load = Some(self.w.counters.borrow().minus(&before));
            self.run_until_spread(first, start + (sc.messages as u64 + sc.spread_limit_s) * s);
            let need99 = (n * 99).div_ceil(100);
            for t in &self.tracked[first..] {
                let mut times: Vec<Millis> =
                    t.arrived.iter().flatten().map(|a| a - t.posted).collect();
                times.sort_unstable();
                let at = |k: usize| times.get(k - 1).map(|&x| x as f64 / 1000.0);
                spread.push((at(need99), if times.len() == n { at(n) } else { None }));
            }
        }

        let mut heal_s = None;
        if sc.partition_s > 0 {
            let start = self.now;
            let first = self.tracked.len();
            self.at(start, Ev::Cut(true));
            let sides: Vec<Vec<usize>> = [false, true]
                .iter()
                .map(|&b| (0..n).filter(|&i| self.side[i] == b).collect())
                .collect();
            for k in 0..sc.partition_messages {
                let side = &sides[k % 2];
                if side.is_empty() {
                    continue;
                }
                let node = side[self.w.rng.borrow_mut().below(side.len())];
                let at = start
                    + 10 * s
                    + (k as Millis) * (sc.partition_s * s / 2)
                        / sc.partition_messages.max(1) as Millis;
                self.at(at, Ev::Post(node));
            }
            let healed = start + sc.partition_s * s;
            self.at(healed, Ev::Cut(false));
            self.run_until(healed);
            self.run_until_spread(first, healed + sc.heal_limit_s * s);
            if self.tracked[first..].iter().all(|t| t.holders == n) {
                let last = self.tracked[first..]
                    .iter()
                    .flat_map(|t| t.arrived.iter().flatten())
                    .max()
                    .copied()
                    .unwrap_or(healed);
                heal_s = Some(last.saturating_sub(healed) as f64 / 1000.0);
            }
        }
        let legacy_nodes = self.w.nodes.iter().filter(|x| x.legacy).count();
        let legacy_posts = self
            .tracked
            .iter()
            .filter(|t| self.w.nodes[t.origin].legacy)
            .count();
        let report = Report {
            idle,
            idle_minutes: sc.idle_s as f64 / 60.0,
            load,
            load_minutes: sc.messages as f64 / 60.0,
            spread,
            heal_s,
            simulated_s: self.now as f64 / 1000.0,
            wall_s: wall.elapsed().as_secs_f64(),
            legacy_nodes,
            legacy_posts,
            scenario: sc,
        };
        let _ = std::fs::remove_dir_all(&self.root);
        report
    }
}

impl Drop for Sim<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small AREDN-like mesh with the phases shortened: seconds of wall time.
    fn small(strategy: Strategy, nodes: usize, legacy: f64) -> Scenario {
        let mut sc = Scenario::full(strategy, nodes, 0.1, legacy);
        sc.messages = 20;
        sc.partition_s = 120;
        sc.partition_messages = 4;
        sc.spread_limit_s = 300;
        sc.heal_limit_s = 300;
        sc
    }

    fn run(sc: Scenario) -> Report {
        Sim::new(sc, &mut NoObserver).expect("sim starts").run()
    }

    #[test]
    fn the_default_strategy_meets_the_goals_on_a_small_mesh() {
        let r = run(small(Strategy::from_fanout(DEFAULT_FANOUT), 40, 0.0));
        assert!(r.complete(), "{r:?}");
        assert!(r.spread_p99().is_some_and(|s| s <= 60.0), "{:?}", r.spread);
        assert!(r.spread_max().is_some_and(|s| s <= 120.0), "{:?}", r.spread);
        assert!(r.heal_s.is_some_and(|s| s <= 120.0), "{:?}", r.heal_s);
        assert!(r.idle_requests_mean() <= 30.0, "{}", r.idle_requests_mean());
        assert!(r.idle_requests_max() <= 60.0, "{}", r.idle_requests_max());
        assert!(r.idle_requests_mean() > 0.0);
    }

    #[test]
    fn legacy_nodes_get_and_give_every_message() {
        let mut sc = small(Strategy::from_fanout(DEFAULT_FANOUT), 20, 0.25);
        sc.seed = 3;
        let r = run(sc);
        assert_eq!(r.legacy_nodes, 5);
        assert!(r.legacy_posts > 0, "no message was posted on a legacy node");
        assert!(r.complete(), "{:?} {:?}", r.spread, r.heal_s);
        assert!(r.idle_legacy_requests_mean() > 0.0);
    }

    #[test]
    fn all_peers_costs_grow_with_the_mesh_gossip_does_not() {
        let idle = |strategy, n| {
            let mut sc = small(strategy, n, 0.0);
            sc.messages = 0;
            sc.partition_s = 0;
            run(sc).idle_requests_mean()
        };
        let gossip = Strategy::from_fanout(DEFAULT_FANOUT);
        let (a10, a40) = (idle(Strategy::AllPeers, 10), idle(Strategy::AllPeers, 40));
        let (g10, g40) = (idle(gossip, 10), idle(gossip, 40));
        assert!(a40 > 3.0 * a10, "all-peers {a10} -> {a40}");
        assert!(g40 < 1.5 * g10 && g40 < a40 / 5.0, "gossip {g10} -> {g40}");
    }

    #[test]
    fn runs_are_deterministic() {
        let mut sc = small(Strategy::from_fanout(DEFAULT_FANOUT), 12, 0.0);
        sc.partition_s = 0;
        let (a, b) = (run(sc.clone()), run(sc));
        assert_eq!(a.idle.served, b.idle.served);
        assert_eq!(a.idle.bytes, b.idle.bytes);
        assert_eq!(a.spread, b.spread);
    }

    /// Counts what a delivery tracker would see.
    #[derive(Default)]
    struct Count {
        rounds: usize,
        with_version: usize,
        arrivals: Vec<usize>,
    }

    impl Observer for Count {
        fn round(&mut self, _: Millis, _: usize, _: usize, learned: &crate::sync::Learned) {
            self.rounds += 1;
            self.with_version += usize::from(learned.version.is_some());
        }
        fn arrived(&mut self, _: Millis, _: usize, msg: usize) {
            if self.arrivals.len() <= msg {
                self.arrivals.resize(msg + 1, 0);
            }
            self.arrivals[msg] += 1;
        }
    }

    #[test]
    fn observers_see_every_round_and_every_arrival() {
        let mut sc = small(Strategy::from_fanout(DEFAULT_FANOUT), 15, 0.0);
        sc.partition_s = 0;
        sc.messages = 5;
        let mut count = Count::default();
        let r = Sim::new(sc, &mut count).expect("sim starts").run();
        assert!(r.complete());
        assert!(count.rounds > 0 && count.with_version == count.rounds);
        assert_eq!(
            count.arrivals,
            vec![15; 5],
            "each message arrives once per node"
        );
    }

    #[test]
    fn the_namespace_mesh_converges() {
        let mut sc = Scenario::full(Strategy::from_fanout(DEFAULT_FANOUT), 6, 0.2, 0.0);
        sc.topology = Topology::LineFivePlusBranch;
        sc.partition_s = 60;
        sc.partition_messages = 4;
        sc.messages = 10;
        let r = run(sc);
        assert_eq!(r.scenario.topology.name(), "line5+branch");
        assert!(r.complete(), "{:?} {:?}", r.spread, r.heal_s);
    }
}
