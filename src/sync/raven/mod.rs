//! The bridge between MeshChat and Raven channels (docs/RAVEN.md): a Raven peer that
//! runs inside `meshchat sync` on its own thread when `option raven '1'`.
//!
//! - [`map`]: which MeshChat channel goes to which Raven namekey;
//! - [`ids`]: the ids derived both ways, the same on every bridge;
//! - [`arednlink`]: finding Raven peers and publishing our entry;
//! - [`bridge`]: the loop (UDP socket, log follower, peers, counters);
//! - [`status`]: the report the `sync_status` and `sync_peers` actions show.
//!
//! The wire formats themselves are in `protocol::raven`. Out of scope: direct messages,
//! images, Winlink forms, and every other kind of Raven datagram but nodeinfo.

mod arednlink;
mod bridge;
pub mod ids;
mod map;
pub mod status;

use std::io::ErrorKind;
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::uci;
use crate::sync::Node;
use status::Report;

/// How long the daemon waits, when it stops, for the bridge to withdraw its entry.
const STOP_WAIT: Duration = Duration::from_secs(2);
/// How often that wait looks whether the bridge's thread has ended.
const STOP_POLL: Duration = Duration::from_millis(10);

/// The running bridge. Dropping it waits (briefly) for the thread to finish once a stop
/// signal arrived.
pub struct Handle {
    thread: std::thread::JoinHandle<()>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Polled, not a queue of its own: one more queue element type costs 0.5 KB.
        let until = std::time::Instant::now() + STOP_WAIT;
        while !self.thread.is_finished() && std::time::Instant::now() < until {
            std::thread::sleep(STOP_POLL);
        }
    }
}

fn log(msg: &str) {
    eprintln!("meshchat sync: raven: {msg}");
}

/// The node's mesh address from its setup file (`wifi_ip` of `globals`), as Raven finds it.
fn mesh_ip(node: &Node) -> Option<Ipv4Addr> {
    let text = std::fs::read_to_string(&node.cfg.setup_file).ok()?;
    uci::parse(&text)
        .iter()
        .filter(|s| s.name.as_deref() == Some("globals") || s.kind == "globals")
        .find_map(|s| s.get("wifi_ip")?.trim().parse().ok())
}

/// Starts the bridge if `raven` is on. When it cannot start (the port is taken: Raven
/// itself runs on this node), it says so on stderr and in its report, and stays off;
/// the rest of the daemon is not affected.
pub fn spawn(node: &Arc<Node>) -> Option<Handle> {
    let r = &node.cfg.raven;
    if !r.enabled {
        // A report left by an earlier run would be stale.
        crate::store::raven::clear(&node.cfg.paths);
        return None;
    }
    let mut report = Report {
        node: node.cfg.node().to_string(),
        port: r.listen.port(),
        ..Report::default()
    };
    let me =
        r.id.unwrap_or_else(|| ids::node_id(node.cfg.node().as_str()));
    report.id = me;
    let ip =
        r.ip.or_else(|| mesh_ip(node))
            .or_else(|| Some(*r.listen.ip()).filter(|i| !i.is_unspecified()));
    report.ip = ip;
    // The status first, then the log line: whoever reads the line finds the status.
    let off = |mut report: Report, why: String| {
        let line = format!("{why}: the bridge stays off");
        report.reason = why;
        if let Err(e) = report.write(&node.cfg.paths) {
            log(&format!("writing the status: {e}"));
        }
        log(&line);
        None
    };
    let Some(ip) = ip else {
        return off(
            report,
            "no mesh address (wifi_ip in the setup file, or option raven_ip)".into(),
        );
    };
    let sock = match UdpSocket::bind(r.listen) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::AddrInUse => {
            return off(
                report,
                format!(
                    "UDP port {} is in use (is Raven itself running on this node?)",
                    r.listen.port()
                ),
            )
        }
        Err(e) => return off(report, format!("cannot listen on {}: {e}", r.listen)),
    };
    let port = sock.local_addr().map_or(r.listen.port(), |a| a.port());
    log(&format!(
        "bridging as !{me:08x} ({ip}), UDP port {port}, entries in {}",
        r.entries_dir.display()
    ));
    let node = node.clone();
    let spawned = crate::sys::thread_with(
        Some("raven"),
        None,
        Box::new(move || {
            bridge::Bridge::new(node, sock, me, ip, report).run();
        }),
    );
    match spawned {
        Ok(thread) => Some(Handle { thread }),
        Err(e) => {
            log(&format!("cannot start its thread: {e}"));
            None
        }
    }
}
