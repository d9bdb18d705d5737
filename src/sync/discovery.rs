//! Which peers to sync with this round: MeshChat services of our zone from every file of
//! the arednlink services directory and from the OLSR services file, plus the static
//! peers of the configuration (docs/PROTOCOL.md, "Finding peers").
//!
//! The files are re-read every round; a missing, unreadable or garbled file contributes
//! nothing. A host from these files is data: it must be a plain host name or address
//! (letters, digits, `-`, `.`) before it is ever put in a URL, and it never reaches a
//! shell.

use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

use crate::config::Config;
use crate::protocol::limits::MAX_SERVICES_FILE;
use crate::protocol::services::{self, Service};
use crate::protocol::{NodeName, Platform};

/// Files read from the services directory (arednlink writes `0`..`63`).
const MAX_SERVICE_FILES: usize = 256;
/// Bytes of a host name: a node name, with room for the `_PORT` its state key may add
/// (DNS would allow 253; no mesh node name comes near).
const MAX_HOST: usize = crate::protocol::limits::MAX_NODE_NAME - "_65535".len();
/// The port MeshChat answers on under a node's web server.
pub const NODE_PORT: u16 = 8080;
/// The mesh's DNS domain: `NAME` and `NAME.local.mesh` are one node.
const MESH_DOMAIN: &str = ".local.mesh";

/// A node to sync with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Its host name as advertised (validated by [`valid_host`]).
    pub host: String,
    pub port: u16,
    /// The host lowercased.
    pub name: NodeName,
    /// What its sync status and file list are kept under: [`Peer::name`] on a node's
    /// usual port 8080 (the legacy names), `NAME_PORT` on any other, so two peers on one
    /// host keep apart. `_` never occurs in a host ([`valid_host`]): no clash.
    pub key: NodeName,
    /// `node` when it listens on 8080, else `pi` (legacy rule).
    pub platform: Platform,
}

impl Peer {
    /// A peer at `host:port`, if the host is acceptable.
    pub fn new(host: &str, port: u16) -> Option<Peer> {
        if !valid_host(host) || port == 0 {
            return None;
        }
        let name: NodeName = host.to_ascii_lowercase().parse().ok()?;
        let key = if port == NODE_PORT {
            name.clone()
        } else {
            format!("{name}_{port}").parse().ok()?
        };
        Some(Peer {
            host: host.to_string(),
            port,
            name,
            key,
            platform: if port == NODE_PORT {
                Platform::Node
            } else {
                Platform::Pi
            },
        })
    }

    /// The peer's API URL.
    pub fn url(&self) -> String {
        format!("http://{}:{}/cgi-bin/meshchat", self.host, self.port)
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A host name or IPv4 address we are willing to connect to: letters, digits, `-` and
/// `.`, starting with a letter or digit, no empty label.
pub fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= MAX_HOST
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && h.split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-'))
}

/// The peers found this round, and how many advertised entries were refused (bad host
/// or port).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    pub peers: Vec<Peer>,
    pub rejected: usize,
    /// The host our own service entry names us by, when it names us at all (a name or an
    /// address): what every other node of the zone calls us.
    pub listed_as: Option<String>,
}

/// Everything that names this node, so that it never syncs with itself whatever its own
/// service entry calls it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Me {
    /// Names, lowercased, without the mesh domain.
    names: Vec<String>,
    /// Addresses of this host's interfaces.
    addrs: Vec<IpAddr>,
    /// Ports this node's MeshChat answers on.
    ports: Vec<u16>,
}

/// A host name lowercased, without a trailing dot or the mesh domain.
fn bare(host: &str) -> String {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    match h.strip_suffix(MESH_DOMAIN) {
        Some(b) if !b.is_empty() => b.to_string(),
        _ => h,
    }
}

impl Me {
    /// A node called `names`, at `addrs`, answering on `ports`.
    pub fn new(names: &[&str], addrs: Vec<IpAddr>, ports: Vec<u16>) -> Me {
        let mut names: Vec<String> = names.iter().map(|n| bare(n)).collect();
        crate::sort::sort(&mut names);
        names.dedup();
        Me {
            names,
            addrs,
            ports,
        }
    }

    /// This node: its configured name and the kernel's host name, the addresses of its
    /// interfaces, and the node's port with the one its setup file advertises.
    pub fn of(cfg: &Config) -> Me {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let mut names = vec![cfg.node().as_str()];
        if !kernel.trim().is_empty() {
            names.push(kernel.trim());
        }
        let mut ports = vec![NODE_PORT];
        ports.extend(crate::config::port_from_setup(&cfg.setup_file));
        Me::new(&names, crate::sys::local_addrs(), ports)
    }

    /// True when `host:port` is this node: one of its names on any port (the legacy
    /// rule), or one of its addresses (a loopback one included) on one of its ports.
    /// Another instance on this host at another port is a peer.
    pub fn is(&self, host: &str, port: u16) -> bool {
        if self.names.contains(&bare(host)) {
            return true;
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => {
                (ip.is_loopback() || ip.is_unspecified() || self.addrs.contains(&ip))
                    && self.ports.contains(&port)
            }
            Err(_) => false,
        }
    }
}

/// Keeps the services of `zone` (case-sensitive) that are not `me`, adds the static
/// peers, and removes duplicates by (lowercased host, port), first found first. Also
/// returns the refused entries and the host of the first entry of `zone` that names
/// this node.
pub fn select(
    services: &[Service],
    zone: &str,
    me: &Me,
    statics: &[(String, u16)],
) -> (Vec<Peer>, usize, Option<String>) {
    let listed_as = services
        .iter()
        .find(|s| s.zone == zone && me.is(s.host.as_str(), s.port))
        .map(|s| s.host.as_str().to_ascii_lowercase());
    let mut peers: Vec<Peer> = Vec::new();
    let mut rejected = 0;
    let candidates = services
        .iter()
        .filter(|s| s.zone == zone)
        .map(|s| (s.host.as_str(), s.port))
        .chain(statics.iter().map(|(h, p)| (h.as_str(), *p)));
    for (host, port) in candidates {
        if me.is(host, port) {
            continue;
        }
        let Some(peer) = Peer::new(host, port) else {
            rejected += 1;
            continue;
        };
        if !peers
            .iter()
            .any(|p| p.name == peer.name && p.port == peer.port)
        {
            peers.push(peer);
        }
    }
    (peers, rejected, listed_as)
}

/// Reads at most [`MAX_SERVICES_FILE`] bytes of a file; `None` when it cannot be read.
fn read_capped(path: &Path) -> Option<String> {
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_SERVICES_FILE as u64)
        .read_to_end(&mut buf)
        .ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// Every MeshChat service listed in the arednlink directory and the OLSR file, with the
/// number of refused entries.
pub fn advertised(services_dir: &Path, services_olsr: &Path) -> (Vec<Service>, usize) {
    let mut files: Vec<_> = std::fs::read_dir(services_dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.path())
                .take(MAX_SERVICE_FILES)
                .collect()
        })
        .unwrap_or_default();
    crate::sort::sort(&mut files);
    files.push(services_olsr.to_path_buf());
    let mut out = Vec::new();
    let mut rejected = 0;
    for path in files {
        if let Some(text) = read_capped(&path) {
            let parsed = services::parse(&text);
            rejected += parsed.rejected;
            out.extend(parsed.services);
        }
    }
    (out, rejected)
}

/// This round's peers for the node `cfg` describes.
pub fn discover(cfg: &Config) -> Found {
    let (services, rejected) = advertised(&cfg.services_dir, &cfg.services_olsr);
    let statics: Vec<(String, u16)> = cfg
        .peers
        .iter()
        .map(|p| (p.host.to_string(), p.port))
        .collect();
    let (peers, refused, listed_as) = select(&services, cfg.zone(), &Me::of(cfg), &statics);
    Found {
        peers,
        rejected: rejected + refused,
        listed_as,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_plain_names_or_addresses() {
        for ok in ["KN6PLV-hap", "k7fpv-rpi.local.mesh", "10.54.12.3", "a"] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "a..b",
            ".a",
            "a.",
            "a_b",
            "a;reboot",
            "$(reboot)",
            "a b",
            "a/b",
            "a:1",
            "[::1]",
            &"a".repeat(254),
            &"a".repeat(MAX_HOST + 1),
        ] {
            assert!(!valid_host(bad), "{bad:?}");
        }
    }

    /// Every valid host on every port makes a peer: the longest one's state key
    /// (`HOST_PORT`) is still a valid node name (found by the services fuzz target).
    #[test]
    fn the_longest_valid_host_is_a_peer_on_any_port() {
        let host = "K".repeat(MAX_HOST);
        for port in [1, 80, NODE_PORT, 65535] {
            assert!(Peer::new(&host, port).is_some(), "{port}");
        }
    }

    #[test]
    fn select_filters_zone_self_and_duplicates() {
        let svc = |h: &str, p: u16, z: &str| Service {
            host: h.parse().unwrap(),
            port: p,
            zone: z.into(),
        };
        let services = [
            svc("KN6PLV-hap", 8080, "MeshChat"),
            svc("kn6plv-hap", 8080, "MeshChat"),
            svc("ME-node", 8080, "MeshChat"),
            svc("other", 8080, "meshchat"),
            svc("pi-1", 80, "MeshChat"),
            svc("under_score", 8080, "MeshChat"),
        ];
        let (peers, rejected, _) = select(
            &services,
            "MeshChat",
            &Me::new(&["me-NODE"], vec![], vec![NODE_PORT]),
            &[("static-1".into(), 8081), ("PI-1".into(), 80)],
        );
        let got: Vec<_> = peers
            .iter()
            .map(|p| (p.host.as_str(), p.name.as_str(), p.port, p.platform))
            .collect();
        assert_eq!(
            got,
            [
                ("KN6PLV-hap", "kn6plv-hap", 8080, Platform::Node),
                ("pi-1", "pi-1", 80, Platform::Pi),
                ("static-1", "static-1", 8081, Platform::Pi),
            ]
        );
        assert_eq!(rejected, 1, "under_score is not a host name");
        assert_eq!(peers[0].url(), "http://KN6PLV-hap:8080/cgi-bin/meshchat");
    }

    #[test]
    fn a_node_knows_itself_by_every_name_and_address() {
        let svc = |h: &str, p: u16| Service {
            host: h.parse().unwrap(),
            port: p,
            zone: "MeshChat".into(),
        };
        let me = Me::new(
            &["KN6PLV-hap", "kn6plv-hap.lan"],
            vec!["10.54.12.3".parse().unwrap(), "fd00::3".parse().unwrap()],
            vec![NODE_PORT, 8090],
        );
        let services = [
            svc("kn6plv-hap.local.mesh", 8080),
            svc("KN6PLV-HAP.local.mesh.", 8080),
            svc("kn6plv-hap.lan", 8080),
            svc("10.54.12.3", 8080),
            svc("10.54.12.3", 8090),
            svc("127.0.0.1", 8080),
            // Another instance on this host, on a port that is not ours: a peer.
            svc("10.54.12.3", 8081),
            svc("127.0.0.1", 8081),
            // Someone else on our port.
            svc("10.54.12.4", 8080),
            svc("kn6plv-hap2", 8080),
        ];
        let (peers, rejected, listed_as) =
            select(&services, "MeshChat", &me, &[("fd00::3".into(), 8080)]);
        // What the zone calls us: the first of our own entries.
        assert_eq!(listed_as.as_deref(), Some("kn6plv-hap.local.mesh"));
        let (_, _, by_address) = select(&services[3..], "MeshChat", &me, &[]);
        assert_eq!(by_address.as_deref(), Some("10.54.12.3"));
        let got: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            got,
            [
                "10.54.12.3:8081",
                "127.0.0.1:8081",
                "10.54.12.4:8080",
                "kn6plv-hap2:8080"
            ]
        );
        // fd00::3 was recognised before its host was judged: not counted as refused.
        assert_eq!(rejected, 0);
        assert!(me.is("::1", 8080) && me.is("0.0.0.0", 8090) && !me.is("::1", 1));
        // This host's real interfaces are found (loopback at least).
        let found = crate::sys::local_addrs();
        assert!(found.iter().any(|a| a.is_loopback()), "{found:?}");
    }

    #[test]
    fn peers_on_one_host_are_kept_apart_by_port() {
        let a = Peer::new("K7FPV-rpi", 8080).unwrap();
        let b = Peer::new("K7FPV-rpi", 8081).unwrap();
        assert_eq!(
            (a.name.as_str(), a.key.as_str()),
            ("k7fpv-rpi", "k7fpv-rpi")
        );
        assert_eq!(
            (b.name.as_str(), b.key.as_str()),
            ("k7fpv-rpi", "k7fpv-rpi_8081")
        );
        assert_eq!(
            Peer::new("10.0.0.1", 80).unwrap().key.as_str(),
            "10.0.0.1_80"
        );
    }

    #[test]
    fn recorded_service_files_of_both_eras() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/services");
        let text = format!(
            "config meshchat 'main'\n\toption node 'me-node'\n\toption zone 'MeshChat'\n\
\toption services_dir '{0}/arednlink'\n\toption services_olsr '{0}/services_olsr'\n\
\tlist peer 'static-pi:8081'\n\tlist peer 'kn6plv-hap:8080'\n",
            dir.display()
        );
        let cfg = Config::from_raw(&crate::config::Raw::from_uci(&text)).unwrap();
        let found = discover(&cfg);
        let got: Vec<String> = found.peers.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            got,
            [
                "KN6PLV-hap:8080",
                "K7FPV-rpi:80",
                "ab1cd-node:8080",
                "K7FPV-node:8080",
                "KE6ABC-hap.local.mesh:8080",
                "static-pi:8081",
            ]
        );
        // $(reboot), `id`, port 0, an empty host, and x_y (not a DNS name).
        assert_eq!(found.rejected, 5);
        assert!(found
            .peers
            .iter()
            .all(|p| valid_host(&p.host) && !p.host.eq_ignore_ascii_case("me-node")));
        // Another zone sees other peers in the same files.
        let ops = text.replace("'MeshChat'", "'Emergency Ops'");
        let cfg = Config::from_raw(&crate::config::Raw::from_uci(&ops)).unwrap();
        let got: Vec<String> = discover(&cfg).peers.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            got,
            [
                "AB1CD-node:8080",
                "pi-2:8081",
                "static-pi:8081",
                "kn6plv-hap:8080"
            ]
        );
    }

    #[test]
    fn missing_files_are_no_peers() {
        let (s, r) = advertised(
            Path::new("/nonexistent/meshchat/services"),
            Path::new("/nonexistent/services_olsr"),
        );
        assert!(s.is_empty());
        assert_eq!(r, 0);
    }
}
