//! The root of the hierarchy: [`DistributedRuntime`] owns the store of its families, renders
//! it through [`exposition`], and runs the system status server; `config` is its settings,
//! `scoped` the running of code under a chosen runtime. It is the top layer: it imports every
//! other module, and none imports it but `lib.rs`.

pub(crate) mod config;
#[cfg(feature = "otlp")]
mod otlp;
pub(crate) mod scoped;
#[cfg(feature = "server")]
mod serve;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

#[cfg(any(feature = "server", feature = "otlp"))]
use parking_lot::Mutex;

use crate::describe::{Declared, MetricDescriptor, runtime_family};
use crate::error::Result;
use crate::exposition::{self, Format};
use crate::instrument::binding::{self, Bound};
use crate::instrument::labelled::LabelledEndpoints;
use crate::instrument::{EndpointMetrics, site};
use crate::metrics::{Gauge, IntCounter};
use crate::registry::hierarchy::{Namespace, Namespaces};
use crate::registry::identity::Identity;
use crate::registry::scope::{MetricsRegistry, MetricsScope, root_scope};
use crate::registry::store::Store;
use crate::runtime::config::RuntimeConfig;
#[cfg(feature = "server")]
use crate::serve::server::{self, ServerHandle};

/// `dynamo_component_uptime_seconds`, at runtime level.
static UPTIME: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "component",
    "uptime_seconds",
    Gauge,
    "f64",
    "Total uptime of the DistributedRuntime in seconds",
);

inventory::submit! { Declared(&UPTIME) }

/// `dynamo_metrics_exemplars_dropped_total`, at runtime level.
static EXEMPLARS_DROPPED: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "metrics",
    "exemplars_dropped_total",
    Counter,
    "u64",
    "Exemplars refused in this process because their labels were invalid or longer than 128 characters",
);

inventory::submit! { Declared(&EXEMPLARS_DROPPED) }

/// The root of the hierarchy and owner of every metric under it.
///
/// Metrics created on the runtime itself carry no hierarchy labels; it creates one of its
/// own, `dynamo_component_uptime_seconds`, refreshed at every render. With the `gpu` feature
/// it also exports GPU gauges from NVML (`GpuCollector`, feature `gpu`) unless the
/// configuration turns them off. Cloning is cheap and
/// shares everything.
#[derive(Clone)]
pub struct DistributedRuntime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    scope: MetricsScope,
    store: Arc<Store>,
    namespaces: Namespaces,
    started: Instant,
    uptime: Gauge,
    /// The process's count of dropped exemplars, and how much of it was added here.
    exemplars_dropped: IntCounter,
    exemplars_dropped_seen: AtomicU64,
    ready: AtomicBool,
    worker_id: Option<String>,
    /// The namespace of the runtime's instrumented functions (`RuntimeConfig::namespace`).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    namespace: String,
    /// How long shutdown may take.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    shutdown_timeout: Duration,
    /// Size of the last render, to allocate the next one at once.
    last_render: AtomicUsize,
    #[cfg(feature = "server")]
    server: Mutex<Option<ServerHandle>>,
    #[cfg(feature = "server")]
    exporter: server::ExporterMetrics,
    #[cfg(feature = "otlp")]
    otlp: Mutex<Option<crate::otlp::exporter::Handle>>,
    /// The resource of `encode_otlp`, made at its first call.
    #[cfg(feature = "otlp")]
    default_resource: std::sync::OnceLock<crate::exposition::otlp::Resource>,
    /// The metrics of every instrumented function, for calls that run under this runtime.
    pub(crate) bound: Arc<Bound>,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        binding::unregister(&self.bound);
    }
}

impl fmt::Debug for DistributedRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistributedRuntime")
            .field("uptime", &self.uptime())
            .field("system_server", &self.system_server_addr())
            .finish_non_exhaustive()
    }
}

impl DistributedRuntime {
    /// A runtime with default settings and no system status server.
    ///
    /// # Errors
    /// [`Error::Conflict`](crate::Error::Conflict) when two macro-declared metrics of the program share a name but
    /// not a declaration ([`check_catalog`](crate::check_catalog)).
    pub fn new() -> Result<Self> {
        Self::with_config(&RuntimeConfig::default())
    }

    /// A runtime with `config`'s settings. The system status server, if configured, is not
    /// started: call [`start_system_server`](Self::start_system_server), or build with
    /// [`from_config`](Self::from_config) inside a tokio runtime.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_config(config: &RuntimeConfig) -> Result<Self> {
        crate::registry::catalog::check_catalog()?;
        let store = Arc::new(Store::new(config.max_series_total));
        // The endpoint labels configured, then those instrumented functions give.
        let mut endpoint_labels = config.endpoint_labels.clone();
        for name in site::sites().iter().flat_map(|s| s.labels()) {
            if !endpoint_labels.iter().any(|l| l == name) {
                endpoint_labels.push((*name).to_owned());
            }
        }
        let identity = Identity::new(
            config.worker_id.resolve()?,
            &endpoint_labels,
            &config.const_labels,
        )?;
        let worker_id = identity.worker_id.clone();
        let scope = root_scope(store.clone(), identity);
        let uptime = Gauge::from_series(scope.declared(&UPTIME)?.series(&[])?);
        let exemplars_dropped =
            IntCounter::from_series(scope.declared(&EXEMPLARS_DROPPED)?.series(&[])?);
        crate::registry::catalog::register_runtime_metrics(&scope)?;
        store.health.register(&scope)?;
        if let (true, Ok(handle)) = (config.tokio_metrics, tokio::runtime::Handle::try_current()) {
            store.register_tokio(handle, scope.hierarchy_labels().to_vec());
        }
        #[cfg(feature = "server")]
        let exporter = server::ExporterMetrics::register(&scope)?;
        let namespaces = Namespaces::new();
        let bound = Arc::new(instrumented_endpoints(
            &namespaces.get(&scope, &config.namespace)?,
            config,
        )?);
        let runtime = DistributedRuntime {
            inner: Arc::new(RuntimeInner {
                scope,
                store,
                namespaces,
                started: Instant::now(),
                uptime,
                exemplars_dropped,
                exemplars_dropped_seen: AtomicU64::new(0),
                ready: AtomicBool::new(config.starting_ready),
                worker_id,
                namespace: config.namespace.clone(),
                shutdown_timeout: config.shutdown_timeout,
                last_render: AtomicUsize::new(4096),
                #[cfg(feature = "server")]
                server: Mutex::new(None),
                #[cfg(feature = "server")]
                exporter,
                #[cfg(feature = "otlp")]
                otlp: Mutex::new(None),
                #[cfg(feature = "otlp")]
                default_resource: std::sync::OnceLock::new(),
                bound: bound.clone(),
            }),
        };
        #[cfg(all(feature = "gpu", feature = "metrics"))]
        if let Some(gpu) = &config.gpu {
            runtime.register_collector(Box::new(crate::gpu::GpuCollector::nvml(gpu.clone())))?;
        }
        let owner: Weak<dyn std::any::Any + Send + Sync> = Arc::downgrade(&runtime.inner) as _;
        bound.set_owner(owner);
        let tokio = tokio::runtime::Handle::try_current().ok().map(|h| h.id());
        binding::register(bound, tokio);
        Ok(runtime)
    }

    /// A runtime with `config`'s settings, its system status server started if configured.
    ///
    /// # Errors
    /// [`Error::Bind`](crate::Error::Bind) when the server cannot listen (a port in use, for example).
    pub async fn from_config(config: RuntimeConfig) -> Result<Self> {
        let runtime = Self::with_config(&config)?;
        #[cfg(feature = "server")]
        if let Some(server) = config.system_server {
            runtime.start_system_server(server).await?;
        }
        #[cfg(feature = "otlp")]
        if let Some(otlp) = &config.otlp {
            runtime.start_otlp_export(otlp)?;
        }
        #[cfg(not(feature = "server"))]
        if let Some(server) = config.system_server {
            tracing::warn!(
                addr = %server.addr(),
                "a system status server is configured, but dynamo-metrics was built without its `server` feature: not started"
            );
        }
        Ok(runtime)
    }

    /// A runtime configured from the environment (see [`RuntimeConfig::from_env`]), its
    /// system status server started when `DYN_SYSTEM_PORT` is set.
    ///
    /// # Errors
    /// [`Error::Env`](crate::Error::Env) for an unusable variable, [`Error::Bind`](crate::Error::Bind) when the server cannot listen.
    pub async fn from_env() -> Result<Self> {
        Self::from_config(RuntimeConfig::from_env()?).await
    }

    pub(crate) fn from_inner(inner: Arc<RuntimeInner>) -> Self {
        DistributedRuntime { inner }
    }

    /// The namespace `name`; the same node each time it is asked for.
    ///
    /// # Errors
    /// [`Error::InvalidHierarchyName`](crate::Error::InvalidHierarchyName) when `name` is empty.
    pub fn namespace(&self, name: &str) -> Result<Namespace> {
        self.inner.namespaces.get(&self.inner.scope, name)
    }

    /// The value of the `worker_id` label on every series of this runtime; `None` when
    /// [`RuntimeConfig::worker_id`] turns it off.
    pub fn worker_id(&self) -> Option<&str> {
        self.inner.worker_id.as_deref()
    }

    /// Creates at zero the request metrics of every instrumented function whose calls give
    /// labels (`#[instrument_endpoint(.., labels(model = ..))]`) under the values `labels`
    /// names, so that the series of a model a worker serves exist before its first request.
    /// A function takes the values of the labels it names; one that names a label missing
    /// here is left alone. Returns how many functions it labelled.
    ///
    /// # Errors
    /// [`Error::EndpointLabels`](crate::Error::EndpointLabels) when a component refuses the
    /// values (too long, or past its cap of labelled endpoints).
    pub fn prepare_endpoint_labels(&self, labels: &[(&str, &str)]) -> Result<usize> {
        let mut prepared = 0;
        for functions in self.inner.bound.labelled() {
            let values: Option<Vec<&str>> = functions
                .names()
                .iter()
                .map(|n| labels.iter().find(|(k, _)| k == n).map(|(_, v)| *v))
                .collect();
            if let Some(values) = values {
                functions.create(&values)?;
                prepared += 1;
            }
        }
        Ok(prepared)
    }

    /// How long ago the runtime was created.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Whether `/health` and `/live` report ready (200) or not (503).
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Relaxed)
    }

    /// Sets what `/health` and `/live` report.
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Relaxed);
    }

    /// Appends the text exposition of every metric of the runtime to `out`: each family once,
    /// families sorted by name, foreign collectors merged in.
    pub fn render_into(&self, out: &mut String) {
        self.inner.render_into(out, Format::Text, &|_| true);
    }

    /// The text exposition (format 0.0.4) of every metric of the runtime.
    pub fn render(&self) -> String {
        self.inner.render()
    }

    /// The exposition in `format`; with `names`, only the families named there (full names,
    /// as in the text format: `dynamo_component_requests_total`), as `GET
    /// /metrics?name[]=..` asks.
    pub fn encode(&self, format: Format, names: Option<&[&str]>) -> Vec<u8> {
        self.inner.encode(format, names)
    }

    /// As [`encode`](Self::encode), into `out` (cleared first; its allocation is reused, as
    /// [`render_into`](Self::render_into) reuses a `String`). A page of a million series is
    /// tens of megabytes: a new buffer each time costs the kernel's page faults on all of it,
    /// about as much as the render itself (BENCHMARKS.md, the scaling table); the status
    /// server reuses its buffers so.
    pub fn encode_into(&self, format: Format, names: Option<&[&str]>, out: &mut Vec<u8>) {
        self.inner.encode_into(format, names, out);
    }

    /// Waits for SIGINT or SIGTERM (Ctrl-C elsewhere), then reports not ready at once
    /// (`/health` and `/live` answer 503, so a load balancer stops sending work) and returns:
    /// the caller drains its own work, then calls [`shutdown`](Self::shutdown).
    pub async fn shutdown_signal(&self) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal: not ready, draining");
        self.set_ready(false);
    }

    /// Where the system status server listens, if it runs.
    pub fn system_server_addr(&self) -> Option<SocketAddr> {
        #[cfg(feature = "server")]
        return self.inner.server.lock().as_ref().map(ServerHandle::addr);
        #[cfg(not(feature = "server"))]
        None
    }

    /// Stops the system status server, if it runs: no new connections are accepted, and open
    /// ones get the configured grace period to finish. With the OTLP export running (feature
    /// `otlp`), sends its last export within the shutdown timeout and stops it.
    pub async fn shutdown(&self) {
        #[cfg(feature = "server")]
        {
            let handle = self.inner.server.lock().take();
            if let Some(handle) = handle {
                handle.shutdown().await;
            }
        }
        #[cfg(feature = "otlp")]
        self.stop_otlp_export().await;
    }
}

impl RuntimeInner {
    /// Brings the metrics read at render up to date: uptime, dropped exemplars.
    fn refresh(&self) {
        self.uptime.set(self.started.elapsed().as_secs_f64());
        let dropped = crate::metrics::exemplars_dropped();
        let seen = self.exemplars_dropped_seen.swap(dropped, Relaxed);
        self.exemplars_dropped.inc_by(dropped.saturating_sub(seen));
    }

    fn render_into(&self, out: &mut String, format: Format, keep: &dyn Fn(&str) -> bool) {
        self.refresh();
        exposition::write_text(out, &*self.store, format, keep);
    }

    /// The whole text render, in a buffer sized by the last one.
    fn render(&self) -> String {
        let mut out = String::with_capacity(self.last_render.load(Relaxed));
        self.render_into(&mut out, Format::Text, &|_| true);
        self.last_render.store(out.len() + out.len() / 8, Relaxed);
        out
    }

    fn encode(&self, format: Format, names: Option<&[&str]>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.last_render.load(Relaxed));
        self.encode_into(format, names, &mut out);
        out
    }

    fn encode_into(&self, format: Format, names: Option<&[&str]>, out: &mut Vec<u8>) {
        self.refresh();
        match names {
            Some(names) => {
                exposition::encode_into(&*self.store, format, &|n| names.contains(&n), out)
            }
            None => {
                exposition::encode_into(&*self.store, format, &|_| true, out);
                // The size of the text page: a protobuf one is smaller, and would under-size
                // the next text render's buffer.
                if format != Format::Protobuf {
                    self.last_render.store(out.len() + out.len() / 8, Relaxed);
                }
            }
        }
    }
}

/// The table of every instrumented function under `namespace`, with the names `config`
/// gives them, created at zero; records made while no runtime was alive move in.
fn instrumented_endpoints(namespace: &Namespace, config: &RuntimeConfig) -> Result<Bound> {
    let mut metrics = Vec::new();
    let mut labelled = Vec::new();
    // Functions that serve the same endpoint share its series.
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, site) in site::sites().iter().enumerate() {
        let (component, endpoint) = config.instrumented_names(site.component(), site.endpoint())?;
        groups
            .entry((component.to_owned(), endpoint.to_owned()))
            .or_default()
            .push(i);
        let component = namespace.component(component)?;
        let m = EndpointMetrics::register(&component.endpoint(endpoint)?)?;
        site.drain_pending_into(&m);
        metrics.push(m);
        labelled.push(match site.labels() {
            [] => None,
            names => Some(LabelledEndpoints::new(component, endpoint, names)?),
        });
    }
    let groups: Vec<Vec<usize>> = groups.into_values().collect();
    Ok(Bound::new(
        metrics.into_boxed_slice(),
        labelled.into_boxed_slice(),
        &groups,
    ))
}

impl MetricsRegistry for DistributedRuntime {
    fn metrics_scope(&self) -> &MetricsScope {
        &self.inner.scope
    }
}
