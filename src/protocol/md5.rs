//! MD5 (RFC 1321), as MeshChat's `Content-MD5` headers and `messages_md5` carry it: a
//! rolled loop over one table, about 1 KB in the binary where the unrolled md5 crate
//! took 15 KB. Same face as that crate: `compute`, `Context::{new, consume, finalize}`,
//! a `Digest` printed with `{:x}`.

use std::fmt;

/// Shift amounts, four per round.
const S: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/// floor(abs(sin(i + 1)) * 2^32).
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// A finished MD5.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest(pub [u8; 16]);

impl fmt::LowerHex for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// An MD5 being computed.
#[derive(Clone)]
pub struct Context {
    state: [u32; 4],
    /// Bytes consumed so far.
    len: u64,
    buf: [u8; 64],
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl Context {
    /// A new computation.
    pub fn new() -> Context {
        Context {
            state: [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476],
            len: 0,
            buf: [0; 64],
        }
    }

    /// Adds bytes.
    pub fn consume(&mut self, data: impl AsRef<[u8]>) {
        let mut data = data.as_ref();
        let used = (self.len % 64) as usize;
        self.len += data.len() as u64;
        if used > 0 {
            let n = data.len().min(64 - used);
            self.buf[used..used + n].copy_from_slice(&data[..n]);
            data = &data[n..];
            if used + n < 64 {
                return;
            }
            let block = self.buf;
            self.block(&block);
        }
        let mut chunks = data.chunks_exact(64);
        for c in &mut chunks {
            let mut block = [0u8; 64];
            block.copy_from_slice(c);
            self.block(&block);
        }
        let rest = chunks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
    }

    /// The digest of everything consumed.
    pub fn finalize(mut self) -> Digest {
        let bits = self.len.wrapping_mul(8);
        let used = (self.len % 64) as usize;
        let pad = if used < 56 { 56 - used } else { 120 - used };
        let mut tail = [0u8; 72];
        tail[0] = 0x80;
        tail[pad..pad + 8].copy_from_slice(&bits.to_le_bytes());
        self.consume(&tail[..pad + 8]);
        let mut out = [0u8; 16];
        for (o, s) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&s.to_le_bytes());
        }
        Digest(out)
    }

    fn block(&mut self, block: &[u8; 64]) {
        let mut m = [0u32; 16];
        for (w, b) in m.iter_mut().zip(block.chunks_exact(4)) {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let [mut a, mut b, mut c, mut d] = self.state;
        // One loop per round: the round's function and message order fixed inside it (a
        // `match` on the round at every step made this three times slower).
        macro_rules! round {
            ($range:expr, $f:expr, $g:expr) => {
                for i in $range {
                    let f = $f(b, c, d)
                        .wrapping_add(a)
                        .wrapping_add(K[i])
                        .wrapping_add(m[$g(i) % 16]);
                    a = d;
                    d = c;
                    c = b;
                    b = b.wrapping_add(f.rotate_left(S[i / 16 * 4 + i % 4]));
                }
            };
        }
        round!(0..16, |b: u32, c: u32, d: u32| (b & c) | (!b & d), |i| i);
        round!(16..32, |b: u32, c: u32, d: u32| (d & b) | (!d & c), |i| 5
            * i
            + 1);
        round!(32..48, |b: u32, c: u32, d: u32| b ^ c ^ d, |i| 3 * i + 5);
        round!(48..64, |b: u32, c: u32, d: u32| c ^ (b | !d), |i| 7 * i);
        for (s, v) in self.state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
}

/// The MD5 of `data`.
pub fn compute(data: impl AsRef<[u8]>) -> Digest {
    let mut c = Context::new();
    c.consume(data);
    c.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_1321_vectors() {
        let hex = |d: Digest| format!("{d:x}");
        assert_eq!(hex(compute("")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex(compute("abc")), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex(compute(
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            )),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn streaming_matches_the_md5_crate_at_every_split() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 31 + 7) as u8).collect();
        for n in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 300] {
            let want = format!("{:x}", ::md5::compute(&data[..n]));
            assert_eq!(format!("{:x}", compute(&data[..n])), want, "length {n}");
            for split in [0, 1.min(n), n / 2, n] {
                let mut c = Context::new();
                c.consume(&data[..split]);
                c.consume(&data[split..n]);
                assert_eq!(
                    format!("{:x}", c.finalize()),
                    want,
                    "length {n} split {split}"
                );
            }
        }
    }
}
