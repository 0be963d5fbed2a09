use dynamo_metrics::{DynamoMetrics, Histogram};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Latency
    #[metric(buckets = [0.1, f64::INFINITY, 1.0])]
    latency_seconds: Histogram,
}

fn main() {}
