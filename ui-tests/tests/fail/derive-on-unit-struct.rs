use dynamo_metrics::DynamoMetrics;

#[derive(DynamoMetrics)]
struct Metrics;

fn main() {}
