use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests
    #[metric(name = "bad-name_total")]
    requests: IntCounter,
}

fn main() {}
