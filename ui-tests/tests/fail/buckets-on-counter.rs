use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests handled
    #[metric(buckets = [1.0, 2.0])]
    requests_total: IntCounter,
}

fn main() {}
