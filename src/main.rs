//! The `meshchat` command. With `GATEWAY_INTERFACE` set (under a web server) it is the
//! CGI program; otherwise a subcommand says what to run.

use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;
use meshchat::{Arena, Config, Overrides};

#[global_allocator]
static ALLOCATOR: Arena = Arena;

/// MeshChat for AREDN mesh networks: CGI API, message log, sync daemon, web server.
#[derive(FromArgs)]
struct Cli {
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Cgi(CgiCmd),
    Serve(ServeCmd),
    Import(ImportCmd),
    Compact(CompactCmd),
    Purge(PurgeCmd),
    Sync(SyncCmd),
    Send(SendCmd),
    Tail(TailCmd),
    Export(ExportCmd),
}

/// post a message to a node (any MeshChat node: meshchat or Lua)
#[derive(FromArgs)]
#[argh(subcommand, name = "send")]
struct SendCmd {
    /// the node: NAME, NAME:PORT or a URL (default port 8080)
    #[argh(option)]
    url: String,
    /// your call sign
    #[argh(option)]
    call_sign: String,
    /// the channel (default: Everything)
    #[argh(option, default = "String::new()")]
    channel: String,
    /// a direct message to this call sign (channel @A+B; not private)
    #[argh(option)]
    to: Option<String>,
    /// the message (words are joined with spaces; "-" reads it from stdin)
    #[argh(positional, greedy)]
    message: Vec<String>,
}

/// print a node's latest messages, and with --follow the new ones as they come
#[derive(FromArgs)]
#[argh(subcommand, name = "tail")]
struct TailCmd {
    /// the node: NAME, NAME:PORT or a URL (default port 8080)
    #[argh(option)]
    url: String,
    /// only this channel
    #[argh(option)]
    channel: Option<String>,
    /// only direct messages with this call sign (with --call-sign: only yours)
    #[argh(option)]
    to: Option<String>,
    /// your call sign, to pick your conversation with --to
    #[argh(option)]
    call_sign: Option<String>,
    /// how many messages to print first (default 20)
    #[argh(option, short = 'n', default = "20")]
    lines: usize,
    /// keep printing new messages
    #[argh(switch, short = 'f')]
    follow: bool,
    /// seconds between polls with --follow (default 5)
    #[argh(option, default = "5")]
    interval: u64,
}

/// The configuration flags every subcommand that works on this node's files takes,
/// declared once: argh has no flattening, so `local_command!` adds them to each such
/// subcommand and `common()` hands them over.
struct Common {
    config: Option<PathBuf>,
    node: Option<String>,
    zone: Option<String>,
    data: Option<PathBuf>,
    option: Vec<String>,
}

macro_rules! local_command {
    // Field types as plain tokens (`$ty:ty` would hide `bool` from argh's derive).
    ($(#[$meta:meta])* struct $name:ident {
        $($(#[$fmeta:meta])* $field:ident: $ty:ident $(<$arg:ident>)?,)*
    }) => {
        $(#[$meta])*
        struct $name {
            $($(#[$fmeta])* $field: $ty $(<$arg>)?,)*
            /// configuration file (default: $MESHCHAT_CONFIG, else /etc/config/meshchat)
            #[argh(option)]
            config: Option<PathBuf>,
            /// this node's name
            #[argh(option)]
            node: Option<String>,
            /// the zone
            #[argh(option)]
            zone: Option<String>,
            /// keep everything under DIR (log in DIR/data, RAM files in DIR/ram)
            #[argh(option)]
            data: Option<PathBuf>,
            /// any configuration option, as name=value (repeatable)
            #[argh(option, short = 'o')]
            option: Vec<String>,
        }

        impl $name {
            fn common(&mut self) -> Common {
                Common {
                    config: self.config.take(),
                    node: self.node.take(),
                    zone: self.zone.take(),
                    data: self.data.take(),
                    option: std::mem::take(&mut self.option),
                }
            }
        }
    };
}

/// answer one CGI request from the environment (the default under a web server)
#[derive(FromArgs)]
#[argh(subcommand, name = "cgi")]
struct CgiCmd {
    /// configuration file
    #[argh(option)]
    config: Option<PathBuf>,
}

local_command! {
    /// serve the API and the web UI over HTTP
    #[derive(FromArgs)]
    #[argh(subcommand, name = "serve")]
    struct ServeCmd {
        /// address to listen on (default 127.0.0.1:8080; port 0 picks a free one)
        #[argh(option, default = "String::from(\"127.0.0.1:8080\")")]
        listen: String,
    }
}

local_command! {
    /// import a legacy Lua MeshChat database (/tmp/meshchat/messages.<zone>) or a jsonl export into the log
    #[derive(FromArgs)]
    #[argh(subcommand, name = "import")]
    struct ImportCmd {
        /// the legacy database file
        #[argh(positional)]
        file: PathBuf,
    }
}

local_command! {
    /// write messages to stdout, from a node (--url) or this node's log
    #[derive(FromArgs)]
    #[argh(subcommand, name = "export")]
    struct ExportCmd {
        /// the node: NAME, NAME:PORT or a URL (default: this node's own log)
        #[argh(option)]
        url: Option<String>,
        /// jsonl (default), csv, or legacy (the lines of messages_raw, byte for byte)
        #[argh(option, default = "String::from(\"jsonl\")")]
        format: String,
        /// only this channel
        #[argh(option)]
        channel: Option<String>,
        /// only messages dated at or after these unix seconds
        #[argh(option, default = "0")]
        since: u64,
    }
}

local_command! {
    /// rewrite the message log now, keeping only the newest max_messages
    #[derive(FromArgs)]
    #[argh(subcommand, name = "compact")]
    struct CompactCmd {}
}

local_command! {
    /// delete this node's messages, presence and shared files (before removing the package)
    #[derive(FromArgs)]
    #[argh(subcommand, name = "purge")]
    struct PurgeCmd {}
}

local_command! {
    /// run the sync daemon: pull from every peer every poll_interval (foreground; SIGTERM stops it)
    #[derive(FromArgs)]
    #[argh(subcommand, name = "sync")]
    struct SyncCmd {
        /// one round with every peer, then exit
        #[argh(switch)]
        once: bool,
        /// log every round, not only changes
        #[argh(switch)]
        verbose: bool,
        /// print one line per peer round on stdout (bytes, requests, time)
        #[argh(switch)]
        stats: bool,
        /// seconds a peer may stall before it is dropped (default 10)
        #[argh(option, default = "10")]
        stall: u64,
    }
}

fn overrides(c: Common) -> Result<Overrides, String> {
    let mut options = Vec::new();
    for o in c.option {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| format!("invalid -o '{o}': expected name=value"))?;
        options.push((k.to_string(), v.to_string()));
    }
    Ok(Overrides {
        config: c.config,
        node: c.node,
        zone: c.zone,
        data: c.data,
        options,
    })
}

fn load(c: Common) -> Result<Config, String> {
    Config::load(&overrides(c)?).map_err(|e| e.to_string())
}

fn run(cli: Cli) -> Result<(), String> {
    if cli.version {
        println!("meshchat {}", meshchat::VERSION);
        return Ok(());
    }
    match cli.command {
        None => Err("no command given: try `meshchat --help`".into()),
        Some(Command::Cgi(c)) => {
            let code = meshchat::cgi(&Overrides {
                config: c.config,
                ..Default::default()
            });
            if code == 0 {
                Ok(())
            } else {
                Err("the CGI response could not be written".into())
            }
        }
        Some(Command::Serve(mut s)) => {
            let cfg = load(s.common())?;
            meshchat::serve(cfg, &s.listen)
        }
        Some(Command::Import(mut i)) => {
            let cfg = load(i.common())?;
            meshchat::import(&cfg, &i.file)
        }
        Some(Command::Send(s)) => {
            let text = if s.message == ["-"] {
                let mut t = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                    .map_err(|e| format!("cannot read the message from stdin: {e}"))?;
                t.trim_end_matches('\n').to_string()
            } else {
                s.message.join(" ")
            };
            meshchat::send(&s.url, &s.call_sign, &s.channel, s.to.as_deref(), &text)
        }
        Some(Command::Tail(t)) => {
            meshchat::catch_stop_signals();
            let interval = std::time::Duration::from_secs(t.interval.max(1));
            let filter = meshchat::Filter::new(t.channel, t.to.as_deref(), t.call_sign.as_deref())?;
            meshchat::tail(&t.url, &filter, t.lines, t.follow, interval)
        }
        Some(Command::Export(mut e)) => {
            if e.url.is_some() && e.data.is_some() {
                return Err("--url and --data cannot be used together".into());
            }
            let filter = meshchat::Filter {
                since: e.since,
                ..meshchat::Filter::new(e.channel.take(), None, None)?
            };
            // Over HTTP no local configuration is read.
            let cfg = match e.url {
                Some(_) => None,
                None => Some(load(e.common())?),
            };
            meshchat::export(e.url.as_deref(), cfg.as_ref(), &e.format, &filter)
        }
        Some(Command::Sync(mut s)) => {
            let cfg = load(s.common())?;
            let opts = meshchat::SyncOptions {
                once: s.once,
                verbose: s.verbose,
                stats: s.stats,
                stall: std::time::Duration::from_secs(s.stall.max(1)),
                ..Default::default()
            };
            meshchat::sync(cfg, opts)
        }
        Some(Command::Compact(mut c)) => {
            let cfg = load(c.common())?;
            meshchat::compact(&cfg)
        }
        Some(Command::Purge(mut p)) => {
            let cfg = load(p.common())?;
            meshchat::purge(&cfg)
        }
    }
}

fn main() -> ExitCode {
    // Under a web server: the CGI program, whatever the arguments.
    if std::env::var_os("GATEWAY_INTERFACE").is_some() {
        return ExitCode::from(meshchat::cgi(&Overrides::default()) as u8);
    }
    let cli: Cli = argh::from_env();
    if !matches!(cli.command, Some(Command::Cgi(_))) {
        Arena::switch_off();
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshchat: {e}");
            ExitCode::FAILURE
        }
    }
}
