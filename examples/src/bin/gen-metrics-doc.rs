//! Writes `docs/metrics.md` from the catalog: `cargo run -p dynamo-examples --bin gen-metrics-doc`.

fn main() -> std::io::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/metrics.md");
    std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")))?;
    std::fs::write(&path, dynamo_examples::reference::markdown())?;
    println!("wrote {}", path.display());
    Ok(())
}
