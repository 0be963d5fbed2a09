use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
#[metrics(subsystem = "front-end")]
struct Metrics {
    /// Requests handled
    requests_total: IntCounter,
}

fn main() {}
