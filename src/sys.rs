//! The few operating-system calls std does not offer: file-system space (statvfs), the
//! addresses of this host's interfaces (getifaddrs) and signal handling for the daemons.
//! The only `unsafe` code in meshchat lives here.
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
