use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
#[metrics(subsytem = "frontend")]
struct Metrics {
    /// Requests handled
    requests_total: IntCounter,
}

fn main() {}
