//! Which peers to pull from, and when: every scheduling decision of `meshchat sync`,
//! free of sockets, threads and the system clock, so that the daemon and the mesh
//! simulator (`make sim`) run the same code. Time is milliseconds on a monotonic clock
//! the caller chooses; randomness comes from a seeded generator.
//!
//! Two strategies (docs/SYNC.md, "Peer selection"):
//!
//! - [`Strategy::AllPeers`]: every peer every interval, an unreachable one retried after
//!   1, 2, 4, then 6 intervals. What meshchat did before gossip, and what `--once` does.
//!   A node in a zone of N serves N−1 requests per interval: it does not scale.
//! - [`Strategy::Gossip`] (the default): each round pulls `fanout` peers drawn at random,
//!   weighted towards near peers (short round-trip times), peers that recently had news,
//!   and away from peers that recently failed. A peer that hints it holds a message we
//!   lack (its check request carried its newest key) is pulled at once: news travels
//!   both ways on every contact, so a message spreads epidemically. Random choice is
//!   also the anti-entropy: every pair of nodes keeps a chance to meet every round, so a
//!   partition or a missed round always heals.
//!
//! Failures never block a gossip peer outright: they lower its weight. When a peer that
//! had failed answers again the network has changed (a link came back), so every other
//! failing peer's count is halved: healing is set by the network, not by a back-off.

use std::time::Duration;

use super::patience::Patience;

/// Milliseconds on the caller's monotonic clock.
pub type Millis = u64;

/// Largest `sync_fanout` accepted.
pub const MAX_FANOUT: usize = 64;
/// A peer answering `404` is left alone this long (the legacy rule).
pub const BACKOFF_404_MS: Millis = 600_000;
/// All-peers: an unreachable peer is retried after at most this many intervals.
pub const MAX_BACKOFF_INTERVALS: u64 = 6;
/// Gossip: a peer whose last news is younger than this many intervals is preferred.
pub const NEWS_INTERVALS: u64 = 6;
/// Gossip: the weight of a peer that had news recently, relative to one that had not.
const NEWS_BOOST: u64 = 2;
/// Gossip: each recent failure divides a peer's weight by this (at most 3 times).
const FAILURE_PENALTY: u64 = 4;
/// Gossip: the weight of a near peer without news or failures. Weights are whole
/// numbers: the radios' MIPS CPUs have no floating point, and its software routines cost
/// 4 KB of the binary.
const FULL_WEIGHT: u64 = 1 << 20;
/// Gossip: failures counted towards the penalty.
const MAX_PENALISED_FAILURES: u32 = 3;
/// Gossip: the round-trip time that counts as near before any peer answered; then the
/// nearest answering peer's sets it. A peer k times slower than near weighs 1/k².
pub const NEAR_RTT_MS: u32 = 100;
/// Gossip: a near peer's round-trip time is taken as at least this.
const MIN_NEAR_RTT_MS: u32 = 10;
/// Gossip: a hinted pull that fails is tried again, up to this many times in all.
pub const HINT_TRIES: u32 = 3;
/// Gossip: news rounds are at least this fraction of an interval apart (1/2).
pub const NEWS_ROUND_GAP: u64 = 2;
/// Weight of the newest round-trip sample in the smoothed one (out of 4).
const RTT_NEW_SHARE: u32 = 1;

/// How peers are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Every peer every interval (before gossip; `--once`).
    AllPeers,
    /// `fanout` weighted random peers per interval, plus peers that hinted news.
    Gossip { fanout: usize },
}

impl Strategy {
    /// The strategy a `sync_fanout` value selects: 0 means every peer every round.
    pub fn from_fanout(fanout: usize) -> Strategy {
        if fanout == 0 {
            Strategy::AllPeers
        } else {
            Strategy::Gossip {
                fanout: fanout.min(MAX_FANOUT),
            }
        }
    }

    /// A short name for logs and the simulator's tables.
    pub fn name(&self) -> String {
        match self {
            Strategy::AllPeers => "all-peers".to_string(),
            Strategy::Gossip { fanout } => format!("gossip-{fanout}"),
        }
    }
}

/// How a round with a peer ended, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The peer answered. `news`: it sent messages we lacked. `rtt_ms`: how long its
    /// first answer took, when measured.
    Answered { news: bool, rtt_ms: Option<u32> },
    /// Nobody answered (refused, no route, timeout, too slow).
    Unreachable,
    /// `404`: the legacy "leave me alone".
    NotFound,
    /// Anything else (a broken reply, our own store): retried as usual.
    Failed,
}

/// What the planner knows about one peer.
#[derive(Debug, Clone, Default)]
pub struct Slot {
    /// Listed by the latest discovery: only listed peers are pulled.
    pub listed: bool,
    busy: bool,
    /// All-peers: when the next round is due.
    due: Millis,
    /// `404` back-off.
    blocked_until: Millis,
    /// Failures since the last answer (halved when another peer recovers).
    failures: u32,
    /// The peer told us it holds a message we lack: pull it at once.
    hinted: bool,
    /// Hinted pulls tried since the hint came (a failed one is tried again).
    hint_tries: u32,
    /// When it last sent us messages we lacked.
    last_news: Option<Millis>,
    /// Smoothed round-trip time of its first answer.
    rtt_ms: Option<u32>,
}

impl Slot {
    /// A round with this peer is running.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// Failures since the peer last answered.
    #[cfg(test)]
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// The schedule of one node: a slot per peer, indexed like the caller's own list.
#[derive(Debug, Clone)]
pub struct Planner {
    strategy: Strategy,
    interval: Millis,
    slots: Vec<Slot>,
    next_round: Millis,
    /// Gossip: an extra round to pass on news, when due.
    news_round: Option<Millis>,
    /// When the last news round ran.
    last_news_round: Option<Millis>,
    rng: u64,
}

impl Planner {
    /// A planner pulling every `interval` ms; `seed` drives the random choices.
    pub fn new(strategy: Strategy, interval: Millis, seed: u64, now: Millis) -> Planner {
        Planner {
            strategy,
            interval: interval.max(1),
            slots: Vec::new(),
            next_round: now,
            news_round: None,
            last_news_round: None,
            // Never zero: xorshift would stay there.
            rng: seed | 1,
        }
    }

    /// Adds a listed peer, due at once; returns its index.
    pub fn add(&mut self, now: Millis) -> usize {
        self.slots.push(Slot {
            listed: true,
            due: now,
            ..Slot::default()
        });
        self.slots.len() - 1
    }

    /// Removes peer `i`; the last peer takes its index (as `Vec::swap_remove` does).
    pub fn remove(&mut self, i: usize) {
        self.slots.swap_remove(i);
    }

    pub fn slot(&self, i: usize) -> &Slot {
        &self.slots[i]
    }

    pub fn slot_mut(&mut self, i: usize) -> &mut Slot {
        &mut self.slots[i]
    }

    /// True while a round with some peer is running.
    pub fn any_busy(&self) -> bool {
        self.slots.iter().any(|s| s.busy)
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: small, fast, and the same on every platform.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn free(&self, i: usize, now: Millis) -> bool {
        let s = &self.slots[i];
        s.listed && !s.busy && now >= s.blocked_until
    }

    /// How much a gossip round wants peer `i`.
    /// `near`: the round-trip time of the nearest peer that answers (full weight).
    fn weight(&self, i: usize, now: Millis, near: u32) -> u64 {
        let s = &self.slots[i];
        let mut w = match s.rtt_ms {
            Some(rtt) if rtt > near => {
                let (near, rtt) = (u64::from(near), u64::from(rtt));
                FULL_WEIGHT * near / rtt * near / rtt
            }
            _ => FULL_WEIGHT,
        };
        if s.last_news
            .is_some_and(|t| now.saturating_sub(t) < NEWS_INTERVALS * self.interval)
        {
            w *= NEWS_BOOST;
        }
        for _ in 0..s.failures.min(MAX_PENALISED_FAILURES) {
            w /= FAILURE_PENALTY;
        }
        // However far or failing, a peer keeps a chance.
        w.max(1)
    }

    /// The peers to pull now; each is marked busy until [`Planner::finished`].
    pub fn start(&mut self, now: Millis) -> Vec<usize> {
        let mut out = Vec::new();
        match self.strategy {
            Strategy::AllPeers => {
                for i in 0..self.slots.len() {
                    if self.free(i, now) && now >= self.slots[i].due {
                        out.push(i);
                    }
                }
            }
            Strategy::Gossip { fanout } => {
                for i in 0..self.slots.len() {
                    if self.slots[i].hinted && self.free(i, now) {
                        out.push(i);
                    }
                }
                if self.news_round.is_some_and(|t| now >= t) {
                    self.news_round = None;
                    self.last_news_round = Some(now);
                    self.pick(now, fanout, &mut out);
                }
                if now >= self.next_round {
                    self.next_round = if now - self.next_round < self.interval {
                        self.next_round + self.interval
                    } else {
                        now + self.interval
                    };
                    self.pick(now, fanout, &mut out);
                }
            }
        }
        for &i in &out {
            let s = &mut self.slots[i];
            s.busy = true;
            if s.hinted {
                s.hint_tries += 1;
            }
            s.hinted = false;
            s.due = now + self.interval;
        }
        out
    }

    /// Draws `k` free peers not yet in `out`, weighted, without replacement. The first
    /// is drawn among the peers that have answered (a reliable, usually near contact
    /// every round, even when a lossy link made it fail lately); the others among all
    /// (the long jumps that make news spread across the mesh, and find nearer peers).
    fn pick(&mut self, now: Millis, k: usize, out: &mut Vec<usize>) {
        // Distance is measured against the nearest peer that ever answered, failing or
        // not: were it left out when it fails, a node whose near peers all failed once
        // would weigh every far peer it never tried above them, and lose its
        // neighbourhood to draws across the whole mesh.
        let near = self
            .slots
            .iter()
            .filter_map(|s| s.rtt_ms)
            .min()
            .unwrap_or(NEAR_RTT_MS)
            .max(MIN_NEAR_RTT_MS);
        let mut pool: Vec<(usize, u64)> = (0..self.slots.len())
            .filter(|&i| self.free(i, now) && !out.contains(&i))
            .map(|i| (i, self.weight(i, now, near)))
            .collect();
        let answered = |i: usize| self.slots[i].rtt_ms.is_some();
        let mut known: Vec<(usize, u64)> = pool.iter().copied().filter(|p| answered(p.0)).collect();
        for n in 0..k {
            let from = if n == 0 && !known.is_empty() {
                &mut known
            } else {
                &mut pool
            };
            let Some(i) = self.draw(from) else { break };
            pool.retain(|p| p.0 != i);
            known.clear();
            out.push(i);
        }
    }

    /// Removes and returns one entry of `pool`, with probability proportional to its
    /// weight.
    fn draw(&mut self, pool: &mut Vec<(usize, u64)>) -> Option<usize> {
        let total: u64 = pool.iter().map(|p| p.1).sum();
        if pool.is_empty() || total == 0 {
            return None;
        }
        let mut x = self.random() % total;
        let mut at = pool.len() - 1;
        for (j, p) in pool.iter().enumerate() {
            if x < p.1 {
                at = j;
                break;
            }
            x -= p.1;
        }
        Some(pool.swap_remove(at).0)
    }

    /// The time-outs of a round with peer `i`, by its distance and recent failures
    /// (`patience`); `stall` is the configured stall window.
    pub fn patience(&self, i: usize, stall: Duration) -> Patience {
        let s = &self.slots[i];
        Patience::of(s.rtt_ms, s.failures, stall)
    }

    /// Records how the round with peer `i` ended.
    pub fn finished(&mut self, i: usize, now: Millis, ending: Ending) {
        let gossip = matches!(self.strategy, Strategy::Gossip { .. });
        let interval = self.interval;
        let s = &mut self.slots[i];
        s.busy = false;
        match ending {
            Ending::Answered { news, rtt_ms } => {
                let recovered = s.failures > 0;
                s.failures = 0;
                s.hint_tries = 0;
                if news {
                    s.last_news = Some(now);
                }
                if let Some(r) = rtt_ms {
                    s.rtt_ms = Some(match s.rtt_ms {
                        None => r,
                        Some(old) => (old * (4 - RTT_NEW_SHARE) + r * RTT_NEW_SHARE) / 4,
                    });
                }
                if recovered && gossip {
                    // The network changed: every failing peer is worth trying again.
                    for (j, other) in self.slots.iter_mut().enumerate() {
                        if j != i {
                            other.failures /= 2;
                        }
                    }
                }
            }
            Ending::Unreachable => {
                s.failures = s.failures.saturating_add(1);
                // News is worth another try: the peer holds what we lack.
                if gossip && (1..HINT_TRIES).contains(&s.hint_tries) {
                    s.hinted = true;
                } else {
                    s.hint_tries = 0;
                }
                if !gossip {
                    let factor =
                        (1u64 << s.failures.saturating_sub(1).min(3)).min(MAX_BACKOFF_INTERVALS);
                    s.due = now + interval * factor;
                }
            }
            Ending::NotFound => {
                s.blocked_until = now + BACKOFF_404_MS;
            }
            Ending::Failed => {}
        }
    }

    /// Peer `i` told us it holds a message we lack: a gossip planner pulls it at once
    /// (it reached us, so its failures are forgotten). All-peers ignores hints.
    pub fn hint(&mut self, i: usize) {
        if let Strategy::Gossip { .. } = self.strategy {
            let s = &mut self.slots[i];
            s.hinted = true;
            s.failures = 0;
        }
    }

    /// This node got messages (pulled, or posted here): a gossip planner runs an extra
    /// round at once, so its peers hear of them (each check carries the hint) without
    /// waiting for the next interval; at most one such round per half interval.
    pub fn news(&mut self, now: Millis) {
        if !matches!(self.strategy, Strategy::Gossip { .. }) || self.news_round.is_some() {
            return;
        }
        let earliest = self
            .last_news_round
            .map_or(now, |t| t + self.interval / NEWS_ROUND_GAP);
        self.news_round = Some(now.max(earliest));
    }

    /// When [`Planner::start`] may next have something to start (`now` or later).
    pub fn next_wake(&self, now: Millis) -> Millis {
        let mut t = Millis::MAX;
        for (i, s) in self.slots.iter().enumerate() {
            if !s.listed || s.busy {
                continue;
            }
            let ready = s.blocked_until.max(match self.strategy {
                Strategy::AllPeers => s.due,
                Strategy::Gossip { .. } if s.hinted => now,
                Strategy::Gossip { .. } => Millis::MAX,
            });
            if ready < t && (ready > now || self.free(i, now)) {
                t = ready;
            }
        }
        if let Strategy::Gossip { .. } = self.strategy {
            t = t
                .min(self.next_round)
                .min(self.news_round.unwrap_or(Millis::MAX));
        }
        t.max(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IV: Millis = 10_000;

    fn planner(strategy: Strategy, peers: usize) -> Planner {
        let mut p = Planner::new(strategy, IV, 42, 0);
        for _ in 0..peers {
            p.add(0);
        }
        p
    }

    fn finish_all(p: &mut Planner, started: &[usize], now: Millis, ending: Ending) {
        for &i in started {
            p.finished(i, now, ending);
        }
    }

    const OK: Ending = Ending::Answered {
        news: false,
        rtt_ms: None,
    };

    #[test]
    fn all_peers_pulls_everyone_every_interval_and_backs_off_the_dead() {
        let mut p = planner(Strategy::AllPeers, 5);
        let first = p.start(0);
        assert_eq!(first, [0, 1, 2, 3, 4]);
        assert!(p.start(1).is_empty(), "busy peers are not started twice");
        finish_all(&mut p, &first[..4], 500, OK);
        p.finished(4, 500, Ending::Unreachable);
        assert_eq!(p.next_wake(600), IV);
        assert_eq!(p.start(IV), [0, 1, 2, 3]);
        assert_eq!(p.next_wake(IV + 1), IV + 500);
        assert_eq!(p.start(IV + 500), [4]);
        p.finished(4, IV + 900, Ending::Unreachable);
        // Second failure: two intervals after the failed attempt.
        assert_eq!(p.slot(4).due, IV + 900 + 2 * IV);
    }

    #[test]
    fn gossip_pulls_fanout_peers_per_round() {
        let mut p = planner(Strategy::Gossip { fanout: 3 }, 100);
        let mut counts = vec![0u32; 100];
        let mut now = 0;
        for _ in 0..1000 {
            let started = p.start(now);
            assert_eq!(started.len(), 3);
            for &i in &started {
                counts[i] += 1;
            }
            finish_all(&mut p, &started, now + 100, OK);
            assert!(p.start(now + 200).is_empty(), "one round per interval");
            assert_eq!(p.next_wake(now + 200), now + IV);
            now += IV;
        }
        // Uniform when nothing distinguishes the peers: each about 30 times.
        assert!(counts.iter().all(|&c| (10..=60).contains(&c)), "{counts:?}");
    }

    #[test]
    fn gossip_prefers_near_peers_and_avoids_failing_ones() {
        // 0: near, 1: far, 2: failing, 3: never tried.
        let mut p = planner(Strategy::Gossip { fanout: 2 }, 4);
        for (i, rtt) in [(0, 50), (1, 1000)] {
            p.finished(
                i,
                0,
                Ending::Answered {
                    news: false,
                    rtt_ms: Some(rtt),
                },
            );
        }
        for _ in 0..3 {
            p.finished(2, 0, Ending::Unreachable);
        }
        let mut counts = [0u32; 4];
        let mut now = 0;
        for _ in 0..3000 {
            let s = p.start(now);
            assert_eq!(s.len(), 2);
            // The first pick is among the peers that answered.
            assert!(s[0] <= 1, "{s:?}");
            for &i in &s {
                counts[i] += 1;
            }
            finish_all(&mut p, &s, now, Ending::Failed);
            now += IV;
        }
        // Weights: near 1, far (50/1000)² = 0.0025, failing 1/64, unknown 1.
        assert!(counts[0] > 20 * counts[1], "{counts:?}");
        assert!(counts[3] > 20 * counts[2], "{counts:?}");
        assert!(counts[2] > 0, "a failing peer keeps a chance: {counts:?}");
    }

    #[test]
    fn near_peers_that_failed_once_stay_the_first_draw() {
        // 0 and 1: near, answered, then lost one pull each to a lossy link; 2..200:
        // far peers never tried. The node keeps its neighbourhood: were failing near
        // peers measured against the default distance, every never-tried peer would
        // weigh more and the first pick would wander across the mesh.
        let mut p = planner(Strategy::Gossip { fanout: 3 }, 200);
        for (i, rtt) in [(0, 300), (1, 400)] {
            let ok = Ending::Answered {
                news: false,
                rtt_ms: Some(rtt),
            };
            p.finished(i, 0, ok);
            p.finished(i, 0, Ending::Unreachable);
        }
        let mut now = 0;
        for _ in 0..50 {
            let s = p.start(now);
            assert!(s[0] <= 1, "{s:?}");
            finish_all(&mut p, &s, now, Ending::Failed);
            now += IV;
        }
    }

    #[test]
    fn a_hint_pulls_at_once_and_a_recovery_halves_everyones_failures() {
        let mut p = planner(Strategy::Gossip { fanout: 1 }, 4);
        let s = p.start(0);
        p.finished(s[0], 100, OK);
        p.hint(2);
        assert_eq!(p.next_wake(200), 200);
        assert_eq!(p.start(200), [2]);
        p.finished(2, 300, OK);
        for i in 0..4 {
            for _ in 0..4 {
                p.finished(i, 400, Ending::Unreachable);
            }
        }
        p.finished(
            1,
            500,
            Ending::Answered {
                news: true,
                rtt_ms: None,
            },
        );
        assert_eq!(p.slot(1).failures(), 0);
        assert_eq!(p.slot(0).failures(), 2);
        assert_eq!(p.slot(3).failures(), 2);
    }

    #[test]
    fn time_outs_follow_distance_and_failures() {
        let stall = Duration::from_secs(10);
        let connect = |p: &Planner, i: usize| p.patience(i, stall).connect.as_secs();
        let mut p = planner(Strategy::Gossip { fanout: 1 }, 1);
        assert_eq!(connect(&p, 0), 5, "never tried: the base");
        p.finished(
            0,
            0,
            Ending::Answered {
                news: false,
                rtt_ms: Some(3_000),
            },
        );
        assert_eq!(connect(&p, 0), 9, "far: three round trips");
        p.finished(0, 50, Ending::Unreachable);
        assert_eq!(connect(&p, 0), 5, "far but failing: the base");
        p.finished(
            0,
            100,
            Ending::Answered {
                news: false,
                rtt_ms: Some(3_000),
            },
        );
        assert_eq!(connect(&p, 0), 9, "answering again");
    }

    #[test]
    fn news_starts_an_extra_round_at_most_every_half_interval() {
        let mut p = planner(Strategy::Gossip { fanout: 2 }, 10);
        let s = p.start(0);
        finish_all(&mut p, &s, 100, OK);
        p.news(1000);
        assert_eq!(p.next_wake(1000), 1000);
        let s = p.start(1000);
        assert_eq!(s.len(), 2);
        finish_all(&mut p, &s, 1100, OK);
        p.news(2000);
        assert_eq!(p.next_wake(2000), 1000 + IV / 2);
        assert!(p.start(2000).is_empty());
        assert_eq!(p.start(1000 + IV / 2).len(), 2);
        let mut all = planner(Strategy::AllPeers, 3);
        let s = all.start(0);
        finish_all(&mut all, &s, 100, OK);
        all.news(200);
        assert!(all.start(200).is_empty(), "all-peers has no news rounds");
    }

    #[test]
    fn not_found_blocks_ten_minutes_and_unlisted_peers_are_never_pulled() {
        let mut p = planner(Strategy::Gossip { fanout: 5 }, 3);
        let s = p.start(0);
        assert_eq!(s.len(), 3);
        p.finished(0, 10, Ending::NotFound);
        p.finished(1, 10, OK);
        p.finished(2, 10, OK);
        p.slot_mut(1).listed = false;
        assert_eq!(p.start(IV), [2]);
        p.finished(2, IV + 10, OK);
        let mut s = p.start(BACKOFF_404_MS + 20);
        s.sort();
        assert_eq!(s, [0, 2]);
    }

    #[test]
    fn fanout_zero_is_all_peers() {
        assert_eq!(Strategy::from_fanout(0), Strategy::AllPeers);
        assert_eq!(
            Strategy::from_fanout(1000),
            Strategy::Gossip { fanout: MAX_FANOUT }
        );
    }
}
