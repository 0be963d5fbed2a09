//! `f64::INFINITY` may end a list of bounds, as client_golang allows: it is the `+Inf` bucket
//! every histogram has, and is not added twice.

use dynamo_metrics::{DistributedRuntime, DynamoMetrics, Histogram};

#[derive(DynamoMetrics)]
#[metrics(level = "runtime")]
struct Metrics {
    /// Latency
    #[metric(buckets = [0.1, 1.0, f64::INFINITY])]
    latency_seconds: Histogram,
    /// Wait
    #[metric(buckets = [0.5, std::f64::INFINITY])]
    wait_seconds: Histogram,
}

fn main() {
    let runtime = DistributedRuntime::with_config(&dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off)).unwrap();
    let metrics = Metrics::register(&runtime).unwrap();
    metrics.latency_seconds.observe(5.0);
    let text = runtime.render();
    let inf = "dynamo_component_latency_seconds_bucket{le=\"+Inf\"} 1\n";
    assert_eq!(text.matches("dynamo_component_latency_seconds_bucket{le=\"+Inf\"}").count(), 1);
    assert!(text.contains(inf), "{text}");
    assert!(text.contains("dynamo_component_wait_seconds_bucket{le=\"0.5\"} 0\n"), "{text}");
}
