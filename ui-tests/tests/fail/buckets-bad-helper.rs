use dynamo_metrics::{DynamoMetrics, Histogram};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Latency
    #[metric(buckets = exponential(0.0, 2, 10))]
    latency_seconds: Histogram,
}

fn main() {}
