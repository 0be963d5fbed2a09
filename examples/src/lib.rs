//! A small service instrumented with `dynamo-metrics`: a runtime, a namespace, a component
//! and an endpoint, metrics at each level, and simulated requests that move them.
//!
//! The `dynamo-example` binary runs it with the system status server on `:8081`; the
//! end-to-end tests run it in-process on a free port.

pub mod demo;
pub mod reference;

use std::time::Duration;

use dynamo_metrics::{
    DistributedRuntime, Histogram, IntCounter, IntCounterVec, IntGauge, MetricsRegistry, Result,
};

/// The example's metrics, one or more per level of the hierarchy.
#[derive(Clone, Debug)]
pub struct ExampleMetrics {
    /// Namespace level: models served in the namespace.
    pub models: IntGauge,
    /// Component level: a load figure of the component, in per mille.
    pub kv_usage: IntGauge,
    /// Endpoint level: requests handled.
    pub requests: IntCounter,
    /// Endpoint level: requests in flight.
    pub inflight: IntGauge,
    /// Endpoint level: time per request.
    pub duration: Histogram,
    /// Endpoint level: request payload bytes.
    pub request_bytes: IntCounter,
    /// Endpoint level: response payload bytes.
    pub response_bytes: IntCounter,
    /// Endpoint level: errors by type.
    pub errors: IntCounterVec,
}

/// Builds `demo/backend/generate` on `runtime` and creates the example's metrics, plus the
/// `prometheus` crate's process collector at runtime level (where the platform has one).
///
/// # Errors
/// A [`dynamo_metrics::Error`] if a declaration is refused (it is not, unless changed).
pub fn declare(runtime: &DistributedRuntime) -> Result<ExampleMetrics> {
    let namespace = runtime.namespace("demo")?;
    let component = namespace.component("backend")?;
    let endpoint = component.endpoint("generate")?;
    #[cfg(target_os = "linux")]
    runtime.register_collector(Box::new(
        dynamo_metrics::prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    let metrics = ExampleMetrics {
        models: namespace.create_intgauge("models", "Models served in the namespace", &[])?,
        kv_usage: component.create_intgauge(
            "kv_cache_usage_permille",
            "Share of the KV cache in use, in per mille",
            &[],
        )?,
        requests: endpoint.create_intcounter(
            "requests_total",
            "Total number of requests processed by work handler",
            &[],
        )?,
        inflight: endpoint.create_intgauge(
            "inflight_requests",
            "Number of requests currently being processed by work handler",
            &[],
        )?,
        duration: endpoint.create_histogram(
            "request_duration_seconds",
            "Time spent processing requests by work handler",
            &[],
            Some(&[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
        )?,
        request_bytes: endpoint.create_intcounter(
            "request_bytes_total",
            "Total number of bytes received in requests by work handler",
            &[],
        )?,
        response_bytes: endpoint.create_intcounter(
            "response_bytes_total",
            "Total number of bytes sent in responses by work handler",
            &[],
        )?,
        errors: endpoint.create_intcountervec(
            "errors_total",
            "Total number of errors in work handler processing",
            &["error_type"],
            &[],
        )?,
    };
    metrics.models.set(1);
    Ok(metrics)
}

/// One simulated request number `n`: deterministic sizes, durations and the odd error.
pub async fn simulate_request(metrics: &ExampleMetrics, n: u64) -> Result<()> {
    metrics.requests.inc();
    metrics.inflight.inc();
    let prompt = 64 + (n * 37) % 512;
    metrics.request_bytes.inc_by(prompt);
    let millis = 2 + (n * 13) % 40;
    tokio::time::sleep(Duration::from_millis(millis)).await;
    if n.is_multiple_of(17) {
        metrics.errors.with_label_values(&["generate"])?.inc();
    } else {
        metrics.response_bytes.inc_by(prompt * 3);
    }
    #[allow(clippy::cast_precision_loss)]
    metrics.duration.observe(millis as f64 / 1000.0);
    #[allow(clippy::cast_possible_wrap)]
    metrics.kv_usage.set(((n * 7) % 1000) as i64);
    metrics.inflight.dec();
    Ok(())
}

/// Simulates requests, `concurrency` at a time, until the task is dropped.
pub async fn drive(metrics: ExampleMetrics, concurrency: u64) {
    let mut n = 0u64;
    loop {
        let batch: Vec<_> = (0..concurrency)
            .map(|i| {
                let m = metrics.clone();
                tokio::spawn(async move { simulate_request(&m, n + i).await })
            })
            .collect();
        for task in batch {
            if let Ok(Err(error)) = task.await {
                tracing::warn!(%error, "simulated request failed");
            }
        }
        n += concurrency;
    }
}
