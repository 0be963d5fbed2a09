use dynamo_metrics::LabelSet;

#[derive(LabelSet)]
struct Labels {
    dynamo_namespace: String,
}

fn main() {}
