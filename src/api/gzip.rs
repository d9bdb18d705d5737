//! gzip bodies (RFC 1952): the deflate stream from `protocol::deflate`, header and
//! trailer written here. Reading one back (for a client of `serve` that takes no gzip)
//! uses miniz_oxide's inflater, in `embed-ui` builds only.

use crate::protocol::{crc32, deflate};

/// The gzip form of `data`. Never inlined: kept out of the action dispatch, so that a
/// request that compresses nothing pays nothing for it.
#[inline(never)]
pub fn compress(data: &[u8]) -> Vec<u8> {
    let deflated = deflate::deflate(data);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    // Magic, deflate, no flags, no mtime, no extra flags, OS = Unix.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// The data inside a gzip member written by [`compress`] (fixed 10-byte header, no
/// optional fields); `None` when it is not one or does not check out.
#[cfg(feature = "embed-ui")]
pub fn decompress(gz: &[u8]) -> Option<Vec<u8>> {
    if gz.len() < 18 || gz[..4] != [0x1f, 0x8b, 8, 0] {
        return None;
    }
    let (body, trailer) = gz[10..].split_at(gz.len() - 18);
    let data = miniz_oxide::inflate::decompress_to_vec(body).ok()?;
    let crc = u32::from_le_bytes(trailer[..4].try_into().ok()?);
    (crc32::hash(&data) == crc).then_some(data)
}

#[cfg(test)]
mod tests {
    #[test]
    fn gunzip_reads_it_back() {
        let data = b"[{\"message\":\"hello\"}]".repeat(50);
        let gz = super::compress(&data);
        assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
        let mut child = std::process::Command::new("gzip")
            .arg("-dc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gzip is part of every Debian system");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&gz).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, data);
    }

    #[cfg(feature = "embed-ui")]
    #[test]
    fn decompress_reads_it_back_and_checks_it() {
        let data = b"[{\"message\":\"hello\"}]".repeat(50);
        let gz = super::compress(&data);
        assert_eq!(super::decompress(&gz).unwrap(), data);
        let mut bad = gz.clone();
        bad[20] ^= 1;
        assert_ne!(super::decompress(&bad).as_deref(), Some(&data[..]));
        assert_eq!(super::decompress(b"not gzip at all, no"), None);
    }
}
