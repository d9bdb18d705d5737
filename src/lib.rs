//! meshchat: the AREDN MeshChat node in one binary.
//!
//! `protocol` (wire formats) and `store` (files on disk) form the core; `api` answers
//! every action over them; `cgi` and `server` are the adapters that carry requests in and
//! responses out; `http` speaks HTTP/1.x on both sides; `sync` keeps the node's history
//! complete by pulling from peers; `cli` and `admin` are the shell commands.
//!
//! Modules are private: the public face below is what `main.rs` runs, one function per
//! subcommand, and nothing more, so the compiler reports what nothing uses. Integration
//! tests drive the binary; internals are unit-tested next to their code.
//!
//! A harness that needs internals (fuzz targets, a simulator) gets its own module, compiled
//! only for it and re-exporting just what it drives, e.g.
//! `#[cfg(fuzzing)] pub mod fuzz;` or `#[cfg(feature = "sim")] pub mod sim;`: the normal
//! build's face and dead-code checks stay as they are.
//!
//! Dependencies between modules go one way (a test in `tests/module_cycles.rs` fails on a
//! module that imports one that imports it back): `protocol` below everything, `store`
//! and `http` over it, `api` and `sync` over those, the adapters and commands on top.
#![deny(unsafe_code)]

mod admin;
mod api;
mod arena;
mod cgi;
mod cli;
mod config;
mod hooks;
mod http;
// The C library's malloc in the static musl builds (tested on every host).
#[cfg(any(test, all(target_os = "linux", target_env = "musl")))]
mod malloc;
mod protocol;
mod queue;
mod reading;
#[cfg(feature = "serve")]
mod server;
mod sort;
mod store;
mod sync;
mod sys;

pub use admin::{compact, import, purge};
pub use api::VERSION;
pub use arena::Arena;
#[cfg(not(feature = "client"))]
pub use cli::NOT_IN_NODE_BUILDS;
pub use cli::{export, Filter};
#[cfg(feature = "client")]
pub use cli::{message_from_stdin, send, tail};
pub use config::{Config, Overrides, Problem};

/// Why `meshchat serve` refuses in a node build (no cargo feature `serve`): a node's own
/// web server runs the CGI.
#[cfg(not(feature = "serve"))]
pub const NO_SERVE: &str = "meshchat serve is not in node packages: on a node, its web \
     server (uhttpd) runs meshchat as the CGI at http://<node>:8080/cgi-bin/meshchat and \
     serves the web UI at http://<node>:8080/meshchat/; `meshchat serve` is for a Pi, a \
     Debian box or a laptop (the .deb packages or a build from source)";
pub use sync::Options as SyncOptions;
pub use sys::catch_stop_signals;

/// `meshchat cgi`: answers the one request in the environment; the exit status.
pub fn cgi(overrides: &Overrides) -> i32 {
    cgi::run(overrides)
}

/// `meshchat serve`: the API and the web UI on `listen`, until SIGTERM/SIGINT.
#[cfg(feature = "serve")]
pub fn serve(cfg: Config, listen: &str) -> Result<(), String> {
    server::run(cfg, listen).map_err(|e| e.to_string())
}

/// The mistakes of the configuration's `config hook` sections, for `meshchat
/// check-config` (only the sync daemon runs hooks: nothing else refuses to start on them).
pub fn hook_problems(cfg: &Config) -> Vec<Problem> {
    hooks::Hook::problems(&cfg.hooks, cfg.hooks_file.as_deref())
}

/// `meshchat sync`: the sync daemon, until SIGTERM/SIGINT (or one round with `once`).
pub fn sync(cfg: Config, opts: SyncOptions) -> Result<(), String> {
    sync::run(cfg, opts).map_err(|e| e.to_string())
}

/// "1 peer", "2 peers": counts in what meshchat says (every module sees this root item;
/// the command's messages use it too).
pub fn count(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

#[cfg(feature = "sim")]
#[doc(hidden)]
pub mod sim;

// Entry points for the fuzz targets in fuzz/; `cargo fuzz` builds with `--cfg fuzzing`.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(test)]
mod tests {
    #[test]
    fn counts_say_one_thing_or_things() {
        assert_eq!(super::count(0, "peer"), "0 peers");
        assert_eq!(super::count(1, "peer"), "1 peer");
        assert_eq!(super::count(2, "line"), "2 lines");
    }
}
