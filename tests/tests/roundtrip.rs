//! Label values with quotes, backslashes, newlines and non-ASCII text come back unchanged
//! through an independent parser (Python's `prometheus_client`).

use dynamo_metrics::{DistributedRuntime, MetricsRegistry};
use dynamo_metrics_tests::python_parse;
use serde_json::json;

const VALUES: &[&str] = &[
    "plain",
    "say \"hi\"",
    "C:\\path\\to",
    "line one\nline two",
    "\\\"\n\\n",
    "ünïcödé ✓ 模型 🚀",
    "",
    "trailing backslash\\",
    "{braces}, commas=and \"equals\"",
];

#[test]
fn label_values_round_trip_through_python_parser() {
    let rt = DistributedRuntime::new().unwrap();
    let ns = rt.namespace("name \"space\"\\\n✓").unwrap();
    let family = ns
        .create_intcountervec(
            "weird_total",
            "Help with \\ and \"quotes\"\nand newline",
            &["v"],
            &[],
        )
        .unwrap();
    for (i, v) in VALUES.iter().enumerate() {
        family.with_label_values(&[v]).unwrap().inc_by(i as u64 + 1);
    }
    let hist = ns
        .create_histogramvec("weird_seconds", "H", &["v"], &[], Some(&[0.5]))
        .unwrap();
    hist.with_label_values(&["a\"b\\c\nd"])
        .unwrap()
        .observe(0.25);

    let parsed = python_parse(&rt.render());
    // Values as floats: the parser gives integers for some.
    let samples: Vec<serde_json::Value> = parsed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!([s[0], s[1], s[2].as_f64().unwrap()]))
        .collect();
    for (i, v) in VALUES.iter().enumerate() {
        let want = json!(["dynamo_component_weird_total",
            {"dynamo_namespace": "name \"space\"\\\n✓", "v": v}, (i + 1) as f64]);
        assert!(samples.contains(&want), "missing {want} in {parsed:#}");
    }
    let want = json!(["dynamo_component_weird_seconds_bucket",
        {"dynamo_namespace": "name \"space\"\\\n✓", "v": "a\"b\\c\nd", "le": "0.5"}, 1.0]);
    assert!(samples.contains(&want), "missing {want} in {parsed:#}");
    let weird = samples
        .iter()
        .filter(|s| s[0] == "dynamo_component_weird_total")
        .count();
    assert_eq!(weird, VALUES.len());
}
