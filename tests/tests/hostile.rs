//! The demo frontend under hostile input: names of models it does not serve never become
//! label values nor come back whole in answers, malformed fields are refused, and clients that
//! close their side right after sending are served and counted.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use dynamo_examples::demo::{self, DemoConfig, EngineTimings};
use dynamo_metrics::RuntimeConfig;
use dynamo_metrics_tests::request;

/// POSTs `body` to the chat route; with `half_close`, shuts the write side right after.
/// Returns the status and the body of the answer.
fn chat(frontend: SocketAddr, body: &str, half_close: bool) -> (u16, String) {
    let mut s = TcpStream::connect(frontend).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    if half_close {
        s.shutdown(Shutdown::Write).unwrap();
    }
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn requests_total(frontend: SocketAddr) -> f64 {
    request(frontend, "GET", "/metrics")
        .body
        .lines()
        .filter(|l| l.starts_with("dynamo_frontend_requests_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_bounded_and_counted() {
    let mut runtime = RuntimeConfig::default();
    runtime.gpu = None;
    let config = DemoConfig {
        host: "127.0.0.1".parse().unwrap(),
        frontend_port: 0,
        system_port: 0,
        workers: 2,
        models: vec!["mock-llama".into()],
        timings: EngineTimings {
            prefill_base: Duration::from_millis(1),
            prefill_per_token: Duration::ZERO,
            inter_token: Duration::from_millis(1),
        },
        runtime,
        web_config_file: None,
        relays: Vec::new(),
    };
    let demo = demo::start(config).await.unwrap();
    let fe = demo.frontend;
    tokio::task::spawn_blocking(move || {
        // 200 names of 2 KB for models not served.
        for i in 0..200 {
            let model = format!("{i}-{}", "x".repeat(2048));
            let (status, body) = chat(
                fe,
                &format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}]}}"#),
                false,
            );
            assert_eq!(status, 404);
            assert!(body.len() < 400, "the answer echoes the name: {} bytes", body.len());
        }
        let text = request(fe, "GET", "/metrics").body;
        assert!(!text.contains("xxxxxxxx"), "a name became a label value");
        assert!(text.contains(
            "dynamo_frontend_requests_total{model=\"unknown\",endpoint=\"chat_completions\",request_type=\"unary\",status=\"error\",error_type=\"not_found\"} 200\n"
        ));
        assert!(text.len() < 64 * 1024, "the page grew to {} bytes", text.len());

        // `stream` is a boolean or nothing.
        let (status, body) = chat(
            fe,
            r#"{"model":"mock-llama","stream":"yes","messages":[{"role":"user","content":"hi"}]}"#,
            false,
        );
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("`stream` must be true or false"), "{body}");

        // Clients that close their side right after sending are served and counted.
        let before = requests_total(fe);
        for _ in 0..30 {
            let (status, body) = chat(
                fe,
                r#"{"model":"mock-llama","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}"#,
                true,
            );
            assert_eq!(status, 200, "{body}");
        }
        assert_eq!(requests_total(fe) - before, 30.0);
    })
    .await
    .unwrap();
    demo.shutdown().await;
}
