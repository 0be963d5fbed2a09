use dynamo_metrics::instrument_endpoint;

#[instrument_endpoint(component = "back end", endpoint = "generate")]
fn generate() -> u32 {
    1
}

fn main() {}
