//! Runs the example service: metrics at every level of the hierarchy, moved by simulated
//! requests, served on the system status server (`DYN_SYSTEM_PORT`, default 8081).
//!
//! ```text
//! cargo run --release -p dynamo-examples --bin dynamo-example
//! curl localhost:8081/metrics
//! ```

use dynamo_metrics::{DistributedRuntime, RuntimeConfig, SystemServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut config = RuntimeConfig::from_env()?;
    if config.system_server.is_none() {
        config.system_server = Some(SystemServerConfig::default());
    }
    let runtime = DistributedRuntime::from_config(config).await?;
    let metrics = dynamo_examples::declare(&runtime)?;
    let driver = tokio::spawn(dynamo_examples::drive(metrics, 4));
    if let Some(addr) = runtime.system_server_addr() {
        tracing::info!("serving http://{addr}/metrics, /health and /live; Ctrl-C stops");
    }
    tokio::signal::ctrl_c().await?;
    driver.abort();
    runtime.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}
