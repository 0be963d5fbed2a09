//! The demo stops gracefully on SIGTERM (what Kubernetes sends) and on SIGINT: with a stream
//! in flight, readiness turns 503 at once, the stream finishes with its last chunk and
//! `[DONE]`, new connections are refused, and the process exits 0.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path`: the status code, or `None` when the connection is refused or fails.
fn status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

struct Demo {
    child: Child,
    frontend: SocketAddr,
    system: SocketAddr,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Demo {
    let (http, system) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_dynamo-demo"))
        .args(["--itl-ms", "20", "--prefill-ms", "5"])
        .env("DYN_HTTP_HOST", "127.0.0.1")
        .env("DYN_HTTP_PORT", http.to_string())
        .env("DYN_SYSTEM_PORT", system.to_string())
        // One worker: a second would take the port after `system`, which may be taken.
        .env("DYN_DEMO_WORKERS", "1")
        .env("DYN_GPU_METRICS", "0")
        .env("DYN_SHUTDOWN_TIMEOUT_SECS", "10")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let frontend: SocketAddr = format!("127.0.0.1:{http}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(frontend, "/health") != Some(200) {
        assert!(Instant::now() < deadline, "the demo did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let system = format!("127.0.0.1:{system}").parse().unwrap();
    Demo {
        child,
        frontend,
        system,
    }
}

fn stops_gracefully_on(signal: &str) {
    let mut demo = start();
    // A stream of 100 tokens at 20 ms each. The signal is sent once its first chunk has
    // arrived, so the stream is surely in flight whatever the machine's load.
    let frontend = demo.frontend;
    let (started, first_chunk) = std::sync::mpsc::channel();
    let stream = std::thread::spawn(move || {
        let body = r#"{"model":"mock-llama","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"tell me"}]}"#;
        let mut s = TcpStream::connect(frontend).unwrap();
        write!(
            s,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        let mut told = false;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
            if !told && response.windows(6).any(|w| w == b"data: ") {
                started.send(()).unwrap();
                told = true;
            }
        }
        String::from_utf8(response).unwrap()
    });
    first_chunk
        .recv_timeout(Duration::from_secs(30))
        .expect("no first chunk");
    let pid = demo.child.id().to_string();
    assert!(
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success()
    );
    // Not ready at once, while the stream drains: the worker's status server says so, and
    // the frontend accepts no new connection.
    // (Polled, so a loaded machine's slow signal delivery is no failure; the stream still
    // draining keeps the server up meanwhile, and an answer of none at all fails.)
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ready = status(demo.system, "/health");
    while ready == Some(200) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        ready = status(demo.system, "/health");
    }
    assert_eq!(ready, Some(503), "{signal}: still ready");
    assert_eq!(
        status(frontend, "/health"),
        None,
        "{signal}: still accepting"
    );
    let response = stream.join().unwrap();
    assert!(
        response.contains(r#""finish_reason":"length""#),
        "{signal}: no last chunk: {response}"
    );
    assert!(
        response.contains("data: [DONE]"),
        "{signal}: cut: {response}"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = demo.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "{signal}: did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{signal}: {exit:?}");
    assert_eq!(
        status(demo.system, "/health"),
        None,
        "{signal}: still listening"
    );
}

#[test]
fn sigterm_drains_a_stream_and_exits_zero() {
    stops_gracefully_on("-TERM");
}

#[test]
fn sigint_drains_a_stream_and_exits_zero() {
    stops_gracefully_on("-INT");
}
