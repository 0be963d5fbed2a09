use dynamo_metrics::{DynamoMetrics, Histogram};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Latency
    #[metric(striped)]
    latency_seconds: Histogram,
}

fn main() {}
