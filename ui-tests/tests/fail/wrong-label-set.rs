use dynamo_metrics::{DynamoMetrics, IntCounterFamily, LabelSet, LabelValue};

#[derive(LabelValue)]
enum Status {
    Ok,
}

#[derive(LabelSet)]
struct ByStatus {
    status: Status,
}

#[derive(LabelSet)]
struct ByModel {
    model: String,
}

#[derive(DynamoMetrics)]
struct Metrics {
    /// Requests handled
    requests_total: IntCounterFamily<ByStatus>,
}

fn record(m: &Metrics) {
    m.requests_total.inc(&ByModel { model: "llama".into() });
}

fn main() {}
