//! The mock engine's own metrics, as an inference engine exports them: vLLM's names, written
//! by a real Prometheus client library (the `prometheus` crate) on the engine's own `/metrics`,
//! which the worker relays on its status port with its labels (`RelaySource`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// vLLM's metrics of one engine.
pub struct EngineMetrics {
    registry: Registry,
    running: IntGaugeVec,
    waiting: IntGaugeVec,
    kv_cache_usage: GaugeVec,
    prompt_tokens: IntCounterVec,
    generation_tokens: IntCounterVec,
    time_to_first_token: HistogramVec,
    e2e_latency: HistogramVec,
    success: IntCounterVec,
}

/// vLLM's latency buckets, in seconds.
const LATENCY: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

impl EngineMetrics {
    /// The engine's families, every model's series at zero.
    ///
    /// # Panics
    /// Never with these names and labels (the `prometheus` crate validates them).
    #[must_use]
    pub fn new(models: &[String]) -> Self {
        let registry = Registry::new();
        let model = &["model_name"];
        let gauge = |name: &str, help: &str| {
            let g = IntGaugeVec::new(Opts::new(name, help), model).expect("a valid gauge");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let histogram = |name: &str, help: &str| {
            let opts = HistogramOpts::new(name, help).buckets(LATENCY.to_vec());
            let h = HistogramVec::new(opts, model).expect("a valid histogram");
            registry
                .register(Box::new(h.clone()))
                .expect("registered once");
            h
        };
        let kv_cache_usage = GaugeVec::new(
            Opts::new(
                "vllm:kv_cache_usage_perc",
                "KV-cache usage. 1 means 100 percent usage.",
            ),
            model,
        )
        .expect("a valid gauge");
        registry
            .register(Box::new(kv_cache_usage.clone()))
            .expect("registered once");
        let metrics = EngineMetrics {
            running: gauge(
                "vllm:num_requests_running",
                "Number of requests in model execution batches.",
            ),
            waiting: gauge(
                "vllm:num_requests_waiting",
                "Number of requests waiting to be processed.",
            ),
            kv_cache_usage,
            prompt_tokens: counter(
                "vllm:prompt_tokens_total",
                "Number of prefill tokens processed.",
                model,
            ),
            generation_tokens: counter(
                "vllm:generation_tokens_total",
                "Number of generation tokens processed.",
                model,
            ),
            time_to_first_token: histogram(
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
            ),
            e2e_latency: histogram(
                "vllm:e2e_request_latency_seconds",
                "Histogram of e2e request latency in seconds.",
            ),
            success: counter(
                "vllm:request_success_total",
                "Count of successfully processed requests.",
                &["model_name", "finished_reason"],
            ),
            registry,
        };
        for m in models {
            metrics.running.with_label_values(&[m]);
            metrics.waiting.with_label_values(&[m]);
            metrics.kv_cache_usage.with_label_values(&[m]);
            metrics.prompt_tokens.with_label_values(&[m]);
            metrics.generation_tokens.with_label_values(&[m]);
            metrics.time_to_first_token.with_label_values(&[m]);
            metrics.e2e_latency.with_label_values(&[m]);
            metrics.success.with_label_values(&[m, "length"]);
        }
        metrics
    }

    /// The exposition, text 0.0.4, as the engine serves it.
    #[must_use]
    pub fn text(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Sets the KV cache usage of `model` (0 to 1).
    pub fn kv_cache_usage(&self, model: &str, usage: f64) {
        self.kv_cache_usage.with_label_values(&[model]).set(usage);
    }

    /// A request of `model` with `prompt_tokens` starts running.
    #[must_use]
    pub fn start(self: &Arc<Self>, model: &str, prompt_tokens: usize) -> RequestRecord {
        self.running.with_label_values(&[model]).inc();
        self.prompt_tokens
            .with_label_values(&[model])
            .inc_by(prompt_tokens as u64);
        RequestRecord {
            metrics: self.clone(),
            model: model.to_owned(),
            started: Instant::now(),
            tokens: 0,
        }
    }
}

/// One running request: its tokens as they come, its end when dropped.
pub struct RequestRecord {
    metrics: Arc<EngineMetrics>,
    model: String,
    started: Instant,
    tokens: u64,
}

impl RequestRecord {
    /// A token was generated.
    pub fn token(&mut self) {
        if self.tokens == 0 {
            self.metrics
                .time_to_first_token
                .with_label_values(&[&self.model])
                .observe(self.started.elapsed().as_secs_f64());
        }
        self.tokens += 1;
        self.metrics
            .generation_tokens
            .with_label_values(&[&self.model])
            .inc();
    }
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        let m = &self.metrics;
        m.running.with_label_values(&[&self.model]).dec();
        m.e2e_latency
            .with_label_values(&[&self.model])
            .observe(self.started.elapsed().as_secs_f64());
        m.success.with_label_values(&[&self.model, "length"]).inc();
    }
}

/// Serves `GET /metrics` of `metrics` on a loopback port, as an engine does; its address.
///
/// # Errors
/// The operating system's, when no port can be bound.
pub async fn serve(metrics: Arc<EngineMetrics>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move { metrics.text() }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}
