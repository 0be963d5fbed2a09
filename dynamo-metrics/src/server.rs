//! The system status server: `GET /metrics`, `/health`, `/live` over HTTP/1.1, with a cap
//! on connections, header and request timeouts, and graceful shutdown; and the same routes as
//! a router to mount in an application's own axum server. It knows what it serves only through
//! [`Source`].

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::config::SystemServerConfig;
use crate::error::{Error, Result};
use crate::format::Format;

/// What the routes serve: the exposition and the readiness of one runtime.
pub(crate) trait Source: Send + Sync + 'static {
    /// The exposition in `format`, only the families in `names` when given.
    fn encode(&self, format: Format, names: Option<&[&str]>) -> Vec<u8>;
    /// Whether the runtime reports ready, and how long it has been up.
    fn health(&self) -> (bool, Duration);
}

/// A running server. Dropping it stops the server without waiting.
pub(crate) struct ServerHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ServerHandle {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets open connections finish within the grace period, and waits.
    pub(crate) async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = (&mut { self }.task).await;
    }
}

/// Binds `config`'s address and serves in a background task.
pub(crate) async fn start(
    source: Weak<dyn Source>,
    config: SystemServerConfig,
) -> Result<ServerHandle> {
    let wanted = config.addr();
    let listener = TcpListener::bind(wanted)
        .await
        .map_err(|source| Error::Bind {
            addr: wanted,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: wanted,
        source,
    })?;
    let (stop, stopped) = watch::channel(false);
    let app: Router = router(source, Some(config.request_timeout));
    let task = tokio::spawn(serve(listener, app, config, stopped));
    tracing::info!(%addr, "system status server listening");
    Ok(ServerHandle { addr, stop, task })
}

#[derive(Clone)]
struct AppState {
    source: Weak<dyn Source>,
}

/// The routes `/metrics`, `/health` and `/live` of `source`, each answered within `timeout`
/// (503 after it) when one is given. The status server adds a fallback 404 for other paths.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(
    source: Weak<dyn Source>,
    timeout: Option<Duration>,
) -> Router<S> {
    let routes = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/live", get(health))
        .with_state(AppState { source });
    match timeout {
        Some(timeout) => routes.layer(middleware::from_fn(
            move |req: Request, next: Next| async move {
                match tokio::time::timeout(timeout, next.run(req)).await {
                    Ok(response) => response,
                    Err(_) => {
                        (StatusCode::SERVICE_UNAVAILABLE, "request timed out\n").into_response()
                    }
                }
            },
        )),
        None => routes,
    }
}

fn router(source: Weak<dyn Source>, timeout: Option<Duration>) -> Router {
    routes(source, timeout).fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
}

fn gone() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "runtime shut down\n").into_response()
}

/// `GET /metrics`: the format the `Accept` header asks for, gzip when `Accept-Encoding`
/// allows it, and only the families of `name[]` parameters when there are any.
async fn metrics(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(source) = state.source.upgrade() else {
        return gone();
    };
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let negotiated = Format::negotiate(header(header::ACCEPT));
    let names = query.as_deref().map(names_asked).unwrap_or_default();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let body = source.encode(negotiated.format, (!names.is_empty()).then_some(&names[..]));
    let mut response = Response::new(Body::empty());
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&negotiated.content_type()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    let body = match accepts_gzip(header(header::ACCEPT_ENCODING)) {
        true => match gzip(&body) {
            Ok(compressed) => {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                compressed
            }
            Err(_) => body,
        },
        false => body,
    };
    *response.body_mut() = Body::from(body);
    response
}

/// The values of every `name[]` parameter of a query string, percent-decoded.
fn names_asked(query: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| matches!(percent_decode(key).as_deref(), Some("name[]")))
        .filter_map(|(_, value)| percent_decode(value))
        .collect()
}

/// `%XX` and `+` decoded; `None` for malformed escapes or text that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        bytes.push(match b {
            b'%' => {
                let hex = [it.next()?, it.next()?];
                u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?
            }
            b'+' => b' ',
            b => b,
        });
    }
    String::from_utf8(bytes).ok()
}

/// Whether `Accept-Encoding` allows gzip (with a q-value above 0, by name or by `*`).
fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let mut gzip = None;
    let mut any = None;
    for coding in accept_encoding.unwrap_or("").split(',') {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, v)| v.trim().parse::<f32>().unwrap_or(0.0));
        match name.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => any = Some(q),
            _ => {}
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

/// `body` gzip-compressed at the fastest level: a scrape's CPU matters more than its bytes.
fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8 + 64),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

async fn health(State(state): State<AppState>) -> Response {
    let Some(source) = state.source.upgrade() else {
        return gone();
    };
    let (ready, uptime) = source.health();
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "notready" },
        "uptime_seconds": uptime.as_secs_f64(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// The accept loop: one permit per connection, each connection served in its own task and
/// watched for graceful shutdown.
async fn serve(
    listener: TcpListener,
    app: Router,
    config: SystemServerConfig,
    mut stopped: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    loop {
        let accepted = tokio::select! {
            _ = stopped.changed() => break,
            accepted = accept(&listener, &permits) => accepted,
        };
        let Some((stream, permit)) = accepted else {
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Errors here are a client's (reset, timeout, bad request): nothing to report.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(config.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("system status server: connections still open after the grace period");
    }
}

async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> Option<(tokio::net::TcpStream, tokio::sync::OwnedSemaphorePermit)> {
    let permit = permits.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, _)) => Some((stream, permit)),
        Err(error) => {
            // Out of file descriptors and the like: back off instead of spinning.
            tracing::warn!(%error, "system status server: accept failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names() {
        assert_eq!(
            names_asked("name[]=a_total&x=1&name%5B%5D=b%3Ac&name[]=bad%ZZ&name=c"),
            ["a_total", "b:c"]
        );
        assert!(names_asked("").is_empty());
        assert_eq!(percent_decode("a+b%20c"), Some("a b c".to_owned()));
        assert_eq!(percent_decode("%E2%9C%93"), Some("✓".to_owned()));
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn gzip_negotiation() {
        for (header, want) in [
            (Some("gzip"), true),
            (Some("deflate, gzip;q=0.5"), true),
            (Some("GZIP"), true),
            (Some("gzip;q=0"), false),
            (Some("*"), true),
            (Some("*;q=0, gzip;q=0"), false),
            (Some("identity"), false),
            (Some("br, zstd"), false),
            (None, false),
        ] {
            assert_eq!(accepts_gzip(header), want, "{header:?}");
        }
        let body = "x".repeat(10_000);
        let compressed = gzip(body.as_bytes()).unwrap();
        assert!(compressed.len() < 200, "{}", compressed.len());
        let mut back = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&compressed[..]),
            &mut back,
        )
        .unwrap();
        assert_eq!(back, body);
    }
}
