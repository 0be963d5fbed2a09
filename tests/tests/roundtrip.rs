//! Label values with quotes, backslashes, newlines and non-ASCII text come back unchanged
//! through an independent parser (Python's `prometheus_client`).

use dynamo_metrics::{DistributedRuntime, Format, MetricsRegistry};
use dynamo_metrics_tests::{python_parse, python_parse_openmetrics};
use serde_json::json;

const ODD: &str = "name \"space\"\\\n✓";

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
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    // Hierarchy names are plain words; a constant label carries the odd text instead.
    let ns = rt.namespace("ns").unwrap();
    let family = ns
        .create_intcountervec(
            "weird_total",
            "Help with \\ and \"quotes\"\nand newline",
            &["v"],
            &[("c", ODD)],
        )
        .unwrap();
    for (i, v) in VALUES.iter().enumerate() {
        family.with_label_values(&[v]).unwrap().inc_by(i as u64 + 1);
    }
    let hist = ns
        .create_histogramvec("weird_seconds", "H", &["v"], &[("c", ODD)], Some(&[0.5]))
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
        // An empty value is not written, as Prometheus reads it anyway.
        let mut labels = json!({"dynamo_namespace": "ns", "c": ODD});
        if !v.is_empty() {
            labels["v"] = json!(v);
        }
        let want = json!(["dynamo_component_weird_total", labels, (i + 1) as f64]);
        assert!(samples.contains(&want), "missing {want} in {parsed:#}");
    }
    let want = json!(["dynamo_component_weird_seconds_bucket",
        {"dynamo_namespace": "ns", "c": ODD, "v": "a\"b\\c\nd", "le": "0.5"}, 1.0]);
    assert!(samples.contains(&want), "missing {want} in {parsed:#}");
    let weird = samples
        .iter()
        .filter(|s| s[0] == "dynamo_component_weird_total")
        .count();
    assert_eq!(weird, VALUES.len());
}

/// A small deterministic generator (xorshift), so failures reproduce without a seed file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A label value mixing the characters the text format escapes with ASCII and non-ASCII.
    fn value(&mut self) -> String {
        const PIECES: &[&str] = &[
            "\\", "\"", "\n", "a", "Z", "0", " ", "{", "}", ",", "=", "é", "✓", "模", "🚀", "\\n",
            "\t", "#",
        ];
        let len = self.next() % 12;
        (0..len)
            .map(|_| {
                #[allow(clippy::cast_possible_truncation)]
                let i = (self.next() % PIECES.len() as u64) as usize;
                PIECES[i]
            })
            .collect()
    }
}

#[test]
fn generated_label_values_round_trip() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let family = rt
        .create_intcountervec("generated_total", "Generated values", &["a", "b"], &[])
        .unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut expected = std::collections::BTreeMap::new();
    for i in 0..300u64 {
        let (a, b) = (rng.value(), rng.value());
        family.with_label_values(&[&a, &b]).unwrap().inc_by(i + 1);
        *expected.entry((a, b)).or_insert(0.0) += (i + 1) as f64;
    }
    // The same values through both formats and both of Python's parsers: the text one and
    // the strict OpenMetrics one.
    for parsed in [
        python_parse(&rt.render()),
        python_parse_openmetrics(&String::from_utf8(rt.encode(Format::OpenMetrics, None)).unwrap()),
    ] {
        let mut seen = std::collections::BTreeMap::new();
        for s in parsed.as_array().unwrap() {
            if s[0] == "dynamo_component_generated_total" {
                // A label left out had an empty value.
                let key = (
                    s[1]["a"].as_str().unwrap_or_default().to_owned(),
                    s[1]["b"].as_str().unwrap_or_default().to_owned(),
                );
                seen.insert(key, s[2].as_f64().unwrap());
            }
        }
        assert_eq!(seen, expected);
    }
}
