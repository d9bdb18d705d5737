//! Running hook commands: a bounded queue, [`RUNNERS`] threads, one process each.
//!
//! A command is started directly (argv, never a shell; `posix_spawn`) in its own process
//! group, with the message as one JSON object on stdin (the members of the `messages`
//! action) and
//! `MESHCHAT_ID`, `MESHCHAT_CALL_SIGN`, `MESHCHAT_CHANNEL`, `MESHCHAT_NODE`,
//! `MESHCHAT_EPOCH` (and `MESHCHAT_HOOK`) in its environment. Its stdout is discarded, its
//! stderr is the daemon's (syslog on a node). Past its timeout the whole group is killed.
//! Each outcome goes to stderr and to the last [`KEPT`] outcomes that the `action_log`
//! action serves (a RAM file, newest first, one JSON object per line).

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::Hook;
use crate::protocol::export::push_message;
use crate::protocol::json::Object;
use crate::protocol::lines::{Message, MessageRef};
use crate::protocol::Epoch;
use crate::store::atomic;
use crate::sys::{self, Exit};

/// Commands running at once.
pub const RUNNERS: usize = 2;
/// Commands waiting to run; more are dropped (and logged).
pub const QUEUE: usize = 64;
/// Outcomes kept for the `action_log` action.
pub const KEPT: usize = 100;
/// How often a running command is checked on (a router's CPU wakes for each look).
const CHECK: Duration = Duration::from_millis(50);

struct Job {
    hook: Arc<Hook>,
    id: String,
    env: [(&'static str, String); 5],
    stdin: Vec<u8>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    running: usize,
    /// Newest first: one JSON object each.
    outcomes: VecDeque<String>,
}

/// The queue and the outcome log, shared by the watcher and the runner threads.
pub struct Runner {
    state: Mutex<State>,
    wake: Condvar,
    file: PathBuf,
}

/// How one run ended.
enum End {
    Exit(i32),
    Signal(i32),
    Killed,
    NotStarted(String),
    Dropped,
}

impl Runner {
    /// Starts the runner threads; outcomes kept in `file` (its earlier ones are kept).
    pub fn start(file: PathBuf) -> Arc<Runner> {
        let outcomes = std::fs::read_to_string(&file)
            .map(|t| {
                t.lines()
                    .map(|l| l.trim_start_matches('[').trim_end_matches([',', ']']))
                    .filter(|l| l.starts_with('{'))
                    .take(KEPT)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let r = Arc::new(Runner {
            state: Mutex::new(State {
                outcomes,
                ..State::default()
            }),
            wake: Condvar::new(),
            file,
        });
        for _ in 0..RUNNERS {
            let r = r.clone();
            sys::thread(Box::new(move || r.serve()));
        }
        r
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `hook` for `m`; a full queue drops it, logged.
    pub fn submit(&self, hook: Arc<Hook>, m: &Message) {
        let mut line = String::new();
        m.write_line(&mut line);
        let Ok(r) = MessageRef::parse(line.trim_end_matches('\n')) else {
            return;
        };
        let mut stdin = Vec::with_capacity(line.len() + 128);
        push_message(&mut stdin, &r);
        stdin.push(b'\n');
        let job = Job {
            id: m.id.to_string(),
            env: [
                ("MESHCHAT_ID", m.id.to_string()),
                ("MESHCHAT_CALL_SIGN", m.call_sign.to_string()),
                ("MESHCHAT_CHANNEL", m.channel.to_string()),
                ("MESHCHAT_NODE", m.node.to_string()),
                ("MESHCHAT_EPOCH", m.epoch.to_string()),
            ],
            hook,
            stdin,
        };
        let mut s = self.lock();
        if s.queue.len() >= QUEUE {
            drop(s);
            self.record(&job, End::Dropped, Duration::ZERO);
            return;
        }
        s.queue.push_back(job);
        drop(s);
        self.wake.notify_one();
    }

    /// Waits until nothing is queued or running.
    pub fn drain(&self) {
        let mut s = self.lock();
        while !s.queue.is_empty() || s.running > 0 {
            s = self
                .wake
                .wait_timeout(s, Duration::from_millis(100))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    fn serve(&self) {
        loop {
            let job = {
                let mut s = self.lock();
                loop {
                    if let Some(j) = s.queue.pop_front() {
                        s.running += 1;
                        break j;
                    }
                    s = self.wake.wait(s).unwrap_or_else(|e| e.into_inner());
                }
            };
            let started = Instant::now();
            let end = execute(&job);
            self.record(&job, end, started.elapsed());
            self.lock().running -= 1;
            self.wake.notify_all();
        }
    }

    fn record(&self, job: &Job, end: End, took: Duration) {
        let ms = took.as_millis() as u64;
        let (result, detail) = match &end {
            End::Exit(0) => ("ok", "exit 0".to_string()),
            End::Exit(c) => ("failed", format!("exit {c}")),
            End::Signal(s) => ("failed", format!("signal {s}")),
            End::Killed => (
                "killed",
                format!("timeout {} s", job.hook.timeout.as_secs()),
            ),
            End::NotStarted(e) => ("error", e.clone()),
            End::Dropped => ("dropped", format!("queue full ({QUEUE})")),
        };
        eprintln!(
            "meshchat sync: hook {} for {}: {result} ({detail}) in {ms} ms",
            job.hook.name, job.id
        );
        let mut out = Vec::with_capacity(160);
        let mut o = Object::new(&mut out);
        o.num("epoch", Epoch::now().0)
            .str("hook", &job.hook.name)
            .str("id", &job.id)
            .str("result", result);
        if let End::Exit(c) = end {
            o.raw("exit", c.to_string().as_bytes());
        }
        o.num("ms", ms).str("detail", &detail).end();
        let mut s = self.lock();
        s.outcomes
            .push_front(String::from_utf8_lossy(&out).into_owned());
        s.outcomes.truncate(KEPT);
        let mut body = String::from("[");
        for (i, o) in s.outcomes.iter().enumerate() {
            body.push_str(if i == 0 { "" } else { ",\n" });
            body.push_str(o);
        }
        body.push_str("]\n");
        // RAM: no fsync; the lock orders the two runners' writes.
        if let Err(e) = atomic::replace(&self.file, body.as_bytes(), false) {
            eprintln!("meshchat sync: hooks: writing the action log: {e}");
        }
    }
}

/// Runs one command to its end or its timeout.
fn execute(job: &Job) -> End {
    let argv = &job.hook.argv;
    // The program's name only in messages: the action log is served to anyone.
    let name = std::path::Path::new(argv.first().map_or("", String::as_str))
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let (read, mut write) = match pipe() {
        Ok(p) => p,
        Err(e) => return End::NotStarted(format!("cannot start {name}: {e}")),
    };
    let mut env: Vec<(&str, &str)> = job.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("MESHCHAT_HOOK", &job.hook.name));
    let child = match sys::spawn(argv, &env, &read) {
        Ok(c) => c,
        Err(e) => return End::NotStarted(format!("cannot start {name}: {e}")),
    };
    drop(read);
    // A writer thread: a command that never reads its stdin cannot hold us past its
    // timeout (the write fails once it is killed).
    let data = job.stdin.clone();
    sys::thread(Box::new(move || {
        let _ = write.write_all(&data);
    }));
    let deadline = Instant::now() + job.hook.timeout;
    loop {
        match child.wait(false) {
            Ok(Some(Exit::Code(c))) => return End::Exit(c),
            Ok(Some(Exit::Signal(s))) => return End::Signal(s),
            Ok(None) if Instant::now() >= deadline => {
                sys::kill_group(child.pid);
                let _ = child.wait(true);
                return End::Killed;
            }
            Ok(None) => thread::sleep(CHECK),
            Err(e) => return End::NotStarted(e.to_string()),
        }
    }
}

/// A pipe for a command's stdin: (read end, write end), both close-on-exec (the child
/// gets the read end as its fd 0 by dup2, which clears the flag there).
fn pipe() -> std::io::Result<(std::fs::File, std::fs::File)> {
    let (r, w) = std::io::pipe()?;
    Ok((
        std::fs::File::from(std::os::fd::OwnedFd::from(r)),
        std::fs::File::from(std::os::fd::OwnedFd::from(w)),
    ))
}
