//! The ids the bridge derives, so that every bridge on the mesh derives the same ones
//! (docs/RAVEN.md, "Ids"). Pure functions, nothing stored.
//!
//! - A Raven message becomes a MeshChat message whose id depends only on what the
//!   datagram says: two bridges store the same id and sync keeps one copy. The id is also
//!   recognisable from the MeshChat message alone, so no bridge ever carries it back.
//! - A MeshChat message goes to Raven with an id that is a fixed permutation of its
//!   MeshChat id: two bridges send the same id (Raven keeps the first), and a datagram
//!   that is one of our own coming back is recognised by inverting it.

use crate::protocol::{Epoch, MessageId};

/// Bits of a Raven-derived MeshChat id that come from the Raven sender and id; the other
/// 20 check the message's date and text.
const ORIGIN_BITS: u32 = 12;
const TAG_BITS: u32 = 32 - ORIGIN_BITS;
const TAG_MASK: u32 = (1 << TAG_BITS) - 1;
/// Mixed into the MeshChat id before permuting it into a Raven id.
const RAVEN_SALT: u32 = 0x5241_5645;

/// MurmurHash3's 32-bit finaliser: a permutation of `u32` that mixes every bit.
const fn fmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// The multiplicative inverse of an odd number modulo 2^32 (Newton's iteration).
const fn inverse(a: u32) -> u32 {
    let mut x = a;
    let mut i = 0;
    while i < 5 {
        x = x.wrapping_mul(2u32.wrapping_sub(a.wrapping_mul(x)));
        i += 1;
    }
    x
}

fn unfmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(const { inverse(0xc2b2_ae35) });
    h ^= (h >> 13) ^ (h >> 26);
    h = h.wrapping_mul(const { inverse(0x85eb_ca6b) });
    h ^= h >> 16;
    h
}

/// FNV-1a over the parts, then [`fmix`].
fn hash(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for part in parts {
        for &b in *part {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
    fmix(h)
}

fn tag(origin: u32, epoch: Epoch, stored_text: &str) -> u32 {
    hash(&[
        b"meshchat-raven-tag",
        &origin.to_be_bytes(),
        &epoch.0.to_be_bytes(),
        stored_text.as_bytes(),
    ]) & TAG_MASK
}

/// The MeshChat id of the Raven message `raven_id` sent by node `from`, dated `epoch`,
/// whose text is `stored_text` (MeshChat's stored form).
pub fn meshchat_id(from: u32, raven_id: u32, epoch: Epoch, stored_text: &str) -> MessageId {
    let origin = hash(&[
        b"meshchat-raven-origin",
        &from.to_be_bytes(),
        &raven_id.to_be_bytes(),
    ]) >> TAG_BITS;
    MessageId(origin << TAG_BITS | tag(origin, epoch, stored_text))
}

/// True when a MeshChat message's id is one [`meshchat_id`] made: it came from Raven.
/// A message born in MeshChat (random id) looks like one with odds of 1 in 2^20.
pub fn came_from_raven(id: MessageId, epoch: Epoch, stored_text: &str) -> bool {
    id.0 & TAG_MASK == tag(id.0 >> TAG_BITS, epoch, stored_text)
}

/// The Raven id a MeshChat message is sent with.
pub fn raven_id(id: MessageId) -> u32 {
    fmix(id.0 ^ RAVEN_SALT)
}

/// The MeshChat id whose [`raven_id`] is `raven`.
pub fn meshchat_of(raven: u32) -> MessageId {
    MessageId(unfmix(raven) ^ RAVEN_SALT)
}

/// Our Raven node id when `raven_id` is not set: a hash of the node name, never 0
/// (unknown) nor `0xffffffff` (broadcast).
pub fn node_id(node: &str) -> u32 {
    match hash(&[b"meshchat-raven-node", node.as_bytes()]) {
        0 | u32::MAX => 1,
        n => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raven_ids_round_trip() {
        for id in [0u32, 1, 0x0a1b_2c3d, u32::MAX, 0x8000_0000] {
            let r = raven_id(MessageId(id));
            assert_eq!(meshchat_of(r), MessageId(id));
        }
        assert_ne!(raven_id(MessageId(1)), raven_id(MessageId(2)));
    }

    #[test]
    fn derived_ids_are_stable_and_recognised() {
        let a = meshchat_id(1447952385, 1968491793, Epoch(1795960975), "hello");
        // Fixed: every bridge, every version, must derive these same ids (the values follow
        // from docs/RAVEN.md's description alone).
        assert_eq!(a, MessageId(0xc3df_efbf));
        assert_eq!(raven_id(MessageId(0x0a1b_2c3d)), 0xdc84_15d2);
        assert_eq!(node_id("node-a"), 0x9df9_24d1);
        assert_eq!(a.to_string(), format!("{:08x}", a.0));
        assert!(came_from_raven(a, Epoch(1795960975), "hello"));
        assert!(!came_from_raven(a, Epoch(1795960976), "hello"));
        assert!(!came_from_raven(a, Epoch(1795960975), "hello!"));
        assert_ne!(
            a,
            meshchat_id(1447952385, 1968491794, Epoch(1795960975), "hello")
        );
        assert_ne!(
            a,
            meshchat_id(1447952386, 1968491793, Epoch(1795960975), "hello")
        );
        // Random MeshChat ids are almost never taken for Raven ones.
        let mut x = 0x1234_5678u32;
        let mut false_hits = 0;
        for _ in 0..100_000 {
            x = fmix(x.wrapping_add(0x9e37_79b9));
            false_hits += u32::from(came_from_raven(MessageId(x), Epoch(1795960975), "hello"));
        }
        assert!(false_hits <= 2, "{false_hits}");
    }

    #[test]
    fn node_ids() {
        assert_eq!(node_id("node-a"), node_id("node-a"));
        assert_ne!(node_id("node-a"), node_id("node-b"));
        assert_ne!(node_id("node-a"), 0);
    }
}
