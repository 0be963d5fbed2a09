use dynamo_metrics::{DynamoMetrics, IntCounter};

#[derive(DynamoMetrics)]
struct Metrics {
    #[metric(help = "  ")]
    requests_total: IntCounter,
}

fn main() {}
