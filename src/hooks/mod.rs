//! Action hooks: `config hook` sections of the configuration name a command the sync
//! daemon runs for each new message that matches (posted here or pulled from a peer).
//!
//! ```text
//! config hook 'archive'
//!     option channel '*'        # glob on the channel ('' = Everything, '@*' = direct)
//!     option match '*'          # glob on the text, case-insensitive
//!     option command '/usr/local/bin/archive-message'
//!     option timeout '10'       # seconds, then the command is killed
//! ```
//!
//! - this module: the rules (parsed from the configuration) and their matching;
//! - [`watch`]: which messages are new, remembered across restarts by a cheap mark;
//! - [`run`]: the bounded queue, at most [`run::RUNNERS`] commands at once, timeouts,
//!   outcomes (stderr and the `action_log` action).
//!
//! In scope: deciding what runs and running it, off the daemon's sync loop. Out of
//! scope: the message log itself (read only, never locked) and the HTTP API.

pub mod run;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::config::{Origin, Problem};
use crate::protocol::lines::unescape_each;
use crate::protocol::uci::Section;
use crate::store::log::Log;
use crate::store::Paths;

/// The options of a `config hook` section.
pub const OPTIONS: &[&str] = &["command", "arg", "channel", "match", "timeout"];

/// Why an option of a hook section is refused when it is none of [`OPTIONS`]: a
/// misspelt `match` would otherwise run the hook for every message.
const NOT_AN_OPTION: &str = "is not one of command, arg, channel, match, timeout";

/// Seconds a hook may run when its section names no timeout.
pub const DEFAULT_TIMEOUT: u64 = 10;
/// The longest timeout a hook may ask for, in seconds.
pub const MAX_TIMEOUT: u64 = 3600;
/// Hooks in one configuration.
pub const MAX_HOOKS: usize = 32;
/// How often the log is looked at for new messages.
pub const WATCH_EVERY: Duration = Duration::from_millis(500);

/// A `config hook` section that cannot be used: the configuration reports it quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// `hook 'NAME' OPTION`.
    pub option: String,
    /// The section's option at fault (its line is the one to report), or "".
    pub key: &'static str,
    pub value: String,
    pub reason: &'static str,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid {} '{}': {}",
            self.option, self.value, self.reason
        )
    }
}

/// One `config hook` section, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The section's name (`hookN` for an anonymous section).
    pub name: String,
    /// Glob on the channel, case-sensitive; empty matches only "Everything".
    pub channel: String,
    /// Glob on the message text, lower-cased (ASCII letters: matching ignores their case).
    pub text: String,
    /// The program and its arguments: `command` split at whitespace, then each `arg`.
    pub argv: Vec<String>,
    pub timeout: Duration,
}

impl Hook {
    /// Validates a `config hook` section; `index` names an anonymous one.
    pub fn from_section(s: &Section, index: usize) -> Result<Hook, Error> {
        let name = s.name.clone().unwrap_or_else(|| format!("hook{index}"));
        let bad = |key: &'static str, value: &str, reason| Error {
            option: format!("hook '{name}' {key}"),
            key,
            value: value.to_string(),
            reason,
        };
        let command = s.get("command").unwrap_or("");
        let mut argv: Vec<String> = command.split_whitespace().map(str::to_string).collect();
        argv.extend(s.all("arg").map(str::to_string));
        if argv.is_empty() {
            return Err(bad("command", command, "is missing"));
        }
        if argv.iter().any(|a| a.contains('\0')) {
            return Err(bad("command", command, "holds a NUL byte"));
        }
        let timeout = match s.get("timeout") {
            None => DEFAULT_TIMEOUT,
            Some(t) => match t.trim().parse::<u64>() {
                Ok(n) if (1..=MAX_TIMEOUT).contains(&n) => n,
                _ => return Err(bad("timeout", t, "must be 1 to 3600 seconds")),
            },
        };
        if let Some((k, _)) = s
            .values
            .iter()
            .find(|(k, _)| !OPTIONS.contains(&k.as_str()))
        {
            return Err(Error {
                option: format!("hook '{name}' option"),
                key: "",
                value: k.clone(),
                reason: NOT_AN_OPTION,
            });
        }
        Ok(Hook {
            channel: s.get("channel").unwrap_or("*").to_string(),
            text: s.get("match").unwrap_or("*").to_ascii_lowercase(),
            argv,
            timeout: Duration::from_secs(timeout),
            name,
        })
    }

    /// The hooks of a configuration's `config hook` sections.
    pub fn all(sections: &[Section]) -> Result<Vec<Hook>, Error> {
        if sections.len() > MAX_HOOKS {
            return Err(Error {
                option: "hook".into(),
                key: "",
                value: sections.len().to_string(),
                reason: "too many hook sections (at most 32)",
            });
        }
        sections
            .iter()
            .enumerate()
            .map(|(i, s)| Hook::from_section(s, i))
            .collect()
    }

    /// Every mistake of the `config hook` sections, each at the line of the value at
    /// fault (`meshchat check-config`); the sync daemon refuses to start on the first.
    pub fn problems(sections: &[Section], file: Option<&Path>) -> Vec<Problem> {
        let at = |line: usize, what: String| Problem {
            file: file.map(Path::to_path_buf),
            origin: Origin::Line(line),
            what,
        };
        let mut out = Vec::new();
        if let Some(extra) = sections.get(MAX_HOOKS) {
            if let Err(e) = Hook::all(sections) {
                out.push(at(extra.line, e.to_string()));
            }
        }
        for (i, s) in sections.iter().enumerate() {
            // Each unknown option at its line, with the option it may be a misspelling of.
            for ((k, _), &n) in s.values.iter().zip(&s.lines) {
                if !OPTIONS.contains(&k.as_str()) {
                    let near = crate::config::nearest(k, OPTIONS);
                    out.push(at(n, format!("unknown hook option '{k}'{near}")));
                }
            }
            match Hook::from_section(s, i) {
                Err(e) if e.reason != NOT_AN_OPTION => {
                    // The line of the option at fault's last value, else the section's
                    // own line (a missing command).
                    let line = s
                        .values
                        .iter()
                        .rposition(|(k, _)| k == e.key)
                        .and_then(|i| s.lines.get(i).copied())
                        .unwrap_or(s.line);
                    out.push(at(line, e.to_string()));
                }
                _ => {}
            }
        }
        out
    }

    /// True when a message of `channel` with the stored text `stored` matches.
    pub fn matches(&self, channel: &str, stored: &str) -> bool {
        if !glob(self.channel.as_bytes(), channel.as_bytes()) {
            return false;
        }
        if self.text == "*" {
            return true;
        }
        let mut text = String::with_capacity(stored.len());
        unescape_each(stored, |p| text.push_str(p));
        glob(self.text.as_bytes(), text.to_ascii_lowercase().as_bytes())
    }
}

/// Shell-style glob: `*` any run of bytes (newlines too), `?` one character, everything
/// else itself. Linear backtracking on the last `*`, so no pattern is slow.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    // One UTF-8 character starting at byte i of text.
    let char_len = |i: usize| {
        1 + text[i + 1..]
            .iter()
            .take_while(|&&b| b & 0xc0 == 0x80)
            .count()
    };
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(b'?') => {
                p += 1;
                t += char_len(t);
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    let next = st + char_len(st);
                    star = Some((sp, next));
                    p = sp + 1;
                    t = next;
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// The running hooks of a sync daemon: a watcher thread and the runners.
pub struct Hooks {
    stop: Arc<AtomicBool>,
    watcher: JoinHandle<()>,
    /// The watch, back from the watcher thread once it ended.
    watched: Arc<Mutex<Option<watch::Watch>>>,
    runner: Arc<run::Runner>,
    mark_file: PathBuf,
}

/// The RAM file of the mark (kept while the node runs).
fn ram_mark(paths: &Paths) -> PathBuf {
    paths.ram_dir.join("hooks.mark")
}

/// The flash copy of the mark, written at a clean stop only.
fn flash_mark(paths: &Paths) -> PathBuf {
    paths.data_dir.join("hooks.mark")
}

/// The RAM file the `action_log` action serves.
pub fn action_log_file(paths: &Paths) -> PathBuf {
    paths.ram_dir.join("action_log")
}

fn log(msg: &str) {
    eprintln!("meshchat sync: {msg}");
}

impl Hooks {
    /// Validates the `config hook` sections and starts watching `messages` (the store's
    /// log) for them, the marks under `paths`; `None` when there are none, so a node
    /// without hooks pays nothing.
    pub fn start(
        paths: &Paths,
        messages: &Log,
        sections: &[Section],
    ) -> Result<Option<Hooks>, Error> {
        if sections.is_empty() {
            return Ok(None);
        }
        let hooks: Vec<Arc<Hook>> = Hook::all(sections)?.into_iter().map(Arc::new).collect();
        let runner = run::Runner::start(action_log_file(paths));
        let mut w = watch::Watch::open(messages, &ram_mark(paths), &flash_mark(paths));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, r) = (stop.clone(), runner.clone());
        log(&format!(
            "{}, watching for new messages",
            crate::count(hooks.len() as u64, "hook")
        ));
        // The watch comes back through `watched` once the thread ends (a thread body
        // returns nothing: see `sys::thread`).
        let watched = Arc::new(Mutex::new(None));
        let out = watched.clone();
        let watcher = crate::sys::thread(Box::new(move || {
            loop {
                dispatch(&mut w, &hooks, &r);
                if s.load(Ordering::SeqCst) {
                    break;
                }
                thread::sleep(WATCH_EVERY);
            }
            *out.lock().unwrap_or_else(PoisonError::into_inner) = Some(w);
        }));
        Ok(Some(Hooks {
            stop,
            watcher,
            watched,
            runner,
            mark_file: flash_mark(paths),
        }))
    }

    /// Stops watching and keeps the mark on flash for the next start. With `drain`,
    /// first waits for the queued and running commands (`sync --once`).
    pub fn stop(self, drain: bool) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.watcher.join();
        let w = self
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(w) = w {
            w.save_flash(&self.mark_file);
        }
        if drain {
            self.runner.drain();
        }
    }
}

fn dispatch(w: &mut watch::Watch, hooks: &[Arc<Hook>], runner: &run::Runner) {
    match w.poll() {
        Ok(fresh) => {
            for m in fresh {
                for h in hooks
                    .iter()
                    .filter(|h| h.matches(m.channel.as_str(), m.text.as_str()))
                {
                    runner.submit(h.clone(), &m);
                }
            }
        }
        Err(e) => log(&format!("hooks: reading the log: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Section {
        crate::protocol::uci::parse(text).remove(0)
    }

    #[test]
    fn globs() {
        for (p, t, m) in [
            ("*", "", true),
            ("*", "anything\nat all", true),
            ("", "", true),
            ("", "ops", false),
            ("@*", "@K1ABC+W2XYZ", true),
            ("@*", "ops", false),
            ("!ping*", "!ping please", true),
            ("!ping*", "say !ping", false),
            ("*!ping*", "say !ping", true),
            ("a?c", "aéc", true),
            ("a?c", "abbc", false),
            ("*a*b*c*", "xxaxxbxxcxx", true),
            ("*a*b*c*", "xxaxxcxxbxx", false),
        ] {
            assert_eq!(glob(p.as_bytes(), t.as_bytes()), m, "{p:?} on {t:?}");
        }
        // No blow-up on a hostile pattern.
        let t = "a".repeat(4096);
        assert!(!glob("*a*a*a*a*a*a*a*b".as_bytes(), t.as_bytes()));
    }

    #[test]
    fn sections_and_matching() {
        let h = Hook::from_section(
            &section(
                "config hook 'bot'\n option channel 'ops'\n option match '!PING*'\n\
                 option command '/bin/echo  a b'\n list arg 'c d'\n option timeout '3'\n",
            ),
            0,
        )
        .unwrap();
        assert_eq!(h.argv, ["/bin/echo", "a", "b", "c d"]);
        assert_eq!(h.timeout, Duration::from_secs(3));
        assert!(h.matches("ops", "!Ping\\nme"));
        assert!(!h.matches("ops2", "!ping"));
        assert!(!h.matches("ops", "ping"));
        let everything = Hook::from_section(
            &section("config hook\n option channel ''\n option command x\n"),
            4,
        )
        .unwrap();
        assert_eq!(everything.name, "hook4");
        assert!(everything.matches("", "x") && !everything.matches("ops", "x"));
        for bad in [
            "config hook 'a'\n option timeout '5'\n",
            "config hook 'a'\n option command x\n option timeout '0'\n",
            "config hook 'a'\n option command x\n option timeout 'soon'\n",
        ] {
            let e = Hook::from_section(&section(bad), 0)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("invalid hook 'a' "), "{e}");
        }
    }
}
