//! The simulated network: nodes, radio and tunnel links with latency, loss and
//! bandwidth, shortest paths, and what one HTTP request over TCP costs on a path
//! (handshake, retransmissions after lost segments, time-outs).
//!
//! Only the transport is modelled here; what travels is produced by meshchat's own code.

/// Bytes of one TCP segment's payload.
const SEGMENT: usize = 1400;
/// Linux's first SYN retransmission timeout; it doubles on each retry.
const SYN_RTO_MS: f64 = 1000.0;
/// Smallest data retransmission timeout (Linux `TCP_RTO_MIN`).
const MIN_RTO_MS: f64 = 200.0;
/// Retransmissions before TCP gives up on a segment (far beyond our time-outs).
const MAX_RETRIES: u32 = 15;

/// A deterministic random generator (xorshift64*), seeded per run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
}

/// One link, both directions alike.
#[derive(Debug, Clone)]
pub struct Link {
    pub a: usize,
    pub b: usize,
    /// One-way latency.
    pub latency_ms: f64,
    /// Probability that a packet is lost on this link, each direction.
    pub loss: f64,
    /// Bits per second.
    pub bandwidth: f64,
    /// False while cut (a partition).
    pub up: bool,
    /// A tunnel between clusters (not radio).
    pub tunnel: bool,
}

/// The best path between two nodes, by hop count.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path {
    /// 0: no path.
    pub hops: u8,
    pub latency_ms: f32,
    /// Probability that one packet crosses the whole path.
    pub delivery: f32,
    /// The slowest link's bits per second.
    pub bandwidth: f32,
}

/// The mesh.
pub struct Net {
    pub n: usize,
    pub links: Vec<Link>,
    adj: Vec<Vec<usize>>,
    paths: Vec<Path>,
    /// Which cluster (radio island) each node belongs to.
    pub cluster: Vec<usize>,
}

/// What one request cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exchange {
    /// Answered: the time from connect to the last response byte.
    Done { ms: f64 },
    /// The connection never opened within the connect time-out.
    NoConnection { ms: f64 },
    /// Opened, then a segment stayed lost longer than the stall window.
    Stalled { ms: f64 },
}

impl Net {
    pub fn new(n: usize, links: Vec<Link>, cluster: Vec<usize>) -> Net {
        let mut net = Net {
            n,
            links,
            adj: vec![Vec::new(); n],
            paths: vec![Path::default(); n * n],
            cluster,
        };
        for (i, l) in net.links.iter().enumerate() {
            net.adj[l.a].push(i);
            net.adj[l.b].push(i);
        }
        net.route();
        net
    }

    /// Recomputes every shortest path (after a link went down or up).
    pub fn route(&mut self) {
        let n = self.n;
        let mut queue = Vec::with_capacity(n);
        for src in 0..n {
            let row = &mut self.paths[src * n..(src + 1) * n];
            row.fill(Path::default());
            row[src] = Path {
                hops: 0,
                latency_ms: 0.0,
                delivery: 1.0,
                bandwidth: f32::MAX,
            };
            let mut seen = vec![false; n];
            seen[src] = true;
            queue.clear();
            queue.push(src);
            let mut head = 0;
            while head < queue.len() {
                let u = queue[head];
                head += 1;
                let pu = row[u];
                for &li in &self.adj[u] {
                    let l = &self.links[li];
                    if !l.up {
                        continue;
                    }
                    let v = if l.a == u { l.b } else { l.a };
                    if seen[v] {
                        continue;
                    }
                    seen[v] = true;
                    row[v] = Path {
                        hops: pu.hops.saturating_add(1),
                        latency_ms: pu.latency_ms + l.latency_ms as f32,
                        delivery: pu.delivery * (1.0 - l.loss as f32),
                        bandwidth: pu.bandwidth.min(l.bandwidth as f32),
                    };
                    queue.push(v);
                }
            }
        }
    }

    pub fn path(&self, a: usize, b: usize) -> Path {
        self.paths[a * self.n + b]
    }

    /// Sets every link between the two sides of `side` up or down.
    pub fn cut(&mut self, side: &[bool], down: bool) {
        for l in &mut self.links {
            if side[l.a] != side[l.b] {
                l.up = !down;
            }
        }
        self.route();
    }

    /// How many retransmissions one packet needs (each way `delivery`).
    fn losses(rng: &mut Rng, delivery: f64) -> u32 {
        let mut k = 0;
        while k < MAX_RETRIES && rng.unit() >= delivery {
            k += 1;
        }
        k
    }

    /// Simulates one request of `req` bytes from `a` to `b`, given the client's
    /// time-outs and the server's time to answer. `serve` runs when the request has
    /// reached the server, and returns the response's size in bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn exchange(
        &self,
        rng: &mut Rng,
        a: usize,
        b: usize,
        req: usize,
        connect_timeout_ms: f64,
        stall_ms: f64,
        server_ms: f64,
        serve: impl FnOnce(usize) -> usize,
    ) -> Exchange {
        let p = self.path(a, b);
        if p.hops == 0 && a != b {
            // No route: the client waits for its connect time-out.
            return Exchange::NoConnection {
                ms: connect_timeout_ms,
            };
        }
        let one_way = f64::from(p.latency_ms);
        let rtt = 2.0 * one_way;
        let q = f64::from(p.delivery);
        // Handshake: SYN and SYN-ACK must both pass; SYN retried at 1, 3, 7 s...
        let mut t = 0.0;
        let mut rto = SYN_RTO_MS;
        loop {
            if rng.unit() < q * q {
                t += rtt;
                break;
            }
            t += rto;
            rto *= 2.0;
            if t >= connect_timeout_ms {
                return Exchange::NoConnection {
                    ms: connect_timeout_ms,
                };
            }
        }
        let data_rto = MIN_RTO_MS + rtt;
        let bw = f64::from(p.bandwidth).max(1.0);
        // The request's segments, then the response's: a lost segment waits for its
        // retransmission; the worst one sets the delay (they travel pipelined).
        let leg = |rng: &mut Rng, bytes: usize| -> Option<f64> {
            let mut worst = 0.0f64;
            for _ in 0..bytes.div_ceil(SEGMENT).max(1) {
                let k = Net::losses(rng, q);
                // Exponential back-off: rto * (2^k - 1).
                worst = worst.max(data_rto * (f64::from(1u32 << k.min(20)) - 1.0));
            }
            (worst < stall_ms).then(|| one_way + worst + bytes as f64 * 8.0 / bw * 1000.0)
        };
        let Some(up) = leg(rng, req) else {
            return Exchange::Stalled { ms: t + stall_ms };
        };
        t += up + server_ms;
        let resp = serve(req);
        let Some(down) = leg(rng, resp) else {
            return Exchange::Stalled { ms: t + stall_ms };
        };
        t += down;
        Exchange::Done { ms: t }
    }
}

/// Topologies the simulator builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// AREDN-like: radio islands of up to 40 nodes (random geometric links, 1–8 hops
    /// across), joined by tunnels between one gateway node per island.
    Aredn,
    /// Every node in a line.
    Line,
    /// One hub, every other node linked to it.
    Star,
    /// Five nodes in a line, a sixth linked to the middle one: the namespace test's
    /// mesh (200 ms each way per link; the cut link is 1–2).
    LineFivePlusBranch,
}

impl Topology {
    pub fn name(&self) -> &'static str {
        match self {
            Topology::Aredn => "aredn",
            Topology::Line => "line",
            Topology::Star => "star",
            Topology::LineFivePlusBranch => "line5+branch",
        }
    }

    pub fn parse(s: &str) -> Option<Topology> {
        [
            Topology::Aredn,
            Topology::Line,
            Topology::Star,
            Topology::LineFivePlusBranch,
        ]
        .into_iter()
        .find(|t| t.name() == s)
    }
}

/// Nodes per radio island of the AREDN-like mesh.
const ISLAND: usize = 40;
/// Radio range, in units where an island covers a unit square.
const RANGE: f64 = 0.3;

fn radio(a: usize, b: usize, loss: f64, rng: &mut Rng) -> Link {
    Link {
        a,
        b,
        latency_ms: 2.0 + rng.unit() * 8.0,
        loss,
        bandwidth: 2e6 + rng.unit() * 18e6,
        up: true,
        tunnel: false,
    }
}

/// Builds a topology of `n` nodes with `loss` per link.
pub fn build(t: Topology, n: usize, loss: f64, rng: &mut Rng) -> Net {
    let mut links = Vec::new();
    let mut cluster = vec![0; n];
    match t {
        Topology::Line => {
            for i in 1..n {
                links.push(radio(i - 1, i, loss, rng));
            }
        }
        Topology::Star => {
            for i in 1..n {
                links.push(radio(0, i, loss, rng));
            }
        }
        Topology::LineFivePlusBranch => {
            let n = 6;
            cluster = vec![0; n];
            for (a, b) in [(0, 1), (1, 2), (2, 3), (3, 4), (2, 5)] {
                links.push(Link {
                    a,
                    b,
                    latency_ms: 200.0,
                    loss,
                    bandwidth: 10e6,
                    up: true,
                    tunnel: false,
                });
            }
            return Net::new(n, links, cluster);
        }
        Topology::Aredn => {
            let islands = n.div_ceil(ISLAND);
            for (i, c) in cluster.iter_mut().enumerate() {
                *c = i * islands / n;
            }
            for isl in 0..islands {
                let members: Vec<usize> = (0..n).filter(|&i| cluster[i] == isl).collect();
                let pos: Vec<(f64, f64)> =
                    members.iter().map(|_| (rng.unit(), rng.unit())).collect();
                // Radio links within range; then each node without a link joins the
                // nearest earlier node, so every island is connected.
                for x in 0..members.len() {
                    let mut linked = false;
                    let mut nearest = (f64::MAX, usize::MAX);
                    for y in 0..x {
                        let d =
                            ((pos[x].0 - pos[y].0).powi(2) + (pos[x].1 - pos[y].1).powi(2)).sqrt();
                        if d < RANGE {
                            links.push(radio(members[x], members[y], loss, rng));
                            linked = true;
                        }
                        if d < nearest.0 {
                            nearest = (d, y);
                        }
                    }
                    if !linked && nearest.1 != usize::MAX {
                        links.push(radio(members[x], members[nearest.1], loss, rng));
                    }
                }
            }
            // Tunnels: each island has one tunnel node (its gateway, as AREDN tunnel
            // servers are); island k tunnels to a random earlier island (a random
            // tree, a few tunnel hops deep), plus a chord for every fourth island.
            let gateways: Vec<usize> = (0..islands)
                .map(|isl| {
                    let members: Vec<usize> = (0..n).filter(|&i| cluster[i] == isl).collect();
                    members[rng.below(members.len())]
                })
                .collect();
            let tunnel = |a: usize, b: usize, rng: &mut Rng| Link {
                a,
                b,
                latency_ms: 10.0 + rng.unit() * 30.0,
                loss: loss / 2.0,
                bandwidth: 5e6,
                up: true,
                tunnel: true,
            };
            for isl in 1..islands {
                let to = rng.below(isl);
                links.push(tunnel(gateways[isl], gateways[to], rng));
            }
            for _ in 0..islands / 4 {
                let (x, y) = (rng.below(islands), rng.below(islands));
                if x != y {
                    links.push(tunnel(gateways[x], gateways[y], rng));
                }
            }
        }
    }
    Net::new(n, links, cluster)
}

/// The two halves of a partition: by island for the AREDN-like mesh (tunnels and any
/// radio link between the halves are cut), by position otherwise. For the namespace
/// test's mesh, node 0 and 1 against the rest (the link 1–2 is cut).
pub fn halves(t: Topology, net: &Net) -> Vec<bool> {
    match t {
        Topology::LineFivePlusBranch => (0..net.n).map(|i| i >= 2).collect(),
        Topology::Aredn => {
            let islands = net.cluster.iter().max().map_or(1, |m| m + 1);
            if islands == 1 {
                (0..net.n).map(|i| i >= net.n / 2).collect()
            } else {
                net.cluster.iter().map(|&c| c >= islands / 2).collect()
            }
        }
        Topology::Star => (0..net.n).map(|i| i != 0 && i % 2 == 0).collect(),
        Topology::Line => (0..net.n).map(|i| i >= net.n / 2).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aredn_mesh_is_connected_with_few_hops_inside_islands() {
        let mut rng = Rng::new(1);
        let net = build(Topology::Aredn, 200, 0.1, &mut rng);
        for b in 1..200 {
            assert!(net.path(0, b).hops > 0, "node {b} unreachable");
        }
        let mut worst = 0;
        for a in 0..200 {
            for b in 0..200 {
                if net.cluster[a] == net.cluster[b] {
                    worst = worst.max(net.path(a, b).hops);
                }
            }
        }
        assert!((1..=10).contains(&worst), "{worst}");
    }

    #[test]
    fn a_cut_splits_and_heals() {
        let mut rng = Rng::new(2);
        let mut net = build(Topology::LineFivePlusBranch, 6, 0.2, &mut rng);
        assert_eq!(net.path(0, 5).hops, 3);
        assert!((net.path(0, 4).latency_ms - 800.0).abs() < 1e-3);
        let side = halves(Topology::LineFivePlusBranch, &net);
        net.cut(&side, true);
        assert_eq!(net.path(0, 4).hops, 0);
        assert_eq!(net.path(2, 4).hops, 2);
        net.cut(&side, false);
        assert_eq!(net.path(0, 4).hops, 4);
    }

    #[test]
    fn far_exchanges_fail_more_often() {
        let mut rng = Rng::new(3);
        let net = build(Topology::Line, 8, 0.2, &mut rng);
        let rate = |b: usize, rng: &mut Rng| {
            (0..2000)
                .filter(|_| {
                    matches!(
                        net.exchange(rng, 0, b, 300, 5000.0, 10_000.0, 40.0, |_| 300),
                        Exchange::Done { .. }
                    )
                })
                .count()
        };
        let (near, far) = (rate(1, &mut rng), rate(6, &mut rng));
        assert!(near > 1800 && far < near / 2, "{near} {far}");
    }
}
