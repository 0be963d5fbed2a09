use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
#[metrics(level = "cluster")]
struct Metrics {
    /// Requests handled
    requests_total: IntCounter,
}

fn main() {}
