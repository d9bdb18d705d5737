//! Reading a source to its end: one function for every reader, instead of std's
//! `read_to_end`, which is compiled again for each reader type (a `File`, a `Take` of
//! one, the HTTP body readers: about 1 KB each in the `mips_24kc` binary; docs/PACKAGING.md,
//! "Size").
//!
//! It keeps what std does for speed: reads go straight into the vector's spare room, so
//! a vector sized for the whole source (`with_capacity(len + 1)`, as the CGI's sized
//! reads do) takes one `read` for the data and one for the end, and a full vector first
//! probes for the end with a small buffer on the stack rather than growing.

use std::io::{self, ErrorKind, Read};

/// The `Read` methods a reader of meshchat takes from this module instead of std's
/// defaults (one copy of each for all reader types, not one per type). Inside an
/// `impl Read for ...`.
macro_rules! shared_reads {
    () => {
        fn read_to_end(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
            crate::reading::to_end(self, buf)
        }

        fn read_to_string(&mut self, buf: &mut String) -> std::io::Result<usize> {
            crate::reading::to_string(self, buf)
        }

        fn read_exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
            crate::reading::exact(self, buf)
        }
    };
}
pub(crate) use shared_reads;

/// Bytes of the probe read made when the vector is full.
const PROBE: usize = 32;

/// Bytes of room a read after a short one is offered at least.
const MIN_ROOM: usize = 4096;

/// Appends everything `r` gives until its end to `out`; the number of bytes read.
pub fn to_end(r: &mut dyn Read, out: &mut Vec<u8>) -> io::Result<usize> {
    let start = out.len();
    // The room offered to the next read: all the spare room at first, then twice what
    // the last read gave, so that the zeroes written before each read (safe code cannot
    // read into uninitialised room) stay proportional to the bytes that came.
    let mut room = usize::MAX;
    loop {
        let len = out.len();
        let got = if len == out.capacity() {
            let mut probe = [0u8; PROBE];
            let got = r.read(&mut probe);
            if let Ok(n) = got {
                out.extend_from_slice(&probe[..n]);
            }
            got
        } else {
            out.resize(len + (out.capacity() - len).min(room), 0);
            let got = r.read(&mut out[len..]);
            let n = *got.as_ref().unwrap_or(&0);
            out.truncate(len + n);
            room = n.saturating_mul(2).max(MIN_ROOM);
            got
        };
        match got {
            Ok(0) => return Ok(out.len() - start),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Appends everything `r` gives until its end to `out`, which must be UTF-8.
pub fn to_string(r: &mut dyn Read, out: &mut String) -> io::Result<usize> {
    let mut bytes = std::mem::take(out).into_bytes();
    let start = bytes.len();
    let read = to_end(r, &mut bytes);
    match String::from_utf8(bytes) {
        Ok(s) => {
            *out = s;
            read
        }
        Err(e) => {
            let mut bytes = e.into_bytes();
            bytes.truncate(start);
            *out = String::from_utf8(bytes).unwrap_or_default();
            read.and(Err(io::Error::new(
                ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )))
        }
    }
}

/// Fills `buf` from `r`, or fails with `UnexpectedEof` when `r` ends first.
pub fn exact(r: &mut dyn Read, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match r.read(buf) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A std reader whose `read_to_end`, `read_to_string` and `read_exact` are this module's: what a
/// std type (stdin, a `Take`) is wrapped in before it becomes a `dyn Read`, whose table
/// would otherwise carry std's copies for that type.
pub struct Plain<R>(pub R);

impl<R: Read> Read for Plain<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        to_end(self, buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        to_string(self, buf)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        exact(self, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives its bytes `step` at a time, with an interruption first.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
        interrupted: bool,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if !self.interrupted {
                self.interrupted = true;
                return Err(ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn reads_everything_into_any_vector() {
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        for (cap, step) in [(0, 7), (5001, 5000), (5000, 5000), (10, 1), (0, 4096)] {
            let mut out = Vec::with_capacity(cap);
            out.extend_from_slice(b"x");
            let mut r = Trickle {
                data: &data,
                step,
                interrupted: false,
            };
            assert_eq!(to_end(&mut r, &mut out).unwrap(), data.len());
            assert_eq!(out[0], b'x');
            assert_eq!(&out[1..], &data[..]);
        }
    }

    #[test]
    fn text_must_be_utf8_and_keeps_what_was_there() {
        let mut s = String::from("a");
        assert_eq!(to_string(&mut &b"bc"[..], &mut s).unwrap(), 2);
        assert_eq!(s, "abc");
        let err = to_string(&mut &b"\xff"[..], &mut s).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert_eq!(s, "abc");
    }

    #[test]
    fn exact_fills_or_says_the_end_came_first() {
        let data = b"hello world";
        let mut r = Trickle {
            data,
            step: 3,
            interrupted: false,
        };
        let mut buf = [0u8; 5];
        exact(&mut r, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        let mut rest = [0u8; 7];
        assert_eq!(
            exact(&mut r, &mut rest).unwrap_err().kind(),
            ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn errors_stop_the_read() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(ErrorKind::ConnectionReset.into())
            }
        }
        let mut out = Vec::new();
        assert_eq!(
            to_end(&mut Broken, &mut out).unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );
    }
}
