use dynamo_metrics::{DynamoMetrics, IntCounterFamily, LabelSet};

#[derive(LabelSet)]
struct Weighted {
    model: String,
    weight: f64,
}

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests handled
    requests_total: IntCounterFamily<Weighted>,
}

fn main() {}
