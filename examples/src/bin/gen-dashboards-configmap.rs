//! Writes `deploy/k8s/grafana-dashboards.yaml`, the dashboards as a ConfigMap for Grafana's
//! sidecar: `cargo run -p dynamo-examples --bin gen-dashboards-configmap`.

fn main() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = root.join("deploy/k8s/grafana-dashboards.yaml");
    std::fs::write(
        &out,
        dynamo_examples::reference::dashboards_configmap(&root)?,
    )?;
    println!("wrote {}", out.display());
    Ok(())
}
