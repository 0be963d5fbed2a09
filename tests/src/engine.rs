//! A real engine exposition: Python's `prometheus_client` serving vLLM-named metrics on a
//! loopback port, in its plain mode or in its multiprocess mode (two worker processes writing
//! to `PROMETHEUS_MULTIPROC_DIR`, the parent serving their sum), as vLLM runs it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const SCRIPT: &str = r#"
import os, sys
mode = sys.argv[1]
if mode == "multi":
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[2]
from http.server import HTTPServer
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client.exposition import MetricsHandler

def record():
    Counter("vllm:prompt_tokens", "Number of prefill tokens processed.", ["model_name"]).labels("m").inc(21)
    Gauge("vllm:num_requests_running", "Number of requests in model execution batches.", ["model_name"], multiprocess_mode="sum").labels("m").set(3)
    h = Histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", ["model_name"], buckets=[0.1, 1.0])
    h.labels("m").observe(0.5)
    if mode == "plain":
        Summary("vllm:request_latency_seconds", "Request latency.", ["model_name"]).labels("m").observe(2.0)

if mode == "plain":
    record()
    registry = REGISTRY
else:
    import multiprocessing
    workers = [multiprocessing.Process(target=record) for _ in range(2)]
    for w in workers: w.start()
    for w in workers: w.join()
    from prometheus_client import multiprocess
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
server = HTTPServer(("127.0.0.1", 0), MetricsHandler.factory(registry))
print(server.server_port, flush=True)
server.serve_forever()
"#;

/// A Python engine serving its metrics; stopped (and its directory removed) when dropped.
pub struct PythonEngine {
    /// Its `/metrics`.
    pub url: String,
    child: Child,
    dir: Option<PathBuf>,
}

impl PythonEngine {
    /// Starts it: `multiprocess` with two worker processes, else one plain registry (with the
    /// default process and platform collectors, as an engine has them).
    ///
    /// # Panics
    /// When Python or `prometheus_client` is missing: this is test code.
    pub fn start(multiprocess: bool) -> Self {
        let dir = multiprocess.then(|| {
            let dir = std::env::temp_dir().join(format!(
                "dynamo-metrics-multiproc-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            dir
        });
        let mut command = Command::new("python3");
        command.args(["-c", SCRIPT, if multiprocess { "multi" } else { "plain" }]);
        if let Some(dir) = &dir {
            command.arg(dir);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 must be installed");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().expect("the engine's port");
        PythonEngine {
            url: format!("http://127.0.0.1:{port}/metrics"),
            child,
            dir,
        }
    }
}

impl Drop for PythonEngine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
