use dynamo_metrics::{DynamoMetrics, IntCounterFamily, LabelSet};

#[derive(LabelSet)]
struct Labels {
    model: String,
}

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests handled
    #[metric(const_labels(model = "llama"))]
    requests_total: IntCounterFamily<Labels>,
}

fn main() {}
