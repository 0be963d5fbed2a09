use dynamo_metrics::instrument_endpoint;

trait Handler {
    #[instrument_endpoint(component = "backend", endpoint = "generate")]
    fn generate(&self, prompt: String) -> String;
}

struct Engine;

impl Handler for Engine {
    fn generate(&self, prompt: String) -> String {
        prompt
    }
}

fn main() {
    let _ = Engine.generate(String::new());
}
