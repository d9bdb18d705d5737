//! The `meshchat` command. With `GATEWAY_INTERFACE` set (under a web server) it is the
//! CGI program; otherwise a subcommand says what to run.

mod args;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use args::{Args, Parsed};
use meshchat::{Arena, Config, Overrides};

#[global_allocator]
static ALLOCATOR: Arena = Arena;

/// The configuration flags every subcommand that works on this node's files takes
/// (`args::LOCAL_FLAGS`).
struct Common {
    config: Option<PathBuf>,
    node: Option<String>,
    zone: Option<String>,
    data: Option<PathBuf>,
    option: Vec<String>,
}

impl Common {
    fn of(a: &Args) -> Common {
        Common {
            config: a.value("config").map(PathBuf::from),
            node: a.value("node"),
            zone: a.value("zone"),
            data: a.value("data").map(PathBuf::from),
            option: a.values("option"),
        }
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
        meshchat::count(problems.len() as u64, "mistake")
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

fn run(a: Args) -> Result<(), String> {
    match a.spec.name {
        "cgi" => {
            let code = meshchat::cgi(&Overrides {
                config: a.value("config").map(PathBuf::from),
                ..Default::default()
            });
            if code == 0 {
                Ok(())
            } else {
                Err("the CGI response could not be written".into())
            }
        }
        #[cfg(feature = "serve")]
        "serve" => {
            let cfg = load(Common::of(&a))?;
            let listen = a.value("listen");
            meshchat::serve(cfg, listen.as_deref().unwrap_or("127.0.0.1:8080"))
        }
        "import" => {
            let cfg = load(Common::of(&a))?;
            meshchat::import(&cfg, &PathBuf::from(&a.words[0]))
        }
        #[cfg(feature = "client")]
        "send" => {
            if a.words.is_empty() {
                return Err(
                    "no message given: put it after the options, or - to read it from stdin \
                     (see `meshchat send --help`)"
                        .into(),
                );
            }
            let text = if a.words == ["-"] {
                meshchat::message_from_stdin()?
            } else {
                a.words.join(" ")
            };
            let url = a.value("url").unwrap_or_default();
            let call_sign = a.value("call-sign").unwrap_or_default();
            let channel = a.value("channel").unwrap_or_default();
            meshchat::send(&url, &call_sign, &channel, a.value("to").as_deref(), &text)
        }
        #[cfg(feature = "client")]
        "tail" => {
            let lines = a.number("lines", 20) as usize;
            let interval = std::time::Duration::from_secs(a.number("interval", 5).max(1));
            meshchat::catch_stop_signals();
            let filter = meshchat::Filter::new(
                a.value("channel"),
                a.value("to").as_deref(),
                a.value("call-sign").as_deref(),
            )?;
            let url = a.value("url").unwrap_or_default();
            meshchat::tail(&url, &filter, lines, a.switch("follow"), interval)
        }
        "export" => {
            let url = a.value("url");
            if url.is_some() && a.value("data").is_some() {
                return Err("--url and --data cannot be used together".into());
            }
            let filter = meshchat::Filter {
                since: a.number("since", 0),
                ..meshchat::Filter::new(a.value("channel"), None, None)?
            };
            // Over HTTP no local configuration is read.
            let cfg = match url {
                Some(_) => None,
                None => Some(load(Common::of(&a))?),
            };
            let format = a.value("format").unwrap_or_else(|| "jsonl".into());
            meshchat::export(url.as_deref(), cfg.as_ref(), &format, &filter)
        }
        "sync" => {
            let stall = std::time::Duration::from_secs(a.number("stall", 10).max(1));
            let cfg = load(Common::of(&a))?;
            let opts = meshchat::SyncOptions {
                once: a.switch("once"),
                verbose: a.switch("verbose"),
                stats: a.switch("stats"),
                stall,
                ..Default::default()
            };
            meshchat::sync(cfg, opts)
        }
        "compact" => {
            let cfg = load(Common::of(&a))?;
            meshchat::compact(&cfg)
        }
        "purge" => {
            let cfg = load(Common::of(&a))?;
            meshchat::purge(&cfg)
        }
        _ => {
            // check-config
            let (cfg, mut problems) =
                Config::check(&overrides(Common::of(&a))?).map_err(|e| e.to_string())?;
            problems.extend(meshchat::hook_problems(&cfg));
            for p in &problems {
                eprintln!("meshchat: {p}");
            }
            if problems.is_empty() {
                print("meshchat: the configuration has no mistakes\n")
            } else {
                Err(format!(
                    "{} found",
                    meshchat::count(problems.len() as u64, "mistake")
                ))
            }
        }
    }
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
    let a = match args::parse(&args) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help(text)) => {
            // On stdout, quietly cut short by `| head`.
            return match print(&text) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            };
        }
        Ok(Parsed::Version) => {
            return match print(&format!("meshchat {}\n", meshchat::VERSION)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            };
        }
        Ok(Parsed::Nothing) => {
            eprintln!("meshchat: no command given: try `meshchat --help`");
            return ExitCode::FAILURE;
        }
        Err(r) => {
            let help = match r.command {
                Some(sub) => format!("meshchat {sub} --help"),
                None => "meshchat --help".to_string(),
            };
            eprintln!("meshchat: {}", r.message);
            eprintln!("Run `{help}` for more information.");
            return ExitCode::FAILURE;
        }
    };
    if a.spec.name != "cgi" {
        Arena::switch_off();
    }
    match run(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshchat: {e}");
            ExitCode::FAILURE
        }
    }
}
