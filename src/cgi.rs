//! The CGI adapter: the environment uhttpd gives and stdin in, headers and body on
//! stdout. It reads only the variables listed in docs/PROTOCOL.md and nothing else.

use crate::reading::Plain;
use std::env;
use std::io::{self, Read, Write};

use crate::api::{Api, Body, Request, Response};
use crate::config::{self, Config};
use crate::http::head::reason_phrase;

fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.is_empty())
}

/// Answers the one request described by the environment. Returns the exit code.
pub fn run(overrides: &config::Overrides) -> i32 {
    let out = io::stdout();
    let mut out = io::BufWriter::with_capacity(16 * 1024, out.lock());
    let response = match Config::check(overrides) {
        Ok((mut cfg, problems)) => {
            // A mistake in the file must not take the chat down: answer with the defaults
            // for what is wrong, say so on stderr (syslog) and in `config`.
            for p in &problems {
                eprintln!("meshchat: {p} (the CGI answers anyway, with the defaults)");
            }
            cfg.warnings = problems.iter().map(|p| p.brief()).collect();
            handle(&cfg)
        }
        Err(e) => {
            eprintln!("meshchat: {e}");
            Response::failed(format!("meshchat is misconfigured: {}", e.reply()))
        }
    };
    match write_response(&mut out, response).and_then(|_| out.flush()) {
        Ok(()) => 0,
        // The client went away: nothing to report.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("meshchat: writing the response failed: {e}");
            1
        }
    }
}

fn handle(cfg: &Config) -> Response {
    handle_env(cfg, &var, &mut Plain(io::stdin().lock()))
}

/// Answers the request described by `var` (the CGI environment) and `stdin`.
pub(crate) fn handle_env(
    cfg: &Config,
    var: &dyn Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
) -> Response {
    let query = var("QUERY_STRING").unwrap_or_default();
    let content_type = var("CONTENT_TYPE");
    let content_length = var("CONTENT_LENGTH").and_then(|v| v.trim().parse::<u64>().ok());
    let cookie = var("HTTP_COOKIE");
    let authorization = var("HTTP_AUTHORIZATION");
    let accept = var("HTTP_ACCEPT_ENCODING").unwrap_or_default();
    let post = var("REQUEST_METHOD").is_some_and(|m| m.eq_ignore_ascii_case("POST"));
    // uhttpd decodes a chunked body but passes no CONTENT_LENGTH for it: refuse, rather
    // than read the form as empty and answer with a misleading error. A POST with
    // neither a length nor a type carries no body.
    if post && content_length.is_none() && content_type.is_some() {
        return Response::length_required();
    }
    // CGI: exactly CONTENT_LENGTH bytes of body, none without it.
    let mut body = Plain(stdin.take(content_length.unwrap_or(0)));
    let mut req = Request {
        query: &query,
        post,
        content_type: content_type.as_deref(),
        content_length,
        body: &mut body,
        accept_gzip: accept.contains("gzip"),
        cookie: cookie.as_deref(),
        authorization: authorization.as_deref(),
        server_port: var("SERVER_PORT")
            .and_then(|p| p.parse().ok())
            .unwrap_or(8080),
    };
    Api::new(cfg).handle(&mut req)
}

/// Prints a response the way a CGI does: `Status:` when not 200, headers, blank line,
/// body.
pub fn write_response(out: &mut impl Write, response: Response) -> io::Result<()> {
    let status = response.status;
    if status != 200 {
        write!(out, "Status: {status} {}\r\n", reason_phrase(status))?;
    }
    for (name, value) in &response.headers {
        write!(out, "{name}: {value}\r\n")?;
    }
    write!(out, "Content-Length: {}\r\n\r\n", response.body.len())?;
    match response.body {
        Body::Bytes(b) => out.write_all(&b),
        Body::File(mut f, len) => {
            let copied = io::copy(&mut (&mut f).take(len), out)?;
            if copied != len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while sending",
                ));
            }
            Ok(())
        }
    }
}
