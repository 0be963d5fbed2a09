use dynamo_metrics::LabelSet;

#[derive(LabelSet)]
struct NoLabels {}

fn main() {}
