use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests handled
    requests: IntCounter,
}

fn main() {}
