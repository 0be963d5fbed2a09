//! Helpers of the end-to-end tests: a minimal HTTP/1.1 client over a real socket, and
//! running `promtool` and Python's `prometheus_client` parser on exposition text.

pub mod engine;
pub mod otlp;
pub mod pki;
pub mod read_back;

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
    write_request(&mut stream, method, &addr.to_string(), path, headers).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    parse_response(&raw)
}

/// Writes the head of `method path` to `host`, with `headers` and `Connection: close`.
///
/// # Errors
/// When the writer fails.
pub fn write_request(
    w: &mut impl Write,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<()> {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        w,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"
    )
}

/// A whole HTTP/1.1 response parsed.
///
/// # Panics
/// When it is not one: this is test code.
pub fn parse_response(raw: &[u8]) -> Response {
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

/// Runs `promtool check metrics` on `text`; returns whether the page is clean and what it
/// found, but for the expected findings (Dynamo's `_ms` routing overhead names, the colons of
/// relayed engine names). `promtool` comes from Debian's `prometheus` package, which `.ci/run` installs.
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
    // Dynamo names its routing overhead histograms `dynamo_router_overhead_*_ms`, and its
    // dashboards query those names: kept, so promtool's style finding on them is expected.
    // Engines name theirs `vllm:...` (and `sglang:`, `lmcache:`), relayed as they are.
    let findings: String = printed
        .lines()
        .filter(|l| {
            let overhead = l.starts_with("dynamo_router_overhead_")
                && l.ends_with("_ms metric names should not contain abbreviated units");
            let engine = ["vllm:", "sglang:", "lmcache:"]
                .iter()
                .any(|p| l.starts_with(p))
                && l.ends_with("metric names should not contain ':'");
            !(overhead || engine)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    // promtool fails on style findings too: with only the expected one, the page is clean.
    let clean = out.status.success() || (!printed.trim().is_empty() && findings.is_empty());
    (clean, findings)
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
/// `[name, {labels}, value, exemplar]` in JSON, the exemplar `{labels, value}` or null.
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
        e = s.exemplar
        exemplar = {"labels": e.labels, "value": e.value} if e else None
        samples.append([s.name, s.labels, s.value, exemplar])
print(json.dumps(samples))
"#;
    python_json(SCRIPT, text, "the prometheus_client OpenMetrics parser")
}

/// A unary chat request to the demo's frontend with a W3C `traceparent` header for
/// `trace_id`; the response status.
///
/// # Panics
/// When the connection fails: this is test code.
pub fn traced_request(frontend: SocketAddr, trace_id: &str) -> u16 {
    let body = r#"{"model":"mock-llama","max_tokens":4,"messages":[{"role":"user","content":"hello there"}]}"#;
    let mut stream = std::net::TcpStream::connect(frontend).unwrap();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         traceparent: 00-{trace_id}-00f067aa0ba902b7-01\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split(' ').nth(1).unwrap().parse().unwrap()
}

/// Reads an OTLP `ExportMetricsServiceRequest` with Python's official `opentelemetry-proto`
/// package, and returns per metric name its kind (`sum`, `gauge`, `histogram`,
/// `exponential_histogram`, `summary`) and, of its first point, `count`, `scale` and the
/// first exemplar's `trace_id` in hex, where it has them.
///
/// # Panics
/// When Python or the package is missing, or it cannot read the message.
pub fn python_otlp_summary(body: &[u8]) -> serde_json::Value {
    const SCRIPT: &str = r#"
import json, sys
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
request = ExportMetricsServiceRequest.FromString(bytes.fromhex(sys.stdin.read()))
out = {}
for rm in request.resource_metrics:
    for sm in rm.scope_metrics:
        for m in sm.metrics:
            kind = m.WhichOneof("data")
            points = getattr(m, kind).data_points
            entry = {"kind": kind, "points": len(points)}
            p = points[0]
            if kind in ("histogram", "exponential_histogram", "summary"):
                entry["count"] = p.count
            if kind == "exponential_histogram":
                entry["scale"] = p.scale
            if kind != "summary" and len(p.exemplars) > 0:
                entry["trace_id"] = p.exemplars[0].trace_id.hex()
            out[m.name] = entry
print(json.dumps(out))
"#;
    let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
    python_json(SCRIPT, &hex, "Python's opentelemetry-proto")
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

/// One field of a protobuf message as it is on the wire.
#[derive(Debug, Clone)]
enum Wire {
    Varint(u64),
    Fixed64(u64),
    Bytes(Vec<u8>),
}

fn read_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = bytes[*at];
        *at += 1;
        v |= u64::from(b & 0x7F) << shift;
        if b < 0x80 {
            return v;
        }
    }
    panic!("varint too long");
}

/// The fields of one protobuf message, in order: a reader written from the wire format alone,
/// independent of the encoder it checks.
fn fields(bytes: &[u8]) -> Vec<(u64, Wire)> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        let key = read_varint(bytes, &mut at);
        let wire = match key & 7 {
            0 => Wire::Varint(read_varint(bytes, &mut at)),
            1 => {
                let v = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
                at += 8;
                Wire::Fixed64(v)
            }
            2 => {
                let len = usize::try_from(read_varint(bytes, &mut at)).unwrap();
                let b = bytes[at..at + len].to_vec();
                at += len;
                Wire::Bytes(b)
            }
            other => panic!("wire type {other} is not used by metrics.proto"),
        };
        out.push((key >> 3, wire));
    }
    out
}

fn unzigzag(v: u64) -> i64 {
    #[allow(clippy::cast_possible_wrap)]
    let r = ((v >> 1) as i64) ^ -((v & 1) as i64);
    r
}

fn message_json(bytes: &[u8], schema: &[(u64, &str, &str)]) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    for (field, wire) in fields(bytes) {
        let Some((_, name, kind)) = schema.iter().find(|(f, _, _)| *f == field) else {
            continue;
        };
        let value = match (*kind, wire) {
            ("string", Wire::Bytes(b)) => serde_json::json!(String::from_utf8(b).unwrap()),
            ("uint", Wire::Varint(v)) => serde_json::json!(v),
            ("sint", Wire::Varint(v)) => serde_json::json!(unzigzag(v)),
            ("double", Wire::Fixed64(v)) => serde_json::json!(f64::from_bits(v)),
            ("packed_sint", Wire::Bytes(b)) => {
                let mut at = 0;
                let mut values = Vec::new();
                while at < b.len() {
                    values.push(unzigzag(read_varint(&b, &mut at)));
                }
                serde_json::json!(values)
            }
            (message, Wire::Bytes(b)) => message_json(&b, schema_of(message)),
            (kind, wire) => panic!("field {name}: {kind} on the wire as {wire:?}"),
        };
        let repeated = matches!(
            *name,
            "metric"
                | "label"
                | "bucket"
                | "quantile"
                | "positive_span"
                | "negative_span"
                | "exemplars"
        );
        if repeated {
            obj.entry(*name)
                .or_insert_with(|| serde_json::json!([]))
                .as_array_mut()
                .unwrap()
                .push(value);
        } else {
            obj.insert((*name).to_owned(), value);
        }
    }
    serde_json::Value::Object(obj)
}

fn schema_of(message: &str) -> &'static [(u64, &'static str, &'static str)] {
    match message {
        "MetricFamily" => &[
            (1, "name", "string"),
            (2, "help", "string"),
            (3, "type", "uint"),
            (4, "metric", "Metric"),
        ],
        "Metric" => &[
            (1, "label", "LabelPair"),
            (2, "gauge", "Value"),
            (3, "counter", "Counter"),
            (4, "summary", "Summary"),
            (5, "untyped", "Value"),
            (7, "histogram", "Histogram"),
        ],
        "LabelPair" => &[(1, "name", "string"), (2, "value", "string")],
        "Value" => &[(1, "value", "double")],
        "Counter" => &[(1, "value", "double"), (2, "exemplar", "Exemplar")],
        "Exemplar" => &[
            (1, "label", "LabelPair"),
            (2, "value", "double"),
            (3, "timestamp", "Timestamp"),
        ],
        "Timestamp" => &[(1, "seconds", "uint"), (2, "nanos", "uint")],
        "Summary" => &[
            (1, "sample_count", "uint"),
            (2, "sample_sum", "double"),
            (3, "quantile", "Quantile"),
        ],
        "Quantile" => &[(1, "quantile", "double"), (2, "value", "double")],
        "Histogram" => &[
            (1, "sample_count", "uint"),
            (2, "sample_sum", "double"),
            (3, "bucket", "Bucket"),
            (5, "schema", "sint"),
            (6, "zero_threshold", "double"),
            (7, "zero_count", "uint"),
            (9, "negative_span", "Span"),
            (10, "negative_delta", "packed_sint"),
            (12, "positive_span", "Span"),
            (13, "positive_delta", "packed_sint"),
            (16, "exemplars", "Exemplar"),
        ],
        "Bucket" => &[
            (1, "cumulative_count", "uint"),
            (2, "upper_bound", "double"),
            (3, "exemplar", "Exemplar"),
        ],
        "Span" => &[(1, "offset", "sint"), (2, "length", "uint")],
        other => panic!("no schema for {other}"),
    }
}

/// Reads length-delimited `io.prometheus.client.MetricFamily` messages into JSON objects
/// named after the fields of `metrics.proto` (repeated fields as arrays).
///
/// # Panics
/// When the bytes are not such messages: this is test code.
pub fn decode_metric_families(mut bytes: &[u8]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let mut at = 0;
        let len = usize::try_from(read_varint(bytes, &mut at)).unwrap();
        out.push(message_json(
            &bytes[at..at + len],
            schema_of("MetricFamily"),
        ));
        bytes = &bytes[at + len..];
    }
    out
}

/// A Prometheus server (Debian's `prometheus`, which `.ci/run` installs) on a free loopback
/// port, stopped (by its own PID) and its directory removed when dropped.
pub struct Prometheus {
    child: std::process::Child,
    /// Its HTTP address.
    pub addr: SocketAddr,
    /// Its configuration and data directory.
    pub dir: std::path::PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    /// Starts one with the configuration `config` (YAML) in a directory named after `tag`,
    /// with more command-line `flags`, and waits until it is ready.
    ///
    /// # Panics
    /// When it is not installed or does not become ready within 30 s: this is test code.
    pub fn start(tag: &str, config: &str, flags: &[&str]) -> Self {
        let dir = Self::dir(tag);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        // The free port is found before the server binds it, so another server (of a test
        // running beside) can take it first: ours then exits, and it starts again on another.
        loop {
            let mut server = Self::spawn(&dir, flags);
            loop {
                assert!(
                    std::time::Instant::now() < deadline,
                    "Prometheus did not become ready"
                );
                if server.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if server.is_ours_and_ready() {
                    return server;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = server.child.wait();
            server.dir = std::path::PathBuf::new(); // the retry keeps the directory
        }
    }

    /// Starts the process on a port free now.
    fn spawn(dir: &std::path::Path, flags: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "the Prometheus server must be installed (apt-get install prometheus); .ci/run does it",
            );
        Prometheus {
            child,
            addr,
            dir: dir.to_owned(),
        }
    }

    /// Whether the server at `addr` is ready and is this one (its data directory is ours).
    fn is_ours_and_ready(&self) -> bool {
        TcpStream::connect(self.addr).is_ok()
            && request(self.addr, "GET", "/-/ready").status == 200
            && request(self.addr, "GET", "/api/v1/status/flags")
                .body
                .contains(&self.dir.join("data").display().to_string())
    }

    /// The directory a server started with `tag` uses: write files its configuration names
    /// there before starting it.
    pub fn dir(tag: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("dynamo-prometheus-{}-{tag}", std::process::id()))
    }
}
