//! Configuration, in two stages: raw values (the UCI file, then flags on top) are
//! validated into a [`Config`]; a bad value is reported quoted, at start-up.
//!
//! Mistakes are caught, each a [`Problem`] with its file and line: a line that is not UCI,
//! an option meshchat does not know (with the known one it resembles), a value that does
//! not fit. [`Config::check`] lists them and builds a configuration anyway (each mistake
//! falls back to the default), which the CGI uses so that a typo never takes the chat
//! down; the commands and daemons refuse to start on any problem.
//!
//! The file is `/etc/config/meshchat` unless `--config FILE` or `MESHCHAT_CONFIG` names
//! another. Node name and zone are resolved lazily from the node's own files
//! (`/etc/local/uci/hsmmmesh`, `/etc/config.mesh/setup`) so a CGI action that does not
//! need them never reads them.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::protocol::limits::MAX_CONFIG_FILE;
use crate::protocol::raven::Namekey;
use crate::protocol::{uci, Channel, NodeName, Platform};
use crate::store::{Paths, Store};

/// The configuration file used when none is named.
pub const DEFAULT_FILE: &str = "/etc/config/meshchat";
/// The environment variable that names another configuration file.
pub const ENV_VAR: &str = "MESHCHAT_CONFIG";
/// Peers pulled per sync round unless `sync_fanout` says otherwise: chosen with the
/// mesh simulator (docs/SYNC.md, "Peer selection").
pub const DEFAULT_SYNC_FANOUT: usize = 3;
/// The zone when the node advertises none.
pub const DEFAULT_ZONE: &str = "MeshChat";

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The named file could not be read.
    Read { path: PathBuf, reason: String },
    /// An option holds a value that does not fit.
    Invalid {
        option: String,
        value: String,
        reason: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, reason } => {
                write!(f, "cannot read configuration {}: {reason}", path.display())
            }
            Error::Invalid {
                option,
                value,
                reason,
            } => {
                write!(f, "invalid {option} '{value}': {reason}")
            }
        }
    }
}

impl Error {
    /// The text an HTTP client sees: the cause without the configuration file's path or
    /// an option's value (the log line, [`fmt::Display`], has both).
    pub fn reply(&self) -> String {
        match self {
            Error::Read { reason, .. } => format!("cannot read its configuration: {reason}"),
            Error::Invalid { option, reason, .. } => format!("invalid {option}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

/// Every option meshchat reads; anything else in its section is a mistake.
pub const OPTIONS: &[&str] = &[
    "node",
    "zone",
    "data_dir",
    "ram_dir",
    "files_dir",
    "max_messages",
    "max_file_storage",
    "poll_interval",
    "sync_fanout",
    "default_channel",
    "services_dir",
    "services_olsr",
    "peer",
    "admin_token",
    "platform",
    "digest_sync",
    "debug",
    "hsmmmesh_file",
    "setup_file",
    "shadow_file",
    "raven",
    "raven_auto_channels",
    "raven_channel",
    "raven_entries_dir",
    "raven_id",
    "raven_ip",
    "raven_listen",
    "raven_publish_file",
    "raven_socket",
];

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of the configuration file.
    Line(usize),
    /// A command-line flag (`-o`, `--node`, `--zone`, `--data`).
    Flag,
}

/// One mistake in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The configuration file (for a line of it).
    pub file: Option<PathBuf>,
    pub origin: Origin,
    pub what: String,
}

impl Problem {
    /// The problem without the file's path (for replies to browsers).
    pub fn brief(&self) -> String {
        match self.origin {
            Origin::Line(n) => format!("configuration line {n}: {}", self.what),
            Origin::Flag => format!("command line: {}", self.what),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, &self.origin) {
            (Some(file), Origin::Line(n)) => write!(f, "{}:{n}: {}", file.display(), self.what),
            _ => f.write_str(&self.brief()),
        }
    }
}

/// Edits (insertions, deletions, substitutions) between two short names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Edits within which an unknown option is taken for a misspelling of a known one.
const MISSPELT: usize = 2;

/// " (did you mean x?)" with the known option `name` most resembles, or nothing.
fn did_you_mean(name: &str) -> String {
    nearest(name, OPTIONS)
}

/// " (did you mean X?)" for the name of `known` nearest to `name`, if one is near.
pub fn nearest(name: &str, known: &[&str]) -> String {
    let near = known
        .iter()
        .map(|o| (distance(name, o), *o))
        .filter(|(d, _)| *d <= MISSPELT)
        .min();
    near.map(|(_, o)| format!(" (did you mean {o}?)"))
        .unwrap_or_default()
}

/// Values given on the command line; each overrides the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub node: Option<String>,
    pub zone: Option<String>,
    /// `--data DIR`: the log in `DIR/data`, RAM files in `DIR/ram`.
    pub data: Option<PathBuf>,
    /// Any other `option=value`.
    pub options: Vec<(String, String)>,
}

/// Raw option values: the file's `meshchat` section, then the overrides; and the
/// mistakes met on the way.
#[derive(Debug, Clone, Default)]
pub struct Raw {
    values: Vec<(String, String)>,
    origins: Vec<Origin>,
    /// The file read, if any.
    file: Option<PathBuf>,
    problems: Vec<Problem>,
    /// The `config hook` sections.
    hooks: Vec<uci::Section>,
}

impl Raw {
    /// Reads the file chosen by `overrides.config`, `MESHCHAT_CONFIG` or the default, and
    /// applies the overrides. A missing default file is not an error.
    pub fn load(overrides: &Overrides, env_file: Option<PathBuf>) -> Result<Raw, Error> {
        let (path, required) = match (&overrides.config, env_file) {
            (Some(p), _) => (p.clone(), true),
            (None, Some(p)) => (p, true),
            (None, None) => (PathBuf::from(DEFAULT_FILE), false),
        };
        let mut raw = match read_limited(&path) {
            Ok(text) => {
                let mut raw = Raw::from_uci(&text);
                for p in &mut raw.problems {
                    p.file = Some(path.clone());
                }
                raw.file = Some(path);
                raw
            }
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Raw::default(),
            Err(e) => {
                return Err(Error::Read {
                    path,
                    reason: e.to_string(),
                })
            }
        };
        raw.apply(overrides);
        Ok(raw)
    }

    /// The values of every `config meshchat` section of a UCI text, and its mistakes.
    pub fn from_uci(text: &str) -> Raw {
        let (sections, errors) = uci::parse_checked(text);
        let mut raw = Raw::default();
        let line = |n: usize, what: String| Problem {
            file: None,
            origin: Origin::Line(n),
            what,
        };
        for e in errors {
            raw.problems.push(line(e.line, e.why.to_string()));
        }
        for s in sections {
            if s.kind == "hook" {
                // Validated by the sync daemon, the only one that runs hooks (and listed by
                // `check-config`: hooks::Hook::problems).
                raw.hooks.push(s);
                continue;
            }
            if s.kind != "meshchat" {
                let what = format!("section type '{}' is not meshchat or hook: ignored", s.kind);
                raw.problems.push(line(s.line, what));
                continue;
            }
            for ((k, v), n) in s.values.into_iter().zip(s.lines) {
                if OPTIONS.contains(&k.as_str()) {
                    raw.values.push((k, v));
                    raw.origins.push(Origin::Line(n));
                } else {
                    let what = format!("unknown option '{k}'{}", did_you_mean(&k));
                    raw.problems.push(line(n, what));
                }
            }
        }
        in_order(&mut raw.problems);
        raw
    }

    /// Puts the command-line values on top.
    pub fn apply(&mut self, o: &Overrides) {
        let mut set = |k: &str, v: String| {
            if !OPTIONS.contains(&k) {
                self.problems.push(Problem {
                    file: None,
                    origin: Origin::Flag,
                    what: format!("-o {k}={v}: unknown option{}", did_you_mean(k)),
                });
                return;
            }
            let mut i = 0;
            while i < self.values.len() {
                if self.values[i].0 == k {
                    self.values.remove(i);
                    self.origins.remove(i);
                } else {
                    i += 1;
                }
            }
            self.values.push((k.to_string(), v));
            self.origins.push(Origin::Flag);
        };
        if let Some(n) = &o.node {
            set("node", n.clone());
        }
        if let Some(z) = &o.zone {
            set("zone", z.clone());
        }
        if let Some(d) = &o.data {
            set("data_dir", d.join("data").to_string_lossy().into_owned());
            set("ram_dir", d.join("ram").to_string_lossy().into_owned());
        }
        for (k, v) in &o.options {
            set(k, v.clone());
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        let key = key.to_string();
        self.values
            .iter()
            .filter(move |(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a configuration file whole (at most `MAX_CONFIG_FILE` bytes), in one read sized
/// from the file rather than in growing steps.
fn read_limited(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let len = f
        .metadata()
        .map_or(0, |m| m.len())
        .min(MAX_CONFIG_FILE as u64);
    let mut s = String::with_capacity(len as usize + 1);
    crate::reading::to_string(&mut f.take(MAX_CONFIG_FILE as u64), &mut s)?;
    Ok(s)
}

/// Sorts problems as they are reported: file lines in order, then the command line.
/// One function for every caller, so the sort is compiled once.
fn in_order(problems: &mut [Problem]) {
    crate::sort::sort_by_key(problems, |p| match p.origin {
        Origin::Line(n) => (0, n),
        Origin::Flag => (1, 0),
    });
}

/// A static peer from `list peer 'host:port'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPeer {
    pub host: NodeName,
    pub port: u16,
}

/// The Raven bridge's options (docs/RAVEN.md).
#[derive(Debug, Clone)]
pub struct RavenOptions {
    /// `raven`: run the bridge inside `meshchat sync`.
    pub enabled: bool,
    /// `raven_id`: our Raven node id; `None`: derived from the node name.
    pub id: Option<u32>,
    /// `raven_channel` (list): MeshChat channel and the Raven namekey it is carried to.
    pub channels: Vec<(Channel, Namekey)>,
    /// `raven_auto_channels`: also map "Everything" to `AREDN og==` and every channel `x`
    /// whose name Raven accepts to `x og==`.
    pub auto_channels: bool,
    /// `raven_listen`: the UDP address the bridge binds (Raven's port is 4404).
    pub listen: SocketAddrV4,
    /// `raven_ip`: the mesh address published for us; `None`: the node's `wifi_ip`.
    pub ip: Option<Ipv4Addr>,
    /// `raven_publish_file`: arednlink's file of this node's published entries.
    pub publish_file: PathBuf,
    /// `raven_entries_dir`: where arednlink writes every node's entries.
    pub entries_dir: PathBuf,
    /// `raven_socket`: arednlink's control socket.
    pub socket: PathBuf,
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    node_option: Option<NodeName>,
    zone_option: Option<String>,
    node: OnceLock<NodeName>,
    zone: OnceLock<String>,
    pub paths: Paths,
    pub max_messages: usize,
    pub max_file_storage: u64,
    pub poll_interval: u64,
    pub default_channel: String,
    pub services_dir: PathBuf,
    pub services_olsr: PathBuf,
    pub peers: Vec<StaticPeer>,
    pub admin_token: Option<String>,
    platform_option: Option<Platform>,
    platform: OnceLock<Platform>,
    /// Whether this node offers and uses the incremental sync extension.
    pub digest_sync: bool,
    /// Peers pulled per sync round (gossip); 0: every peer every round.
    pub sync_fanout: usize,
    /// The `debug` value `config` reports (0 or 1).
    pub debug: bool,
    /// Where the node keeps its name (`hsmmmesh.settings.node`).
    pub hsmmmesh_file: PathBuf,
    /// Where the node keeps its advertised services.
    pub setup_file: PathBuf,
    /// Root's password line, for recognising the node admin's `authV1` cookie.
    pub shadow_file: PathBuf,
    /// Mistakes in the configuration that the CGI answered around; `config` lists them.
    pub warnings: Vec<String>,
    /// The Raven bridge.
    pub raven: RavenOptions,
    /// The `config hook` sections, as written: only the sync daemon validates and runs
    /// them, so a mistake there never stops a CGI request.
    pub hooks: Vec<uci::Section>,
    /// The file the hook sections were read from (`check-config` names it).
    pub hooks_file: Option<PathBuf>,
}

fn invalid(option: &str, value: &str, reason: &'static str) -> Error {
    Error::Invalid {
        option: option.to_string(),
        value: value.to_string(),
        reason,
    }
}

fn number<T: std::str::FromStr + PartialOrd>(
    raw: &Raw,
    key: &str,
    default: T,
    min: T,
) -> Result<T, Error> {
    match raw.get(key) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<T>() {
            Ok(n) if n >= min => Ok(n),
            Ok(_) => Err(invalid(key, v, "is too small")),
            Err(_) => Err(invalid(key, v, "must be a whole number")),
        },
    }
}

fn flag(raw: &Raw, key: &str, default: bool) -> Result<bool, Error> {
    match raw.get(key).map(str::trim) {
        None => Ok(default),
        Some("1" | "on" | "yes" | "true" | "enabled") => Ok(true),
        Some("0" | "off" | "no" | "false" | "disabled") => Ok(false),
        Some(v) => Err(invalid(key, v, "must be 0 or 1")),
    }
}

fn raven_options(raw: &Raw) -> Result<RavenOptions, Error> {
    let path = |key: &str, default: &str| PathBuf::from(raw.get(key).unwrap_or(default));
    let id = match raw.get("raven_id").map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => {
            let n = match v.strip_prefix('!') {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => v.parse::<u32>().ok(),
            };
            match n {
                Some(n) if n != 0 && n != u32::MAX => Some(n),
                _ => {
                    return Err(invalid(
                        "raven_id",
                        v,
                        "must be a number from 1 to 4294967294, or !8 hex digits",
                    ))
                }
            }
        }
    };
    let mut channels = Vec::new();
    for entry in raw.all("raven_channel") {
        let (channel, namekey) = entry
            .split_once('=')
            .ok_or_else(|| invalid("raven_channel", entry, "must be CHANNEL=NAME KEY"))?;
        let channel: Channel = channel
            .parse()
            .map_err(|e: crate::protocol::FieldError| invalid("raven_channel", entry, e.reason))?;
        let namekey: Namekey = namekey
            .parse()
            .map_err(|e: crate::protocol::FieldError| invalid("raven_channel", entry, e.reason))?;
        if channels
            .iter()
            .any(|(c, n): &(Channel, Namekey)| *c == channel || *n == namekey)
        {
            return Err(invalid(
                "raven_channel",
                entry,
                "maps a channel or a namekey twice",
            ));
        }
        channels.push((channel, namekey));
    }
    let listen = match raw.get("raven_listen") {
        None => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, crate::protocol::raven::PORT),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| invalid("raven_listen", v, "must be IPv4:port"))?,
    };
    let ip = match raw.get("raven_ip").map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(
            v.parse()
                .map_err(|_| invalid("raven_ip", v, "must be an IPv4 address"))?,
        ),
    };
    Ok(RavenOptions {
        enabled: flag(raw, "raven", false)?,
        id,
        channels,
        auto_channels: flag(raw, "raven_auto_channels", true)?,
        listen,
        ip,
        publish_file: path("raven_publish_file", "/etc/arednlink/publish"),
        entries_dir: path("raven_entries_dir", "/var/run/arednlink/publish"),
        socket: path("raven_socket", "/var/run/arednlink.sock"),
    })
}

impl Config {
    /// The store this configuration describes.
    pub fn store(&self) -> Store {
        Store::new(&self.paths, self.max_messages, self.max_file_storage)
    }

    /// Validates raw values.
    pub fn from_raw(raw: &Raw) -> Result<Config, Error> {
        let path = |key: &str, default: &str| PathBuf::from(raw.get(key).unwrap_or(default));
        let node_option = match raw.get("node").filter(|v| !v.is_empty()) {
            Some(v) => Some(
                v.parse()
                    .map_err(|e: crate::protocol::FieldError| invalid("node", v, e.reason))?,
            ),
            None => None,
        };
        let zone_option = match raw.get("zone").filter(|v| !v.is_empty()) {
            Some(z) if z.chars().any(char::is_control) || z.contains('|') => {
                return Err(invalid(
                    "zone",
                    z,
                    "must not hold control characters or '|'",
                ))
            }
            Some(z) => Some(z.to_string()),
            None => None,
        };
        let ram_dir = path("ram_dir", "/tmp/meshchat");
        let files_dir = raw
            .get("files_dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| ram_dir.join("files"));
        let paths = Paths {
            data_dir: path("data_dir", "/usr/local/meshchat"),
            ram_dir,
            files_dir,
        };

        let mut peers = Vec::new();
        for p in raw.all("peer") {
            let parsed = p.rsplit_once(':').and_then(|(h, port)| {
                Some(StaticPeer {
                    host: h.parse().ok()?,
                    port: port.parse().ok().filter(|&n| n > 0)?,
                })
            });
            peers.push(parsed.ok_or_else(|| invalid("peer", p, "must be host:port"))?);
        }
        let default_channel = raw.get("default_channel").unwrap_or("").to_string();
        crate::protocol::Channel::check(&default_channel)
            .map_err(|e| invalid("default_channel", &default_channel, e.reason))?;
        let hsmmmesh_file = path("hsmmmesh_file", "/etc/local/uci/hsmmmesh");
        let platform_option = match raw.get("platform") {
            Some(v) => Some(
                v.parse()
                    .map_err(|_| invalid("platform", v, "must be node or pi"))?,
            ),
            None => None,
        };
        let admin_token = raw
            .get("admin_token")
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if admin_token.as_ref().is_some_and(|t| t.len() < 12) {
            return Err(invalid(
                "admin_token",
                "...",
                "must be at least 12 characters",
            ));
        }
        Ok(Config {
            node_option,
            zone_option,
            node: OnceLock::new(),
            zone: OnceLock::new(),
            paths,
            max_messages: number(raw, "max_messages", 500, 1)?,
            max_file_storage: number(raw, "max_file_storage", 512 * 1024, 0)?,
            poll_interval: number(raw, "poll_interval", 10, 1)?,
            default_channel,
            services_dir: path("services_dir", "/var/run/arednlink/services"),
            services_olsr: path("services_olsr", "/var/run/services_olsr"),
            peers,
            admin_token,
            platform_option,
            platform: OnceLock::new(),
            digest_sync: flag(raw, "digest_sync", true)?,
            sync_fanout: number(raw, "sync_fanout", DEFAULT_SYNC_FANOUT, 0)?,
            debug: flag(raw, "debug", false)?,
            hsmmmesh_file,
            setup_file: path("setup_file", "/etc/config.mesh/setup"),
            shadow_file: path("shadow_file", "/etc/shadow"),
            warnings: Vec::new(),
            raven: raven_options(raw)?,
            hooks: raw.hooks.clone(),
            hooks_file: raw.file.clone(),
        })
    }

    /// Loads the configuration for a command (file, environment, flags) with every
    /// mistake in it; each mistaken value falls back to its default. Only a file that
    /// cannot be read is an error.
    pub fn check(overrides: &Overrides) -> Result<(Config, Vec<Problem>), Error> {
        let env_file = std::env::var_os(ENV_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        Ok(Config::from_raw_lenient(Raw::load(overrides, env_file)?))
    }

    /// Validates raw values; a value that does not fit becomes a problem and the option
    /// its default.
    pub fn from_raw_lenient(mut raw: Raw) -> (Config, Vec<Problem>) {
        // Each round removes one bad value: at most one round per value, plus one. The
        // round that succeeds gives the configuration (every CGI request comes here).
        let mut built = None;
        for _ in 0..=raw.values.len() {
            let e = match Config::from_raw(&raw) {
                Ok(cfg) => {
                    built = Some(cfg);
                    break;
                }
                Err(e) => e,
            };
            let Error::Invalid { option, value, .. } = &e else {
                break;
            };
            // The value at fault (admin_token hides its value: the last one).
            let at = raw
                .values
                .iter()
                .rposition(|(k, v)| k == option && v == value)
                .or_else(|| raw.values.iter().rposition(|(k, _)| k == option));
            let Some(at) = at else { break };
            let origin = raw.origins.remove(at);
            raw.values.remove(at);
            if option != "peer" {
                // The default, not an earlier value of the same option.
                while let Some(i) = raw.values.iter().position(|(k, _)| k == option) {
                    raw.values.remove(i);
                    raw.origins.remove(i);
                }
            }
            raw.problems.push(Problem {
                file: raw.file.clone().filter(|_| origin != Origin::Flag),
                origin,
                what: e.to_string(),
            });
        }
        in_order(&mut raw.problems);
        let cfg = built.unwrap_or_else(|| {
            // Unreachable: every bad value was removed above. The defaults always fit.
            Config::from_raw(&Raw::default()).unwrap_or_else(|_| unreachable!())
        });
        (cfg, raw.problems)
    }

    /// This node's name: the option, else the node's own setting, else the host name.
    pub fn node(&self) -> &NodeName {
        self.node.get_or_init(|| {
            self.node_option
                .clone()
                .or_else(|| node_from_hsmmmesh(&self.hsmmmesh_file))
                .or_else(|| {
                    std::fs::read_to_string("/proc/sys/kernel/hostname")
                        .ok()?
                        .trim()
                        .parse()
                        .ok()
                })
                .unwrap_or_else(|| NodeName::from_static("meshchat"))
        })
    }

    /// `node` (an AREDN node) or `pi` (anything else): what our lines carry. The option,
    /// else `node` when the node's own settings file exists (looked at only when needed).
    pub fn platform(&self) -> Platform {
        *self.platform.get_or_init(|| {
            self.platform_option
                .unwrap_or(if self.hsmmmesh_file.exists() {
                    Platform::Node
                } else {
                    Platform::Pi
                })
        })
    }

    /// The zone: the option, else the name of the node's `|meshchat` service entry minus
    /// its ` [icon]`, else `MeshChat`.
    pub fn zone(&self) -> &str {
        self.zone.get_or_init(|| {
            self.zone_option
                .clone()
                .or_else(|| zone_from_setup(&self.setup_file))
                .unwrap_or_else(|| DEFAULT_ZONE.to_string())
        })
    }
}

fn node_from_hsmmmesh(path: &Path) -> Option<NodeName> {
    let text = read_limited(path).ok()?;
    uci::parse(&text)
        .iter()
        .filter(|s| s.kind == "settings" || s.name.as_deref() == Some("settings"))
        .find_map(|s| s.get("node")?.trim().parse().ok())
}

/// The node's own MeshChat entry in its setup file
/// (`list service 'NAME|1|http|HOST|PORT|meshchat'`): NAME and PORT (when it is a number).
fn service_from_setup(path: &Path) -> Option<(String, Option<u16>)> {
    let text = read_limited(path).ok()?;
    uci::parse(&text)
        .iter()
        .flat_map(|s| s.all("service").map(str::to_string).collect::<Vec<_>>())
        .find_map(|entry| {
            let fields: Vec<&str> = entry.strip_suffix("|meshchat")?.split('|').collect();
            let port = fields.get(4).and_then(|p| p.trim().parse().ok());
            Some((fields.first()?.to_string(), port))
        })
}

/// The zone advertised in a node's setup file.
pub fn zone_from_setup(path: &Path) -> Option<String> {
    let (name, _) = service_from_setup(path)?;
    let zone = crate::protocol::services::zone_of(&name);
    (!zone.is_empty()).then(|| zone.to_string())
}

/// The port of the MeshChat service a node's setup file advertises.
pub fn port_from_setup(path: &Path) -> Option<u16> {
    service_from_setup(path)?.1.filter(|&p| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<Config, Error> {
        Config::from_raw(&Raw::from_uci(text))
    }

    #[test]
    fn defaults_match_the_mesh() {
        let c = cfg("").unwrap();
        assert_eq!(c.max_messages, 500);
        assert_eq!(c.max_file_storage, 524288);
        assert_eq!(c.poll_interval, 10);
        assert_eq!(c.paths.data_dir, Path::new("/usr/local/meshchat"));
        assert_eq!(c.paths.ram_dir, Path::new("/tmp/meshchat"));
        assert_eq!(c.services_dir, Path::new("/var/run/arednlink/services"));
        assert!(c.digest_sync);
        assert_eq!(c.sync_fanout, DEFAULT_SYNC_FANOUT);
    }

    #[test]
    fn file_then_flags() {
        let mut raw = Raw::from_uci(
            "config meshchat 'main'\n\toption node 'file-node'\n\toption zone 'Ops'\n\
\toption max_messages '10000'\n\tlist peer 'pi-1:8081'\n\toption default_channel 'ops'\n",
        );
        raw.apply(&Overrides {
            node: Some("flag-node".into()),
            data: Some("/srv/mc".into()),
            ..Default::default()
        });
        let c = Config::from_raw(&raw).unwrap();
        assert_eq!(c.node().as_str(), "flag-node");
        assert_eq!(c.zone(), "Ops");
        assert_eq!(c.max_messages, 10000);
        assert_eq!(c.paths.data_dir, Path::new("/srv/mc/data"));
        assert_eq!(c.paths.files_dir, Path::new("/srv/mc/ram/files"));
        assert_eq!(
            c.peers,
            [StaticPeer {
                host: "pi-1".parse().unwrap(),
                port: 8081
            }]
        );
        assert_eq!(c.default_channel, "ops");
    }

    #[test]
    fn bad_values_are_reported_quoted() {
        let e = cfg("config meshchat main\n option max_messages '12x'\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid max_messages '12x': must be a whole number"
        );
        assert!(cfg("config meshchat main\n list peer 'a;reboot:80'\n").is_err());
        assert!(cfg("config meshchat main\n option node 'bad node'\n").is_err());
        assert!(cfg("config meshchat main\n option digest_sync 'maybe'\n").is_err());
        assert!(cfg("config meshchat main\n option sync_fanout 'many'\n").is_err());
        assert_eq!(
            cfg("config meshchat main\n option sync_fanout '0'\n")
                .unwrap()
                .sync_fanout,
            0
        );
    }

    #[test]
    fn raven_options() {
        let c = cfg("").unwrap();
        assert!(!c.raven.enabled && c.raven.auto_channels);
        assert_eq!(c.raven.listen.to_string(), "0.0.0.0:4404");
        let c = cfg(
            "config meshchat main\n option raven '1'\n option raven_id '!deadbeef'\n\
 list raven_channel '=AREDN og=='\n list raven_channel 'ops=Ops 1PG7OiApB1nwvP+rz05pAQ=='\n\
 option raven_listen '127.0.0.2:0'\n option raven_ip '10.1.2.3'\n",
        )
        .unwrap();
        assert!(c.raven.enabled);
        assert_eq!(c.raven.id, Some(0xdead_beef));
        assert_eq!(c.raven.channels.len(), 2);
        assert_eq!(
            c.raven.channels[1].1.as_str(),
            "Ops 1PG7OiApB1nwvP+rz05pAQ=="
        );
        assert_eq!(c.raven.ip, Some(Ipv4Addr::new(10, 1, 2, 3)));
        for (bad, why) in [
            ("option raven_id '0'", "invalid raven_id '0'"),
            ("option raven_id '!ffffffff'", "invalid raven_id"),
            ("option raven_id 'x'", "invalid raven_id"),
            ("list raven_channel 'ops'", "must be CHANNEL=NAME KEY"),
            (
                "list raven_channel 'ops=Fourteen-chars og=='",
                "name must be 1 to 13",
            ),
            ("list raven_channel 'ops=ops og='", "key must be base64"),
            ("list raven_channel 'a\tb=ops og=='", "control character"),
            ("option raven_listen '4404'", "must be IPv4:port"),
            ("option raven_ip 'node-a'", "must be an IPv4 address"),
            ("option raven 'maybe'", "must be 0 or 1"),
        ] {
            let e = cfg(&format!("config meshchat main\n {bad}\n")).unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
        let twice = "config meshchat main\n list raven_channel 'a=x og=='\n list raven_channel 'b=x og=='\n";
        assert!(cfg(twice).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn node_and_zone_from_the_node_files() {
        let dir = std::env::temp_dir().join(format!("meshchat-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("hsmmmesh"),
            "config settings 'settings'\n\toption node 'KN6PLV-hap'\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("setup"),
            "config services 'services'\n\tlist service 'Web [link]|1|http|KN6PLV-hap|80|'\n\
\tlist service 'Ops Chat [chat]|1|http|KN6PLV-hap|8080|meshchat'\n",
        )
        .unwrap();
        let text = format!(
            "config meshchat 'main'\n option hsmmmesh_file '{0}/hsmmmesh'\n option setup_file '{0}/setup'\n",
            dir.display()
        );
        let c = cfg(&text).unwrap();
        assert_eq!(c.node().as_str(), "KN6PLV-hap");
        assert_eq!(c.zone(), "Ops Chat");
        assert_eq!(c.platform(), Platform::Node);
        assert_eq!(port_from_setup(&c.setup_file), Some(8080));
    }

    #[test]
    fn mistakes_are_listed_and_fall_back_to_defaults() {
        let mut raw = Raw::from_uci(
            "config meshchat 'main'\n\toption max_mesages '10'\n\toption zone 'Unclosed\n\
bogus line here\n\toption max_messages '12x'\n\tlist peer 'a:1'\n\tlist peer 'b'\n\
\toption node 'n1'\nconfig meshchta 'x'\n",
        );
        raw.apply(&Overrides {
            options: vec![("poll_intervall".into(), "3".into())],
            ..Default::default()
        });
        let (c, problems) = Config::from_raw_lenient(raw);
        let got: Vec<String> = problems.iter().map(|p| p.brief()).collect();
        assert_eq!(
            got,
            [
                "configuration line 2: unknown option 'max_mesages' (did you mean max_messages?)",
                "configuration line 3: unclosed ' quote",
                "configuration line 4: not a config, option or list line",
                "configuration line 5: invalid max_messages '12x': must be a whole number",
                "configuration line 7: invalid peer 'b': must be host:port",
                "configuration line 9: section type 'meshchta' is not meshchat or hook: ignored",
                "command line: -o poll_intervall=3: unknown option (did you mean poll_interval?)",
            ]
        );
        assert_eq!(c.max_messages, 500, "the default");
        assert_eq!(c.peers.len(), 1, "the good peer is kept");
        assert_eq!(c.node().as_str(), "n1");
        let (_, none) = Config::from_raw_lenient(Raw::from_uci("config meshchat 'main'\n"));
        assert!(none.is_empty());
    }
}
