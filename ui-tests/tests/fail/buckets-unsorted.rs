use dynamo_metrics::{DynamoMetrics, Histogram};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Latency
    #[metric(buckets = [0.1, 1.0, 0.5])]
    latency_seconds: Histogram,
}

fn main() {}
