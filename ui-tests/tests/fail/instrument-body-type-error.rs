use dynamo_metrics::instrument_endpoint;

#[instrument_endpoint(component = "backend", endpoint = "generate")]
async fn generate(prompt: String) -> Result<String, std::io::Error> {
    let n: u32 = prompt.len();
    Ok(n.to_string())
}

fn main() {}
