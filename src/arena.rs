//! The allocator: the C library's `malloc`, except in the CGI process, which takes its
//! memory from one bump arena in `.bss`.
//!
//! Why: a CGI answers one request and exits, so freeing is worth nothing to it, while
//! any `malloc` maps its memory first (zig libc's gave every size class its own 64 KB
//! slab: eight `mmap`/`munmap` pairs and their scattered page faults per request; the
//! static builds' own, `malloc.rs`, maps 256 KB chunks), on a CPU where every system call
//! counts. The arena is one
//! contiguous run of pages: no system call, and only the pages used are ever touched
//! (`.bss` costs no file bytes). A block freed or grown while it is the newest one gives
//! its room back or grows in place (a `Vec` filled by doubling, a body buffer dropped);
//! anything the arena cannot hold goes to `malloc`, so a large log still works.
//!
//! The arena is on from the start, so a CGI never calls `malloc` at all (its first call
//! alone costs a system call and a page); `main` switches it off at once for the
//! long-running commands (`serve`, `sync`), which free and reuse.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Bytes of the arena: the CGI actions on a 500-message node stay well inside; bigger
/// requests spill over to `malloc`.
pub const ARENA_BYTES: usize = 512 * 1024;

#[repr(C, align(16))]
struct Space(UnsafeCell<[u8; ARENA_BYTES]>);

// SAFETY: bytes of the arena are handed out at most once at a time (see `Arena::alloc`).
unsafe impl Sync for Space {}

static SPACE: Space = Space(UnsafeCell::new([0; ARENA_BYTES]));
/// Offset of the first free byte.
static TOP: AtomicUsize = AtomicUsize::new(0);
static ON: AtomicBool = AtomicBool::new(true);

/// The program's allocator (see the module comment).
pub struct Arena;

impl Arena {
    /// Sends every later allocation to `malloc`: for any process but a CGI answering
    /// one request. Blocks already in the arena stay valid.
    pub fn switch_off() {
        ON.store(false, Ordering::Relaxed);
    }
}

fn base() -> usize {
    SPACE.0.get() as usize
}

fn owns(ptr: *mut u8) -> bool {
    (ptr as usize).wrapping_sub(base()) < ARENA_BYTES
}

impl Arena {
    /// A block from the arena, or null when it has no room.
    fn bump(&self, layout: Layout) -> *mut u8 {
        let mut top = TOP.load(Ordering::Relaxed);
        loop {
            let start = (base() + top).next_multiple_of(layout.align()) - base();
            let Some(end) = start.checked_add(layout.size()) else {
                return std::ptr::null_mut();
            };
            if end > ARENA_BYTES {
                return std::ptr::null_mut();
            }
            match TOP.compare_exchange_weak(top, end, Ordering::Relaxed, Ordering::Relaxed) {
                // SAFETY: start < ARENA_BYTES, inside SPACE.
                Ok(_) => return unsafe { (SPACE.0.get() as *mut u8).add(start) },
                Err(now) => top = now,
            }
        }
    }
}

unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            let p = self.bump(layout);
            if !p.is_null() {
                return p;
            }
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if owns(ptr) {
            // The newest block gives its room back; any other stays until exit.
            let start = ptr as usize - base();
            let _ = TOP.compare_exchange(
                start + layout.size(),
                start,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        } else {
            // SAFETY: not ours, so it came from System.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !owns(ptr) {
            // SAFETY: not ours, so it came from System.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let start = ptr as usize - base();
        let end = start + layout.size();
        // The newest block grows or shrinks in place.
        if let Some(new_end) = start.checked_add(new_size).filter(|&e| e <= ARENA_BYTES) {
            if TOP
                .compare_exchange(end, new_end, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return ptr;
            }
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: same alignment as the old block, nonzero size (it grows).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as `alloc`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are at least layout.size() long and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The arena's own logic, on blocks taken directly (the test process keeps `malloc`).
    #[test]
    fn bump_grow_in_place_and_spill() {
        let a = Arena;
        let was = ON.swap(true, Ordering::Relaxed);
        // SAFETY: layouts are valid, blocks are used within their sizes.
        unsafe {
            let l = Layout::from_size_align(100, 8).unwrap();
            let p = a.alloc(l);
            assert!(owns(p));
            assert_eq!(p as usize % 8, 0);
            p.write_bytes(7, 100);
            let q = a.realloc(p, l, 1000);
            assert!(owns(q));
            assert_eq!(*q.add(99), 7);
            a.dealloc(q, Layout::from_size_align(1000, 8).unwrap());
            let big = Layout::from_size_align(ARENA_BYTES + 1, 8).unwrap();
            let s = a.alloc(big);
            assert!(!s.is_null() && !owns(s), "too big for the arena: malloc");
            a.dealloc(s, big);
        }
        ON.store(was, Ordering::Relaxed);
    }
}
