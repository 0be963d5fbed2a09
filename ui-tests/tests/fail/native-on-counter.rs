use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests handled
    #[metric(native)]
    requests_total: IntCounter,
}

fn main() {}
