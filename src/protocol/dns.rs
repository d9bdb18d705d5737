//! DNS over UDP (RFC 1035), as much as a peer's name needs: a query for one name's A or
//! AAAA records, and the addresses in its answer. `/etc/hosts` lines are read here too.
//!
//! In scope: bytes. Out of scope: sockets, files, retries (`http::resolve`).

use std::net::IpAddr;

/// Record types asked for.
pub const A: u16 = 1;
pub const AAAA: u16 = 28;

/// The query for `name`'s records of `qtype`, with the id `id` and recursion desired;
/// `None` for a name DNS cannot carry (an empty or over-long label, over 253 bytes).
pub fn query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    // Flags: RD; one question, no other records.
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    Some(q)
}

/// What an answer says.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// The addresses of the records asked for (none: the name has no such records).
    Found(Vec<IpAddr>),
    /// The name does not exist (NXDOMAIN).
    NoName,
    /// The server failed or refused: ask another.
    Failed,
}

/// The answer in `reply` to the query with id `id`; `None` when `reply` is not one (a
/// stray or malformed datagram, a truncated answer).
pub fn answer(reply: &[u8], id: u16) -> Option<Answer> {
    let u16_at = |i: usize| Some(u16::from_be_bytes([*reply.get(i)?, *reply.get(i + 1)?]));
    // A reply (QR) to our id, not truncated (TC).
    let flags = u16_at(2)?;
    if u16_at(0)? != id || flags & 0x8000 == 0 || flags & 0x0200 != 0 {
        return None;
    }
    match flags & 0x000f {
        0 => {}
        3 => return Some(Answer::NoName),
        _ => return Some(Answer::Failed),
    }
    let (questions, records) = (u16_at(4)?, u16_at(6)?);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(reply, at)? + 4;
    }
    let mut found = Vec::new();
    for _ in 0..records {
        at = skip_name(reply, at)?;
        let (rtype, class, len) = (u16_at(at)?, u16_at(at + 2)?, usize::from(u16_at(at + 8)?));
        let data = reply.get(at + 10..at + 10 + len)?;
        at += 10 + len;
        match (rtype, class, data.len()) {
            (A, 1, 4) => found.push(IpAddr::from(<[u8; 4]>::try_from(data).ok()?)),
            (AAAA, 1, 16) => found.push(IpAddr::from(<[u8; 16]>::try_from(data).ok()?)),
            // CNAMEs and the rest: the addresses follow in the same answer.
            _ => {}
        }
    }
    Some(Answer::Found(found))
}

/// The offset after the name at `at`: labels up to the root, or up to a pointer.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l if l < 64 => at += 1 + usize::from(l),
            _ => return None,
        }
    }
}

/// The addresses `/etc/hosts` (`text`) gives `name` (case-insensitive).
pub fn hosts(text: &str, name: &str) -> Vec<IpAddr> {
    let name = name.strip_suffix('.').unwrap_or(name);
    text.lines()
        .filter_map(|line| {
            let mut words = line.split('#').next()?.split_whitespace();
            let ip: IpAddr = words.next()?.parse().ok()?;
            words.any(|w| w.eq_ignore_ascii_case(name)).then_some(ip)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as dnsmasq writes one: the question, then a CNAME and its A record,
    /// names compressed with pointers.
    fn reply(id: u16, rcode: u8, records: &[(u16, &[u8])]) -> Vec<u8> {
        let mut r = id.to_be_bytes().to_vec();
        r.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1, 0, records.len() as u8, 0, 0, 0, 0]);
        r.extend_from_slice(b"\x04node\x05local\x04mesh\x00\x00\x01\x00\x01");
        for (rtype, data) in records {
            r.extend_from_slice(&[0xc0, 12]);
            r.extend_from_slice(&rtype.to_be_bytes());
            r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            r.extend_from_slice(&(data.len() as u16).to_be_bytes());
            r.extend_from_slice(data);
        }
        r
    }

    #[test]
    fn queries_carry_the_name_as_labels() {
        let q = query(0x1234, "node.local.mesh.", A).unwrap();
        assert_eq!(&q[..4], &[0x12, 0x34, 1, 0]);
        assert_eq!(&q[12..], b"\x04node\x05local\x04mesh\x00\x00\x01\x00\x01");
        assert_eq!(query(1, "a..b", A), None);
        assert_eq!(query(1, "", A), None);
        assert_eq!(query(1, &"x".repeat(64), A), None);
        assert_eq!(query(1, &["abc"; 70].join("."), A), None);
    }

    #[test]
    fn answers_give_their_addresses() {
        let r = reply(
            7,
            0,
            &[
                (5, b"\x03foo\xc0\x0c"),
                (A, &[10, 1, 2, 3]),
                (AAAA, &[0xfd; 16]),
            ],
        );
        assert_eq!(
            answer(&r, 7),
            Some(Answer::Found(vec![
                "10.1.2.3".parse().unwrap(),
                "fdfd:fdfd:fdfd:fdfd:fdfd:fdfd:fdfd:fdfd".parse().unwrap()
            ]))
        );
        assert_eq!(answer(&r, 8), None, "another query's id");
        assert_eq!(answer(&reply(7, 0, &[]), 7), Some(Answer::Found(vec![])));
        assert_eq!(answer(&reply(7, 3, &[]), 7), Some(Answer::NoName));
        assert_eq!(answer(&reply(7, 2, &[]), 7), Some(Answer::Failed));
        // Cut short anywhere: not an answer, never a panic.
        for n in 0..r.len() {
            assert!(!matches!(answer(&r[..n], 7), Some(Answer::Found(a)) if a.len() == 2));
        }
        let mut truncated = r.clone();
        truncated[2] |= 0x02;
        assert_eq!(answer(&truncated, 7), None);
        let mut query_not_reply = r;
        query_not_reply[2] &= 0x7f;
        assert_eq!(answer(&query_not_reply, 7), None);
    }

    #[test]
    fn hosts_lines_name_addresses() {
        let text =
            "127.0.0.1 localhost\n# 10.0.0.9 node-a\n10.0.0.1\tNode-A node-a.local.mesh # mesh\n\
                    fd00::1 node-a\nbogus node-a\n";
        assert_eq!(
            hosts(text, "node-a"),
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "fd00::1".parse().unwrap()
            ]
        );
        assert_eq!(
            hosts(text, "NODE-A.local.mesh."),
            vec!["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert!(hosts(text, "node-b").is_empty());
    }
}
