use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests
    #[metric(name = "__requests_total")]
    requests: IntCounter,
}

fn main() {}
