//! What every request passes before a handler sees it: exactly one `Host` header and an origin-form target; only
//! GET and HEAD (no request changes anything); the token, when the server has one (always when it listens on more
//! than the loopback address), from an `Authorization: Bearer` header (the scheme in any case), the `token` query
//! parameter or the cookie the server sets once it has seen a good token; and without a token, a `Host` that names
//! the loopback address, so that a web page elsewhere cannot reach the server through a DNS name it controls (DNS
//! rebinding). Every response gets headers that keep browsers from sniffing types, framing the page or sending it
//! elsewhere.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::api::error;

/// The request checks of one server.
#[derive(Debug)]
pub struct Guard {
    pub token: Option<String>,
    /// The cookie that carries the token (named after the port: cookies do not tell ports apart).
    pub cookie: String,
}

/// Equal strings, compared in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Where a request presents a token.
#[derive(Debug, PartialEq)]
enum Presented {
    Header(String),
    Query(String),
    Cookie(String),
}

fn presented(req: &Request, cookie: &str) -> Option<Presented> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        // The scheme is case-insensitive (RFC 9110, 11.1): `bearer TOKEN` is `Bearer TOKEN`.
        let t = match v.trim_start().split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest,
            _ => v,
        }
        .trim();
        if !t.is_empty() {
            return Some(Presented::Header(t.to_string()));
        }
    }
    if let Some(q) = req.uri().query() {
        if let Some((_, v)) = form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "token") {
            return Some(Presented::Query(v.into_owned()));
        }
    }
    for v in req.headers().get_all(header::COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for part in v.split(';') {
            if let Some((k, t)) = part.trim().split_once('=') {
                if k == cookie {
                    return Some(Presented::Cookie(t.to_string()));
                }
            }
        }
    }
    None
}

/// Whether a Host header names this machine's loopback address (any port).
pub fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':')
            .map_or(host, |(h, p)| if p.chars().all(|c| c.is_ascii_digit()) { h } else { host })
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name == "::1" || name.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

/// Why a request is malformed here, if it is: it must have exactly one Host header (the one the loopback check
/// reads; a second could say something else to whatever reads the other), and a target in origin form (`/path?query`),
/// not absolute (`http://host/path`, whose host would stand beside the Host header), authority (`host:port`) or
/// asterisk (`*`) form.
fn malformed(req: &Request) -> Option<String> {
    let hosts = req.headers().get_all(header::HOST).iter().count();
    if hosts != 1 {
        return Some(format!("a request needs exactly one Host header; this one has {hosts}"));
    }
    let uri = req.uri();
    if uri.scheme().is_some() || uri.authority().is_some() || !uri.path().starts_with('/') {
        return Some(format!(
            "the request target {:?} is not in origin form: send the path alone, as in GET /api/sweeps, \
             with the host in the Host header",
            uri.to_string()
        ));
    }
    None
}

/// The middleware.
pub async fn guard(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    if let Some(why) = malformed(&req) {
        return harden(error(StatusCode::BAD_REQUEST, why));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} is not allowed: this server only reads (GET and HEAD)", req.method()),
        );
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return harden(r);
    }
    let mut set_cookie = None;
    match &g.token {
        Some(token) => match presented(&req, &g.cookie) {
            None => {
                return harden(error(
                    StatusCode::UNAUTHORIZED,
                    "this server needs its token: open the address `sweep serve` printed (it ends in ?token=...), \
                     or send the header Authorization: Bearer TOKEN"
                        .into(),
                ))
            }
            Some(Presented::Header(t) | Presented::Query(t) | Presented::Cookie(t)) if !same(t.as_bytes(), token.as_bytes()) => {
                return harden(error(
                    StatusCode::FORBIDDEN,
                    "wrong token: use the one `sweep serve` printed (or gave with --token)".into(),
                ))
            }
            Some(Presented::Query(_)) => {
                set_cookie = Some(format!("{}={token}; Path=/; HttpOnly; SameSite=Strict", g.cookie));
            }
            Some(_) => {}
        },
        None => {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
            if !loopback_host(host) {
                return harden(error(
                    StatusCode::FORBIDDEN,
                    format!(
                        "Host {host:?} is not this machine's loopback address: without a token the server answers only \
                         requests for localhost or 127.0.0.1 (start it with --token to allow other names)"
                    ),
                ));
            }
        }
    }
    let mut r = next.run(req).await;
    if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    harden(r)
}

/// Headers every response carries.
pub(crate) fn harden(mut r: Response<Body>) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "localhost:8080", "127.0.0.1:1", "127.5.0.1", "[::1]:80", "LOCALHOST."] {
            assert!(loopback_host(h), "{h}");
        }
        for h in [
            "",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "10.0.0.1",
            "[::2]",
            "localhost.evil",
        ] {
            assert!(!loopback_host(h), "{h}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd") && !same(b"abc", b"ab") && !same(b"", b"a"));
    }
}
