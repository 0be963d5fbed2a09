use dynamo_metrics::{DynamoMetrics, IntCounter, IntGauge, Histogram};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests handled
    requests: IntCounter,
    inflight_requests: IntGauge,
    /// Latency
    #[metric(buckets = [2.0, 1.0])]
    latency_seconds: Histogram,
}

fn main() {}
