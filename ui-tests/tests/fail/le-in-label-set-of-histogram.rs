use dynamo_metrics::{DynamoMetrics, HistogramFamily, LabelSet};

#[derive(LabelSet)]
struct Labels {
    le: String,
}

#[derive(DynamoMetrics)]
struct Metrics {
    /// Latency
    latency_seconds: HistogramFamily<Labels>,
}

fn main() {}
