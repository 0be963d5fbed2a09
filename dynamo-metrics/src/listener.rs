//! Serving a router on a TCP listener so that hostile clients cannot starve it: see
//! [`serve`] for the rules.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::config::SystemServerConfig;
use crate::metrics::IntCounter;

/// The answer to a connection over the cap: written at once, then the connection is closed.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n";

/// The most connections a listener holds: the configured cap, but at most a quarter of the
/// process's open-file limit, so that one listener flooded with connections leaves
/// descriptors for the others (and for the work the process does).
pub(crate) fn connection_cap(configured: usize) -> usize {
    let quarter = open_file_limit().map_or(usize::MAX, |n| n / 4);
    configured.min(quarter).max(1)
}

/// The soft limit on open files, from `/proc/self/limits` (Linux); `None` elsewhere.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The answer to plain HTTP on a TLS port (Go's words): written at once, then the connection
/// is closed.
#[cfg(feature = "tls")]
const PLAIN_HTTP: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 48\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// What a listener counts: connections refused for being over the cap, requests refused for
/// being over the in-flight limit, connections whose TLS handshake failed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Refusals {
    pub(crate) connections: Option<IntCounter>,
    pub(crate) requests: Option<IntCounter>,
    pub(crate) tls: Option<IntCounter>,
}

fn count(counter: &Option<IntCounter>) {
    if let Some(c) = counter {
        c.inc();
    }
}

#[cfg(feature = "tls")]
pub(crate) use crate::web::Web;

/// Without the `tls` feature there is no web configuration: a type without values.
#[cfg(not(feature = "tls"))]
#[derive(Debug)]
pub(crate) enum Web {}

/// Serves `app` on `listener` until `stop` resolves, then stops accepting, lets open
/// connections finish for `config.shutdown_grace`, and cancels what is left (drops its
/// futures) before returning:
/// - a new connection must send its first byte within `config.header_read_timeout` (until
///   then it holds no HTTP state), and every request's headers, the first and every later one
///   on a kept-alive connection, within `config.header_read_timeout` (hyper starts the timer
///   when it waits for a request), so idle and dripping connections are closed;
/// - every request is answered within `config.request_timeout` (503 after it);
/// - at most [`connection_cap`]`(config.max_connections)` connections are open; one more is
///   accepted and answered `503` with `Retry-After: 1` at once, not left in the kernel's queue;
/// - at most `config.max_requests_in_flight` requests are handled at once; more get `503` with
///   `Retry-After: 1`;
/// - with TLS on (`web`), a connection must finish its handshake within
///   `config.header_read_timeout` too, and one that speaks plain HTTP gets `400` at once.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    config: &SystemServerConfig,
    refusals: Refusals,
    web: Option<Arc<Web>>,
    stop: impl Future<Output = ()>,
) {
    let app = limit_requests(app, config, refusals.requests.clone());
    let cap = connection_cap(config.max_connections);
    let permits = Arc::new(Semaphore::new(cap));
    let graceful = GracefulShutdown::new();
    // Every connection's task, so that what outlives the grace period is cancelled.
    let mut connections = tokio::task::JoinSet::new();
    // Tells connections still waiting for their first byte to close at shutdown.
    let (stopping, stopped) = tokio::sync::watch::channel(());
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        // A client may close its side once its request is sent and still get the answer:
        // its request is served (and counted), not dropped.
        .half_close(true);
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            count(&refusals.connections);
            tokio::spawn(refuse(stream, OVER_CAPACITY));
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        let (first_byte, mut stopped) = (config.header_read_timeout, stopped.clone());
        #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
        let (web, refused_tls) = (web.clone(), refusals.tls.clone());
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            // Until the client sends something, the connection is a socket, a permit and a
            // small task: hyper's state and its two 8 KiB buffers come with the first byte,
            // so idle connections cost little memory.
            // (`peek` waits for data; `readable` may report a fresh socket ready at once.)
            let mut byte = [0u8; 1];
            let first = tokio::select! {
                first = tokio::time::timeout(first_byte, stream.peek(&mut byte)) => first,
                _ = stopped.changed() => return,
            };
            if !matches!(first, Ok(Ok(1..))) {
                return;
            }
            #[cfg(feature = "tls")]
            if let Some(tls) = web.and_then(|w| w.current().tls.clone()) {
                // Every TLS connection starts with a handshake record (type 22).
                if byte[0] != 0x16 {
                    count(&refused_tls);
                    return refuse(stream, PLAIN_HTTP).await;
                }
                let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                match tokio::time::timeout(first_byte, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => http(stream, &builder, service, watcher).await,
                    _ => count(&refused_tls),
                }
                drop(permit);
                return;
            }
            http(stream, &builder, service, watcher).await;
            drop(permit);
        });
    }
    drop(listener);
    stopping.send_replace(());
    if tokio::time::timeout(config.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the grace period: cancelled");
    }
    // Past the deadline what is left is cancelled: its futures are dropped (a request in
    // flight sees its client go) before this returns.
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// Serves HTTP/1.1 on `io` until the client is done or the server shuts down.
async fn http<I>(
    io: I,
    builder: &http1::Builder,
    service: TowerToHyperService<Router>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // Boxed, so that the task of a connection still waiting stays small.
    let connection = Box::pin(watcher.watch(builder.serve_connection(TokioIo::new(io), service)));
    // Errors here are a client's (reset, timeout, bad request): nothing to report.
    let _ = connection.await;
}

/// Writes `answer` to a connection and closes it, giving the client one second. What the
/// client sent meanwhile is read and dropped before closing: closing with unread data would
/// reset the connection, and the client could lose the answer.
async fn refuse(mut stream: TcpStream, answer: &'static [u8]) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
}

/// `app` with the request timeout and the in-flight limit of `config`.
fn limit_requests(app: Router, config: &SystemServerConfig, refused: Option<IntCounter>) -> Router {
    let timeout = config.request_timeout;
    let in_flight = Arc::new(Semaphore::new(config.max_requests_in_flight.max(1)));
    app.layer(middleware::from_fn(move |req: Request, next: Next| {
        let in_flight = in_flight.clone();
        let refused = refused.clone();
        async move {
            let Ok(_permit) = in_flight.try_acquire_owned() else {
                if let Some(c) = &refused {
                    c.inc();
                }
                let mut response = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many requests in flight\n",
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            };
            match tokio::time::timeout(timeout, next.run(req)).await {
                Ok(response) => response,
                Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "request timed out\n").into_response(),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_follow_the_open_file_limit() {
        let limit = open_file_limit();
        assert!(limit.is_some(), "Linux has /proc/self/limits");
        assert_eq!(connection_cap(1), 1);
        assert_eq!(connection_cap(0), 1);
        assert_eq!(connection_cap(usize::MAX), limit.unwrap() / 4);
        let text = std::str::from_utf8(OVER_CAPACITY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{text}"
        );
        #[cfg(feature = "tls")]
        {
            let text = std::str::from_utf8(PLAIN_HTTP).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains(&format!("Content-Length: {}", body.len())));
        }
    }
}
