use dynamo_metrics::{DynamoMetrics, IntGauge};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests in flight
    inflight_total: IntGauge,
}

fn main() {}
