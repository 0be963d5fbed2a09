//! The system status server: `GET /metrics`, `/health`, `/live` over HTTP/1.1, with a cap
//! on connections, header and request timeouts, and graceful shutdown; and the same routes as
//! a router to mount in an application's own axum server. It knows what it serves only through
//! [`Served`].

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::describe::{Declared, MetricDescriptor, runtime_family};
use crate::error::{Error, Result};
use crate::exposition::format::Format;
use crate::metrics::{Histogram, IntCounter, IntCounterVec, IntGauge};
use crate::registry::scope::MetricsScope;
use crate::serve::buffers::Buffers;
use crate::serve::config::SystemServerConfig;
use crate::serve::listener::{self, Refusals};

/// What the routes serve: the exposition and the readiness of one runtime.
pub(crate) trait Served: Send + Sync + 'static {
    /// The exposition in `format`, only the families in `names` when given, into `out`
    /// (cleared first).
    fn encode_into(&self, format: Format, names: Option<&[&str]>, out: &mut Vec<u8>);
    /// Whether an exposition may wait on the network (a relayed URL): it is then made on a
    /// blocking thread, not on the server's.
    fn waits_on_network(&self) -> bool;
    /// Whether the runtime reports ready, and how long it has been up.
    fn health(&self) -> (bool, Duration);
    /// The exporter's own metrics.
    fn exporter(&self) -> &ExporterMetrics;
}

/// The exporter's own metrics, like client_golang's `promhttp_*`: scrapes served, their
/// duration and bytes, scrapes in flight, and connections and requests refused by the limits
/// of the listeners the runtime serves.
#[derive(Clone, Debug)]
pub(crate) struct ExporterMetrics {
    scrapes: IntCounter,
    duration: Histogram,
    bytes: IntCounter,
    in_flight: IntGauge,
    refused: IntCounterVec,
    /// Read only where a web configuration file can be loaded (feature `tls`); at zero else.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    reloads: IntCounterVec,
}

static SCRAPES: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "metrics",
    "scrapes_total",
    Counter,
    "u64",
    "Scrapes of /metrics answered",
);
static SCRAPE_DURATION: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "metrics",
    "scrape_duration_seconds",
    Histogram,
    "f64",
    "Time to render, encode and compress one scrape of /metrics",
)
.__buckets(
    Some(&[
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
    ]),
    None,
);
static SCRAPE_BYTES: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "metrics",
    "scrape_response_bytes_total",
    Counter,
    "u64",
    "Bytes of /metrics bodies sent, after compression",
);
static SCRAPES_IN_FLIGHT: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "metrics",
    "scrapes_in_flight",
    Gauge,
    "i64",
    "Scrapes of /metrics being answered",
);
static REFUSED: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "metrics",
    "refused_total",
    Counter,
    "u64",
    "Connections and requests refused by the runtime's listeners: over a limit (connection, request; answered 503), failing basic auth (auth; 401), failing the TLS handshake or speaking plain HTTP to TLS (tls)",
)
.__labels(&["what"]);

static WEB_CONFIG_RELOADS: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "metrics",
    "web_config_reloads_total",
    Counter,
    "u64",
    "Reloads of the web configuration file after it changed: taken (success), or refused for an error, the last good configuration kept (failure)",
)
.__labels(&["result"]);

inventory::submit! { Declared(&SCRAPES) }
inventory::submit! { Declared(&SCRAPE_DURATION) }
inventory::submit! { Declared(&SCRAPE_BYTES) }
inventory::submit! { Declared(&SCRAPES_IN_FLIGHT) }
inventory::submit! { Declared(&REFUSED) }
inventory::submit! { Declared(&WEB_CONFIG_RELOADS) }

impl ExporterMetrics {
    /// The exporter's families on the runtime's root scope, at zero.
    pub(crate) fn register(scope: &MetricsScope) -> Result<Self> {
        let refused = IntCounterVec::from_view(scope.declared(&REFUSED)?);
        for what in ["connection", "request", "auth", "tls"] {
            refused.with_label_values(&[what])?;
        }
        let reloads = IntCounterVec::from_view(scope.declared(&WEB_CONFIG_RELOADS)?);
        for result in ["success", "failure"] {
            reloads.with_label_values(&[result])?;
        }
        Ok(ExporterMetrics {
            scrapes: IntCounter::from_series(scope.declared(&SCRAPES)?.series(&[])?),
            duration: Histogram::from_series(scope.declared(&SCRAPE_DURATION)?.series(&[])?),
            bytes: IntCounter::from_series(scope.declared(&SCRAPE_BYTES)?.series(&[])?),
            in_flight: IntGauge::from_series(scope.declared(&SCRAPES_IN_FLIGHT)?.series(&[])?),
            refused,
            reloads,
        })
    }

    /// The counters a listener of this runtime refuses into.
    pub(crate) fn refusals(&self) -> Refusals {
        Refusals {
            connections: self.refused.with_label_values(&["connection"]).ok(),
            requests: self.refused.with_label_values(&["request"]).ok(),
            tls: self.refused.with_label_values(&["tls"]).ok(),
        }
    }
}

/// `app` and the listener's TLS with the web configuration file of `config`, if any: basic
/// auth on every route but `/health` and `/live` (probes carry no credentials; they tell
/// readiness and uptime only), its headers on every response.
///
/// # Errors
/// [`Error::WebConfig`] naming the key at fault, or the missing `tls` feature.
pub(crate) fn secure(
    app: Router,
    config: &SystemServerConfig,
    exporter: Option<&ExporterMetrics>,
) -> Result<(Router, Option<std::sync::Arc<listener::WebConfig>>)> {
    let Some(path) = &config.web_config_file else {
        return Ok((app, None));
    };
    #[cfg(feature = "tls")]
    {
        let reloads = crate::serve::web::Reloads {
            succeeded: exporter.and_then(|e| e.reloads.with_label_values(&["success"]).ok()),
            failed: exporter.and_then(|e| e.reloads.with_label_values(&["failure"]).ok()),
        };
        let web = std::sync::Arc::new(crate::serve::web::WebConfig::load(path, reloads)?);
        let refused = exporter.and_then(|e| e.refused.with_label_values(&["auth"]).ok());
        let guard = web.clone();
        let app = app.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let (web, refused) = (guard.clone(), refused.clone());
                async move {
                    let settings = web.current();
                    let open = matches!(request.uri().path(), "/health" | "/live");
                    let mut response = if open
                        || web
                            .authorized(&settings, request.headers().get(header::AUTHORIZATION))
                            .await
                    {
                        next.run(request).await
                    } else {
                        listener::count(&refused);
                        let mut response =
                            (StatusCode::UNAUTHORIZED, "unauthorized\n").into_response();
                        response.headers_mut().insert(
                            header::WWW_AUTHENTICATE,
                            HeaderValue::from_static("Basic realm=\"metrics\", charset=\"UTF-8\""),
                        );
                        response
                    };
                    for (name, value) in &settings.headers {
                        response.headers_mut().insert(name.clone(), value.clone());
                    }
                    response
                }
            },
        ));
        tracing::info!(path = %path.display(), tls = web.tls(), "web configuration loaded");
        Ok((app, Some(web)))
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (app, exporter);
        Err(Error::WebConfig {
            path: path.clone(),
            key: None,
            reason: "this build of dynamo-metrics has no `tls` feature: enable it to use a web configuration file".to_owned(),
        })
    }
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
    source: Weak<dyn Served>,
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
    let (stop, mut stopped) = watch::channel(false);
    let strong = source.upgrade();
    let exporter = strong.as_ref().map(|s| s.exporter());
    let refusals = exporter.map(ExporterMetrics::refusals).unwrap_or_default();
    let (app, web) = secure(router(source), &config, exporter)?;
    drop(strong);
    let task = tokio::spawn(async move {
        let stop = async move {
            let _ = stopped.changed().await;
        };
        listener::serve(listener, app, &config, refusals, web, stop).await;
    });
    tracing::info!(%addr, "system status server listening");
    Ok(ServerHandle { addr, stop, task })
}

#[derive(Clone)]
struct AppState {
    source: Weak<dyn Served>,
    buffers: Arc<Buffers>,
}

/// The routes `/metrics`, `/health` and `/live` of `source`. The status server adds a
/// fallback 404 for other paths, and its listener the limits of [`listener::serve`].
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(source: Weak<dyn Served>) -> Router<S> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/live", get(health))
        .with_state(AppState {
            source,
            buffers: Arc::default(),
        })
}

fn router(source: Weak<dyn Served>) -> Router {
    routes(source).fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
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
    let exporter = source.exporter();
    exporter.in_flight.inc();
    let started = std::time::Instant::now();
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let negotiated = Format::negotiate(header(header::ACCEPT));
    let names = query.as_deref().map(names_asked).unwrap_or_default();
    let format = negotiated.format;
    let mut page = state.buffers.take();
    let page = if source.waits_on_network() {
        let source = source.clone();
        tokio::task::spawn_blocking(move || {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            source.encode_into(format, (!names.is_empty()).then_some(&names[..]), &mut page);
            page
        })
        .await
        .unwrap_or_default()
    } else {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        source.encode_into(format, (!names.is_empty()).then_some(&names[..]), &mut page);
        page
    };
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
        true => match gzip(&page, state.buffers.take()) {
            Ok(compressed) => {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                state.buffers.give(page);
                compressed
            }
            Err(_) => page,
        },
        false => page,
    };
    exporter.bytes.inc_by(body.len() as u64);
    *response.body_mut() = Body::from(state.buffers.body(body));
    exporter.scrapes.inc();
    exporter.duration.observe(started.elapsed().as_secs_f64());
    exporter.in_flight.dec();
    response
}

/// The values of every `name[]` parameter of a query string, percent-decoded.
pub(crate) fn names_asked(query: &str) -> Vec<String> {
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
pub(crate) fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
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

/// `body` gzip-compressed at the fastest level (a scrape's CPU matters more than its bytes),
/// into `out` (an empty buffer).
fn gzip(body: &[u8], mut out: Vec<u8>) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    out.reserve(body.len() / 8 + 64);
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
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
        let compressed = gzip(body.as_bytes(), Vec::new()).unwrap();
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
