//! The C library's `malloc` family in the static musl builds: power-of-two size classes
//! carved from mapped chunks, behind one lock.
//!
//! Why our own: zig's C library allocator (its SmpAllocator, which also counts the CPUs
//! at start) is 8.9 KB of the mips_24kc binary and a 16 KB table; this one is about a
//! tenth of that code. Both the C library (directory listings, interface lists) and Rust
//! (`arena.rs` falls back to `malloc` outside a CGI request) allocate here.
//!
//! A block is 32 bytes to 64 KB, a power of two, with a 16-byte header naming its class
//! in front of what the caller gets. Freed blocks go on their class's list and are
//! reused, not unmapped: a daemon's working set is steady, and zig's allocator kept its
//! slabs too. Larger requests get a mapping of their own, unmapped when freed. An
//! alignment above 16 bytes is served from a bigger block, behind a header that points
//! back to it. The lock spins with `sched_yield`: threads are few and hold it for a
//! list operation.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, Ordering};

/// Header in front of every block: the tag, then a word the tag gives a meaning to.
const HEADER: usize = 16;
/// Classes: blocks of 2^5 to 2^16 bytes, header included.
const MIN_SHIFT: u32 = 5;
const MAX_SHIFT: u32 = 16;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
/// Class blocks are carved from mappings of this size.
const CHUNK: usize = 256 * 1024;
/// Tags beyond the class numbers: a mapping of its own (second word: its length); an
/// aligned pointer inside another block (second word: that block's pointer).
const LARGE: usize = usize::MAX;
const INSIDE: usize = usize::MAX - 1;

struct Heap {
    /// Per class, the first free block's pointer; each free block holds the next one.
    free: [*mut u8; CLASSES],
    /// The unused rest of the newest chunk.
    bump: usize,
    end: usize,
}

struct Shared(UnsafeCell<Heap>);

// SAFETY: the heap is only touched with LOCK held.
unsafe impl Sync for Shared {}

static HEAP: Shared = Shared(UnsafeCell::new(Heap {
    free: [null_mut(); CLASSES],
    bump: 0,
    end: 0,
}));
static LOCK: AtomicBool = AtomicBool::new(false);

struct Held;

impl Drop for Held {
    fn drop(&mut self) {
        LOCK.store(false, Ordering::Release);
    }
}

/// The heap, locked until the guard is dropped.
fn lock() -> (Held, &'static mut Heap) {
    while LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::thread::yield_now();
    }
    // SAFETY: LOCK is ours until `Held` drops, and this is the only reference made.
    (Held, unsafe { &mut *HEAP.0.get() })
}

fn map(len: usize) -> *mut u8 {
    // SAFETY: a fresh anonymous private mapping; nothing else refers to it.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        null_mut()
    } else {
        p.cast()
    }
}

/// The header words of the block in front of `p`.
///
/// # Safety
/// `p` came from this allocator and is live.
unsafe fn header(p: *mut u8) -> *mut usize {
    // SAFETY: every pointer handed out has HEADER bytes of its block in front of it.
    unsafe { p.sub(HEADER).cast() }
}

/// The class of a block of `total` bytes, header included (at most 2^MAX_SHIFT).
fn class_of(total: usize) -> usize {
    ((total.max(1 << MIN_SHIFT) - 1).ilog2() + 1 - MIN_SHIFT) as usize
}

/// `n` bytes, 16-byte aligned; null when memory ran out.
pub fn malloc(n: usize) -> *mut u8 {
    let Some(total) = n.checked_add(HEADER) else {
        return null_mut();
    };
    if total > 1 << MAX_SHIFT {
        let Some(len) = total.checked_add(4095).map(|t| t & !4095) else {
            return null_mut();
        };
        let block = map(len);
        if block.is_null() {
            return null_mut();
        }
        // SAFETY: the mapping is `len` >= HEADER bytes long and ours.
        unsafe {
            let h = block.cast::<usize>();
            *h = LARGE;
            *h.add(1) = len;
            return block.add(HEADER);
        }
    }
    let class = class_of(total);
    let (_held, heap) = lock();
    let mut p = heap.free[class];
    if p.is_null() {
        let size = 1 << (class as u32 + MIN_SHIFT);
        if heap.end - heap.bump < size {
            let chunk = map(CHUNK);
            if chunk.is_null() {
                return null_mut();
            }
            // The old chunk's rest goes to the free lists, largest blocks first.
            for c in (0..CLASSES).rev() {
                let s = 1 << (c as u32 + MIN_SHIFT);
                while heap.end - heap.bump >= s {
                    let q = (heap.bump + HEADER) as *mut u8;
                    // SAFETY: the block [bump, bump + s) lies in the old chunk, unused.
                    unsafe {
                        *header(q) = c;
                        *q.cast::<*mut u8>() = heap.free[c];
                    }
                    heap.free[c] = q;
                    heap.bump += s;
                }
            }
            heap.bump = chunk as usize;
            heap.end = heap.bump + CHUNK;
        }
        p = (heap.bump + HEADER) as *mut u8;
        heap.bump += size;
        // SAFETY: the block [p - HEADER, p - HEADER + size) lies in the chunk, unused.
        unsafe { *header(p) = class };
    } else {
        // SAFETY: a free block holds the next free block's pointer.
        heap.free[class] = unsafe { *p.cast::<*mut u8>() };
    }
    p
}

/// Gives `p` back (null: nothing).
///
/// # Safety
/// `p` is null or came from this allocator and is not used again.
pub unsafe fn free(p: *mut u8) {
    if p.is_null() {
        return;
    }
    // SAFETY: the caller's promise; the header says which kind of block `p` is.
    unsafe {
        let h = header(p);
        match *h {
            LARGE => {
                libc::munmap(h.cast(), *h.add(1));
            }
            INSIDE => free(*h.add(1) as *mut u8),
            class => {
                let (_held, heap) = lock();
                *p.cast::<*mut u8>() = heap.free[class];
                heap.free[class] = p;
            }
        }
    }
}

/// The bytes usable at `p`.
///
/// # Safety
/// `p` came from this allocator and is live.
pub unsafe fn usable(p: *mut u8) -> usize {
    // SAFETY: the caller's promise.
    unsafe {
        let h = header(p);
        match *h {
            LARGE => *h.add(1) - HEADER,
            INSIDE => {
                let outer = *h.add(1) as *mut u8;
                usable(outer) - (p as usize - outer as usize)
            }
            class => (1 << (class as u32 + MIN_SHIFT)) - HEADER,
        }
    }
}

/// `p`'s contents in a block of `n` bytes: `p` itself when it has room.
///
/// # Safety
/// `p` is null or came from this allocator; on success it is not used again.
pub unsafe fn realloc(p: *mut u8, n: usize) -> *mut u8 {
    if p.is_null() {
        return malloc(n);
    }
    // SAFETY: the caller's promise; the new block holds `n` bytes, the old `have`.
    unsafe {
        let have = usable(p);
        if n <= have {
            return p;
        }
        let q = malloc(n);
        if !q.is_null() {
            std::ptr::copy_nonoverlapping(p, q, have);
            free(p);
        }
        q
    }
}

/// `n` bytes aligned to `align` (a power of two); null when memory ran out.
pub fn memalign(align: usize, n: usize) -> *mut u8 {
    if align <= HEADER {
        return malloc(n);
    }
    let Some(outer) = n.checked_add(align + HEADER).map(malloc) else {
        return null_mut();
    };
    if outer.is_null() {
        return outer;
    }
    // At least HEADER past `outer`, so the inner header fits in the block.
    let p = ((outer as usize + HEADER + align - 1) & !(align - 1)) as *mut u8;
    // SAFETY: [p - HEADER, p + n) lies inside the outer block of n + align + HEADER bytes.
    unsafe {
        let h = header(p);
        *h = INSIDE;
        *h.add(1) = outer as usize;
    }
    p
}

/// The C library's entry points, for everything in the binary that calls `malloc`.
#[cfg(all(target_os = "linux", target_env = "musl", not(test)))]
mod exports {
    use std::ffi::c_void;

    #[no_mangle]
    pub extern "C" fn malloc(n: usize) -> *mut c_void {
        super::malloc(n).cast()
    }

    #[no_mangle]
    pub extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
        let Some(n) = count.checked_mul(size) else {
            return std::ptr::null_mut();
        };
        let p = super::malloc(n);
        if !p.is_null() {
            // SAFETY: `p` has room for `n` bytes; recycled blocks hold old data.
            unsafe { p.write_bytes(0, n) };
        }
        p.cast()
    }

    /// # Safety
    /// As C's `realloc`.
    #[no_mangle]
    pub unsafe extern "C" fn realloc(p: *mut c_void, n: usize) -> *mut c_void {
        // SAFETY: the caller's promise.
        unsafe { super::realloc(p.cast(), n).cast() }
    }

    /// # Safety
    /// As C's `free`.
    #[no_mangle]
    pub unsafe extern "C" fn free(p: *mut c_void) {
        // SAFETY: the caller's promise.
        unsafe { super::free(p.cast()) }
    }

    /// # Safety
    /// As C's `posix_memalign`.
    #[no_mangle]
    pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, n: usize) -> i32 {
        if !align.is_power_of_two() || align % std::mem::size_of::<usize>() != 0 {
            return libc::EINVAL;
        }
        let p = super::memalign(align, n);
        if p.is_null() {
            return libc::ENOMEM;
        }
        // SAFETY: the caller's promise: `out` is writable.
        unsafe { *out = p.cast() };
        0
    }

    #[no_mangle]
    pub extern "C" fn aligned_alloc(align: usize, n: usize) -> *mut c_void {
        if !align.is_power_of_two() {
            return std::ptr::null_mut();
        }
        super::memalign(align, n).cast()
    }

    /// # Safety
    /// As C's `malloc_usable_size`.
    #[no_mangle]
    pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
        if p.is_null() {
            return 0;
        }
        // SAFETY: the caller's promise.
        unsafe { super::usable(p.cast()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_fit_their_sizes() {
        assert_eq!(class_of(1), 0);
        assert_eq!(class_of(32), 0);
        assert_eq!(class_of(33), 1);
        assert_eq!(class_of(1 << 16), CLASSES - 1);
    }

    /// Threads allocate, grow, align and free blocks of every kind at once; each block
    /// keeps its own bytes, and none overlaps another.
    #[test]
    fn blocks_keep_their_bytes_across_threads() {
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut seed = 0x9E37_79B9u32 ^ t;
                    let mut next = move || {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        seed
                    };
                    let mut live: Vec<(usize, usize, u8)> = Vec::new();
                    for round in 0..20_000u32 {
                        let r = next();
                        let n = match r % 16 {
                            0 => 70_000 + (r as usize >> 8) % 200_000,
                            1..=3 => (r as usize >> 8) % 5000,
                            _ => (r as usize >> 8) % 300,
                        };
                        let fill = (round % 251) as u8;
                        let p = match r % 7 {
                            0 => memalign(1 << (5 + (r >> 8) % 8), n),
                            1 if !live.is_empty() => {
                                let (q, len, b) = live.swap_remove((r as usize >> 4) % live.len());
                                let q = unsafe { realloc(q as *mut u8, n) };
                                let kept = len.min(n);
                                assert!(unsafe { std::slice::from_raw_parts(q, kept) }
                                    .iter()
                                    .all(|&x| x == b));
                                q
                            }
                            _ => malloc(n),
                        };
                        assert!(!p.is_null());
                        assert_eq!(p as usize % 16, 0);
                        assert!(unsafe { usable(p) } >= n);
                        unsafe { p.write_bytes(fill, n) };
                        live.push((p as usize, n, fill));
                        if live.len() > 200 || r % 3 == 0 {
                            let (q, len, b) = live.swap_remove((r as usize >> 3) % live.len());
                            assert!(unsafe { std::slice::from_raw_parts(q as *const u8, len) }
                                .iter()
                                .all(|&x| x == b));
                            unsafe { free(q as *mut u8) };
                        }
                    }
                    for (q, len, b) in live {
                        assert!(unsafe { std::slice::from_raw_parts(q as *const u8, len) }
                            .iter()
                            .all(|&x| x == b));
                        unsafe { free(q as *mut u8) };
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn aligned_blocks_are_aligned_and_free_their_outer_block() {
        for shift in 5..13 {
            let p = memalign(1 << shift, 100);
            assert_eq!(p as usize % (1 << shift), 0);
            assert!(unsafe { usable(p) } >= 100);
            unsafe { free(p) };
        }
        let big = malloc(1 << 20);
        assert!(unsafe { usable(big) } >= 1 << 20);
        unsafe { free(big) };
        assert!(malloc(usize::MAX - 8).is_null());
        assert!(memalign(64, usize::MAX - 8).is_null());
    }
}
