//! The few operating-system calls std does not offer: file-system space (statvfs) and
//! signal handling for the daemons. The only `unsafe` code in meshchat lives here and in
//! the allocator (`arena`).
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Fills `buf` from the kernel's RNG (`/dev/urandom`): message ids, session tokens,
/// temporary file names.
pub fn random(buf: &mut [u8]) -> io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGTERM and SIGINT set a flag instead of killing the process, so a daemon can
/// finish its current write and exit cleanly. Blocking calls are not restarted (no
/// `SA_RESTART`): a sleep or a socket read returns early and the loop sees the flag.
pub fn catch_stop_signals() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the
        // sigaction struct is zeroed and then filled in before use.
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

/// Sends SIGKILL to the process group `pgid` (a hook command started as the leader of its
/// own group, with whatever it started).
pub fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid > 1 {
        // SAFETY: kill has no memory effects; a negative pid names the process group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
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
