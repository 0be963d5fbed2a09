use dynamo_metrics::LabelSet;

#[derive(LabelSet)]
struct Labels(String);

fn main() {}
