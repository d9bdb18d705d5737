//! The few operating-system calls std does not offer: file-system space (statvfs), the
//! addresses of this host's interfaces (getifaddrs), signal handling for the daemons, and
//! starting hook commands (posix_spawn: a few hundred bytes where `std::process` costs
//! tens of KB of binary). The only `unsafe` code in meshchat lives here and in the
//! allocator (`arena`).
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

/// Sizes of the file system holding a path, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Space {
    pub total: u64,
    pub used: u64,
    /// Available to unprivileged writers.
    pub available: u64,
}

/// A boxed thread body: every thread of meshchat starts from one, so that std's spawn
/// code (generic over the closure) is compiled once rather than once per place that
/// starts a thread.
pub type Body = Box<dyn FnOnce() + Send>;

/// Starts a thread running `f`; like `std::thread::spawn`, aborts when the system
/// cannot start one.
pub fn thread(f: Body) -> std::thread::JoinHandle<()> {
    std::thread::spawn(f)
}

/// Starts a thread running `f`, named `name` and with `stack` bytes of stack when given.
pub fn thread_with(
    name: Option<&str>,
    stack: Option<usize>,
    f: Body,
) -> io::Result<std::thread::JoinHandle<()>> {
    let mut b = std::thread::Builder::new();
    if let Some(n) = name {
        b = b.name(n.to_string());
    }
    if let Some(s) = stack {
        b = b.stack_size(s);
    }
    b.spawn(f)
}

/// `statvfs(path)`.
pub fn space(path: &Path) -> io::Result<Space> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated string and `st` a properly sized, writable
    // statvfs struct that the call fills in.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    let total = st.f_blocks as u64 * frsize;
    let free = st.f_bfree as u64 * frsize;
    Ok(Space {
        total,
        used: total.saturating_sub(free),
        available: st.f_bavail as u64 * frsize,
    })
}

/// The IPv4 and IPv6 addresses of this host's interfaces (empty when they cannot be
/// listed): how the sync daemon recognises itself in a service entry that names it by
/// address.
pub fn local_addrs() -> Vec<std::net::IpAddr> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let mut out = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we only read and then free with
    // freeifaddrs; each `ifa_addr` is null or points to a sockaddr whose family says which
    // struct it is.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return out;
        }
        let mut cur = list;
        while !cur.is_null() {
            let sa = (*cur).ifa_addr;
            if !sa.is_null() {
                match i32::from((*sa).sa_family) {
                    libc::AF_INET => {
                        let v4 = &*(sa as *const libc::sockaddr_in);
                        out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))));
                    }
                    libc::AF_INET6 => {
                        let v6 = &*(sa as *const libc::sockaddr_in6);
                        out.push(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    out
}

/// Fills `buf` from the kernel's RNG (`/dev/urandom`): message ids, session tokens,
/// temporary file names.
pub fn random(buf: &mut [u8]) -> io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

static STOP: AtomicBool = AtomicBool::new(false);
/// The pipe a stop signal writes one byte to, so sleepers wake at once: read end, write end.
static WAKE_READ: AtomicI32 = AtomicI32::new(-1);
static WAKE_WRITE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    let fd = WAKE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the byte is a valid one-byte buffer. A
        // full pipe (signals already sent) needs no more bytes.
        unsafe {
            libc::write(fd, b"x".as_ptr().cast(), 1);
        }
    }
}

/// Makes SIGTERM and SIGINT set a flag instead of killing the process, so a daemon can
/// finish its current write and exit cleanly. Blocking calls are not restarted (no
/// `SA_RESTART`): a sleep or a socket read returns early and the loop sees the flag, and
/// [`wait_for_stop`] returns at once.
pub fn catch_stop_signals() {
    if WAKE_READ.load(Ordering::SeqCst) < 0 {
        let mut fds = [-1 as libc::c_int; 2];
        // SAFETY: `fds` is a writable array of two descriptors, as pipe2 requires.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } == 0 {
            WAKE_WRITE.store(fds[1], Ordering::SeqCst);
            WAKE_READ.store(fds[0], Ordering::SeqCst);
        }
    }
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to atomics and calls write(2), both
        // async-signal-safe; the sigaction struct is zeroed and then filled in before use.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_stop_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// True once SIGTERM or SIGINT arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Sleeps until SIGTERM or SIGINT arrives (after [`catch_stop_signals`]) or `timeout`
/// passes (`None`: no limit), without waking in between; returns [`stop_requested`].
/// Any number of threads may wait at once: the pipe is never drained, so a stop wakes
/// every one of them, and a signal that came just before the call is not missed.
pub fn wait_for_stop(timeout: Option<Duration>) -> bool {
    let fd = WAKE_READ.load(Ordering::SeqCst);
    if stop_requested() {
        return true;
    }
    if fd < 0 {
        std::thread::sleep(timeout.unwrap_or(Duration::from_secs(1)));
        return stop_requested();
    }
    let ms = timeout.map_or(-1, |t| {
        // Round up: waking a millisecond early would only mean waking twice.
        t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int
    });
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and its count 1. EINTR (a signal) simply returns.
    unsafe {
        libc::poll(&mut pfd, 1, ms);
    }
    stop_requested()
}

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// A started child: its pid, which is also its process group.
pub struct Child {
    pub pid: libc::pid_t,
}

fn cstring(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "holds a NUL byte"))
}

/// Starts `argv` (a name without `/` is looked up on `PATH`) with this process's
/// environment plus `env`, as the leader of a new process group, with `stdin` as its
/// standard input, its standard output on `/dev/null`, standard error shared, and
/// SIGPIPE back at its default (this program ignores it).
pub fn spawn(argv: &[String], env: &[(&str, &str)], stdin: &std::fs::File) -> io::Result<Child> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStringExt;
    let args = argv
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<io::Result<Vec<_>>>()?;
    let mut vars = Vec::new();
    for (k, v) in std::env::vars_os() {
        if !env.iter().any(|(n, _)| k.as_bytes() == n.as_bytes()) {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(&v.into_vec());
            vars.push(cstring(&kv)?);
        }
    }
    for (k, v) in env {
        vars.push(cstring(format!("{k}={v}").as_bytes())?);
    }
    let Some(program) = args.first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no program"));
    };
    let mut argp: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr() as *mut _).collect();
    argp.push(std::ptr::null_mut());
    let mut envp: Vec<*mut libc::c_char> = vars.iter().map(|a| a.as_ptr() as *mut _).collect();
    envp.push(std::ptr::null_mut());
    let null = c"/dev/null";
    // SAFETY: every pointer handed over is valid for the duration of the calls (the
    // CStrings and pointer vectors outlive them, both vectors end with a null); the
    // attribute and file-action objects are initialised before use and destroyed after.
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut actions);
        libc::posix_spawnattr_init(&mut attr);
        libc::posix_spawn_file_actions_adddup2(&mut actions, stdin.as_raw_fd(), 0);
        libc::posix_spawn_file_actions_addopen(&mut actions, 1, null.as_ptr(), libc::O_WRONLY, 0);
        let mut default: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut default);
        libc::sigaddset(&mut default, libc::SIGPIPE);
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        libc::posix_spawnattr_setsigdefault(&mut attr, &default);
        libc::posix_spawnattr_setsigmask(&mut attr, &mask);
        libc::posix_spawnattr_setpgroup(&mut attr, 0);
        libc::posix_spawnattr_setflags(
            &mut attr,
            (libc::POSIX_SPAWN_SETPGROUP
                | libc::POSIX_SPAWN_SETSIGDEF
                | libc::POSIX_SPAWN_SETSIGMASK) as libc::c_short,
        );
        let mut pid: libc::pid_t = 0;
        let rc = libc::posix_spawnp(
            &mut pid,
            program.as_ptr(),
            &actions,
            &attr,
            argp.as_ptr(),
            envp.as_ptr(),
        );
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(Child { pid })
    }
}

impl Child {
    /// How it ended, without waiting (`None`: still running); with `block`, waits.
    pub fn wait(&self, block: bool) -> io::Result<Option<Exit>> {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid writes only to `status`, a valid c_int.
        let rc =
            unsafe { libc::waitpid(self.pid, &mut status, if block { 0 } else { libc::WNOHANG }) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if rc == 0 {
            return Ok(None);
        }
        Ok(Some(if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(libc::WEXITSTATUS(status))
        }))
    }
}

/// Sends SIGKILL to the process group `pgid` (a hook command started as the leader of its
/// own group, with whatever it started).
pub fn kill_group(pgid: libc::pid_t) {
    if pgid > 1 {
        // SAFETY: kill has no memory effects; a negative pid names the process group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Directories watched for files other processes write or rename into them (inotify), so
/// a daemon can sleep until it is left something instead of looking every so often.
pub struct Watch {
    fd: libc::c_int,
}

impl Watch {
    /// Watches `dirs` (each must exist).
    pub fn new(dirs: &[&Path]) -> io::Result<Watch> {
        // SAFETY: plain syscalls on integers and NUL-terminated paths we own.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let w = Watch { fd };
        for dir in dirs {
            let c = CString::new(dir.as_os_str().as_bytes()).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte")
            })?;
            let mask = libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO | libc::IN_MODIFY;
            // SAFETY: `fd` is our inotify descriptor, `c` a valid C string.
            if unsafe { libc::inotify_add_watch(w.fd, c.as_ptr(), mask) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(w)
    }

    /// Sleeps until files change in a watched directory; their names.
    pub fn wait(&self) -> io::Result<Vec<String>> {
        let mut buf = [0u8; 4096];
        // SAFETY: reads at most `buf.len()` bytes into `buf`.
        let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let (mut names, mut at, head) = (
            Vec::new(),
            0usize,
            std::mem::size_of::<libc::inotify_event>(),
        );
        while at + head <= n as usize {
            // SAFETY: the kernel wrote whole events; read_unaligned copes with the
            // buffer's alignment.
            let ev: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            let name = &buf[at + head..(at + head + ev.len as usize).min(n as usize)];
            let name = name.split(|&b| b == 0).next().unwrap_or_default();
            names.push(String::from_utf8_lossy(name).into_owned());
            at += head + ev.len as usize;
        }
        Ok(names)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this value owns.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// std names each thread it starts, from that thread, with `pthread_setname_np(self)`.
/// musl's version also handles other threads by formatting `/proc/self/task/N/comm` with
/// `snprintf`, and that one call links all of printf, with its floating-point formatting
/// and soft-float routines on MIPS (about 12 KB of the `mips_24kc` binary). This one does
/// what std asks (one `prctl`) and refuses other threads.
#[cfg(all(target_os = "linux", target_env = "musl"))]
#[no_mangle]
pub extern "C" fn pthread_setname_np(
    thread: libc::pthread_t,
    name: *const libc::c_char,
) -> libc::c_int {
    // SAFETY: pthread_self and pthread_equal have no preconditions; PR_SET_NAME reads at
    // most 16 bytes of the NUL-terminated name the caller passes (std truncates it).
    unsafe {
        if libc::pthread_equal(thread, libc::pthread_self()) == 0 {
            return libc::ENOSYS;
        }
        if libc::prctl(libc::PR_SET_NAME, name) == 0 {
            0
        } else {
            *libc::__errno_location()
        }
    }
}

/// The C library's `qsort`, which only `getaddrinfo` calls here (to order at most a few
/// dozen addresses of one host name): an insertion sort instead of zig libc's 6 KB
/// pattern-defeating quicksort. Stable, and quadratic only in what is tiny anyway.
#[cfg(all(target_os = "linux", target_env = "musl"))]
#[no_mangle]
pub unsafe extern "C" fn qsort(
    base: *mut libc::c_void,
    nel: libc::size_t,
    width: libc::size_t,
    compar: Option<unsafe extern "C" fn(*const libc::c_void, *const libc::c_void) -> libc::c_int>,
) {
    let (Some(compar), false) = (compar, base.is_null()) else {
        return;
    };
    let base = base.cast::<u8>();
    for i in 1..nel {
        let mut j = i;
        // SAFETY: the caller passes an array of `nel` elements of `width` bytes; j - 1
        // and j index two distinct elements of it.
        unsafe {
            while j > 0 {
                let (a, b) = (base.add((j - 1) * width), base.add(j * width));
                if compar(a.cast(), b.cast()) <= 0 {
                    break;
                }
                std::ptr::swap_nonoverlapping(a, b, width);
                j -= 1;
            }
        }
    }
}
