use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests handled
    #[metric(help = "a", help = "b")]
    requests_total: IntCounter,
}

fn main() {}
