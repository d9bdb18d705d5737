//! The `meshchat` command. With `GATEWAY_INTERFACE` set (under a web server) it is the
//! CGI program; otherwise a subcommand says what to run.

use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;
use meshchat::arena::Arena;
use meshchat::config::{Config, Overrides};
use meshchat::protocol::lines::{parse_all, Message};

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
    Sync(SyncCmd),
    Send(SendCmd),
    Tail(TailCmd),
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

/// The configuration flags the subcommands share (argh has no flattening, so each
/// subcommand declares them and hands them over in this form).
#[derive(Default)]
struct Common {
    config: Option<PathBuf>,
    node: Option<String>,
    zone: Option<String>,
    data: Option<PathBuf>,
    option: Vec<String>,
}

/// answer one CGI request from the environment (the default under a web server)
#[derive(FromArgs)]
#[argh(subcommand, name = "cgi")]
struct CgiCmd {
    /// configuration file
    #[argh(option)]
    config: Option<PathBuf>,
}

/// serve the API and the web UI over HTTP
#[derive(FromArgs)]
#[argh(subcommand, name = "serve")]
struct ServeCmd {
    /// address to listen on (default 127.0.0.1:8080; port 0 picks a free one)
    #[argh(option, default = "String::from(\"127.0.0.1:8080\")")]
    listen: String,
    /// configuration file
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

/// import a legacy Lua MeshChat database (/tmp/meshchat/messages.<zone>) into the log
#[derive(FromArgs)]
#[argh(subcommand, name = "import")]
struct ImportCmd {
    /// the legacy database file
    #[argh(positional)]
    file: PathBuf,
    /// configuration file
    #[argh(option)]
    config: Option<PathBuf>,
    /// keep everything under DIR
    #[argh(option)]
    data: Option<PathBuf>,
    /// any configuration option, as name=value (repeatable)
    #[argh(option, short = 'o')]
    option: Vec<String>,
}

/// rewrite the message log now, keeping only the newest max_messages
#[derive(FromArgs)]
#[argh(subcommand, name = "compact")]
struct CompactCmd {
    /// configuration file
    #[argh(option)]
    config: Option<PathBuf>,
    /// keep everything under DIR
    #[argh(option)]
    data: Option<PathBuf>,
    /// any configuration option, as name=value (repeatable)
    #[argh(option, short = 'o')]
    option: Vec<String>,
}

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
    /// configuration file
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
        println!("meshchat {}", meshchat::api::VERSION);
        return Ok(());
    }
    match cli.command {
        None => Err("no command given: try `meshchat --help`".into()),
        Some(Command::Cgi(c)) => {
            let code = meshchat::cgi::run(&Overrides {
                config: c.config,
                ..Default::default()
            });
            if code == 0 {
                Ok(())
            } else {
                Err("the CGI response could not be written".into())
            }
        }
        Some(Command::Serve(s)) => {
            let cfg = load(Common {
                config: s.config,
                node: s.node,
                zone: s.zone,
                data: s.data,
                option: s.option,
            })?;
            meshchat::server::run(cfg, &s.listen).map_err(|e| e.to_string())
        }
        Some(Command::Import(i)) => {
            let cfg = load(Common {
                config: i.config,
                data: i.data,
                option: i.option,
                ..Default::default()
            })?;
            import(&cfg, &i.file)
        }
        Some(Command::Send(s)) => {
            let text = if s.message == ["-"] {
                let mut t = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                    .map_err(|e| e.to_string())?;
                t.trim_end_matches('\n').to_string()
            } else {
                s.message.join(" ")
            };
            meshchat::cli::send(&s.url, &s.call_sign, &s.channel, &text)
        }
        Some(Command::Tail(t)) => {
            meshchat::sys::catch_stop_signals();
            let interval = std::time::Duration::from_secs(t.interval.max(1));
            meshchat::cli::tail(&t.url, t.channel.as_deref(), t.lines, t.follow, interval)
        }
        Some(Command::Sync(s)) => {
            let cfg = load(Common {
                config: s.config,
                node: s.node,
                zone: s.zone,
                data: s.data,
                option: s.option,
            })?;
            let opts = meshchat::sync::Options {
                once: s.once,
                verbose: s.verbose,
                stats: s.stats,
                stall: std::time::Duration::from_secs(s.stall.max(1)),
                ..Default::default()
            };
            meshchat::sync::run(cfg, opts).map_err(|e| e.to_string())
        }
        Some(Command::Compact(c)) => {
            let cfg = load(Common {
                config: c.config,
                data: c.data,
                option: c.option,
                ..Default::default()
            })?;
            cfg.paths.create_dirs().map_err(|e| e.to_string())?;
            meshchat::store::log::Log::new(&cfg.paths, cfg.max_messages)
                .compact()
                .map_err(|e| e.to_string())
        }
    }
}

fn import(cfg: &Config, file: &std::path::Path) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let (messages, bad) = parse_all(&String::from_utf8_lossy(&bytes), Message::parse);
    cfg.paths.create_dirs().map_err(|e| e.to_string())?;
    let log = meshchat::store::log::Log::new(&cfg.paths, cfg.max_messages);
    let merged = log.merge(&messages).map_err(|e| e.to_string())?;
    log.compact().map_err(|e| e.to_string())?;
    eprintln!(
        "meshchat: imported {} messages from {} ({} already present, {} lines refused)",
        merged.added,
        file.display(),
        merged.known,
        bad
    );
    Ok(())
}

fn main() -> ExitCode {
    // Under a web server: the CGI program, whatever the arguments.
    if std::env::var_os("GATEWAY_INTERFACE").is_some() {
        return ExitCode::from(meshchat::cgi::run(&Overrides::default()) as u8);
    }
    let cli: Cli = argh::from_env();
    if !matches!(cli.command, Some(Command::Cgi(_))) {
        meshchat::arena::switch_off();
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshchat: {e}");
            ExitCode::FAILURE
        }
    }
}
