use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
#[metrics(subsystem = "a")]
#[metrics(subsystem = "b")]
struct Metrics {
    /// Requests handled
    #[metric(name = "one_total")]
    #[metric(name = "two_total")]
    requests_total: IntCounter,
}

fn main() {}
