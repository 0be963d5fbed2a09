use dynamo_metrics::{DynamoMetrics, Histogram};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Latency
    #[metric(const_labels(le = "1"))]
    latency_seconds: Histogram,
}

fn main() {}
