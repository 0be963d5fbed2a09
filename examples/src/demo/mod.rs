//! A small Dynamo-shaped deployment in one process: an OpenAI-compatible frontend
//! (`dynamo_frontend_*`, `dynamo_preprocessor_*`, `dynamo_router_*` and the router's
//! `dynamo_component_*` on its `/metrics`) with a KV-aware router, backend workers whose
//! instrumented `generate` endpoint streams tokens from a mock engine with a KV cache over TCP
//! on loopback (`dynamo_component_*` with `model` and the worker's `worker_id`, and GPU gauges,
//! each on its own system status server; each engine's own vLLM-named metrics relayed there),
//! and a load generator.

pub mod engine;
pub mod engine_metrics;
pub mod frontend;
pub mod kv;
pub mod load;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dynamo_metrics::builtin::router::{
    KvIndexerMetrics, KvStatsMetrics, RouterLabels, RouterOverheadMetrics, RouterRequestMetrics,
};
use dynamo_metrics::builtin::{
    FrontendMetrics, ModelLabels, PreprocessorMetrics, WorkerLabels, WorkerType,
};
use dynamo_metrics::{
    DistributedRuntime, DynamoMetrics, MetricsRegistry, RelaySource, RuntimeConfig,
    SystemServerConfig, WorkerId,
};
use tokio::net::TcpListener;

pub use engine::EngineTimings;

/// How to run the demo.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Address of the frontend and the status server.
    pub host: IpAddr,
    /// The frontend's port (`0`: any free port).
    pub frontend_port: u16,
    /// The first worker's status server; the others follow it (`0`: any free ports).
    pub system_port: u16,
    /// How many workers the router spreads requests over.
    pub workers: usize,
    /// Model names served (lower-cased).
    pub models: Vec<String>,
    /// The mock engine's delays.
    pub timings: EngineTimings,
    /// The worker runtime's settings from the environment (GPU gauges, namespace, ...).
    pub runtime: RuntimeConfig,
    /// The web configuration file of the worker's status server: TLS, client certificates,
    /// basic auth (see `SystemServerConfig::web_config_file`).
    pub web_config_file: Option<std::path::PathBuf>,
    /// Other expositions (`http://host:port/path`) each worker relays on its status port, at
    /// its `generate` endpoint, besides its engine's own.
    pub relays: Vec<String>,
}

/// A running demo.
pub struct Demo {
    /// The frontend's address.
    pub frontend: SocketAddr,
    /// The first worker's status server address.
    pub system: SocketAddr,
    /// The first worker's runtime.
    pub worker_runtime: DistributedRuntime,
    /// Every worker: its runtime and status server address.
    pub workers: Vec<(DistributedRuntime, SocketAddr)>,
    /// The frontend's runtime.
    pub frontend_runtime: DistributedRuntime,
    /// Tells the frontend's listener to stop accepting and drain.
    stop_frontend: tokio::sync::watch::Sender<bool>,
    frontend_task: tokio::task::JoinHandle<()>,
    worker_tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Demo {
    /// Stops gracefully: both runtimes report not ready at once, the frontend stops accepting
    /// and lets requests and streams in flight finish within the runtime's
    /// `shutdown_timeout` (what is left then is cut, and counted as cancelled), then the
    /// worker's status server drains and stops; runtimes that export over OTLP send a last
    /// export.
    pub async fn shutdown(self) {
        self.frontend_runtime.set_ready(false);
        for (runtime, _) in &self.workers {
            runtime.set_ready(false);
        }
        let _ = self.stop_frontend.send(true);
        let _ = self.frontend_task.await;
        for task in &self.worker_tasks {
            task.abort();
        }
        for (runtime, _) in &self.workers {
            runtime.shutdown().await;
        }
        // Its last OTLP export, if it exports.
        self.frontend_runtime.shutdown().await;
    }
}

/// Starts the workers (each its own runtime, status server and `worker_id`; calls of the
/// instrumented `generate` are recorded by the runtime whose task serves them), then the
/// frontend with its router.
///
/// # Errors
/// When a port cannot be bound or a metric declaration is refused.
pub async fn start(config: DemoConfig) -> Result<Demo, Box<dyn std::error::Error + Send + Sync>> {
    let models: Vec<String> = config.models.iter().map(|m| m.to_lowercase()).collect();
    let (events, mut event_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut workers = Vec::new();
    let mut worker_tasks = Vec::new();
    let mut addrs = Vec::new();
    let mut worker_labels = Vec::new();
    for index in 0..config.workers.max(1) {
        let mut worker_config = config.runtime.clone();
        let port = match config.system_port {
            0 => 0,
            first => first
                .checked_add(u16::try_from(index)?)
                .ok_or("no port left for the workers' status servers")?,
        };
        let mut system = SystemServerConfig::at((config.host, port));
        system.web_config_file = config.web_config_file.clone();
        worker_config.system_server = Some(system);
        // A fixed id names the deployment: each worker adds its index.
        if let WorkerId::Fixed(id) = &config.runtime.worker_id {
            worker_config.worker_id = WorkerId::Fixed(format!("{id}-{index}"));
        }
        let runtime = DistributedRuntime::from_config(worker_config).await?;
        let system = runtime
            .system_server_addr()
            .ok_or("the status server did not start")?;
        for m in &models {
            runtime.prepare_endpoint_labels(&[("model", m)])?;
        }
        let component = runtime
            .namespace(&config.runtime.namespace)?
            .component("backend")?;
        // The engine's own metrics on its own port, relayed at the worker's `generate`
        // endpoint as Dynamo relays vLLM's; then any other exposition asked for.
        let vllm = Arc::new(engine_metrics::EngineMetrics::new(&models));
        let engine_addr = engine_metrics::serve(vllm.clone()).await?;
        let generate = component.endpoint("generate")?;
        generate.relay(
            RelaySource::url("vllm", &format!("http://{engine_addr}/metrics"))?
                .keep_prefixes(&["vllm:"]),
        )?;
        for (i, url) in config.relays.iter().enumerate() {
            generate.relay(RelaySource::url(&format!("relay-{i}"), url)?)?;
        }
        let engine = Arc::new(engine::Engine {
            index,
            timings: config.timings,
            cache: parking_lot::Mutex::new(kv::KvCache::new(engine::KV_BLOCKS)),
            events: events.clone(),
            stats: KvStatsMetrics::register(&component)?,
            vllm,
        });
        for m in &models {
            engine.report_cache(m);
        }
        let (listener, addr) = engine::bind_worker().await?;
        worker_tasks.push(tokio::spawn(
            runtime.scope(engine::serve_worker(listener, engine)),
        ));
        worker_labels.push(WorkerLabels {
            worker_id: runtime.worker_id().unwrap_or("none").to_owned(),
            dp_rank: "0".to_owned(),
            worker_type: WorkerType::Decode,
        });
        addrs.push(addr);
        workers.push((runtime, system));
    }

    let mut frontend_config = config.runtime.clone();
    frontend_config.system_server = None;
    frontend_config.gpu = None;
    // The frontend is not a worker: its per-worker gauges name the workers by their ids.
    frontend_config.worker_id = WorkerId::Off;
    let frontend_runtime = DistributedRuntime::with_config(&frontend_config)?;
    // Workers start their export with their runtime (`from_config`); the frontend has no
    // status server to start, so it starts its own.
    if let Some(otlp) = &frontend_config.otlp {
        frontend_runtime.start_otlp_export(otlp)?;
    }
    let frontend_metrics = FrontendMetrics::register(&frontend_runtime)?;
    let preprocessor = PreprocessorMetrics::register(&frontend_runtime)?;
    for m in &models {
        frontend_metrics.serve_model(m);
        let l = ModelLabels::new(m);
        #[allow(clippy::cast_possible_wrap)]
        {
            frontend_metrics
                .model_context_length
                .set(&l, engine::CONTEXT_LENGTH as i64);
            frontend_metrics
                .model_kv_cache_block_size
                .set(&l, kv::BLOCK_SIZE as i64);
            frontend_metrics
                .model_total_kv_blocks
                .set(&l, engine::KV_BLOCKS as i64);
        }
        frontend_metrics.model_max_num_seqs.set(&l, 256);
    }
    for w in &worker_labels {
        frontend_metrics.worker_active_decode_blocks.set(w, 0);
        frontend_metrics.worker_active_prefill_tokens.set(w, 0);
    }
    let router_component = frontend_runtime
        .namespace(&config.runtime.namespace)?
        .component("router")?;
    let index = Arc::new(parking_lot::Mutex::new(kv::KvIndex::default()));
    let indexer = KvIndexerMetrics::register(&router_component)?;
    let applying = index.clone();
    tokio::spawn(async move {
        while let Some((worker, event)) = event_rx.recv().await {
            kv::apply(&mut applying.lock(), &indexer, worker, &event);
        }
    });
    let router = frontend::KvRouter {
        load: parking_lot::Mutex::new(vec![0; addrs.len()]),
        workers: addrs,
        worker_labels,
        index,
        overhead: RouterOverheadMetrics::register(&frontend_runtime)?,
        requests: RouterRequestMetrics::register(&router_component)?,
        id: RouterLabels {
            router_id: "0".to_owned(),
        },
    };
    router.requests.add_router(&router.id);
    router.overhead.add_router(&router.id);
    let app = Arc::new(frontend::App {
        runtime: frontend_runtime.clone(),
        frontend: frontend_metrics,
        preprocessor,
        models,
        router,
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
    let (worker_runtime, system) = workers[0].clone();
    Ok(Demo {
        frontend: frontend_addr,
        system,
        worker_runtime,
        workers,
        frontend_runtime,
        stop_frontend,
        frontend_task,
        worker_tasks,
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
