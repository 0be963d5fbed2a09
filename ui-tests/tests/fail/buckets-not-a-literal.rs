use dynamo_metrics::{DynamoMetrics, Histogram};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Latency
    #[metric(buckets = [0.1, f64::NAN])]
    latency_seconds: Histogram,
}

fn main() {}
