//! Host names to addresses for the peer client, without the C library's resolver:
//! `getaddrinfo` and what it brings in are 26 KB of a mips_24kc binary.
//!
//! The sources musl's resolver uses, in its order: `/etc/hosts`, then the name servers of
//! `/etc/resolv.conf` (127.0.0.1 when it names none: an AREDN node's dnsmasq, which knows
//! the mesh's names), asked over UDP for the A and AAAA records; a name without a dot is
//! also tried with the `search` domains. IPv4 name servers only, and IPv4 first: an A
//! answer with addresses is enough.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::error::FetchError;
use crate::protocol::dns::{self, Answer};

/// What `/etc/resolv.conf` says: name servers (at most three, as in musl) and search
/// domains.
#[derive(Debug, PartialEq)]
struct Conf {
    servers: Vec<SocketAddr>,
    search: Vec<String>,
}

fn conf(text: &str) -> Conf {
    let mut c = Conf {
        servers: Vec::new(),
        search: Vec::new(),
    };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ip) = words.next().and_then(|w| w.parse::<Ipv4Addr>().ok()) {
                    if c.servers.len() < 3 {
                        c.servers.push(SocketAddr::from((ip, 53)));
                    }
                }
            }
            // The last `search` or `domain` line wins (resolv.conf(5)).
            Some("search" | "domain") => c.search = words.map(str::to_string).collect(),
            _ => {}
        }
    }
    if c.servers.is_empty() {
        c.servers.push(SocketAddr::from((Ipv4Addr::LOCALHOST, 53)));
    }
    c
}

/// The addresses of `host` at `port`, found within `within`: an IP address as is, a name
/// as above; never an empty list (a name without addresses is [`FetchError::NoHost`]).
pub fn lookup(host: &str, port: u16, within: Duration) -> Result<Vec<SocketAddr>, FetchError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let read = |path| std::fs::read_to_string(path).unwrap_or_default();
    let mut ips = dns::hosts(&read("/etc/hosts"), host);
    if ips.is_empty() {
        ips = ask(
            &conf(&read("/etc/resolv.conf")),
            host,
            Instant::now() + within,
        )?;
    }
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

/// Asks `c`'s servers for `host`, then for `host` in each search domain if it has no
/// dot, until one has addresses.
fn ask(c: &Conf, host: &str, deadline: Instant) -> Result<Vec<IpAddr>, FetchError> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let mut names = vec![host.to_string()];
    if !host.contains('.') {
        names.extend(c.search.iter().map(|d| format!("{host}.{d}")));
    }
    let mut id = [0u8; 2];
    // Without the kernel's RNG, the clock still varies the ids.
    if crate::sys::random(&mut id).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        id = (t.subsec_nanos() as u16 ^ std::process::id() as u16).to_be_bytes();
    }
    let mut id = u16::from_be_bytes(id);
    for name in names {
        id = id.wrapping_add(2);
        let (Some(qa), Some(qaaaa)) = (
            dns::query(id, &name, dns::A),
            dns::query(id ^ 1, &name, dns::AAAA),
        ) else {
            continue;
        };
        if let Some(ips) = exchange(&sock, &c.servers, id, [&qa, &qaaaa], deadline)? {
            return Ok(ips);
        }
    }
    Err(FetchError::NoHost)
}

/// Sends the two queries (ids `id` and `id ^ 1`) to every server, again each second
/// while no answer comes, and gathers the answers: `None` when the name has no address.
fn exchange(
    sock: &UdpSocket,
    servers: &[SocketAddr],
    id: u16,
    queries: [&[u8]; 2],
    deadline: Instant,
) -> Result<Option<Vec<IpAddr>>, FetchError> {
    // Per query: its addresses once answered.
    let mut got: [Option<Vec<IpAddr>>; 2] = [None, None];
    let mut buf = [0u8; 1500];
    let mut resend = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(FetchError::Timeout);
        }
        if now >= resend {
            for (q, g) in queries.iter().zip(&got) {
                for s in servers.iter().filter(|_| g.is_none()) {
                    let _ = sock.send_to(q, s);
                }
            }
            resend = now + Duration::from_secs(1);
        }
        // Never zero: a zero timeout is refused, and the read would then block.
        let _ = sock.set_read_timeout(Some(
            (resend.min(deadline) - now).max(Duration::from_millis(1)),
        ));
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if !servers.contains(&from) {
            continue;
        }
        for (k, g) in got.iter_mut().enumerate() {
            match dns::answer(&buf[..n], id ^ k as u16) {
                Some(Answer::Found(ips)) => *g = Some(ips),
                Some(Answer::NoName) => *g = Some(Vec::new()),
                // A failing server: the others, or the next round, may answer.
                Some(Answer::Failed) | None => {}
            }
        }
        match &got {
            [Some(a), _] if !a.is_empty() => return Ok(got[0].take()),
            [Some(_), Some(b)] => return Ok(Some(b.clone()).filter(|b| !b.is_empty())),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_names_servers_and_search_domains() {
        let c = conf("# AREDN\nnameserver 10.1.1.1\nnameserver ::1\nsearch local.mesh\nnameserver 10.1.1.2\n");
        assert_eq!(
            c.servers,
            vec![
                SocketAddr::from(([10, 1, 1, 1], 53)),
                SocketAddr::from(([10, 1, 1, 2], 53))
            ]
        );
        assert_eq!(c.search, vec!["local.mesh".to_string()]);
        assert_eq!(
            conf("").servers,
            vec![SocketAddr::from(([127, 0, 0, 1], 53))]
        );
        assert_eq!(conf("search a b\ndomain c\n").search, vec!["c".to_string()]);
    }

    /// A name server on a loopback port that answers `names` (name, A address) and says
    /// NXDOMAIN to every other name; it drops the first query it gets, as a lossy link
    /// would.
    fn server(names: &'static [(&'static str, [u8; 4])]) -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let mut first = true;
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                if std::mem::take(&mut first) {
                    continue;
                }
                let q = &buf[..n];
                let qtype = u16::from_be_bytes([q[n - 4], q[n - 3]]);
                let mut name = Vec::new();
                let mut at = 12;
                while q[at] != 0 {
                    name.push(
                        String::from_utf8_lossy(&q[at + 1..at + 1 + q[at] as usize]).into_owned(),
                    );
                    at += 1 + q[at] as usize;
                }
                let found = names.iter().find(|(n, _)| *n == name.join("."));
                let mut r = q.to_vec();
                r[2] = 0x81;
                r[3] = if found.is_some() { 0x80 } else { 0x83 };
                if let (Some((_, ip)), dns::A) = (found, qtype) {
                    r[7] = 1;
                    r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 9, 0, 4]);
                    r.extend_from_slice(ip);
                }
                let _ = sock.send_to(&r, from);
            }
        });
        addr
    }

    #[test]
    fn asks_the_servers_and_the_search_domains() {
        let c = Conf {
            servers: vec![server(&[
                ("node-a.local.mesh", [10, 9, 8, 7]),
                ("node-b", [10, 0, 0, 2]),
            ])],
            search: vec!["local.mesh".into()],
        };
        let soon = || Instant::now() + Duration::from_secs(10);
        assert_eq!(
            ask(&c, "node-b", soon()).unwrap(),
            vec![IpAddr::from([10, 0, 0, 2])]
        );
        assert_eq!(
            ask(&c, "node-a", soon()).unwrap(),
            vec![IpAddr::from([10, 9, 8, 7])]
        );
        assert!(matches!(ask(&c, "node-c", soon()), Err(FetchError::NoHost)));
        let silent = Conf {
            servers: vec![UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()],
            search: vec![],
        };
        let t = Instant::now();
        assert!(matches!(
            ask(&silent, "node-a", t + Duration::from_millis(300)),
            Err(FetchError::Timeout)
        ));
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}
