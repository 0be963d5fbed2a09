//! Scrapes over HTTP for the scaling table: our status server on loopback, asked for the text
//! page by a client on this thread over one kept-alive connection, with and without
//! `Accept-Encoding: gzip`. Measures the wall time of a scrape as the client sees it and the
//! CPU time the rest of the process (the server's threads) spent on it.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use dynamo_metrics::{DistributedRuntime, SystemServerConfig};

use crate::hot::median;

/// What one kind of scrape costs, per series: wall time, the server's CPU time, page bytes.
pub struct Scrape {
    pub wall_ns: f64,
    pub server_cpu_ns: f64,
    pub bytes: f64,
}

/// `rt`'s status server on a free loopback port, on a tokio runtime of two workers that lives
/// as long as this value.
pub struct Server {
    _tokio: tokio::runtime::Runtime,
    addr: SocketAddr,
}

impl Server {
    pub fn start(rt: &DistributedRuntime) -> Server {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut config = SystemServerConfig::at(([127, 0, 0, 1], 0));
        config.request_timeout = std::time::Duration::from_secs(60);
        let addr = tokio
            .block_on(rt.start_system_server(config))
            .expect("status server");
        Server {
            _tokio: tokio,
            addr,
        }
    }

    /// `runs` scrapes of the text page (after one not counted) of a registry of `n` series.
    pub fn scrape(&self, n: usize, runs: usize, gzip: bool) -> Scrape {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut writer = stream;
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nAccept: text/plain\r\n{}\r\n",
            self.addr,
            if gzip {
                "Accept-Encoding: gzip\r\n"
            } else {
                ""
            }
        );
        // The body's buffer kept from scrape to scrape, as the server keeps its own: what is
        // timed is the server's work and the transfer, not the client's page faults.
        let mut body = Vec::new();
        let mut get = || {
            writer.write_all(request.as_bytes()).expect("request sent");
            read_response(&mut reader, gzip, &mut body)
        };
        let bytes = get();
        let (mut walls, cpu_before) = (Vec::with_capacity(runs), others_cpu_ns());
        for _ in 0..runs {
            let started = Instant::now();
            std::hint::black_box(get());
            walls.push(started.elapsed().as_nanos() as f64 / n as f64);
        }
        let server_cpu = others_cpu_ns().saturating_sub(cpu_before) as f64 / (runs * n) as f64;
        Scrape {
            wall_ns: median(&walls),
            server_cpu_ns: server_cpu,
            bytes: bytes as f64 / n as f64,
        }
    }
}

/// Reads one response off a kept-alive connection into `body`: checks its status and
/// encoding, returns its body's length.
fn read_response(reader: &mut BufReader<TcpStream>, gzip: bool, body: &mut Vec<u8>) -> usize {
    let (mut line, mut length, mut gzipped) = (String::new(), None, false);
    reader.read_line(&mut line).expect("status line");
    assert!(line.starts_with("HTTP/1.1 200"), "status: {line:?}");
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header");
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').expect("a header");
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = Some(value.trim().parse().expect("a length")),
            "content-encoding" => gzipped = value.trim() == "gzip",
            _ => {}
        }
    }
    assert_eq!(gzipped, gzip, "gzip asked for: {gzip}, given: {gzipped}");
    let length: usize = length.expect("Content-Length");
    body.resize(length, 0);
    reader.read_exact(body).expect("body");
    length
}

/// Nanoseconds on a CPU of every thread of this process but the calling one
/// (`/proc/self/task/*/schedstat`, first field).
fn others_cpu_ns() -> u64 {
    let on_cpu = |path: std::path::PathBuf| -> u64 {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let all: u64 = std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(Result::ok)
        .map(|task| on_cpu(task.path().join("schedstat")))
        .sum();
    all.saturating_sub(on_cpu("/proc/thread-self/schedstat".into()))
}
