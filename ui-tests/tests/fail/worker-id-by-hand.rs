use dynamo_metrics::{DynamoMetrics, IntCounter};

/// A constant `worker_id`: the runtime puts its own id on every series.
#[derive(DynamoMetrics)]
struct Worker {
    /// Requests
    #[metric(const_labels(worker_id = "7"))]
    requests_total: IntCounter,
}

fn main() {}
