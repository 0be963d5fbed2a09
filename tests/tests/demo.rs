//! The demo end to end: real HTTP to the frontend, real TCP to the worker, both `/metrics`
//! pages scraped and checked for every built-in family, exact counts, timings consistent with
//! the mock engine's delays, and `promtool check metrics`. One test: instrumented endpoints
//! attach to the first runtime of the process, which must be the demo's worker.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dynamo_examples::demo::{
    self, DemoConfig, EngineTimings,
    load::{self, Kind},
};
use dynamo_metrics::{RuntimeConfig, catalog};
use dynamo_metrics_tests::{promtool_check_metrics, request};

const PREFILL: Duration = Duration::from_millis(40);
const ITL: Duration = Duration::from_millis(10);

async fn scrape(addr: SocketAddr) -> String {
    let r = tokio::task::spawn_blocking(move || request(addr, "GET", "/metrics"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    r.body
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
        .parse()
        .unwrap()
}

async fn post(frontend: SocketAddr, kind: Kind, i: u64) {
    assert!(
        load::send(frontend, "mock-llama", kind, i).await.unwrap(),
        "{kind:?} #{i} got an unexpected answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_lights_every_builtin_metric() {
    let config = DemoConfig {
        host: "127.0.0.1".parse().unwrap(),
        frontend_port: 0,
        system_port: 0,
        workers: 2,
        models: vec!["Mock-Llama".into()],
        timings: EngineTimings {
            prefill_base: PREFILL,
            prefill_per_token: Duration::ZERO,
            inter_token: ITL,
        },
        runtime: RuntimeConfig::default(),
        web_config_file: None,
        relays: Vec::new(),
    };
    let demo = demo::start(config).await.unwrap();
    let fe = demo.frontend;
    // Numbers pick the prompt and output lengths (see load::send): 0 -> 4 tokens, 3 -> 43.
    post(fe, Kind::Stream, 0).await;
    post(fe, Kind::Stream, 10).await;
    post(fe, Kind::Unary, 3).await;
    post(fe, Kind::Unary, 13).await;
    post(fe, Kind::InvalidJson, 6).await;
    post(fe, Kind::UnknownModel, 7).await;
    post(fe, Kind::MissingField, 8).await;
    post(fe, Kind::Cancelled, 9).await;
    post(fe, Kind::TooLong, 15).await;

    // A worker sees the cancellation when its next token write fails.
    let deadline = Instant::now() + Duration::from_secs(30);
    let ep = r#"dynamo_namespace="dynamo",dynamo_component="backend",dynamo_endpoint="generate",model="mock-llama""#;
    let worker_ids: Vec<String> = demo
        .workers
        .iter()
        .map(|(rt, _)| rt.worker_id().unwrap().to_owned())
        .collect();
    assert_ne!(worker_ids[0], worker_ids[1], "each worker its own id");
    // The sum of `dynamo_component_{name}{..}` over the workers' pages, each under its own id.
    let over_workers = |pages: &[String], name: &str, extra: &str| -> f64 {
        pages
            .iter()
            .zip(&worker_ids)
            .map(|(page, id)| {
                value(
                    page,
                    &format!("dynamo_component_{name}{{{ep},worker_id=\"{id}\"{extra}}}"),
                )
            })
            .sum()
    };
    let workers = loop {
        let mut pages = Vec::new();
        for (_, addr) in &demo.workers {
            pages.push(scrape(*addr).await);
        }
        if over_workers(&pages, "cancellation_total", "") == 1.0 {
            break pages;
        }
        assert!(
            Instant::now() < deadline,
            "no cancellation seen:\n{pages:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let frontend = scrape(fe).await;

    // Every built-in family is on the page it belongs to, with its type: the router's on
    // the frontend's, the endpoints' and KV caches' on the workers'.
    for d in catalog() {
        let line = format!("# TYPE {} {}", d.name, d.kind);
        let on_worker = workers.iter().all(|w| w.contains(&line));
        match d.subsystem {
            "frontend" | "preprocessor" | "router" => {
                assert!(frontend.contains(&line), "{line} missing");
            }
            "component" => assert!(on_worker || frontend.contains(&line), "{line} missing"),
            _ => {}
        }
    }

    // Workers: six requests reached them, one cancelled, one refused, all finished; each
    // series under the model it served and the worker's id.
    let w = |name: &str| over_workers(&workers, name, "");
    assert_eq!(w("requests_total"), 6.0);
    assert_eq!(w("cancellation_total"), 1.0);
    assert_eq!(w("inflight_requests"), 0.0);
    assert_eq!(w("request_duration_seconds_count"), 6.0);
    // An error type exists only on the worker that had it.
    let refused: usize = workers
        .iter()
        .zip(&worker_ids)
        .filter(|(page, id)| {
            page.contains(&format!(
                "dynamo_component_errors_total{{{ep},worker_id=\"{id}\",error_type=\"context_exceeded\"}} 1\n"
            ))
        })
        .count();
    assert_eq!(refused, 1);
    assert!(w("request_bytes_total") > 0.0 && w("response_bytes_total") > 0.0);
    for (page, id) in workers.iter().zip(&worker_ids) {
        assert!(page.contains(&format!(
            "\ndynamo_component_uptime_seconds{{worker_id=\"{id}\"}} "
        )));
        let kv = format!(
            "dynamo_component_total_blocks{{dynamo_namespace=\"dynamo\",dynamo_component=\"backend\",worker_id=\"{id}\",model=\"mock-llama\",dp_rank=\"0\"}}"
        );
        assert_eq!(value(page, &kv), 4096.0);
    }
    // The engines' own vllm: families, relayed on each worker's status port with its labels:
    // five requests ran on an engine (the sixth was refused before).
    let relayed = |page: &str, id: &str, name: &str| {
        value(
            page,
            &format!(
                "vllm:{name}{{dynamo_namespace=\"dynamo\",dynamo_component=\"backend\",dynamo_endpoint=\"generate\",worker_id=\"{id}\",model_name=\"mock-llama\"}}"
            ),
        )
    };
    let engine_sum = |name: &str| -> f64 {
        workers
            .iter()
            .zip(&worker_ids)
            .map(|(page, id)| relayed(page, id, name))
            .sum()
    };
    assert_eq!(engine_sum("e2e_request_latency_seconds_count"), 5.0);
    assert_eq!(engine_sum("num_requests_running"), 0.0);
    assert!(engine_sum("prompt_tokens_total") > 0.0 && engine_sum("generation_tokens_total") > 0.0);
    assert!(
        workers
            .iter()
            .all(|w| w.contains("# TYPE vllm:time_to_first_token_seconds histogram\n"))
    );

    // The router: every request that reached a worker was routed, its stages timed, and
    // the workers' cache events applied; the per-worker gauges are back at zero.
    let router = r#"{dynamo_namespace="dynamo",dynamo_component="router",router_id="0"}"#;
    let r = |name: &str| {
        value(
            &frontend,
            &format!("dynamo_component_router_{name}{router}"),
        )
    };
    assert_eq!(r("requests_total"), 6.0);
    assert_eq!(r("kv_hit_rate_count"), 6.0);
    assert_eq!(r("time_to_first_token_seconds_count"), 5.0);
    for stage in [
        "block_hashing",
        "seq_hashing",
        "indexer_find_matches",
        "scheduling",
        "total",
    ] {
        let count = format!("dynamo_router_overhead_{stage}_ms_count{{router_id=\"0\"}}");
        assert_eq!(value(&frontend, &count), 6.0, "{stage}");
    }
    let stored = r#"dynamo_component_kv_cache_events_applied{dynamo_namespace="dynamo",dynamo_component="router",event_type="stored",status="ok"}"#;
    assert!(value(&frontend, stored) > 0.0);
    for id in &worker_ids {
        for gauge in ["active_decode_blocks", "active_prefill_tokens"] {
            let series = format!(
                "dynamo_frontend_worker_{gauge}{{worker_id=\"{id}\",dp_rank=\"0\",worker_type=\"decode\"}}"
            );
            assert_eq!(value(&frontend, &series), 0.0, "{series}");
        }
    }
    // Every outcome of a served model exists, at zero where it never happened.
    assert_eq!(
        value(
            &frontend,
            r#"dynamo_frontend_requests_total{model="mock-llama",endpoint="completions",request_type="stream",status="error",error_type="overload"}"#
        ),
        0.0
    );

    // The same prompt again goes to the worker that holds its blocks: every whole block of
    // it is cached.
    let m = |text: &str, name: &str| {
        value(
            text,
            &format!("dynamo_frontend_{name}{{model=\"mock-llama\"}}"),
        )
    };
    let before = scrape(fe).await;
    post(fe, Kind::Unary, 3).await;
    let after = scrape(fe).await;
    let prompt = m(&after, "input_sequence_tokens_sum") - m(&before, "input_sequence_tokens_sum");
    let cached = m(&after, "cached_tokens_sum") - m(&before, "cached_tokens_sum");
    assert!(prompt >= 32.0, "{prompt}");
    assert_eq!(cached, (prompt / 16.0).floor() * 16.0);

    // Frontend: exact counts by label set.
    let req = |model: &str, endpoint: &str, rt: &str, status: &str, error: &str| {
        // A success's empty `error_type` is not written (Prometheus reads the two alike).
        let error = match error {
            "" => String::new(),
            e => format!(",error_type=\"{e}\""),
        };
        value(
            &frontend,
            &format!(
                "dynamo_frontend_requests_total{{model=\"{model}\",endpoint=\"{endpoint}\",request_type=\"{rt}\",status=\"{status}\"{error}}}"
            ),
        )
    };
    assert_eq!(
        req("mock-llama", "chat_completions", "stream", "success", ""),
        2.0
    );
    assert_eq!(
        req("mock-llama", "completions", "unary", "success", ""),
        2.0
    );
    assert_eq!(
        req(
            "unknown",
            "chat_completions",
            "unary",
            "error",
            "validation"
        ),
        1.0
    );
    assert_eq!(
        req(
            "mock-llama",
            "chat_completions",
            "unary",
            "error",
            "validation"
        ),
        1.0
    );
    assert_eq!(
        // Names of models not served never become label values.
        req("unknown", "chat_completions", "unary", "error", "not_found"),
        1.0
    );
    assert_eq!(
        req(
            "mock-llama",
            "chat_completions",
            "stream",
            "error",
            "cancelled"
        ),
        1.0
    );
    let m = |name: &str| {
        value(
            &frontend,
            &format!("dynamo_frontend_{name}{{model=\"mock-llama\"}}"),
        )
    };
    assert_eq!(m("disconnected_clients_total"), 1.0);
    assert_eq!(m("inflight_requests"), 0.0);
    assert_eq!(m("queued_requests"), 0.0);
    assert_eq!(m("time_to_first_token_seconds_count"), 5.0);
    assert_eq!(m("input_sequence_tokens_count"), 6.0);
    assert_eq!(m("cached_tokens_count"), 6.0);
    assert_eq!(m("request_duration_seconds_count"), 6.0);
    assert_eq!(m("model_context_length"), 8192.0);
    // Output tokens: max_tokens = 4 + (i * 13) % 60 for i = 0, 10, 3, 13 -> 4, 14, 43, 53.
    let completed = 4.0 + 14.0 + 43.0 + 53.0;
    let out = m("output_tokens_total");
    assert!(
        out > completed,
        "{out}: the cancelled stream sent at least one token"
    );
    assert_eq!(m("output_sequence_tokens_sum"), out);
    let p = |name: &str| {
        value(
            &frontend,
            &format!("dynamo_preprocessor_{name}{{model=\"mock-llama\"}}"),
        )
    };
    assert_eq!(p("requests_total"), 6.0);
    assert_eq!(p("template_duration_seconds_count"), 6.0);
    assert_eq!(p("tokenize_duration_seconds_count"), 6.0);
    assert_eq!(p("input_tokens_total"), m("input_sequence_tokens_sum"));
    assert_eq!(
        value(
            &frontend,
            r#"dynamo_preprocessor_errors_total{model="mock-llama",error_type="invalid_request"}"#
        ),
        1.0
    );

    // Timings follow the engine's delays: no first token before the prefill delay, and no
    // last token before the inter-token delays after it. Only lower bounds, which a slow
    // machine cannot break (a late first token shortens the gap to the next, so single gaps
    // are not bounded; a request's first-token time plus its gaps is its last token's time).
    let first_tokens = m("time_to_first_token_seconds_count");
    let ttft = m("time_to_first_token_seconds_sum");
    assert!(
        ttft >= first_tokens * PREFILL.as_secs_f64(),
        "TTFT sum {ttft} for {first_tokens} first tokens"
    );
    let gaps = m("inter_token_latency_seconds_count");
    let itl = m("inter_token_latency_seconds_sum");
    assert!(gaps > 0.0);
    assert!(
        ttft + itl >= first_tokens * PREFILL.as_secs_f64() + gaps * ITL.as_secs_f64(),
        "TTFT sum {ttft} and ITL sum {itl} for {first_tokens} requests and {gaps} gaps"
    );

    for (name, page) in [
        ("frontend", &frontend),
        ("worker", &workers[0]),
        ("worker", &workers[1]),
    ] {
        let (ok, printed) = promtool_check_metrics(page);
        assert!(
            ok && printed.trim().is_empty(),
            "promtool findings on the {name} page:\n{printed}"
        );
    }
    demo.shutdown().await;
}

#[test]
fn metrics_reference_is_current() {
    let checked_in = include_str!("../../docs/metrics.md");
    assert!(
        checked_in == dynamo_examples::reference::markdown(),
        "docs/metrics.md is stale: run `cargo run -p dynamo-examples --bin gen-metrics-doc`"
    );
}
