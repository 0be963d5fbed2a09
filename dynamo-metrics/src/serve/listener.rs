//! Serving a router on a TCP listener so that hostile clients cannot starve it: see
//! [`serve`] for the rules.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
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
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::metrics::IntCounter;
use crate::serve::config::SystemServerConfig;

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

/// Counts one refusal, where there is a counter.
pub(crate) fn count(counter: &Option<IntCounter>) {
    if let Some(c) = counter {
        c.inc();
    }
}

#[cfg(feature = "tls")]
pub(crate) use crate::serve::web::WebConfig;

/// Without the `tls` feature there is no web configuration: a type without values.
#[cfg(not(feature = "tls"))]
#[derive(Debug)]
pub(crate) enum WebConfig {}

/// Serves `app` on `listener` until `stop` resolves, then stops accepting, lets open
/// connections finish for `config.shutdown_grace`, and cancels what is left (drops its
/// futures) before returning:
/// - a new connection must send its first byte within `config.header_read_timeout` (until
///   then it holds no buffer), the rest of its first request's head within
///   `config.header_read_timeout` more (held in a buffer of its size, not hyper's 16 KiB), and
///   every later request's headers on a kept-alive connection within
///   `config.header_read_timeout` (hyper starts the timer when it waits for a request), so
///   idle and dripping connections are closed;
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
    web: Option<Arc<WebConfig>>,
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
        let serving = Serving {
            builder: builder.clone(),
            service: TowerToHyperService::new(app.clone()),
            watcher: graceful.watcher(),
            head_timeout: config.header_read_timeout,
            stopped: stopped.clone(),
        };
        let (web, refused_tls) = (web.clone(), refusals.tls.clone());
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            // Until the client sends something, the connection is a socket, a permit and a
            // small task: no buffer, no TLS or HTTP state.
            // (`peek` waits for data; `readable` may report a fresh socket ready at once.)
            let mut byte = [0u8; 1];
            let mut stopped = serving.stopped.clone();
            let first = tokio::select! {
                first = tokio::time::timeout(serving.head_timeout, stream.peek(&mut byte)) => first,
                _ = stopped.changed() => return,
            };
            if matches!(first, Ok(Ok(1..))) {
                // Boxed, so that the task of a connection still waiting stays small.
                Box::pin(established(stream, byte[0], serving, web, refused_tls)).await;
            }
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

/// What a connection needs once its first byte has come.
struct Serving {
    builder: http1::Builder,
    service: TowerToHyperService<Router>,
    watcher: hyper_util::server::graceful::Watcher,
    /// How long the TLS handshake and the first request's head may take.
    head_timeout: Duration,
    /// Changes when the server shuts down.
    stopped: tokio::sync::watch::Receiver<()>,
}

/// Serves a connection whose first byte is `first`: over TLS when `web` says so (plain HTTP
/// then gets `400`), else over plain HTTP.
async fn established(
    stream: TcpStream,
    first: u8,
    serving: Serving,
    web: Option<Arc<WebConfig>>,
    refused_tls: Option<IntCounter>,
) {
    #[cfg(feature = "tls")]
    if let Some(tls) = web.and_then(|w| w.current().tls.clone()) {
        // Every TLS connection starts with a handshake record (type 22).
        if first != 0x16 {
            count(&refused_tls);
            tokio::spawn(refuse(stream, PLAIN_HTTP));
            return;
        }
        if !serve_tls(tls, stream, serving.head_timeout, serving).await {
            count(&refused_tls);
        }
        return;
    }
    #[cfg(not(feature = "tls"))]
    let _ = (first, web, refused_tls);
    http(stream, serving).await;
}

/// The TLS handshake on `stream` within `limit`, then HTTP over it; false when the handshake
/// fails. Built and boxed outside any `async` body: rustls's state is kilobytes, and a
/// connection's task would otherwise reserve room for it before its first byte, TLS or not.
#[cfg(feature = "tls")]
fn serve_tls(
    tls: Arc<rustls::ServerConfig>,
    stream: TcpStream,
    limit: Duration,
    serving: Serving,
) -> Pin<Box<dyn Future<Output = bool> + Send>> {
    let accept = tokio::time::timeout(limit, tokio_rustls::TlsAcceptor::from(tls).accept(stream));
    Box::pin(async move {
        let Ok(Ok(stream)) = accept.await else {
            return false;
        };
        http(stream, serving).await;
        true
    })
}

/// Serves HTTP/1.1 on `io` until the client is done or the server shuts down.
///
/// The first request's head is read first into a buffer only as large as what the client
/// sent, within `head_timeout`; hyper, and its two 8 KiB buffers, get the connection once the
/// head is complete. A client that drips its request a byte at a time holds a few bytes, not
/// 16 KiB. A connection whose head is still incomplete at shutdown is closed at once.
async fn http<I>(mut io: I, serving: Serving)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Serving {
        builder,
        service,
        watcher,
        head_timeout,
        mut stopped,
    } = serving;
    let head = tokio::select! {
        head = tokio::time::timeout(head_timeout, read_head(&mut io)) => head,
        _ = stopped.changed() => return,
    };
    let Ok(Ok(head)) = head else { return };
    if head.is_empty() {
        return;
    }
    let io = Rewind { head, read: 0, io };
    // Boxed: hyper's state comes with a complete head, not with the first byte.
    let connection = Box::pin(watcher.watch(builder.serve_connection(TokioIo::new(io), service)));
    // Errors here are a client's (reset, timeout, bad request): nothing to report.
    let _ = connection.await;
}

/// The longest first head read before hyper takes over (and applies its own limits).
const HEAD_LIMIT: usize = 8 * 1024;

/// Reads from `io` until a blank line ends a request head, `HEAD_LIMIT` bytes are read, or
/// the client closes: what was read, body bytes that came with the head included.
async fn read_head<I: AsyncRead + Unpin>(io: &mut I) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(128);
    loop {
        let searched = head.len().saturating_sub(3);
        if io.read_buf(&mut head).await? == 0 {
            return Ok(head);
        }
        let done = head[searched..].windows(4).any(|w| w == b"\r\n\r\n");
        if done || head.len() >= HEAD_LIMIT {
            return Ok(head);
        }
    }
}

/// `io` with `head` put back in front of what it reads next.
struct Rewind<I> {
    head: Vec<u8>,
    read: usize,
    io: I,
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.read < this.head.len() {
            let n = buf.remaining().min(this.head.len() - this.read);
            buf.put_slice(&this.head[this.read..this.read + n]);
            this.read += n;
            if this.read == this.head.len() {
                this.head = Vec::new();
                this.read = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewind<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
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
                count(&refused);
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

    #[tokio::test]
    async fn the_first_head_is_read_small_and_put_back() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            // Dripped in pieces, with the start of a body after the head.
            for piece in ["GET /metrics HTTP/1.1\r", "\nHost: x\r\n", "\r", "\nbody"] {
                client.write_all(piece.as_bytes()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            client.write_all(b" more").await.unwrap();
            client
        });
        let head = read_head(&mut server).await.unwrap();
        assert!(head.starts_with(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(head.capacity() <= 256, "{}", head.capacity());
        drop(writer.await.unwrap());
        let mut all = Vec::new();
        Rewind {
            head,
            read: 0,
            io: server,
        }
        .read_to_end(&mut all)
        .await
        .unwrap();
        assert_eq!(all, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nbody more");

        // A client that closes early, or sends more than the limit without a blank line.
        let (client, mut server) = tokio::io::duplex(64);
        drop(client);
        assert!(read_head(&mut server).await.unwrap().is_empty());
        let (mut client, mut server) = tokio::io::duplex(HEAD_LIMIT * 2);
        client
            .write_all(&vec![b'a'; HEAD_LIMIT + 10])
            .await
            .unwrap();
        assert!(read_head(&mut server).await.unwrap().len() >= HEAD_LIMIT);
    }

    /// What a connection holds while it drips its first request's head: hyper's and rustls's
    /// state are boxed away until they are needed.
    #[tokio::test]
    async fn a_connection_waiting_for_its_head_is_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let (_stop, stopped) = tokio::sync::watch::channel(());
        let serving = Serving {
            builder: http1::Builder::new(),
            service: TowerToHyperService::new(Router::new()),
            watcher: GracefulShutdown::new().watcher(),
            head_timeout: Duration::from_secs(1),
            stopped,
        };
        let waiting = established(stream, b'G', serving, None, None);
        assert!(
            std::mem::size_of_val(&waiting) < 1024,
            "{}",
            std::mem::size_of_val(&waiting)
        );
    }

    #[test]
    fn caps_follow_the_open_file_limit() {
        // The soft limit as the shell reads it (getrlimit), in a child that inherits ours.
        let shell = std::process::Command::new("sh")
            .args(["-c", "ulimit -Sn"])
            .output()
            .unwrap();
        let shell = String::from_utf8(shell.stdout).unwrap();
        let limit: Option<usize> = match shell.trim() {
            "unlimited" => None,
            n => Some(n.parse().unwrap()),
        };
        assert_eq!(open_file_limit(), limit);
        let quarter = limit.map_or(usize::MAX, |n| n / 4);
        assert_eq!(connection_cap(1), 1);
        assert_eq!(connection_cap(0), 1);
        assert_eq!(connection_cap(usize::MAX), quarter);
        assert_eq!(connection_cap(quarter - 1), quarter - 1);
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
