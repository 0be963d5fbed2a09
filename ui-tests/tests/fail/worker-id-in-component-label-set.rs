use dynamo_metrics::{DynamoMetrics, IntGaugeFamily, LabelSet};

#[derive(LabelSet)]
struct Worker {
    worker_id: String,
}

/// A component's metrics cannot name workers: the runtime puts its own id on them.
#[derive(DynamoMetrics)]
#[metrics(level = "component")]
struct Component {
    /// Load by worker
    load: IntGaugeFamily<Worker>,
}

fn main() {}
