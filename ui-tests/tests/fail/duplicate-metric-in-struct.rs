use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests handled
    requests_total: IntCounter,
    /// Requests again
    #[metric(name = "requests_total")]
    again: IntCounter,
}

fn main() {}
