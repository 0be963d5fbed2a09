use dynamo_metrics::DynamoMetrics;

#[derive(DynamoMetrics)]
enum Metrics {
    A,
}

fn main() {}
