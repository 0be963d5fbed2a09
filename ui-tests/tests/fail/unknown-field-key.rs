use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests handled
    #[metric(nmae = "requests_total")]
    requests_total: IntCounter,
}

fn main() {}
