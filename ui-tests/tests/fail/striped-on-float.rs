use dynamo_metrics::{Counter, DynamoMetrics};

#[derive(DynamoMetrics)]
struct Metrics {
    /// Seconds of work
    #[metric(striped)]
    work_seconds_total: Counter,
}

fn main() {}
