//! Who may delete a shared file: the browser session that uploaded it (a random token
//! in the `meshchat_session` cookie, only its hash is stored), or the node's admin (the
//! AREDN `authV1` login cookie, or the configured `admin_token`).

use super::exchange::md5_hex;
use crate::config::Config;

/// The cookie holding a browser's upload session token.
pub const SESSION_COOKIE: &str = "meshchat_session";

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

/// The caller's session token, if it looks like one we issued (32 hex digits).
pub fn session_token(cookie_header: Option<&str>) -> Option<&str> {
    cookie(cookie_header, SESSION_COOKIE)
        .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A fresh session token from the OS RNG.
pub fn new_session_token() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    crate::sys::random(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// What the owners file stores for a token.
pub fn owner_hash(token: &str) -> String {
    md5_hex(format!("meshchat-owner:{token}").as_bytes())
}

/// `Set-Cookie` value for a new session token.
pub fn session_cookie(token: &str) -> String {
    format!("{SESSION_COOKIE}={token}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Strict")
}

/// True when the request comes from the node's admin.
pub fn is_admin(
    cfg: &Config,
    cookie_header: Option<&str>,
    authorization: Option<&str>,
    token_param: Option<&str>,
) -> bool {
    if let Some(expected) = &cfg.admin_token {
        let bearer = authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::trim);
        if [bearer, token_param]
            .into_iter()
            .flatten()
            .any(|t| same(t.as_bytes(), expected.as_bytes()))
        {
            return true;
        }
    }
    let Some(auth) = cookie(cookie_header, "authV1") else {
        return false;
    };
    let Ok(shadow) = std::fs::read_to_string(&cfg.shadow_file) else {
        return false;
    };
    let Some(root) = shadow.lines().find(|l| l.starts_with("root:")) else {
        return false;
    };
    // Browsers may hand the cookie over percent-encoded.
    let auth = crate::protocol::form::percent_decode(auth.as_bytes());
    same(auth.as_bytes(), base64(root.as_bytes()).as_bytes())
}

/// Compares without an early exit, so timing tells nothing about the secret.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(
            base64(b"root:$1$x:19000:0:99999:7:::"),
            "cm9vdDokMSR4OjE5MDAwOjA6OTk5OTk6Nzo6Og=="
        );
    }

    #[test]
    fn cookies() {
        let h = Some("a=1; meshchat_session=0123456789abcdef0123456789abcdef; authV1=xyz");
        assert_eq!(cookie(h, "authV1"), Some("xyz"));
        assert!(session_token(h).is_some());
        assert!(session_token(Some("meshchat_session=../../x")).is_none());
    }
}
