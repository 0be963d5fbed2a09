use dynamo_metrics::LabelValue;

#[derive(LabelValue)]
enum Status {
    Ok,
    #[label(value = "ok")]
    Fine,
}

fn main() {}
