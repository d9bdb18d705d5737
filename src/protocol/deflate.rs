//! The deflate writer (RFC 1951) inside every gzip body: LZ77 over a 32 KB window with
//! hash chains and one-step lazy matching, then one dynamic Huffman block per 16,384
//! symbols.
//!
//! Our own rather than miniz_oxide's compressor: this is 17 KB smaller on mips_24kc, and
//! its output is within a few percent of miniz at level 6 (a unit test holds it to
//! that). Speed matters less: a body is compressed once per change of the log and then
//! served from the cache.

/// Window and hash table sizes: the format's 32 KB window; 2^15 hash heads.
const WINDOW: usize = 1 << 15;
const HASH_BITS: u32 = 15;
/// Match lengths the format allows.
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
/// Chain links followed per position, and a match long enough to stop looking (zlib's
/// level 6: 128 and 128); a shorter match is checked against the next position's, with a
/// quarter of the links when it is already `GOOD` (a fifth less time, 0.1% more bytes).
const MAX_CHAIN: u32 = 128;
const NICE: usize = 128;
const GOOD: usize = 32;
/// Symbols per block: each block gets Huffman codes fitted to its own text.
const BLOCK: usize = 16_384;
/// The order in which the code-length code's lengths are sent.
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// The raw deflate stream of `data` (no zlib or gzip framing).
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut out = Bits::default();
    let mut m = Matcher::new(data);
    let mut symbols: Vec<u32> = Vec::with_capacity(BLOCK.min(data.len() + 1));
    let mut i = 0;
    while i < data.len() {
        let (mut len, mut dist) = m.longest(i, MAX_CHAIN);
        let mut at = i;
        if (MIN_MATCH..NICE).contains(&len) {
            // One step of laziness: a longer match at the next byte wins over this one.
            let (len2, dist2) = m.longest(
                i + 1,
                if len >= GOOD {
                    MAX_CHAIN / 4
                } else {
                    MAX_CHAIN
                },
            );
            if len2 > len {
                symbols.push(u32::from(data[i]));
                (len, dist, at) = (len2, dist2, i + 1);
            }
        }
        if len >= MIN_MATCH {
            symbols.push(((len as u32) << 16) | dist as u32);
            // Positions already in the chains are passed over.
            for j in at + 1..at + len {
                m.skip(j);
            }
            i = at + len;
        } else {
            symbols.push(u32::from(data[i]));
            i = at + 1;
        }
        if symbols.len() >= BLOCK {
            block(&mut out, &symbols, false);
            symbols.clear();
        }
    }
    block(&mut out, &symbols, true);
    out.finish()
}

/// Hash chains over the positions seen so far: `head` holds the newest position + 1 of
/// each hash (0: none), `prev` the previous one of the same hash, per window slot.
struct Matcher<'a> {
    data: &'a [u8],
    // Fixed sizes: indexes masked to them need no bounds checks in the inner loop.
    head: Box<[u32; 1 << HASH_BITS]>,
    prev: Box<[u32; WINDOW]>,
    /// Positions below this are in the chains.
    next: usize,
}

impl<'a> Matcher<'a> {
    fn new(data: &'a [u8]) -> Matcher<'a> {
        Matcher {
            data,
            head: zeros(),
            prev: zeros(),
            next: 0,
        }
    }

    fn hash(&self, i: usize) -> usize {
        let b = &self.data[i..i + MIN_MATCH];
        let v = u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
        (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
    }

    /// Puts position `i` into the chains, if it is the next one (positions go in once,
    /// in order).
    fn skip(&mut self, i: usize) {
        if i == self.next && i + MIN_MATCH <= self.data.len() {
            let h = self.hash(i);
            self.prev[i % WINDOW] = self.head[h % (1 << HASH_BITS)];
            self.head[h % (1 << HASH_BITS)] = i as u32 + 1;
            self.next = i + 1;
        }
    }

    /// The longest earlier match for position `i` as (length, distance), length 0 when
    /// none reaches `MIN_MATCH`; then puts `i` into the chains.
    fn longest(&mut self, i: usize, chain: u32) -> (usize, usize) {
        let d = self.data;
        let max = (d.len() - i.min(d.len())).min(MAX_MATCH);
        let mut best = (0, 0);
        if max >= MIN_MATCH && i == self.next {
            let mut cand = self.head[self.hash(i) % (1 << HASH_BITS)];
            let mut chain = chain;
            let mut best_len = MIN_MATCH - 1;
            let here = &d[i..i + max];
            while cand != 0 && chain > 0 {
                let c = cand as usize - 1;
                if i - c > WINDOW {
                    break;
                }
                let there = &d[c..c + max];
                if there[best_len] == here[best_len] {
                    let len = common(there, here);
                    if len > best_len {
                        best_len = len;
                        best = (len, i - c);
                        if len >= NICE || len == max {
                            break;
                        }
                    }
                }
                let older = self.prev[c % WINDOW];
                // A slot reused by a newer position ends the chain.
                if older >= cand {
                    break;
                }
                cand = older;
                chain -= 1;
            }
        }
        self.skip(i);
        best
    }
}

/// A zeroed table on the heap (not built on the stack first).
fn zeros<const N: usize>() -> Box<[u32; N]> {
    vec![0; N]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!())
}

/// How many leading bytes `a` and `b` (of one length) share: a word at a time.
fn common(a: &[u8], b: &[u8]) -> usize {
    const W: usize = std::mem::size_of::<usize>();
    let mut n = 0;
    while n + W <= a.len() {
        let x = usize::from_ne_bytes(a[n..n + W].try_into().unwrap_or_default())
            ^ usize::from_ne_bytes(b[n..n + W].try_into().unwrap_or_default());
        if x != 0 {
            let same = if cfg!(target_endian = "little") {
                x.trailing_zeros()
            } else {
                x.leading_zeros()
            };
            return n + same as usize / 8;
        }
        n += W;
    }
    n + a[n..]
        .iter()
        .zip(&b[n..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// A match length (3..=258) as (length symbol, extra bits, their count).
fn length_code(len: usize) -> (usize, u32, u32) {
    if len == MAX_MATCH {
        return (285, 0, 0);
    }
    let v = len - MIN_MATCH;
    let bits = if v < 8 { 0 } else { v.ilog2() - 2 };
    (
        257 + 4 * bits as usize + (v >> bits),
        (v & ((1 << bits) - 1)) as u32,
        bits,
    )
}

/// A distance (1..=32768) as (distance symbol, extra bits, their count).
fn distance_code(dist: usize) -> (usize, u32, u32) {
    let v = dist - 1;
    let bits = if v < 4 { 0 } else { v.ilog2() - 1 };
    (
        2 * bits as usize + (v >> bits),
        (v & ((1 << bits) - 1)) as u32,
        bits,
    )
}

/// Writes one dynamic Huffman block of `symbols` (literals below 256, matches as
/// length << 16 | distance) and its end-of-block symbol.
fn block(out: &mut Bits, symbols: &[u32], last: bool) {
    let mut lit_freq = [0u32; 286];
    let mut dist_freq = [0u32; 30];
    lit_freq[256] = 1;
    for &s in symbols {
        if s < 256 {
            lit_freq[s as usize] += 1;
        } else {
            lit_freq[length_code((s >> 16) as usize).0] += 1;
            dist_freq[distance_code((s & 0xffff) as usize).0] += 1;
        }
    }
    let lit_len = code_lengths(&lit_freq, 15);
    let dist_len = code_lengths(&dist_freq, 15);
    let nlit = 257.max(used(&lit_len));
    let ndist = 1.max(used(&dist_len));

    // The two length lists as one run-length coded sequence: (symbol, extra, bits).
    let all: Vec<u8> = lit_len[..nlit]
        .iter()
        .chain(&dist_len[..ndist])
        .copied()
        .collect();
    let mut runs: Vec<(usize, u32, u32)> = Vec::new();
    let mut i = 0;
    while i < all.len() {
        let l = all[i];
        let run = all[i..].iter().take_while(|&&x| x == l).count();
        if l == 0 && run >= 3 {
            let r = run.min(138);
            runs.push(if r >= 11 {
                (18, r as u32 - 11, 7)
            } else {
                (17, r as u32 - 3, 3)
            });
            i += r;
        } else if l != 0 && run >= 4 {
            let r = (run - 1).min(6);
            runs.push((usize::from(l), 0, 0));
            runs.push((16, r as u32 - 3, 2));
            i += 1 + r;
        } else {
            runs.push((usize::from(l), 0, 0));
            i += 1;
        }
    }
    let mut cl_freq = [0u32; 19];
    for r in &runs {
        cl_freq[r.0] += 1;
    }
    let cl_len = code_lengths(&cl_freq, 7);
    let cl_sent: Vec<u8> = CL_ORDER.iter().map(|&s| cl_len[s]).collect();
    let ncl = 4.max(used(&cl_sent));

    out.put(u32::from(last), 1);
    out.put(2, 2);
    out.put((nlit - 257) as u32, 5);
    out.put((ndist - 1) as u32, 5);
    out.put((ncl - 4) as u32, 4);
    for &l in &cl_sent[..ncl] {
        out.put(u32::from(l), 3);
    }
    let cl = Codes::new(cl_len);
    for &(s, extra, bits) in &runs {
        cl.put(out, s, extra, bits);
    }
    let (lit, dist) = (Codes::new(lit_len), Codes::new(dist_len));
    for &s in symbols {
        if s < 256 {
            lit.put(out, s as usize, 0, 0);
        } else {
            let (sym, extra, bits) = length_code((s >> 16) as usize);
            lit.put(out, sym, extra, bits);
            let (sym, extra, bits) = distance_code((s & 0xffff) as usize);
            dist.put(out, sym, extra, bits);
        }
    }
    lit.put(out, 256, 0, 0);
}

/// A Huffman code: each symbol's length and its canonical code, bit-reversed.
struct Codes {
    lengths: Vec<u8>,
    codes: Vec<u16>,
}

impl Codes {
    fn new(lengths: Vec<u8>) -> Codes {
        let codes = codes(&lengths);
        Codes { lengths, codes }
    }

    /// Writes symbol `s`, then its `bits` extra bits `extra`.
    fn put(&self, out: &mut Bits, s: usize, extra: u32, bits: u32) {
        out.put(u32::from(self.codes[s]), u32::from(self.lengths[s]));
        out.put(extra, bits);
    }
}

/// How many symbols a length list needs to send (up to its last nonzero length).
fn used(lengths: &[u8]) -> usize {
    lengths.iter().rposition(|&l| l != 0).map_or(0, |p| p + 1)
}

/// Huffman code lengths for `freq`, none longer than `limit`: a Huffman tree, and while
/// it is too deep, the same with every frequency halved (rare symbols then weigh as much
/// as a little less rare ones). At least two symbols get a code, as inflaters expect.
fn code_lengths(freq: &[u32], limit: u32) -> Vec<u8> {
    let mut weight: Vec<u32> = freq.to_vec();
    for s in 0..2 {
        if weight.iter().filter(|&&w| w > 0).count() < 2 && weight[s] == 0 {
            weight[s] = 1;
        }
    }
    loop {
        // Nodes 0..n are the symbols; each merge appends one. `parent[x]` == 0: a root.
        let n = weight.len();
        let mut w = weight.clone();
        let mut parent = vec![0usize; n];
        let mut live: Vec<usize> = (0..n).filter(|&s| w[s] > 0).collect();
        while live.len() > 1 {
            let mut pick = || {
                let k = (0..live.len()).min_by_key(|&k| w[live[k]]).unwrap_or(0);
                live.swap_remove(k)
            };
            let (a, b) = (pick(), pick());
            let node = w.len();
            w.push(w[a] + w[b]);
            parent.push(0);
            parent[a] = node;
            parent[b] = node;
            live.push(node);
        }
        let mut lengths = vec![0u8; n];
        let mut deepest = 0;
        for s in (0..n).filter(|&s| w[s] > 0) {
            let (mut depth, mut x) = (0, s);
            while parent[x] != 0 {
                depth += 1;
                x = parent[x];
            }
            lengths[s] = depth as u8;
            deepest = deepest.max(depth);
        }
        if deepest <= limit {
            return lengths;
        }
        for f in weight.iter_mut().filter(|f| **f > 0) {
            *f = (*f >> 1).max(1);
        }
    }
}

/// Canonical codes for `lengths` (RFC 1951 3.2.2), bit-reversed: deflate sends Huffman
/// codes from their first bit while the bit writer fills from the low end.
fn codes(lengths: &[u8]) -> Vec<u16> {
    let mut count = [0u16; 16];
    for &l in lengths {
        count[usize::from(l)] += 1;
    }
    count[0] = 0;
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for bits in 1..16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    lengths
        .iter()
        .map(|&l| {
            if l == 0 {
                return 0;
            }
            let c = next[usize::from(l)];
            next[usize::from(l)] += 1;
            c.reverse_bits() >> (16 - l)
        })
        .collect()
}

/// Bits into bytes, least significant first.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, bits: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate(d: &[u8]) -> Vec<u8> {
        miniz_oxide::inflate::decompress_to_vec(d).expect("a valid deflate stream")
    }

    #[test]
    fn length_and_distance_symbols_match_the_tables() {
        // RFC 1951 3.2.5: (first length, symbol, extra bits).
        for (len, sym, bits) in [
            (3, 257, 0),
            (10, 264, 0),
            (11, 265, 1),
            (18, 268, 1),
            (19, 269, 2),
            (35, 273, 3),
            (67, 277, 4),
            (131, 281, 5),
            (227, 284, 5),
            (257, 284, 5),
            (258, 285, 0),
        ] {
            let (s, _, b) = length_code(len);
            assert_eq!((s, b), (sym, bits), "length {len}");
        }
        for (dist, sym, bits) in [
            (1, 0, 0),
            (4, 3, 0),
            (5, 4, 1),
            (7, 5, 1),
            (9, 6, 2),
            (13, 7, 2),
            (17, 8, 3),
            (1025, 20, 9),
            (24577, 29, 13),
            (32768, 29, 13),
        ] {
            let (s, _, b) = distance_code(dist);
            assert_eq!((s, b), (sym, bits), "distance {dist}");
        }
        assert_eq!(length_code(257).1, 30);
        assert_eq!(distance_code(32768).1, 8191);
    }

    #[test]
    fn round_trips_through_an_inflater() {
        let mut seed = 7u32;
        let mut noise = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let random: Vec<u8> = (0..70_000).map(|_| noise() as u8).collect();
        let words: Vec<u8> = (0..200_000)
            .map(|_| b"abcdefgh  ,."[(noise() % 12) as usize])
            .collect();
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"a".to_vec(),
            b"ab".to_vec(),
            vec![0; 100_000],
            b"[{\"message\":\"hello\"}]".repeat(5000),
            random,
            words,
            (0..=255u8).cycle().take(70_000).collect(),
        ];
        for data in cases {
            assert_eq!(inflate(&deflate(&data)), data, "{} bytes", data.len());
        }
    }

    #[test]
    fn compresses_about_as_well_as_miniz_level_6() {
        let mut body = Vec::new();
        for i in 0..500u32 {
            body.extend_from_slice(
                format!(
                    "{{\"id\":\"{:08x}\",\"epoch\":{},\"message\":\"net check in {} at 19{:02} from the shelter, \
                     copy {}\",\"call_sign\":\"K{}ABC\",\"node\":\"K{}ABC-node-{}\",\"platform\":\"node\",\
                     \"channel\":\"{}\"}},",
                    i.wrapping_mul(2_654_435_761),
                    1_700_000_000 + i * 37,
                    i % 7,
                    i % 60,
                    i * 13 % 101,
                    i % 9,
                    i % 9,
                    i % 4,
                    ["", "Emergency", "Net"][(i % 3) as usize]
                )
                .as_bytes(),
            );
        }
        let ours = deflate(&body).len();
        let miniz = miniz_oxide::deflate::compress_to_vec(&body, 6).len();
        assert!(
            ours * 100 <= miniz * 105,
            "ours {ours} bytes, miniz {miniz}"
        );
        assert!(ours * 8 < body.len(), "{ours} of {}", body.len());
    }
}
