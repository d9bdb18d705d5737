//! The command line of `meshchat`: every subcommand's flags and help as tables, read by
//! one small parser. It speaks as the `argh` crate did before it (`-h`, `--help` or
//! `help` anywhere, `--` before positional words, the same error sentences), without
//! the code a derive generated for each subcommand (about 16 KB of the `mips_24kc`
//! binary; docs/PACKAGING.md, "Size").

/// How a flag takes its value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No value: present or not.
    Switch,
    /// One value, at most once.
    Value,
    /// One value, required.
    Required,
    /// One value, at most once: a whole number (`u64`).
    Number,
    /// One value each time, repeatable.
    Many,
}

/// A flag: long name (without `--`), short letter (or `' '`), kind.
pub type Flag = (&'static str, char, Kind);

/// The words after the flags.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Words {
    None,
    /// Exactly one, named.
    One(&'static str),
    /// Any number; from the first one on, every word is one (`send`'s message).
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    Rest,
}

/// One subcommand.
pub struct Spec {
    pub name: &'static str,
    /// Takes the flags of a command that works on this node's files ([`LOCAL_FLAGS`]).
    pub local: bool,
    pub flags: &'static [Flag],
    pub words: Words,
    /// Its help: the usage line's flags, and the text after the usage line up to the
    /// shared options.
    pub usage: &'static str,
    pub about: &'static str,
    /// Help after the option list (examples, notes), or "".
    pub tail: &'static str,
}

/// The flags of every command that works on this node's files.
pub const LOCAL_FLAGS: &[Flag] = &[
    ("config", ' ', Kind::Value),
    ("node", ' ', Kind::Value),
    ("zone", ' ', Kind::Value),
    ("data", ' ', Kind::Value),
    ("option", 'o', Kind::Many),
];

const LOCAL_USAGE: &str =
    " [--config <config>] [--node <node>] [--zone <zone>] [--data <data>] [-o <option...>]";

const LOCAL_HELP: &str = "  --config          configuration file (default: $MESHCHAT_CONFIG, else
                    /etc/config/meshchat)
  --node            this node's name
  --zone            the zone
  --data            keep everything under DIR (log in DIR/data, RAM files in
                    DIR/ram)
  -o, --option      any configuration option, as name=value (repeatable)
";

const HELP_LINE: &str = "  -h, --help, help  display usage information\n";

/// `send` and `tail` in [`TOP_HELP`]: only in builds with the cargo feature `client`.
#[cfg(feature = "client")]
macro_rules! client_commands {
    () => {
        "  send              post a message to a node (any MeshChat node: meshchat or
                    Lua)
  tail              print a node's latest messages, and with --follow the new
                    ones as they come
"
    };
}
#[cfg(not(feature = "client"))]
macro_rules! client_commands {
    () => {
        ""
    };
}

/// `serve` in [`TOP_HELP`]: only in builds with the cargo feature `serve`.
#[cfg(feature = "serve")]
macro_rules! serve_command {
    () => {
        "  serve             serve the API and the web UI over HTTP
"
    };
}
#[cfg(not(feature = "serve"))]
macro_rules! serve_command {
    () => {
        ""
    };
}

/// `meshchat --help`.
pub const TOP_HELP: &str = concat!(
    "Usage: meshchat [--version] [<command>] [<args>]

MeshChat for AREDN mesh networks: CGI API, message log, sync daemon, web server.

Options:
  --version         print the version and exit
  -h, --help, help  display usage information

Commands:
  cgi               answer one CGI request from the environment (the default
                    under a web server)
",
    serve_command!(),
    "  import            import a legacy Lua MeshChat database
                    (/tmp/meshchat/messages.<zone>) or a jsonl export into the
                    log
  compact           rewrite the message log now, keeping only the newest
                    max_messages
  purge             delete this node's messages, presence and shared files
                    (before removing the package)
  sync              run the sync daemon: pull from peers every poll_interval
                    (foreground; SIGTERM stops it)
",
    client_commands!(),
    "  export            write messages to stdout, from a node (--url) or this node's
                    log
  check-config      check the configuration: every mistake with its file and
                    line; exits 1 on any
"
);

/// Every subcommand, in the order of [`TOP_HELP`].
pub const COMMANDS: &[Spec] = &[
    Spec {
        name: "cgi",
        local: false,
        flags: &[("config", ' ', Kind::Value)],
        words: Words::None,
        usage: " [--config <config>]",
        about: "answer one CGI request from the environment (the default under a web server)

Options:
  --config          configuration file
",
        tail: "",
    },
    #[cfg(feature = "serve")]
    Spec {
        name: "serve",
        local: true,
        flags: &[("listen", ' ', Kind::Value)],
        words: Words::None,
        usage: " [--listen <listen>]",
        about: "serve the API and the web UI over HTTP

Options:
  --listen          address to listen on (default 127.0.0.1:8080; port 0 picks a
                    free one)
",
        tail: "",
    },
    Spec {
        name: "import",
        local: true,
        flags: &[],
        words: Words::One("file"),
        usage: "",
        about: "import a legacy Lua MeshChat database (/tmp/meshchat/messages.<zone>) or a jsonl export into the log

Positional Arguments:
  file              the legacy database file, or a jsonl export

Options:
",
        tail: "",
    },
    Spec {
        name: "compact",
        local: true,
        flags: &[],
        words: Words::None,
        usage: "",
        about: "rewrite the message log now, keeping only the newest max_messages

Options:
",
        tail: "",
    },
    Spec {
        name: "purge",
        local: true,
        flags: &[],
        words: Words::None,
        usage: "",
        about: "delete this node's messages, presence and shared files (before removing the package)

Options:
",
        tail: "",
    },
    Spec {
        name: "sync",
        local: true,
        flags: &[
            ("once", ' ', Kind::Switch),
            ("verbose", ' ', Kind::Switch),
            ("stats", ' ', Kind::Switch),
            ("stall", ' ', Kind::Number),
        ],
        words: Words::None,
        usage: " [--once] [--verbose] [--stats] [--stall <stall>]",
        about: "run the sync daemon: pull from peers every poll_interval (foreground; SIGTERM stops it)

Options:
  --once            one round with every peer, then exit
  --verbose         log every round, not only changes
  --stats           print one line per peer round on stdout (bytes, requests,
                    time)
  --stall           seconds a peer may stall before it is dropped (default 10)
",
        tail: "",
    },
    #[cfg(feature = "client")]
    Spec {
        name: "send",
        local: false,
        flags: &[
            ("url", ' ', Kind::Required),
            ("call-sign", ' ', Kind::Required),
            ("channel", ' ', Kind::Value),
            ("to", ' ', Kind::Value),
        ],
        words: Words::Rest,
        usage: " --url <url> --call-sign <call-sign> [--channel <channel>] [--to <to>] [message...]",
        about: "post a message to a node (any MeshChat node: meshchat or Lua)

Options:
  --url             the node: NAME, NAME:PORT or a URL (default port 8080)
  --call-sign       your call sign
  --channel         the channel (default: Everything)
  --to              a direct message to this call sign (channel @A+B; not
                    private)
",
        tail: "
Examples:
  meshchat send --url node-a --call-sign K1ABC --channel ops net starts at 19:00
  uptime | meshchat send --url node-a:8080 --call-sign K1ABC -

Notes:
  MESSAGE: the words after the options, joined with spaces; a single - reads
  the message from stdin. The call sign is sent upper-case, as the web UI does.
",
    },
    #[cfg(feature = "client")]
    Spec {
        name: "tail",
        local: false,
        flags: &[
            ("url", ' ', Kind::Required),
            ("channel", ' ', Kind::Value),
            ("to", ' ', Kind::Value),
            ("call-sign", ' ', Kind::Value),
            ("lines", 'n', Kind::Number),
            ("follow", 'f', Kind::Switch),
            ("interval", ' ', Kind::Number),
        ],
        words: Words::None,
        usage: " --url <url> [--channel <channel>] [--to <to>] [--call-sign <call-sign>] [-n <lines>] [-f] [--interval <interval>]",
        about: "print a node's latest messages, and with --follow the new ones as they come

Options:
  --url             the node: NAME, NAME:PORT or a URL (default port 8080)
  --channel         only this channel
  --to              only direct messages with this call sign (with --call-sign:
                    only yours)
  --call-sign       your call sign, to pick your conversation with --to
  -n, --lines       how many messages to print first (default 20)
  -f, --follow      keep printing new messages
  --interval        seconds between polls with --follow (default 5)
",
        tail: "",
    },
    Spec {
        name: "export",
        local: true,
        flags: &[
            ("url", ' ', Kind::Value),
            ("format", ' ', Kind::Value),
            ("channel", ' ', Kind::Value),
            ("since", ' ', Kind::Number),
        ],
        words: Words::None,
        usage: " [--url <url>] [--format <format>] [--channel <channel>] [--since <since>]",
        about: "write messages to stdout, from a node (--url) or this node's log

Options:
  --url             the node: NAME, NAME:PORT or a URL (default: this node's own
                    log)
  --format          jsonl (default), csv, or legacy (the lines of messages_raw,
                    byte for byte)
  --channel         only this channel
  --since           only messages dated at or after these unix seconds
",
        tail: "",
    },
    Spec {
        name: "check-config",
        local: true,
        flags: &[],
        words: Words::None,
        usage: "",
        about: "check the configuration: every mistake with its file and line; exits 1 on any

Options:
",
        tail: "",
    },
];

impl Spec {
    /// The subcommand's `--help`.
    pub fn help(&self) -> String {
        let mut h = format!("Usage: meshchat {}{}", self.name, self.usage);
        if self.local {
            h.push_str(LOCAL_USAGE);
        }
        if let Words::One(w) = self.words {
            h.push_str(" [--] <");
            h.push_str(w);
            h.push('>');
        }
        h.push_str("\n\n");
        h.push_str(self.about);
        if self.local {
            h.push_str(LOCAL_HELP);
        }
        h.push_str(HELP_LINE);
        h.push_str(self.tail);
        h
    }

    fn flag(&self, word: &str) -> Option<&'static Flag> {
        let own = self.flags.iter();
        let local = if self.local { LOCAL_FLAGS } else { &[] }.iter();
        own.chain(local).find(|(long, short, _)| {
            word.strip_prefix("--") == Some(long)
                || (*short != ' '
                    && word.len() == 2
                    && word.strip_prefix('-') == Some(short.encode_utf8(&mut [0; 4])))
        })
    }
}

/// What the command line asks for.
pub enum Parsed {
    /// Print this help on stdout.
    Help(String),
    Version,
    /// No subcommand.
    Nothing,
    Run(Args),
}

/// A subcommand and what its flags and words said.
pub struct Args {
    pub spec: &'static Spec,
    /// Each flag given with a value, by long name.
    values: Vec<(&'static str, String)>,
    switches: Vec<&'static str>,
    pub words: Vec<String>,
}

/// Why the command line was refused: the message, and the subcommand whose help to
/// point at.
pub struct Refused {
    pub message: String,
    pub command: Option<&'static str>,
}

fn is_help(a: &str) -> bool {
    matches!(a, "-h" | "--help" | "help")
}

/// Whether `-h`, `--help` or `help` stands where a flag could: anywhere before `--`, but
/// for `send` only before its message starts (`... I need help` and `... help` send
/// those words).
fn asks_for_help(spec: &Spec, rest: &[String]) -> bool {
    let mut it = rest.iter().peekable();
    while let Some(a) = it.next() {
        let flag = a.len() > 1 && a.starts_with('-');
        if a == "--" || (!flag && spec.words == Words::Rest) {
            return false;
        }
        if is_help(a) {
            return true;
        }
        // A flag's value is skipped, unless it is a help word (`--url --help`).
        let takes_value = spec.flag(a).is_some_and(|&(_, _, k)| k != Kind::Switch);
        if takes_value && it.peek().is_some_and(|v| !is_help(v)) {
            it.next();
        }
    }
    false
}

/// Reads the arguments (after the program name). A lone `-` is a word (stdin for
/// `send`), never a flag.
pub fn parse(args: &[String]) -> Result<Parsed, Refused> {
    let refuse = |message: String, command: Option<&'static str>| Refused { message, command };
    let mut version = false;
    let mut i = 0;
    // The top level: --version and help before a subcommand.
    let spec = loop {
        let Some(a) = args.get(i) else {
            return Ok(if version {
                Parsed::Version
            } else {
                Parsed::Nothing
            });
        };
        i += 1;
        if is_help(a) {
            return Ok(Parsed::Help(TOP_HELP.to_string()));
        }
        if a == "--version" {
            version = true;
            continue;
        }
        match COMMANDS.iter().find(|c| c.name == a) {
            Some(c) => break c,
            // Left out of node packages: say so, rather than "unrecognized".
            #[cfg(not(feature = "client"))]
            None if matches!(a.as_str(), "send" | "tail") => {
                return Err(refuse(
                    format!("meshchat {a} is {}", meshchat::NOT_IN_NODE_BUILDS),
                    None,
                ))
            }
            #[cfg(not(feature = "serve"))]
            None if a == "serve" => return Err(refuse(meshchat::NO_SERVE.to_string(), None)),
            None => return Err(refuse(format!("Unrecognized argument: {a}"), None)),
        }
    };
    let rest = &args[i..];
    if asks_for_help(spec, rest) {
        return Ok(Parsed::Help(spec.help()));
    }
    if version {
        return Ok(Parsed::Version);
    }
    let here = Some(spec.name);
    let mut out = Args {
        spec,
        values: Vec::new(),
        switches: Vec::new(),
        words: Vec::new(),
    };
    let mut words_only = false;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        if !words_only && a == "--" {
            words_only = true;
            continue;
        }
        if !words_only && a.len() > 1 && a.starts_with('-') {
            let Some(&(long, _, kind)) = spec.flag(a) else {
                return Err(refuse(format!("Unrecognized argument: {a}"), here));
            };
            if kind == Kind::Switch {
                out.switches.push(long);
                continue;
            }
            let Some(v) = it.next() else {
                return Err(refuse(format!("No value provided for option '{a}'."), here));
            };
            if kind != Kind::Many && out.values.iter().any(|(l, _)| *l == long) {
                return Err(refuse(
                    format!(
                        "Error parsing option '{a}' with value '{v}': duplicate values provided"
                    ),
                    here,
                ));
            }
            if let (Kind::Number, Err(e)) = (kind, v.parse::<u64>()) {
                return Err(refuse(
                    format!("Error parsing option '{a}' with value '{v}': {e}"),
                    here,
                ));
            }
            out.values.push((long, v.clone()));
            continue;
        }
        let room = match spec.words {
            Words::None => false,
            Words::One(_) => out.words.is_empty(),
            Words::Rest => {
                words_only = true;
                true
            }
        };
        if !room {
            return Err(refuse(format!("Unrecognized argument: {a}"), here));
        }
        out.words.push(a.clone());
    }
    let missing: Vec<&str> = spec
        .flags
        .iter()
        .filter(|(long, _, kind)| *kind == Kind::Required && out.value(long).is_none())
        .map(|(long, _, _)| *long)
        .collect();
    if !missing.is_empty() {
        let mut m = String::from("Required options not provided:");
        for long in missing {
            m.push_str("\n    --");
            m.push_str(long);
        }
        return Err(refuse(m, here));
    }
    if let (Words::One(w), true) = (spec.words, out.words.is_empty()) {
        return Err(refuse(
            format!("Required positional arguments not provided:\n    {w}"),
            here,
        ));
    }
    Ok(Parsed::Run(out))
}

impl Args {
    pub fn switch(&self, long: &str) -> bool {
        self.switches.contains(&long)
    }

    /// The value of a flag given once (the last, for a repeatable one).
    pub fn value(&self, long: &str) -> Option<String> {
        self.values
            .iter()
            .rev()
            .find(|(l, _)| *l == long)
            .map(|(_, v)| v.clone())
    }

    /// Every value of a repeatable flag, in order.
    pub fn values(&self, long: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(l, _)| *l == long)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A [`Kind::Number`] flag (checked by [`parse`]), or `default` when not given.
    pub fn number(&self, long: &str, default: u64) -> u64 {
        self.value(long)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, Refused> {
        parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    fn args(a: &[&str]) -> Args {
        match run(a) {
            Ok(Parsed::Run(a)) => a,
            _ => panic!("not a command: {a:?}"),
        }
    }

    fn refused(a: &[&str]) -> (String, Option<&'static str>) {
        match run(a) {
            Err(r) => (r.message, r.command),
            Ok(_) => panic!("accepted: {a:?}"),
        }
    }

    #[test]
    fn flags_values_and_words() {
        let a = args(&["tail", "--url", "n", "-n", "7", "-f", "--channel", "ops"]);
        assert_eq!(a.spec.name, "tail");
        assert_eq!(a.value("url").as_deref(), Some("n"));
        assert_eq!(a.number("lines", 20), 7);
        assert_eq!(a.number("interval", 5), 5);
        assert!(a.switch("follow"));
        let a = args(&["send", "--url", "n", "--call-sign", "k", "hi", "--to", "x"]);
        assert_eq!(a.words, ["hi", "--to", "x"]);
        assert_eq!(a.value("to"), None);
        let a = args(&["send", "--url", "n", "--call-sign", "k", "--", "-"]);
        assert_eq!(a.words, ["-"]);
        let a = args(&[
            "sync", "-o", "a=1", "--option", "b=2", "--once", "--data", "d",
        ]);
        assert_eq!(a.values("option"), ["a=1", "b=2"]);
        assert!(a.switch("once") && !a.switch("stats"));
        assert_eq!(args(&["import", "f"]).words, ["f"]);
    }

    #[test]
    fn help_version_and_nothing() {
        assert!(matches!(run(&[]), Ok(Parsed::Nothing)));
        assert!(matches!(run(&["--version"]), Ok(Parsed::Version)));
        for h in [&["-h"][..], &["help"], &["--version", "--help"]] {
            assert!(matches!(run(h), Ok(Parsed::Help(t)) if t == TOP_HELP));
        }
        for c in COMMANDS {
            let Ok(Parsed::Help(h)) = run(&[c.name, "--url", "--help"]) else {
                panic!("{}", c.name);
            };
            assert!(
                h.starts_with(&format!("Usage: meshchat {} ", c.name)),
                "{h}"
            );
            assert!(h.contains(HELP_LINE), "{h}");
            assert_eq!(h.contains("--data"), c.local, "{h}");
        }
        // After `--`, "help" is a word; so is every word of a message once it started.
        assert_eq!(
            args(&["send", "--url", "n", "--call-sign", "k", "--", "help"]).words,
            ["help"]
        );
        assert_eq!(
            args(&[
                "send",
                "--url",
                "n",
                "--call-sign",
                "k",
                "I",
                "need",
                "help",
                "-h"
            ])
            .words,
            ["I", "need", "help", "-h"]
        );
        assert_eq!(
            args(&["send", "--url", "n", "--call-sign", "help", "help", "me"]).words,
            ["help", "me"]
        );
        assert_eq!(
            refused(&["send", "help"]),
            (
                "Required options not provided:\n    --url\n    --call-sign".into(),
                Some("send")
            )
        );
        for a in [
            &["send", "-h"][..],
            &["send", "--url", "n", "-h", "hi"],
            &["send", "--channel", "ops", "--help"],
            &["tail", "--url", "n", "-n", "3", "help"],
        ] {
            assert!(matches!(run(a), Ok(Parsed::Help(_))), "{a:?}");
        }
    }

    #[test]
    fn mistakes_are_named_with_the_subcommand() {
        assert_eq!(
            refused(&["frobnicate"]),
            ("Unrecognized argument: frobnicate".into(), None)
        );
        assert_eq!(
            refused(&["send", "--url", "x", "--bogus"]),
            ("Unrecognized argument: --bogus".into(), Some("send"))
        );
        assert_eq!(
            refused(&["tail"]).0,
            "Required options not provided:\n    --url"
        );
        assert_eq!(
            refused(&["send", "m"]).0,
            "Required options not provided:\n    --url\n    --call-sign"
        );
        assert_eq!(
            refused(&["tail", "--url"]).0,
            "No value provided for option '--url'."
        );
        assert_eq!(
            refused(&["tail", "--url", "x", "--url", "y"]).0,
            "Error parsing option '--url' with value 'y': duplicate values provided"
        );
        assert_eq!(
            refused(&["tail", "--url", "x", "-n", "abc"]),
            (
                "Error parsing option '-n' with value 'abc': invalid digit found in string".into(),
                Some("tail")
            )
        );
        assert_eq!(
            refused(&["import"]).0,
            "Required positional arguments not provided:\n    file"
        );
        assert_eq!(refused(&["import", "a", "b"]).0, "Unrecognized argument: b");
        assert_eq!(refused(&["send", "-o", "x"]).0, "Unrecognized argument: -o");
        assert_eq!(refused(&["compact", "x"]).0, "Unrecognized argument: x");
    }
}
