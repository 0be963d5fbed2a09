//! Helpers of the end-to-end tests: a minimal HTTP/1.1 client over a real socket, and
//! running `promtool` and Python's `prometheus_client` parser on exposition text.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A response as it came off the wire.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy for binary bodies), `Transfer-Encoding: chunked` undone.
    pub body: String,
    /// The body's bytes, `Transfer-Encoding: chunked` undone.
    pub bytes: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` with `Connection: close` and reads the whole response.
///
/// # Panics
/// When the connection or the response fails: this is test code.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> Response {
    request_with(addr, method, path, &[])
}

/// As [`request`], with more request headers.
///
/// # Panics
/// When the connection or the response fails: this is test code.
pub fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = std::str::from_utf8(&raw[..split]).expect("utf-8 head");
    let body = &raw[split + 4..];
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let bytes = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Response {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        bytes,
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..line_end]).expect("chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        let rest = &body[line_end + 2..];
        out.extend_from_slice(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// Runs `program` with `text` on its standard input and collects what it prints.
fn run_with_input(program: &str, args: &[&str], text: &str, missing: &str) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(missing);
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to the child's stdin");
    child.wait_with_output().expect("the child's output")
}

/// Runs `promtool check metrics` on `text`; returns its exit success and everything it
/// printed. `promtool` comes from Debian's `prometheus` package, which `.ci/run` installs.
///
/// # Panics
/// When `promtool` cannot be run.
pub fn promtool_check_metrics(text: &str) -> (bool, String) {
    let out = run_with_input(
        "promtool",
        &["check", "metrics"],
        text,
        "promtool must be installed (apt-get install prometheus); .ci/run does it",
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

/// Parses `text` with Python's `prometheus_client` parser, an implementation independent of
/// ours, and returns every sample as `[name, {labels}, value]` in JSON.
///
/// # Panics
/// When Python or the `prometheus_client` package is missing, or the parser fails.
pub fn python_parse(text: &str) -> serde_json::Value {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = sys.stdin.buffer.read().decode("utf-8")
samples = []
for family in text_string_to_metric_families(text):
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps(samples))
"#;
    python_json(SCRIPT, text, "the prometheus_client parser")
}

/// Parses `text` with Python's strict OpenMetrics parser
/// (`prometheus_client.openmetrics.parser`) and returns every sample as
/// `[name, {labels}, value]` in JSON.
///
/// # Panics
/// When Python or the `prometheus_client` package is missing, or the parser refuses the text.
pub fn python_parse_openmetrics(text: &str) -> serde_json::Value {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = sys.stdin.buffer.read().decode("utf-8")
samples = []
for family in text_string_to_metric_families(text):
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps(samples))
"#;
    python_json(SCRIPT, text, "the prometheus_client OpenMetrics parser")
}

/// Runs a Python `script` that reads `text` on stdin and prints JSON; `what` names it in the
/// failure message. `.ci/run` installs the packages the scripts import.
fn python_json(script: &str, text: &str, what: &str) -> serde_json::Value {
    let out = run_with_input(
        "python3",
        &["-c", script],
        text,
        "python3 must be installed",
    );
    assert!(
        out.status.success(),
        "{what} failed (.ci/run installs what it needs): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json from python")
}

/// Two H100s with fixed, plausible readings: a deterministic GPU source for tests.
#[derive(Debug)]
pub struct FixedGpus;

impl dynamo_metrics::GpuSource for FixedGpus {
    fn sample(&mut self) -> Result<Vec<dynamo_metrics::GpuDevice>, String> {
        Ok((0..2)
            .map(|index| dynamo_metrics::GpuDevice {
                index,
                uuid: format!("GPU-{index}"),
                model_name: "NVIDIA H100 80GB HBM3".into(),
                readings: Ok({
                    let mut r = dynamo_metrics::GpuReadings::default();
                    r.utilization_percent = Some(55.0);
                    r.memory_utilization_percent = Some(20.0);
                    r.memory_used_bytes = Some(4e9);
                    r.memory_free_bytes = Some(7.6e10);
                    r.memory_total_bytes = Some(8e10);
                    r.temperature_celsius = Some(48.0);
                    r.memory_temperature_celsius = Some(45.0);
                    r.power_usage_watts = Some(310.25);
                    r.power_limit_watts = Some(700.0);
                    r.energy_consumed_joules = Some(1.5e6 + f64::from(index));
                    r.sm_clock_hertz = Some(1.98e9);
                    r.memory_clock_hertz = Some(2.619e9);
                    r.pcie_transmit_bytes_per_second = Some(1.2e6);
                    r.pcie_receive_bytes_per_second = Some(3.4e6);
                    r
                }),
            })
            .collect())
    }
}

/// Percent-encodes a query parameter value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Parses YAML (every document of a stream) into JSON with Python's PyYAML, which `.ci/run`
/// installs when missing.
///
/// # Panics
/// When Python, PyYAML or the parse fails.
pub fn yaml_documents(text: &str) -> Vec<serde_json::Value> {
    const SCRIPT: &str = "import json, sys, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(sys.stdin.read()) if d is not None]))";
    match python_json(SCRIPT, text, "the PyYAML parse") {
        serde_json::Value::Array(docs) => docs,
        other => vec![other],
    }
}
