use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests handled
    #[metric(const_labels(model = "a", model = "b"))]
    requests_total: IntCounter,
}

fn main() {}
