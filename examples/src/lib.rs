//! A small service instrumented with `dynamo-metrics`: a runtime, a namespace, a component
//! and an endpoint, metrics at each level, and simulated requests that move them.
//!
//! The `dynamo-example` binary runs it with the system status server on `:8081`; the
//! end-to-end tests run it in-process on a free port.

pub mod demo;
pub mod reference;

use std::time::Duration;

use dynamo_metrics::{DistributedRuntime, EndpointMetrics, IntGauge, MetricsRegistry, Result};

/// The example's metrics, one or more per level of the hierarchy.
#[derive(Clone, Debug)]
pub struct ExampleMetrics {
    /// Namespace level: models served in the namespace.
    pub models: IntGauge,
    /// Component level: a load figure of the component, in per mille.
    pub kv_usage: IntGauge,
    /// Endpoint level: the built-in request metrics (requests, duration, in flight, bytes,
    /// errors, cancellations), recorded by hand as a handler without the macro would.
    pub requests: EndpointMetrics,
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
        requests: EndpointMetrics::register(&endpoint)?,
    };
    metrics.models.set(1);
    Ok(metrics)
}

/// One simulated request number `n`: deterministic sizes, durations and the odd error.
pub async fn simulate_request(metrics: &ExampleMetrics, n: u64) {
    let request = metrics.requests.start();
    let prompt = 64 + (n * 37) % 512;
    request.request_bytes(prompt);
    let millis = 2 + (n * 13) % 40;
    tokio::time::sleep(Duration::from_millis(millis)).await;
    if n.is_multiple_of(17) {
        request.error("generate");
    } else {
        request.response_bytes(prompt * 3);
    }
    #[allow(clippy::cast_possible_wrap)]
    metrics.kv_usage.set(((n * 7) % 1000) as i64);
    request.finish();
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
            let _ = task.await;
        }
        n += concurrency;
    }
}
