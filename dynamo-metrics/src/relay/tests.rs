//! The relay's reader on what engines write, and on hostile text.

use super::parse::parse;
use super::*;
use crate::exposition::snapshot::{Kind, Value};

fn families(text: &str) -> Vec<Snapshot> {
    parse(text, 1_000, 1 << 16).unwrap().families
}

fn refused(text: &str) -> String {
    let e = parse(text, 1_000, 1 << 16).unwrap_err();
    format!("line {}: {}", e.line, e.reason)
}

/// What `prometheus_client` 0.21 writes in text 0.0.4 for a counter, a gauge with labels, a
/// histogram and a summary (its `_created` samples included).
const PYTHON_TEXT: &str = r#"# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{model_name="m"} 42.0
# HELP vllm:prompt_tokens_created Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_created gauge
vllm:prompt_tokens_created{model_name="m"} 1.7e+09
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m"} 1.0
vllm:time_to_first_token_seconds_bucket{le="1.0",model_name="m"} 3.0
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 4.0
vllm:time_to_first_token_seconds_count{model_name="m"} 4.0
vllm:time_to_first_token_seconds_sum{model_name="m"} 7.25
# HELP rpc_seconds RPC latency
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 0.25
rpc_seconds_count 7.0
rpc_seconds_sum 3.5
"#;

#[test]
fn what_python_writes_in_text() {
    let f = families(PYTHON_TEXT);
    let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
    // The `_created` gauge beside a counter is its creation time, not a metric.
    assert_eq!(
        names,
        [
            "vllm:prompt_tokens_total",
            "vllm:num_requests_running",
            "vllm:time_to_first_token_seconds",
            "rpc_seconds"
        ]
    );
    assert_eq!(f[0].kind, Kind::Counter);
    assert_eq!(f[0].series[0].value, Value::Scalar(42.0));
    assert_eq!(
        f[1].series[0].labels,
        [
            ("engine".into(), "0".into()),
            ("model_name".into(), "m".into())
        ]
    );
    assert_eq!(
        f[2].series[0].value,
        Value::Histogram {
            buckets: vec![(0.1, 1), (1.0, 3), (f64::INFINITY, 4)],
            sum: 7.25,
            count: 4,
            native: None
        }
    );
    assert_eq!(f[2].series[0].labels, [("model_name".into(), "m".into())]);
    assert_eq!(
        f[3].series[0].value,
        Value::Summary {
            quantiles: vec![(0.5, 0.25)],
            sum: 3.5,
            count: 7
        }
    );
}

#[test]
fn what_openmetrics_writes() {
    let text = "# TYPE requests counter\n# UNIT requests requests\n# HELP requests Requests \\\\ \\n done.\n\
                requests_total{path=\"/a\\\"b\"} 5 # {trace_id=\"abc\"} 1.0 1700000000.5\n\
                requests_created{path=\"/a\\\"b\"} 1.7e9\n\
                # TYPE lat histogram\nlat_bucket{le=\"1\"} 2 # {trace_id=\"t\"} 0.5\nlat_bucket{le=\"+Inf\"} 3\nlat_count 3\nlat_sum 4\n\
                # TYPE temp gauge\ntemp NaN 1700000000\n# TYPE build info\nbuild_info{version=\"1\"} 1\n# EOF\n";
    let f = families(text);
    assert_eq!(f[0].name, "requests_total");
    assert_eq!(f[0].help, "Requests \\ \n done.");
    assert_eq!(f[0].series[0].labels, [("path".into(), "/a\"b".into())]);
    let (slot, e) = &f[0].series[0].exemplars[0];
    assert_eq!((*slot, e.value, e.timestamp.0), (0, 1.0, 1_700_000_000));
    assert_eq!(
        f[1].series[0].exemplars[0].0, 0,
        "the first bucket's exemplar"
    );
    assert!(matches!(f[2].series[0].value, Value::Scalar(v) if v.is_nan()));
    assert_eq!(f[3].name, "build_info");
    assert_eq!(f[3].kind, Kind::Gauge);
    assert!(refused("# EOF\na 1\n").contains("after # EOF"));
}

#[test]
fn samples_without_a_type_are_untyped_families() {
    let f = families("a 1\nb{x=\"1\"} 2\nb{x=\"2\"} 3\n");
    assert_eq!((f[0].kind, f[1].series.len()), (Kind::Untyped, 2));
}

#[test]
fn hostile_text_is_refused_with_its_line() {
    for (text, want) in [
        ("a{x=\"1} 1\n", "unterminated"),
        ("a{x=1} 1\n", "without quotes"),
        ("a{1x=\"1\"} 1\n", "invalid label name"),
        ("a{x=\"1\",x=\"2\"} 1\n", "twice"),
        ("a one\n", "invalid number"),
        ("a 1 2 3\n", "text after the value"),
        ("a\n", "without a value"),
        ("a{x=\"\\q\"} 1\n", "invalid escape"),
        ("9a 1\n", "invalid metric name"),
        ("a 1\n# TYPE a counter\n", "after its samples"),
        (
            "# TYPE a counter\na_total 1\n# TYPE b gauge\nb 1\na_total 2\n",
            "appears twice",
        ),
        ("# TYPE a gauge\na 1\na 2\n", "two samples"),
        (
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1.5\n",
            "whole number",
        ),
        ("# TYPE h histogram\nh_bucket 1\n", "without le"),
        ("# TYPE a sometimes\n", "unknown type"),
    ] {
        assert!(refused(text).contains(want), "{text:?}: {}", refused(text));
    }
    assert!(refused(&format!("a{{x=\"{}\"}} 1\n", "v".repeat(70_000))).contains("more than"));
}

#[test]
fn series_past_the_cap_are_counted_not_kept() {
    let text: String = (0..50).map(|i| format!("a{{i=\"{i}\"}} 1\n")).collect();
    let parsed = parse(&text, 10, 1 << 16).unwrap();
    assert_eq!((parsed.families[0].series.len(), parsed.overflow), (10, 40));
}

#[test]
fn sources_filter_rename_and_fail_alone() {
    let text = "# TYPE trtllm:x gauge\ntrtllm:x 1\n# TYPE python_gc gauge\npython_gc 1\n# TYPE vllm:y gauge\nvllm:y 2\n";
    let source = RelaySource::callback("engine", move || text.to_owned())
        .drop_prefixes(&["python_"])
        .rename_prefix("trtllm:", "trtllm_");
    let (families, overflow) = source.read().unwrap();
    let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!((names, overflow), (vec!["trtllm_x", "vllm:y"], 0));
    let only = RelaySource::callback("engine", move || text.to_owned()).keep_prefixes(&["vllm:"]);
    assert_eq!(only.read().unwrap().0.len(), 1);
    let panics = RelaySource::callback("bad", || panic!("engine gone"));
    assert_eq!(panics.read().unwrap_err(), Failure::Panic);
    let garbage = RelaySource::callback("bad", || "<html>".to_owned());
    assert_eq!(garbage.read().unwrap_err().reason(), "garbage");
    let large = RelaySource::callback("big", || "a 1\n".repeat(100)).max_bytes(10);
    assert_eq!(large.read().unwrap_err(), Failure::TooLarge);
    assert!(RelaySource::url("u", "ftp://x").is_err());
}

#[test]
fn huge_inputs_are_bounded() {
    // A body past the cap is refused before it is read as text.
    let big = RelaySource::callback("big", || "a 1\n".repeat(5 << 20));
    assert_eq!(big.read().unwrap_err(), Failure::TooLarge);
    // A 10 MB line.
    let line = format!("a{{x=\"{}\"}} 1\n", "v".repeat(10 << 20));
    let long = RelaySource::callback("long", move || line.clone()).max_bytes(64 << 20);
    assert!(long.read().unwrap_err().to_string().contains("more than"));
    // Many series: the first ones kept, the rest counted.
    let many: String = (0..200_000)
        .map(|i| format!("a{{i=\"{i}\"}} 1\n"))
        .collect();
    let source = RelaySource::callback("many", move || many.clone());
    let (families, overflow) = source.read().unwrap();
    assert_eq!((families[0].series.len(), overflow), (10_000, 190_000));
}

#[test]
fn mangled_text_is_refused_or_read_never_a_panic() {
    let text = PYTHON_TEXT.as_bytes();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3_000 {
        let mut mangled = text.to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() % mangled.len() as u64) as usize;
            match next() % 3 {
                0 => mangled[at] = b"{}\"\\ =#\n,01eE+-."[(next() % 16) as usize],
                1 => {
                    mangled.remove(at);
                }
                _ => mangled.truncate(at),
            }
            if mangled.is_empty() {
                break;
            }
        }
        if let Ok(text) = std::str::from_utf8(&mangled) {
            let _ = parse(text, 1_000, 1 << 16);
        }
    }
}
