//! meshchat: the AREDN MeshChat node in one binary.
//!
//! `protocol` (wire formats) and `store` (files on disk) form the core; `api` answers
//! every action over them; `cgi` and `server` are the adapters that carry requests in and
//! responses out; `sync` keeps the node's history complete by pulling from peers.
#![deny(unsafe_code)]

pub mod api;
pub mod arena;
pub mod cgi;
pub mod cli;
pub mod config;
pub mod protocol;
pub mod server;
pub mod store;
pub mod sync;
pub mod sys;
