//! CRC-32 (IEEE 802.3, the one gzip and zlib use): the log's record checks, gzip trailers
//! and the sync digests' list checksums.
//!
//! One 256-entry table, one byte per step: 1 KB in the binary where a slicing-by-16
//! implementation carries a 16 KB table. The price is speed on cold paths only (reading
//! the whole log after a change): about 8 instructions per byte on a 24Kc.

/// The reflected polynomial.
const POLY: u32 = 0xedb8_8320;

static TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// The CRC-32 of `data`.
pub fn hash(data: &[u8]) -> u32 {
    let mut h = Hasher::new();
    h.update(data);
    h.finalize()
}

/// A CRC-32 over pieces.
#[derive(Clone, Copy)]
pub struct Hasher(u32);

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

impl Hasher {
    /// Nothing consumed yet.
    pub fn new() -> Hasher {
        Hasher(!0)
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        let mut c = self.0;
        for &b in data {
            c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    /// The CRC-32 of everything added.
    pub fn finalize(self) -> u32 {
        !self.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_standard_check_value_and_crc32fast() {
        assert_eq!(super::hash(b"123456789"), 0xcbf4_3926);
        assert_eq!(super::hash(b""), 0);
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for n in [1, 15, 16, 17, 255, 4999] {
            assert_eq!(super::hash(&data[..n]), ::crc32fast::hash(&data[..n]));
            let mut h = super::Hasher::new();
            h.update(&data[..n / 3]);
            h.update(&data[n / 3..n]);
            assert_eq!(h.finalize(), ::crc32fast::hash(&data[..n]));
        }
    }
}
