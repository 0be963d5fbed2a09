use dynamo_metrics::DynamoMetrics;

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests handled
    requests_total: u64,
}

fn main() {}
