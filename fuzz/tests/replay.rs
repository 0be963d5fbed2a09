//! Every seed (`seeds/<target>/`) and every input a fuzzer found (`regressions/<target>/`)
//! through its target, on stable: what `.ci/run` runs where no nightly toolchain is, and
//! what keeps each crash found fixed.

use std::path::Path;

#[test]
fn every_seed_and_regression_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut ran = 0;
    for (name, target) in dynamo_metrics_fuzz::TARGETS {
        for folder in ["seeds", "regressions"] {
            let Ok(inputs) = std::fs::read_dir(root.join(folder).join(name)) else {
                continue;
            };
            for input in inputs {
                let path = input.expect("a folder entry").path();
                let data = std::fs::read(&path).expect("an input");
                eprintln!("{name}: {}", path.display());
                target(&data);
                ran += 1;
            }
        }
    }
    assert!(ran >= dynamo_metrics_fuzz::TARGETS.len(), "{ran} inputs");
}

#[test]
fn the_http_target_reaches_the_routes() {
    let answer = dynamo_metrics_fuzz::http_answer(
        b"GET /metrics?name[]=dynamo_component_requests_total HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(
        answer.contains("dynamo_component_requests_total{"),
        "{answer}"
    );
    assert!(!answer.contains("dynamo_component_load"), "{answer}");
}
