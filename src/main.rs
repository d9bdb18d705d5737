//! The `meshchat` command. With `GATEWAY_INTERFACE` set (under a web server) it is the
//! CGI program; otherwise a subcommand says what to run.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use argh::{EarlyExit, FromArgs};
use meshchat::{Arena, Config, Overrides};

#[global_allocator]
static ALLOCATOR: Arena = Arena;

/// MeshChat for AREDN mesh networks: CGI API, message log, sync daemon, web server.
#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help", "help"))]
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
    CheckConfig(CheckConfigCmd),
}

/// The subcommand names, for the help hint of an error.
const SUBCOMMANDS: &[&str] = &[
    "cgi",
    "serve",
    "import",
    "compact",
    "purge",
    "sync",
    "send",
    "tail",
    "export",
    "check-config",
];

/// post a message to a node (any MeshChat node: meshchat or Lua)
#[derive(FromArgs)]
#[argh(
    subcommand,
    name = "send",
    help_triggers("-h", "--help", "help"),
    note = "MESSAGE: the words after the options, joined with spaces; a single - reads\nthe message from stdin. The call sign is sent upper-case, as the web UI does.",
    example = "meshchat send --url node-a --call-sign K1ABC --channel ops net starts at 19:00\nuptime | meshchat send --url node-a:8080 --call-sign K1ABC -"
)]
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
#[argh(subcommand, name = "tail", help_triggers("-h", "--help", "help"))]
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
#[argh(subcommand, name = "cgi", help_triggers("-h", "--help", "help"))]
struct CgiCmd {
    /// configuration file
    #[argh(option)]
    config: Option<PathBuf>,
}

local_command! {
    /// serve the API and the web UI over HTTP
    #[derive(FromArgs)]
    #[argh(subcommand, name = "serve", help_triggers("-h", "--help", "help"))]
    struct ServeCmd {
        /// address to listen on (default 127.0.0.1:8080; port 0 picks a free one)
        #[argh(option, default = "String::from(\"127.0.0.1:8080\")")]
        listen: String,
    }
}

local_command! {
    /// import a legacy Lua MeshChat database (/tmp/meshchat/messages.<zone>) or a jsonl export into the log
    #[derive(FromArgs)]
    #[argh(subcommand, name = "import", help_triggers("-h", "--help", "help"))]
    struct ImportCmd {
        /// the legacy database file
        #[argh(positional)]
        file: PathBuf,
    }
}

local_command! {
    /// write messages to stdout, from a node (--url) or this node's log
    #[derive(FromArgs)]
    #[argh(subcommand, name = "export", help_triggers("-h", "--help", "help"))]
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
    #[argh(subcommand, name = "compact", help_triggers("-h", "--help", "help"))]
    struct CompactCmd {}
}

local_command! {
    /// delete this node's messages, presence and shared files (before removing the package)
    #[derive(FromArgs)]
    #[argh(subcommand, name = "purge", help_triggers("-h", "--help", "help"))]
    struct PurgeCmd {}
}

local_command! {
    /// check the configuration: every mistake with its file and line; exits 1 on any
    #[derive(FromArgs)]
    #[argh(subcommand, name = "check-config", help_triggers("-h", "--help", "help"))]
    struct CheckConfigCmd {}
}

local_command! {
    /// run the sync daemon: pull from every peer every poll_interval (foreground; SIGTERM stops it)
    #[derive(FromArgs)]
    #[argh(subcommand, name = "sync", help_triggers("-h", "--help", "help"))]
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

/// "1 peer", "2 peers".
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// The configuration for a command that works on this node's files. Every mistake is
/// printed (stderr: syslog under procd), and any mistake refuses the command: a daemon
/// never runs on a configuration other than the one written.
fn load(c: Common) -> Result<Config, String> {
    let (cfg, problems) = Config::check(&overrides(c)?).map_err(|e| e.to_string())?;
    if problems.is_empty() {
        return Ok(cfg);
    }
    for p in &problems {
        eprintln!("meshchat: {p}");
    }
    Err(format!(
        "{} in the configuration: not starting (`meshchat check-config` lists them)",
        count(problems.len(), "mistake")
    ))
}

/// Writes to stdout; a reader that went away (`| head`) ends the output quietly.
fn print(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
        _ => Ok(()),
    }
}

fn run(cli: Cli) -> Result<(), String> {
    if cli.version {
        return print(&format!("meshchat {}\n", meshchat::VERSION));
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
            if s.message.is_empty() {
                return Err(
                    "no message given: put it after the options, or - to read it from stdin \
                     (see `meshchat send --help`)"
                        .into(),
                );
            }
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
        Some(Command::CheckConfig(mut c)) => {
            let (_, problems) =
                Config::check(&overrides(c.common())?).map_err(|e| e.to_string())?;
            for p in &problems {
                eprintln!("meshchat: {p}");
            }
            if problems.is_empty() {
                print("meshchat: the configuration has no mistakes\n")
            } else {
                Err(format!("{} found", count(problems.len(), "mistake")))
            }
        }
    }
}

/// The arguments as argh should see them: a lone `-` (stdin, for `send`) is a value, not
/// an option, so it goes after `--`.
fn normalize(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut ended = false;
    for a in args {
        if a == "--" {
            ended = true;
        } else if a == "-" && !ended {
            out.push("--".to_string());
            ended = true;
        }
        out.push(a);
    }
    out
}

fn main() -> ExitCode {
    // Under a web server: the CGI program, whatever the arguments.
    if std::env::var_os("GATEWAY_INTERFACE").is_some() {
        return ExitCode::from(meshchat::cgi(&Overrides::default()) as u8);
    }
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let args = normalize(args);
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let cli = match Cli::from_args(&["meshchat"], &strs) {
        Ok(cli) => cli,
        Err(EarlyExit {
            output,
            status: Ok(()),
        }) => {
            // --help: on stdout, quietly cut short by `| head`.
            return match print(&format!("{}\n", output.trim_end())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            };
        }
        Err(EarlyExit { output, .. }) => {
            let help = match strs.first() {
                Some(sub) if SUBCOMMANDS.contains(sub) => format!("meshchat {sub} --help"),
                _ => "meshchat --help".to_string(),
            };
            eprintln!("meshchat: {}", output.trim_end());
            eprintln!("Run `{help}` for more information.");
            return ExitCode::FAILURE;
        }
    };
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
