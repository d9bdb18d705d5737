//! Node-level actions: `config`, `sync_status`, `meshchat_nodes`, `action_log` (the
//! hooks' outcomes), and the legacy leftovers `hosts`, `hosts_raw`.

use super::exchange::Response;
use super::{store_failed, Api, Call, PROTOCOL_VERSION, VERSION};
use crate::protocol::json::{push_array, push_str, Object};
use crate::protocol::services;

/// The incremental sync extensions this build speaks (see docs/SYNC.md).
pub const SYNC_EXTENSIONS: &str = "[\"digest-v1\"]";

/// `config`: who this node is. `protocol_verison` is misspelt on purpose: clients read it.
pub fn config(api: &Api, _call: &mut Call) -> Response {
    let cfg = api.cfg;
    let mut body = Vec::with_capacity(256);
    let mut o = Object::new(&mut body);
    o.str("version", VERSION)
        .str("protocol_verison", PROTOCOL_VERSION)
        .str("protocol_version", PROTOCOL_VERSION)
        .str("node", cfg.node().as_str())
        .str("zone", cfg.zone())
        .str("default_channel", &cfg.default_channel)
        .num("debug", u64::from(cfg.debug))
        .str("platform", cfg.platform().as_str());
    if cfg.digest_sync {
        o.raw("sync", SYNC_EXTENSIONS.as_bytes());
    }
    if !cfg.warnings.is_empty() {
        // Mistakes in the configuration file, answered around (without its path).
        let mut list = Vec::new();
        push_array(&mut list, &cfg.warnings, |out, w| push_str(out, w));
        o.raw("warnings", &list);
    }
    o.end();
    body.push(b'\n');
    Response::json(body)
}

/// `sync_status`: when each peer was last synced, newest first; then the Raven peers of
/// the bridge, when it runs, marked `"raven":1`.
pub fn sync_status(api: &Api, _call: &mut Call) -> Response {
    let list = match api.status.read() {
        Ok(l) => l,
        Err(e) => return store_failed(e),
    };
    let raven = crate::store::raven::read_peers(&api.cfg.paths);
    let mut body = Vec::new();
    let all = list
        .iter()
        .map(|s| (s, false))
        .chain(raven.iter().map(|s| (s, true)));
    push_array(&mut body, all, |out, (s, raven)| {
        let mut o = Object::new(out);
        o.str("node", s.node.as_str()).num("epoch", s.epoch.0);
        // Raven peers (docs/RAVEN.md): last heard from, not last synced.
        if raven {
            o.num("raven", 1);
        }
        o.end();
    });
    body.push(b'\n');
    Response::json(body)
}

/// Every MeshChat service the node's service files advertise (both formats).
pub fn advertised(api: &Api) -> Vec<services::Service> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&api.cfg.services_dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    crate::sort::sort(&mut files);
    files.push(api.cfg.services_olsr.clone());
    for path in files {
        if let Ok(bytes) = read_capped(&path, crate::protocol::limits::MAX_SERVICES_FILE) {
            out.extend(services::parse(&String::from_utf8_lossy(&bytes)).services);
        }
    }
    out
}

fn read_capped(path: &std::path::Path, max: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(max as u64)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// `meshchat_nodes`: `node \t port` of every node advertising the zone `zone_name`.
pub fn meshchat_nodes(api: &Api, call: &mut Call) -> Response {
    let zone = call.params.get("zone_name").unwrap_or("").to_string();
    let mut body = String::new();
    let mut seen = Vec::new();
    for s in advertised(api) {
        if s.zone == zone && !seen.contains(&(s.host.clone(), s.port)) {
            body.push_str(&format!("{}\t{}\n", s.host, s.port));
            seen.push((s.host, s.port));
        }
    }
    Response::text(body)
}

/// `hosts`: the legacy DHCP host list; the files it read are gone on current firmware.
pub fn hosts(_api: &Api, _call: &mut Call) -> Response {
    Response::json(b"[]\n".to_vec())
}

/// `hosts_raw`: as `hosts`, as lines: none. (Legacy labels it JSON.)
pub fn hosts_raw(_api: &Api, _call: &mut Call) -> Response {
    Response::json(Vec::new())
}

/// `action_log`: the last outcomes of the action hooks, newest first (a RAM file the
/// sync daemon writes); `[]` when none ran, as legacy.
pub fn action_log(api: &Api, _call: &mut Call) -> Response {
    let file = crate::hooks::action_log_file(&api.cfg.paths);
    match read_capped(&file, MAX_ACTION_LOG) {
        // Whole or not at all: a file cut at the cap is not served half.
        Ok(body) if body.starts_with(b"[") && body.ends_with(b"]\n") => Response::json(body),
        _ => Response::json(b"[]\n".to_vec()),
    }
}

/// Bytes of the action log served (100 outcomes of about 150 bytes).
const MAX_ACTION_LOG: usize = 64 * 1024;
