use dynamo_metrics::{DynamoMetrics, Histogram};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Latency
    #[metric(native(factor = 1.0))]
    latency_seconds: Histogram,
    /// Another latency
    #[metric(native(factor = 1.1, max_buckets = 0))]
    other_seconds: Histogram,
    /// A third
    #[metric(native(growth = 2))]
    third_seconds: Histogram,
}

fn main() {}
