//! Every input limit, in one place. A reader that meets one stops with an error that
//! names it; nothing here truncates silently.

/// Bytes of a message's text as the user typed it.
pub const MAX_MESSAGE: usize = 4096;
/// Bytes of one database line (a message escapes to at most twice its size).
pub const MAX_LINE: usize = 2 * MAX_MESSAGE + 512;
/// Bytes of a call sign.
pub const MAX_CALL_SIGN: usize = 64;
/// Bytes of a channel name.
pub const MAX_CHANNEL: usize = 64;
/// Bytes of a node name (a DNS label is 63; dotted names get a little more).
pub const MAX_NODE_NAME: usize = 128;
/// Bytes of a browser session id.
pub const MAX_SESSION_ID: usize = 32;
/// Bytes of a shared file's name.
pub const MAX_FILE_NAME: usize = 255;
/// Bytes of a query string.
pub const MAX_QUERY: usize = 16 * 1024;
/// Bytes of an `application/x-www-form-urlencoded` body (a message is at most 4 KB,
/// three times that once percent-encoded).
pub const MAX_FORM_BODY: usize = 64 * 1024;
/// Bytes of all non-file fields of a multipart body, together.
pub const MAX_MULTIPART_FIELDS: usize = 64 * 1024;
/// Bytes of one multipart part's headers.
pub const MAX_PART_HEADERS: usize = 8 * 1024;
/// Bytes of a multipart preamble (before the first boundary).
pub const MAX_PREAMBLE: usize = 8 * 1024;
/// Bytes of a peer's response body for one request (a 10,000-message database is
/// about 1.5 MB of lines). It bounds the lines too: messages merge in fixed chunks, and a
/// users or files list is parsed from at most this many bytes.
pub const MAX_PEER_BODY: usize = 4 * 1024 * 1024;
/// Bytes of a service file read during discovery.
pub const MAX_SERVICES_FILE: usize = 1024 * 1024;
/// Bytes of a configuration file.
pub const MAX_CONFIG_FILE: usize = 256 * 1024;
/// Local users kept (presence entries).
pub const MAX_USERS: usize = 1000;
