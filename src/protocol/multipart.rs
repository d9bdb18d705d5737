//! A streaming `multipart/form-data` reader (RFC 7578), for uploads.
//!
//! File parts are handed to a [`FileSink`] chunk by chunk, so an upload is never held
//! whole in RAM; other fields are collected into [`Params`] under a cap. A body that ends
//! before the closing boundary is an error: the sink is told to abort, never to finish.

use std::fmt;
use std::io::{self, Read};

use super::form::Params;
use super::limits::{MAX_MULTIPART_FIELDS, MAX_PART_HEADERS, MAX_PREAMBLE};

/// Where the contents of file parts go.
pub trait FileSink {
    /// Why the sink refused a part or a chunk.
    type Error;
    /// A file part named `field` with the client's `filename` begins.
    fn begin(&mut self, field: &str, filename: &str) -> Result<(), Self::Error>;
    /// The next bytes of the current file part.
    fn write(&mut self, chunk: &[u8]) -> Result<(), Self::Error>;
    /// The current file part ended with its boundary (the body may still fail later:
    /// keep the file provisional until the whole body was read).
    fn finish(&mut self) -> Result<(), Self::Error>;
}

/// Why a multipart body was refused.
#[derive(Debug)]
pub enum MultipartError<E> {
    /// The body does not follow the multipart grammar.
    Malformed(&'static str),
    /// The body ended before the closing boundary.
    Truncated,
    /// A header block, the preamble or the non-file fields went over their cap.
    TooLarge(&'static str),
    /// Reading the body failed.
    Io(io::Error),
    /// The sink refused the file.
    Sink(E),
}

impl<E: fmt::Display> fmt::Display for MultipartError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultipartError::Malformed(why) => write!(f, "malformed multipart body: {why}"),
            MultipartError::Truncated => write!(f, "multipart body is truncated"),
            MultipartError::TooLarge(what) => write!(f, "multipart {what} is too large"),
            MultipartError::Io(e) => write!(f, "reading the body failed: {e}"),
            MultipartError::Sink(e) => e.fmt(f),
        }
    }
}

/// The boundary parameter of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<&str> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && v.len() <= 70).then_some(v)
    })
}

struct Reader<R> {
    inner: R,
    buf: Vec<u8>,
    eof: bool,
}

impl<R: Read> Reader<R> {
    /// Reads more bytes; false at end of input.
    fn fill<E>(&mut self) -> Result<bool, MultipartError<E>> {
        if self.eof {
            return Ok(false);
        }
        let mut chunk = [0u8; 8192];
        loop {
            match self.inner.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(MultipartError::Io(e)),
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads the whole body: fields into `params`, files into `sink`.
pub fn read<R: Read, S: FileSink>(
    body: R,
    boundary: &str,
    params: &mut Params,
    sink: &mut S,
) -> Result<(), MultipartError<S::Error>> {
    let mut delim = b"\r\n--".to_vec();
    delim.extend_from_slice(boundary.as_bytes());
    // A leading CRLF lets the first boundary match the same delimiter as the others.
    let mut r = Reader {
        inner: body,
        buf: b"\r\n".to_vec(),
        eof: false,
    };

    // Preamble.
    loop {
        if let Some(p) = find(&r.buf, &delim) {
            r.buf.drain(..p + delim.len());
            break;
        }
        if r.buf.len() > MAX_PREAMBLE {
            return Err(MultipartError::TooLarge("preamble"));
        }
        if !r.fill()? {
            return Err(MultipartError::Malformed("no boundary"));
        }
    }

    let mut field_bytes = 0usize;
    loop {
        // After a delimiter: "--" ends the body, CRLF starts a part.
        while r.buf.len() < 2 {
            if !r.fill()? {
                return Err(MultipartError::Truncated);
            }
        }
        if r.buf.starts_with(b"--") {
            return Ok(());
        }
        if !r.buf.starts_with(b"\r\n") {
            return Err(MultipartError::Malformed("bad boundary line"));
        }
        r.buf.drain(..2);

        // Part headers, up to the empty line.
        let header_end = loop {
            if r.buf.starts_with(b"\r\n") {
                break 0;
            }
            if let Some(p) = find(&r.buf, b"\r\n\r\n") {
                break p + 2;
            }
            if r.buf.len() > MAX_PART_HEADERS {
                return Err(MultipartError::TooLarge("part header"));
            }
            if !r.fill()? {
                return Err(MultipartError::Truncated);
            }
        };
        let headers = String::from_utf8_lossy(&r.buf[..header_end]).into_owned();
        r.buf.drain(..header_end + 2);
        let (name, filename) = disposition(&headers).ok_or(MultipartError::Malformed(
            "part without content-disposition name",
        ))?;

        let mut value = Vec::new();
        let is_file = filename.is_some();
        if let Some(filename) = &filename {
            sink.begin(&name, filename).map_err(MultipartError::Sink)?;
        }
        // Part body, streamed up to the next delimiter.
        loop {
            let found = find(&r.buf, &delim);
            let take = match found {
                Some(p) => p,
                None => r.buf.len().saturating_sub(delim.len() - 1),
            };
            if take > 0 {
                if is_file {
                    sink.write(&r.buf[..take]).map_err(MultipartError::Sink)?;
                } else {
                    field_bytes += take;
                    if field_bytes > MAX_MULTIPART_FIELDS {
                        return Err(MultipartError::TooLarge("form fields"));
                    }
                    value.extend_from_slice(&r.buf[..take]);
                }
            }
            if let Some(p) = found {
                r.buf.drain(..p + delim.len());
                break;
            }
            r.buf.drain(..take);
            if !r.fill()? {
                return Err(MultipartError::Truncated);
            }
        }
        if is_file {
            sink.finish().map_err(MultipartError::Sink)?;
        } else {
            params.push(name, String::from_utf8_lossy(&value).into_owned());
        }
    }
}

/// `name` and `filename` of a part's `Content-Disposition: form-data` header.
fn disposition(headers: &str) -> Option<(String, Option<String>)> {
    let line = headers.split("\r\n").find(|l| {
        l.split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
    })?;
    let (_, value) = line.split_once(':')?;
    let mut name = None;
    let mut filename = None;
    for (k, v) in header_params(value) {
        match k.to_ascii_lowercase().as_str() {
            "name" => name = Some(v),
            "filename" => filename = Some(v),
            _ => {}
        }
    }
    Some((name?, filename))
}

/// Splits `form-data; name="a"; filename="b;c"` into its parameters, honouring quotes.
fn header_params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    // Skip the disposition type.
    for c in chars.by_ref() {
        if c == ';' {
            break;
        }
    }
    loop {
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        let key = key.trim().to_string();
        if key.is_empty() {
            return out;
        }
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    // `\"` and `\\` are escapes (curl); any other backslash is literal
                    // (browsers send Windows paths as they are).
                    '\\' if matches!(chars.peek(), Some('"') | Some('\\')) => {
                        if let Some(n) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
            }
        } else {
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
                val.push(c);
            }
            val = val.trim().to_string();
        }
        out.push((key, val));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        files: Vec<(String, String, Vec<u8>, bool)>,
        cap: usize,
    }

    impl FileSink for Collect {
        type Error = &'static str;
        fn begin(&mut self, field: &str, filename: &str) -> Result<(), &'static str> {
            self.files
                .push((field.into(), filename.into(), Vec::new(), false));
            Ok(())
        }
        fn write(&mut self, chunk: &[u8]) -> Result<(), &'static str> {
            let f = self.files.last_mut().ok_or("no part")?;
            f.2.extend_from_slice(chunk);
            if self.cap > 0 && f.2.len() > self.cap {
                return Err("too big");
            }
            Ok(())
        }
        fn finish(&mut self) -> Result<(), &'static str> {
            self.files.last_mut().ok_or("no part")?.3 = true;
            Ok(())
        }
    }

    fn body(file: &[u8]) -> Vec<u8> {
        let mut b =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\nupload_file\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"uploadfile\"; filename=\"a;b \\\"c\\\".bin\"\r\n\
Content-Type: application/octet-stream\r\n\r\n"
                .to_vec();
        b.extend_from_slice(file);
        b.extend_from_slice(b"\r\n--XyZ--\r\n");
        b
    }

    /// A reader that returns one byte at a time, to exercise every split point.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn reads_fields_and_files_at_any_split() {
        let file: Vec<u8> = (0..3000u32)
            .map(|i| (i * 7 % 256) as u8)
            .chain(*b"\r\n--XyY\r\n--Xy")
            .collect();
        let b = body(&file);
        for trickle in [false, true] {
            let mut p = Params::new();
            let mut sink = Collect::default();
            if trickle {
                read(Trickle(&b), "XyZ", &mut p, &mut sink).unwrap();
            } else {
                read(&b[..], "XyZ", &mut p, &mut sink).unwrap();
            }
            assert_eq!(p.get("action"), Some("upload_file"));
            assert_eq!(sink.files.len(), 1);
            let (field, name, data, done) = &sink.files[0];
            assert_eq!(field, "uploadfile");
            assert_eq!(name, "a;b \"c\".bin");
            assert_eq!(
                header_params(" form-data; filename=\"C:\\x\\y.txt\"")[0].1,
                "C:\\x\\y.txt"
            );
            assert_eq!(data, &file);
            assert!(done);
        }
    }

    #[test]
    fn truncated_body_is_an_error() {
        let b = body(b"hello world");
        for cut in [10, 60, 150, b.len() - 12] {
            let mut sink = Collect::default();
            let r = read(&b[..cut], "XyZ", &mut Params::new(), &mut sink);
            assert!(matches!(r, Err(MultipartError::Truncated)), "cut at {cut}");
            assert!(sink.files.iter().all(|f| !f.3), "cut at {cut}");
        }
        // Even with the file part whole, a missing closing boundary fails the body.
        let r = read(
            &b[..b.len() - 3],
            "XyZ",
            &mut Params::new(),
            &mut Collect::default(),
        );
        assert!(matches!(r, Err(MultipartError::Truncated)));
    }

    #[test]
    fn sink_refusal_and_caps() {
        let b = body(&[b'x'; 5000]);
        let mut sink = Collect {
            cap: 100,
            ..Default::default()
        };
        assert!(matches!(
            read(&b[..], "XyZ", &mut Params::new(), &mut sink),
            Err(MultipartError::Sink("too big"))
        ));

        let mut huge = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_MULTIPART_FIELDS + 10));
        huge.extend_from_slice(b"\r\n--XyZ--");
        let r = read(
            &huge[..],
            "XyZ",
            &mut Params::new(),
            &mut Collect::default(),
        );
        assert!(matches!(r, Err(MultipartError::TooLarge(_))));

        let r = read(
            &b"no boundary here"[..],
            "XyZ",
            &mut Params::new(),
            &mut Collect::default(),
        );
        assert!(matches!(r, Err(MultipartError::Malformed(_))));
    }

    #[test]
    fn boundary_from_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=----abc"),
            Some("----abc")
        );
        assert_eq!(
            boundary("Multipart/Form-Data; charset=x; boundary=\"q r\""),
            Some("q r")
        );
        assert_eq!(boundary("text/plain; boundary=x"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }
}
