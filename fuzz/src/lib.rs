//! The fuzz targets' bodies: each takes the fuzzer's bytes to one parser of untrusted input,
//! as the status server or a relay gives it, and checks what it can of the answer (beyond
//! not panicking). `fuzz_targets/` calls them under libFuzzer; `tests/replay.rs` runs the
//! seeds and every input a fuzzer found through them on stable.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use dynamo_metrics::{DistributedRuntime, Format, MetricsRegistry, RelaySource};

/// A target's body: the fuzzer's bytes in, a panic on a finding.
pub type Target = fn(&[u8]);

/// Every target, by name, for the replay test.
pub const TARGETS: [(&str, Target); 7] = [
    ("accept", accept),
    ("accept_encoding", accept_encoding),
    ("traceparent", traceparent),
    ("query", query),
    ("web_config", web_config),
    ("http_request", http_request),
    ("relay", relay),
];

/// An `Accept` header: the format negotiated, and a `Content-Type` that is a valid header
/// value naming that format.
pub fn accept(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let negotiated = Format::negotiate(Some(header));
    let content_type = negotiated.content_type();
    assert!(content_type.starts_with(negotiated.format.content_type()));
    assert!(
        content_type.bytes().all(|b| (b' '..=b'~').contains(&b)),
        "{content_type:?}"
    );
    assert_eq!(Format::negotiate(Some(header)), negotiated);
}

/// An `Accept-Encoding` header: gzip only when the header names it or `*`.
pub fn accept_encoding(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let gzip = dynamo_metrics::fuzz::accepts_gzip(header);
    let lower = header.to_ascii_lowercase();
    if !lower.contains("gzip") && !lower.contains('*') {
        assert!(!gzip, "{header:?}");
    }
}

/// A `traceparent` header: a trace id found is 32 hex digits of the header, not all zero,
/// and a call in that trace sees it.
pub fn traceparent(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let Some(id) = dynamo_metrics::trace::trace_id_from_traceparent(header) else {
        return;
    };
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()) && id.bytes().any(|b| b != b'0'));
    assert!(header.contains(id));
    let seen = dynamo_metrics::trace::in_trace(id, dynamo_metrics::trace::current_trace_id);
    assert_eq!(seen.as_deref(), Some(id));
}

/// A query string: the `name[]` values asked for, at most one per parameter.
pub fn query(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let names = dynamo_metrics::fuzz::names_asked(query);
    assert!(names.len() <= query.split('&').count());
    if !query.contains('=') {
        assert!(names.is_empty());
    }
}

/// A web configuration file (YAML, bcrypt hashes, inline PEM, file names): read or refused
/// with an error that names the file.
pub fn web_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("/nonexistent/fuzz/web.yml");
    if let Err(e) = dynamo_metrics::fuzz::web_config(path, text) {
        assert!(e.to_string().contains("web.yml"), "{e}");
    }
}

/// A runtime with series of each kind, and a relayed source whose text [`relay`] sets.
fn runtime() -> &'static (tokio::runtime::Runtime, DistributedRuntime) {
    static RUNTIME: OnceLock<(tokio::runtime::Runtime, DistributedRuntime)> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime");
        let runtime = DistributedRuntime::new().expect("a runtime");
        let endpoint = runtime
            .namespace("fuzz")
            .and_then(|ns| ns.component("worker"))
            .and_then(|c| c.endpoint("generate"))
            .expect("an endpoint");
        let requests = endpoint
            .create_intcountervec("requests_total", "Requests.", &["model"], &[])
            .expect("a counter family");
        requests
            .with_label_values(&["llama \"3\"\n"])
            .expect("a series")
            .inc();
        endpoint
            .create_histogram("latency_seconds", "Latency.", &[], None)
            .expect("a histogram")
            .observe(0.25);
        endpoint
            .create_gauge("load", "Load.", &[])
            .expect("a gauge")
            .set(f64::NAN);
        let relayed = RelaySource::callback("fuzz", || {
            RELAYED.lock().map_or_else(|_| String::new(), |t| t.clone())
        })
        .max_series(1_000);
        endpoint.relay(relayed).expect("a relay");
        (tokio, runtime)
    })
}

/// What the relayed source serves at the next scrape.
static RELAYED: Mutex<String> = Mutex::new(String::new());

/// Raw bytes sent to the status server's routes over one HTTP/1.1 connection in process:
/// whatever comes back is an HTTP/1.1 response (HTTP/1.0 to an HTTP/1.0 request).
pub fn http_request(data: &[u8]) {
    let answer = http_answer(data);
    if !answer.is_empty() {
        assert!(
            answer.starts_with(b"HTTP/1.1 ") || answer.starts_with(b"HTTP/1.0 "),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
    }
}

/// What the status server's routes answer to `data`, sent on one connection and closed.
pub fn http_answer(data: &[u8]) -> Vec<u8> {
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (tokio, runtime) = runtime();
    let router = runtime.metrics_router::<()>();
    tokio.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let service = hyper_util::service::TowerToHyperService::new(router);
        let connection = hyper::server::conn::http1::Builder::new()
            .half_close(true)
            .serve_connection(TokioIo::new(server), service);
        let exchange = async {
            let _ = client.write_all(data).await;
            let _ = client.shutdown().await;
            let mut answer = Vec::new();
            let _ = client.read_to_end(&mut answer).await;
            answer
        };
        let (_, answer) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(5), connection),
            tokio::time::timeout(Duration::from_secs(5), exchange)
        );
        answer.unwrap_or_default()
    })
}

/// Exposition text relayed at a scrape: every format renders, the OpenMetrics page ends
/// with `# EOF`, and the protobuf body is whole length-delimited messages.
pub fn relay(data: &[u8]) {
    let (_, runtime) = runtime();
    *RELAYED.lock().expect("not poisoned") = String::from_utf8_lossy(data).into_owned();
    let text = String::from_utf8(runtime.encode(Format::Text, None)).expect("UTF-8 text");
    assert!(text.contains("dynamo_component_requests_total"));
    let open = runtime.encode(Format::OpenMetrics, None);
    assert!(open.ends_with(b"# EOF\n"));
    let proto = runtime.encode(Format::Protobuf, None);
    let mut rest = proto.as_slice();
    while !rest.is_empty() {
        let (len, used) = varint(rest).expect("a length prefix");
        let end = used + usize::try_from(len).expect("a length");
        assert!(end <= rest.len(), "a message cut short");
        rest = &rest[end..];
    }
}

/// A protobuf varint at the start of `bytes`, and how many bytes it took.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}
