//! The demo: an OpenAI-compatible frontend with a preprocessor and a KV-aware router, and
//! streaming mock workers with KV caches, all instrumented with dynamo-metrics, and an
//! optional load generator.
//!
//! ```text
//! cargo run --release -p dynamo-examples --bin dynamo-demo -- --load 8
//! curl localhost:8080/metrics; curl localhost:8081/metrics; curl localhost:8082/metrics
//! ```

use std::time::Duration;

use dynamo_examples::demo::{self, DemoConfig, EngineTimings};
use dynamo_metrics::RuntimeConfig;

const HELP: &str = "dynamo-demo: a Dynamo-shaped deployment that lights every built-in metric up

USAGE: dynamo-demo [OPTIONS]

OPTIONS:
  --host ADDR              address of the frontend and the status server [env DYN_HTTP_HOST, default 0.0.0.0]
  --port PORT              frontend port: /v1/chat/completions, /v1/completions, /v1/models, /metrics
                           [env DYN_HTTP_PORT, default 8080]
  --system-port PORT       first worker's status server: /metrics, /health, /live; worker N listens on
                           PORT+N (8081, 8082, ...) [env DYN_SYSTEM_PORT, default 8081]
  --workers N              mock workers behind the KV-aware router, each with its own status server
                           and worker_id [env DYN_DEMO_WORKERS, default 2]
  --web-config-file PATH   TLS, client certificates and basic auth of the status server, in the
                           Prometheus exporter toolkit's format [env DYN_SYSTEM_WEB_CONFIG_FILE]
  --models A,B             models served [env DYN_DEMO_MODELS, default mock-llama,mock-qwen]
  --relay URL              another exposition (http://host:port/path) each worker relays on its status
                           port, beside its engine's own vllm: metrics; repeatable
                           [env DYN_DEMO_RELAY, URLs separated by commas]
  --prefill-ms MS          fixed prefill delay of the mock engine [default 20]
  --prefill-us-per-token US  prefill delay per input token [default 200]
  --itl-ms MS              delay between output tokens [default 8]
  --load N                 run the load generator with N concurrent clients, print a summary, keep serving
  --requests M             requests the load generator sends [default 200]
  --help                   this text

Other variables: DYN_NAMESPACE, DYN_WORKER_ID (a base id: worker N gets ID-N; `off` for none),
DYN_METRICS_ENDPOINT_LABELS, DYN_GPU_METRICS, DYN_GPU_DCGM_COMPAT, DYN_GPU_SAMPLE_INTERVAL_MS,
DYN_METRICS_{REQUEST_DURATION,INPUT_SEQUENCE,OUTPUT_SEQUENCE,TTFT,ITL}_{MIN,MAX,COUNT},
DYN_METRICS_MAX_SERIES, DYN_METRICS_RENAME, DYN_METRICS_CONST_LABELS, DYN_METRICS_TOKIO,
DYN_SHUTDOWN_TIMEOUT_SECS; OTEL_METRICS_EXPORTER=otlp and the OTEL_EXPORTER_OTLP_* variables
push every runtime's metrics to an OTLP receiver.
The tokenizer is a deterministic whitespace tokenizer, not a real vocabulary.
SIGINT (Ctrl-C) or SIGTERM stops gracefully: /health turns 503 at once, requests and streams in
flight finish within DYN_SHUTDOWN_TIMEOUT_SECS (default 30), then it exits 0.";

struct Args {
    config: DemoConfig,
    load: Option<usize>,
    requests: u64,
}

fn parse() -> Result<Option<Args>, String> {
    let env = |k: &str| std::env::var(k).ok();
    let runtime = RuntimeConfig::from_env().map_err(|e| e.to_string())?;
    let mut config = DemoConfig {
        host: env("DYN_HTTP_HOST")
            .unwrap_or_else(|| "0.0.0.0".into())
            .parse()
            .map_err(|_| "DYN_HTTP_HOST: expected an IP address")?,
        frontend_port: env("DYN_HTTP_PORT")
            .map_or(Ok(8080), |p| p.parse())
            .map_err(|_| "DYN_HTTP_PORT: expected a port")?,
        system_port: runtime.system_server.as_ref().map_or(8081, |s| s.port),
        workers: env("DYN_DEMO_WORKERS")
            .map_or(Ok(2), |n| n.parse())
            .map_err(|_| "DYN_DEMO_WORKERS: expected a whole number")?,
        models: env("DYN_DEMO_MODELS")
            .unwrap_or_else(|| "mock-llama,mock-qwen".into())
            .split(',')
            .map(str::to_owned)
            .collect(),
        timings: demo::default_timings(),
        web_config_file: env("DYN_SYSTEM_WEB_CONFIG_FILE")
            .filter(|f| !f.is_empty())
            .map(Into::into),
        relays: env("DYN_DEMO_RELAY")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect(),
        runtime,
    };
    let (mut load, mut requests) = (None, 200);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value (see --help)"))?;
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: expected a whole number, got {v:?}"))
        };
        match flag.as_str() {
            "--host" => {
                config.host = value
                    .parse()
                    .map_err(|_| format!("--host: expected an IP address, got {value:?}"))?
            }
            "--port" => {
                config.frontend_port = value
                    .parse()
                    .map_err(|_| format!("--port: expected a port, got {value:?}"))?
            }
            "--system-port" => {
                config.system_port = value
                    .parse()
                    .map_err(|_| format!("--system-port: expected a port, got {value:?}"))?
            }
            "--web-config-file" => config.web_config_file = Some(value.into()),
            "--workers" => {
                config.workers = usize::try_from(num(&value)?)
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or("--workers: expected 1 to 64")?
            }
            "--models" => config.models = value.split(',').map(str::to_owned).collect(),
            "--relay" => config.relays.push(value),
            "--prefill-ms" => config.timings.prefill_base = Duration::from_millis(num(&value)?),
            "--prefill-us-per-token" => {
                config.timings.prefill_per_token = Duration::from_micros(num(&value)?)
            }
            "--itl-ms" => config.timings.inter_token = Duration::from_millis(num(&value)?),
            "--load" => {
                load = Some(usize::try_from(num(&value)?).map_err(|_| "--load: too large")?)
            }
            "--requests" => requests = num(&value)?,
            _ => return Err(format!("unknown option {flag} (see --help)")),
        }
    }
    let EngineTimings { .. } = config.timings;
    Ok(Some(Args {
        config,
        load,
        requests,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = match parse() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{HELP}");
            return Ok(());
        }
        Err(e) => {
            eprintln!("dynamo-demo: {e}");
            std::process::exit(2);
        }
    };
    let model = args.config.models.first().cloned().unwrap_or_default();
    let demo = match demo::start(args.config).await {
        Ok(demo) => demo,
        Err(e) => {
            eprintln!("dynamo-demo: {e}");
            std::process::exit(1);
        }
    };
    tracing::info!(
        "frontend http://{}/v1/chat/completions (metrics on /metrics); worker status {}; Ctrl-C or SIGTERM stops",
        demo.frontend,
        demo.workers
            .iter()
            .map(|(_, addr)| format!("http://{addr}/metrics"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(concurrency) = args.load {
        let target = std::net::SocketAddr::new([127, 0, 0, 1].into(), demo.frontend.port());
        let summary = demo::load::run(target, model, concurrency, args.requests).await;
        println!("{summary}");
    }
    // SIGINT or SIGTERM (what Kubernetes sends): not ready at once, drain, exit 0.
    demo.frontend_runtime.shutdown_signal().await;
    demo.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}
