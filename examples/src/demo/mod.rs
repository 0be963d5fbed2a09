//! A small Dynamo-shaped deployment in one process: an OpenAI-compatible frontend
//! (`dynamo_frontend_*`, `dynamo_preprocessor_*` on its `/metrics`), a backend worker whose
//! instrumented `generate` endpoint streams tokens from a mock engine over TCP on loopback
//! (`dynamo_component_*` and GPU gauges on its system status server), and a load generator.

pub mod engine;
pub mod frontend;
pub mod load;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dynamo_metrics::builtin::{FrontendMetrics, ModelLabels, PreprocessorMetrics};
use dynamo_metrics::{DistributedRuntime, DynamoMetrics, RuntimeConfig, SystemServerConfig};
use tokio::net::TcpListener;

pub use engine::EngineTimings;

/// How to run the demo.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Address of the frontend and the status server.
    pub host: IpAddr,
    /// The frontend's port (`0`: any free port).
    pub frontend_port: u16,
    /// The worker's status server (`0`: any free port).
    pub system_port: u16,
    /// Model names served (lower-cased).
    pub models: Vec<String>,
    /// The mock engine's delays.
    pub timings: EngineTimings,
    /// The worker runtime's settings from the environment (GPU gauges, namespace, ...).
    pub runtime: RuntimeConfig,
    /// The web configuration file of the worker's status server: TLS, client certificates,
    /// basic auth (see `SystemServerConfig::web_config_file`).
    pub web_config_file: Option<std::path::PathBuf>,
}

/// A running demo.
pub struct Demo {
    /// The frontend's address.
    pub frontend: SocketAddr,
    /// The worker's status server address.
    pub system: SocketAddr,
    /// The worker's runtime.
    pub worker_runtime: DistributedRuntime,
    /// The frontend's runtime.
    pub frontend_runtime: DistributedRuntime,
    /// Tells the frontend's listener to stop accepting and drain.
    stop_frontend: tokio::sync::watch::Sender<bool>,
    frontend_task: tokio::task::JoinHandle<()>,
    worker_task: tokio::task::JoinHandle<()>,
}

impl Demo {
    /// Stops gracefully: both runtimes report not ready at once, the frontend stops accepting
    /// and lets requests and streams in flight finish within the runtime's
    /// `shutdown_timeout` (what is left then is cut, and counted as cancelled), then the
    /// worker's status server drains and stops.
    pub async fn shutdown(self) {
        self.frontend_runtime.set_ready(false);
        self.worker_runtime.set_ready(false);
        let _ = self.stop_frontend.send(true);
        let _ = self.frontend_task.await;
        self.worker_task.abort();
        self.worker_runtime.shutdown().await;
    }
}

/// Starts the worker (first: instrumented endpoints attach to the first runtime), then the
/// frontend.
///
/// # Errors
/// When a port cannot be bound or a metric declaration is refused.
pub async fn start(config: DemoConfig) -> Result<Demo, Box<dyn std::error::Error + Send + Sync>> {
    let mut worker_config = config.runtime.clone();
    let mut system = SystemServerConfig::at((config.host, config.system_port));
    system.web_config_file = config.web_config_file.clone();
    worker_config.system_server = Some(system);
    let worker_runtime = DistributedRuntime::from_config(worker_config).await?;
    let system = worker_runtime
        .system_server_addr()
        .ok_or("the status server did not start")?;
    let (worker_listener, worker) = engine::bind_worker().await?;

    let mut frontend_config = config.runtime.clone();
    frontend_config.system_server = None;
    frontend_config.gpu = None;
    let frontend_runtime = DistributedRuntime::with_config(&frontend_config)?;
    let frontend_metrics = FrontendMetrics::register(&frontend_runtime)?;
    let preprocessor = PreprocessorMetrics::register(&frontend_runtime)?;
    let models: Vec<String> = config.models.iter().map(|m| m.to_lowercase()).collect();
    for m in &models {
        let l = ModelLabels::new(m);
        #[allow(clippy::cast_possible_wrap)]
        frontend_metrics
            .model_context_length
            .set(&l, engine::CONTEXT_LENGTH as i64);
        frontend_metrics
            .model_kv_cache_block_size
            .set(&l, frontend::BLOCK_SIZE as i64);
        frontend_metrics.model_total_kv_blocks.set(&l, 4096);
        frontend_metrics.model_max_num_seqs.set(&l, 256);
    }
    let app = Arc::new(frontend::App {
        runtime: frontend_runtime.clone(),
        frontend: frontend_metrics,
        preprocessor,
        models,
        worker,
        recent_prompts: parking_lot::Mutex::default(),
    });
    let listener = TcpListener::bind(SocketAddr::new(config.host, config.frontend_port)).await?;
    let frontend_addr = listener.local_addr()?;
    let router = frontend::router(app);
    // The frontend's listener: the status server's limits, with room for long generations
    // and many streams at once, and the runtime's shutdown timeout to drain.
    let mut limits = SystemServerConfig::default();
    limits.request_timeout = Duration::from_secs(600);
    limits.max_requests_in_flight = 1024;
    limits.shutdown_grace = config.runtime.shutdown_timeout;
    let (stop_frontend, mut stopped) = tokio::sync::watch::channel(false);
    let serving = frontend_runtime.clone();
    let frontend_task = tokio::spawn(async move {
        let stop = async move {
            let _ = stopped.changed().await;
        };
        if let Err(error) = serving.serve(listener, router, &limits, stop).await {
            tracing::error!(%error, "the frontend cannot serve");
        }
    });
    Ok(Demo {
        frontend: frontend_addr,
        system,
        worker_runtime,
        frontend_runtime,
        stop_frontend,
        frontend_task,
        worker_task: tokio::spawn(engine::serve_worker(worker_listener, config.timings)),
    })
}

/// Default delays: a realistic small model on a busy GPU, scaled down.
pub fn default_timings() -> EngineTimings {
    EngineTimings {
        prefill_base: Duration::from_millis(20),
        prefill_per_token: Duration::from_micros(200),
        inter_token: Duration::from_millis(8),
    }
}
