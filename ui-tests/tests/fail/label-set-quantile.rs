use dynamo_metrics::LabelSet;

#[derive(LabelSet)]
struct Labels {
    quantile: String,
}

fn main() {}
