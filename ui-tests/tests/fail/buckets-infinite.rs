use dynamo_metrics::{DynamoMetrics, Histogram};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Latency
    #[metric(buckets = [0.1, 1e400, 1.0])]
    latency_seconds: Histogram,
}

fn main() {}
