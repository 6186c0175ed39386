//! The connections: how many are served at once, how long a request head may take, and what a client gets when
//! the HTTP layer itself refuses its request.
//!
//! Each accepted connection is driven by hyper's HTTP/1 connection builder (the one `axum::serve` uses, which has
//! no header timeout of its own), with a timer, so that:
//!
//! * a request head that is not complete within the header timeout ([`HEADER_TIMEOUT`]) closes the connection,
//!   whether nothing more comes or it trickles in a byte at a time, before any check of the token;
//! * a connection carries one request (no keep-alive): every connection ends with its answer, and no idle one holds
//!   a place under the cap; a request's body is never waited for (only GET and HEAD are answered and no handler
//!   reads a body: hyper drops what has not arrived and closes once the answer is written);
//! * a connection lives at most [`CONNECTION_LIFETIME`] in all, so a client that never reads its answer does not
//!   hold its place for ever.
//!
//! At most `max_connections` ([`MAX_CONNECTIONS`]) are served at once: at the cap the server stops accepting, and
//! new connections wait in the kernel's listen queue until one ends (none is refused; a full queue makes the kernel
//! drop connection attempts, which clients retry). Open file descriptors stay near the cap.
//!
//! hyper answers a head it cannot parse (400, 431 for one too large, 414 for a target too long) itself, with an
//! empty body. With one request per connection, anything written before the connection's request reached the
//! router is such an answer: [`Front`] holds it back and writes in its place the same status with the JSON body
//! every other error has.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::http::StatusCode;
use axum::Router;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

/// How long a client has to send a whole request head (request line and headers), from the first moment the
/// server reads its connection. Past it the connection is closed without an answer.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How many connections are served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 256;
/// The longest a connection lives, its head and answer included.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// The largest request head read (bytes): a larger one is answered 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header lines in a request: more are answered 431.
pub const MAX_HEADERS: usize = 100;

/// The connection limits of one server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: HEADER_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Accepts and serves connections for ever.
pub async fn accept_loop(listener: tokio::net::TcpListener, app: Router, limits: Limits) -> io::Result<()> {
    let places = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    loop {
        // A place is taken before accepting: at the cap, new connections wait in the listen queue.
        let place = places.clone().acquire_owned().await.map_err(io::Error::other)?;
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors or a connection reset before it was accepted: wait a little, go on.
                tracing::debug!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, serve_connection(stream, app, limits)).await;
            drop(place);
        });
    }
}

/// Serves the one request of a connection.
async fn serve_connection(stream: tokio::net::TcpStream, app: Router, limits: Limits) {
    let routed = Arc::new(AtomicBool::new(false));
    let io = Front {
        io: TokioIo::new(stream),
        routed: routed.clone(),
        held: Vec::new(),
        answer: Vec::new(),
        written: 0,
    };
    let router = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |req| {
        routed.store(true, Ordering::Relaxed);
        hyper::service::Service::call(&router, req)
    });
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(false)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .serve_connection(io, service)
        .await;
    if let Err(e) = result {
        tracing::debug!("connection: {e}");
    }
}

/// A connection's socket as hyper sees it: reads pass through; writes pass through once the request has reached
/// the router, and before that (hyper's own refusal of a head) are replaced by [`refusal`].
struct Front<I> {
    io: I,
    /// Set when hyper hands the request to the router.
    routed: Arc<AtomicBool>,
    /// What hyper wrote before that: its answer's head.
    held: Vec<u8>,
    /// The answer written in its place, and how much of it is written.
    answer: Vec<u8>,
    written: usize,
}

impl<I: Write + Unpin> Front<I> {
    /// Writes what is left of the replacement answer.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.answer.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.answer[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: Read + Unpin> Read for Front<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<I: Write + Unpin> Write for Front<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.routed.load(Ordering::Relaxed) {
            return Pin::new(&mut this.io).poll_write(cx, buf);
        }
        if this.answer.is_empty() {
            this.held.extend_from_slice(&buf[..buf.len().min(MAX_HEAD_BYTES)]);
            if let Some(end) = this.held.windows(4).position(|w| w == b"\r\n\r\n") {
                this.answer = refusal(&this.held[..end]);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_answer(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_answer(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// The JSON answer to a request hyper refused, from the head of hyper's own answer.
fn refusal(head: &[u8]) -> Vec<u8> {
    let status = std::str::from_utf8(head)
        .ok()
        .and_then(|h| h.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .filter(|s| s.is_client_error())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let message = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => format!(
            "the request's head is too large: at most {MAX_HEADERS} headers and {} KiB",
            MAX_HEAD_BYTES / 1024
        ),
        StatusCode::URI_TOO_LONG => "the request target is too long".to_string(),
        _ => "the request is not valid HTTP/1.1: its request line or a header is malformed".to_string(),
    };
    let r = crate::auth::harden(crate::api::error(status, String::new()));
    let body = crate::api::error_body(&message);
    let mut out = format!("HTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or("Error")).into_bytes();
    for (name, value) in r.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_the_status_and_carry_json() {
        let a = String::from_utf8(refusal(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0")).unwrap();
        assert!(a.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{a}");
        assert!(a.contains("content-type: application/json"), "{a}");
        let (_, body) = a.split_once("\r\n\r\n").unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("too large"));
        assert!(a.contains(&format!("content-length: {}\r\n", body.len())));
        let a = String::from_utf8(refusal(b"garbage")).unwrap();
        assert!(a.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{a}");
    }
}
