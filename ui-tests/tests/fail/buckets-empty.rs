use dynamo_metrics::{DynamoMetrics, Histogram};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Latency
    #[metric(buckets = [])]
    latency_seconds: Histogram,
}

fn main() {}
