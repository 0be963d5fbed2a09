use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests handled
    #[metric(const_labels(dynamo_endpoint = "generate"))]
    requests_total: IntCounter,
}

fn main() {}
