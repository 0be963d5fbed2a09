//! The system status server: `GET /metrics`, `/health`, `/live` over HTTP/1.1, with a cap
//! on connections, header and request timeouts, and graceful shutdown; and the same routes as
//! a router to mount in an application's own axum server. It knows what it serves only through
//! [`Source`].

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
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
use crate::text::CONTENT_TYPE;

/// What the routes serve: the exposition and the readiness of one runtime.
pub(crate) trait Source: Send + Sync + 'static {
    /// The text exposition.
    fn render(&self) -> String;
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

async fn metrics(State(state): State<AppState>) -> Response {
    match state.source.upgrade() {
        Some(source) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], source.render()).into_response(),
        None => gone(),
    }
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
