//! The status server and the mountable routes of a runtime (feature `server`).

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{DistributedRuntime, RuntimeInner};
use crate::error::{Error, Result};
use crate::exposition::Format;
use crate::serve::config::SystemServerConfig;
use crate::serve::server;

impl server::Served for RuntimeInner {
    fn encode_into(&self, format: Format, names: Option<&[&str]>, out: &mut Vec<u8>) {
        RuntimeInner::encode_into(self, format, names, out);
    }

    fn waits_on_network(&self) -> bool {
        self.store.reads_remote()
    }

    fn health(&self) -> (bool, Duration) {
        (self.ready.load(Relaxed), self.started.elapsed())
    }

    fn exporter(&self) -> &server::ExporterMetrics {
        &self.exporter
    }
}

impl DistributedRuntime {
    /// The routes `GET /metrics`, `/health` and `/live` of this runtime as an axum
    /// [`Router`](axum::Router), for an application that runs its own HTTP server:
    /// `app.merge(runtime.metrics_router())`, or `nest` it under a prefix. They answer as the
    /// status server's do. The router holds the runtime weakly: once the runtime is dropped
    /// they answer 503. A `Router` is a tower `Service`, so it mounts wherever one does.
    ///
    /// The application's server decides how hostile clients are handled. Serve it with
    /// [`serve`](Self::serve) to get the status server's limits (header and request timeouts,
    /// connection cap, in-flight limit, 503 with `Retry-After` when over); with another
    /// server, set the same limits there, or an idle or dripping client holds a connection
    /// for as long as it likes.
    pub fn metrics_router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        server::routes(self.source())
    }

    /// Serves `app` (an application's router, this runtime's [`metrics_router`] merged in or
    /// not) on `listener` with the limits of `config` until `stop` resolves, then drains for
    /// `config.shutdown_grace`: the status server's own loop, hardened against slow, idle and
    /// flooding clients. Every request must send its headers within
    /// `header_read_timeout` (idle kept-alive connections too) and is answered within
    /// `request_timeout`. Connections over the cap (`max_connections`, at most a quarter of
    /// the process's open-file limit) and requests over `max_requests_in_flight` get `503`
    /// with `Retry-After` at once, counted by `dynamo_metrics_refused_total{what}`. A
    /// `web_config_file` in `config` applies as on the status server (TLS, basic auth on every
    /// route but `/health` and `/live`, headers).
    ///
    /// # Errors
    /// [`Error::WebConfig`] when `config.web_config_file` cannot be used; nothing is served.
    ///
    /// [`metrics_router`]: Self::metrics_router
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        app: axum::Router,
        config: &SystemServerConfig,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        let exporter = &self.inner.exporter;
        let (app, web) = server::secure(app, config, Some(exporter))?;
        crate::serve::listener::serve(listener, app, config, exporter.refusals(), web, stop).await;
        Ok(())
    }

    fn source(&self) -> Weak<dyn server::Served> {
        Arc::downgrade(&self.inner) as Weak<dyn server::Served>
    }

    /// Starts the system status server: `GET /metrics`, `/health`, `/live`. Must be called
    /// inside a tokio runtime.
    ///
    /// # Errors
    /// [`Error::Bind`] when the address cannot be bound, [`Error::ServerRunning`] when this
    /// runtime already runs one, [`Error::WebConfig`] when its web configuration file cannot
    /// be used.
    pub async fn start_system_server(&self, config: SystemServerConfig) -> Result<SocketAddr> {
        if let Some(addr) = self.system_server_addr() {
            return Err(Error::ServerRunning { addr });
        }
        let handle = server::start(self.source(), config).await?;
        let addr = handle.addr();
        let mut slot = self.inner.server.lock();
        if let Some(running) = slot.as_ref() {
            return Err(Error::ServerRunning {
                addr: running.addr(),
            });
        }
        *slot = Some(handle);
        Ok(addr)
    }
}
