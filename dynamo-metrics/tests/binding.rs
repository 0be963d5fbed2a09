//! Which runtime records an instrumented call: sequential runtimes, concurrent runtimes with
//! scopes, tasks spawned inside a scope, runtimes on their own tokio runtimes, the default,
//! calls with no runtime alive, and renamed components.
//!
//! The binding is process state, so the tests of this file take one lock each.

#![cfg(feature = "metrics")]
// The lock serialises the tests of this file, each on its own tokio runtime; holding it
// across their awaits is the point.
#![allow(clippy::await_holding_lock)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use dynamo_metrics::{DistributedRuntime, RuntimeConfig, instrument_endpoint};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[instrument_endpoint(component = "backend", endpoint = "generate")]
async fn generate(prompt: String) -> String {
    tokio::task::yield_now().await;
    prompt
}

#[instrument_endpoint(component = "backend", endpoint = "tokenize")]
fn tokenize(prompt: &str) -> usize {
    prompt.len()
}

/// The value of sample `name` for `component/endpoint`, `None` when the runtime has no such
/// series.
fn sample(rt: &DistributedRuntime, name: &str, component: &str, endpoint: &str) -> Option<f64> {
    let worker = rt.worker_id().unwrap();
    let series = format!(
        "{name}{{dynamo_namespace=\"dynamo\",dynamo_component=\"{component}\",dynamo_endpoint=\"{endpoint}\",worker_id=\"{worker}\"}} "
    );
    rt.render()
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .map(|v| v.parse().unwrap())
}

/// The value of `dynamo_component_requests_total` for `component/endpoint`.
fn requests(rt: &DistributedRuntime, component: &str, endpoint: &str) -> Option<u64> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    sample(rt, "dynamo_component_requests_total", component, endpoint).map(|v| v as u64)
}

#[tokio::test]
async fn sequential_runtimes_each_record_while_they_live() {
    let _serial = serial();
    for round in 0..3 {
        let rt = DistributedRuntime::new().unwrap();
        // At zero from the start, whatever earlier runtimes recorded.
        assert_eq!(
            requests(&rt, "backend", "generate"),
            Some(0),
            "round {round}"
        );
        for _ in 0..=round {
            generate("x".into()).await;
        }
        assert_eq!(tokenize("abc"), 3);
        assert_eq!(requests(&rt, "backend", "generate"), Some(round + 1));
        assert_eq!(requests(&rt, "backend", "tokenize"), Some(1));
        drop(rt);
    }
}

#[tokio::test]
async fn concurrent_runtimes_see_only_their_scoped_calls() {
    let _serial = serial();
    let prefill = DistributedRuntime::new().unwrap();
    let decode = DistributedRuntime::new().unwrap();
    prefill.scope(generate("a".into())).await;
    prefill
        .scope(async {
            generate("b".into()).await;
            tokenize("b");
        })
        .await;
    decode.scope(generate("c".into())).await;
    decode.in_scope(|| tokenize("c"));
    decode.in_scope(|| tokenize("d"));
    // Scopes nest: the innermost wins.
    prefill.in_scope(|| decode.in_scope(|| tokenize("e")));
    assert_eq!(requests(&prefill, "backend", "generate"), Some(2));
    assert_eq!(requests(&prefill, "backend", "tokenize"), Some(1));
    assert_eq!(requests(&decode, "backend", "generate"), Some(1));
    assert_eq!(requests(&decode, "backend", "tokenize"), Some(3));
    // Outside any scope: the runtime bound to this test's tokio runtime, the first one.
    assert!(DistributedRuntime::current().is_some());
    generate("f".into()).await;
    assert_eq!(requests(&prefill, "backend", "generate"), Some(3));
    assert_eq!(requests(&decode, "backend", "generate"), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_spawned_inside_a_scope_keep_it() {
    let _serial = serial();
    let first = DistributedRuntime::new().unwrap();
    let second = DistributedRuntime::new().unwrap();
    second
        .scope(async {
            let tasks: Vec<_> = (0..8)
                .map(|i| dynamo_metrics::spawn(generate(format!("task {i}"))))
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            dynamo_metrics::spawn_blocking(|| tokenize("blocking"))
                .await
                .unwrap();
            // A plain tokio::spawn does not carry the scope: it runs under the runtime bound
            // to this tokio runtime, `first`.
            tokio::spawn(generate("plain".into())).await.unwrap();
        })
        .await;
    assert_eq!(requests(&second, "backend", "generate"), Some(8));
    assert_eq!(requests(&second, "backend", "tokenize"), Some(1));
    assert_eq!(requests(&first, "backend", "generate"), Some(1));
    assert_eq!(requests(&first, "backend", "tokenize"), Some(0));
}

#[test]
fn each_tokio_runtime_records_into_its_own_runtime() {
    let _serial = serial();
    // Both runtimes are alive while either one calls, and until both have read their counts.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let workers: Vec<_> = [2u64, 5]
        .into_iter()
        .map(|calls| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let tokio = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .build()
                    .unwrap();
                tokio.block_on(async {
                    let rt = DistributedRuntime::new().unwrap();
                    barrier.wait();
                    let tasks: Vec<_> = (0..calls)
                        .map(|_| tokio::spawn(generate("x".into())))
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    let recorded = requests(&rt, "backend", "generate");
                    barrier.wait();
                    (calls, recorded)
                })
            })
        })
        .collect();
    for w in workers {
        let (calls, recorded) = w.join().unwrap();
        assert_eq!(recorded, Some(calls));
    }
}

#[test]
fn the_default_records_calls_outside_tokio_and_scopes() {
    let _serial = serial();
    let older = DistributedRuntime::new().unwrap();
    let newer = DistributedRuntime::new().unwrap();
    tokenize("x");
    assert_eq!(requests(&older, "backend", "tokenize"), Some(1));
    newer.set_default();
    tokenize("y");
    tokenize("z");
    assert_eq!(requests(&older, "backend", "tokenize"), Some(1));
    assert_eq!(requests(&newer, "backend", "tokenize"), Some(2));
    // The default dropped: the oldest live runtime again.
    drop(newer);
    tokenize("w");
    assert_eq!(requests(&older, "backend", "tokenize"), Some(2));
}

#[test]
fn calls_with_no_runtime_alive_move_into_the_next_one() {
    let _serial = serial();
    assert!(DistributedRuntime::current().is_none());
    tokenize("before");
    tokenize("before");
    let rt = DistributedRuntime::new().unwrap();
    assert_eq!(requests(&rt, "backend", "tokenize"), Some(2));
    assert_eq!(
        sample(
            &rt,
            "dynamo_component_request_bytes_total",
            "backend",
            "tokenize"
        ),
        Some(12.0)
    );
    assert_eq!(
        sample(
            &rt,
            "dynamo_component_inflight_requests",
            "backend",
            "tokenize"
        ),
        Some(0.0)
    );
}

#[tokio::test]
async fn a_renamed_component_labels_its_calls() {
    let _serial = serial();
    let mut config = RuntimeConfig::default();
    config.renames = BTreeMap::from([
        ("backend".to_owned(), "prefill".to_owned()),
        (
            "backend/tokenize".to_owned(),
            "frontend/tokenize".to_owned(),
        ),
    ]);
    let rt = DistributedRuntime::with_config(&config).unwrap();
    // The series exist at zero under the names they will have, not the attribute's.
    assert_eq!(requests(&rt, "prefill", "generate"), Some(0));
    assert_eq!(requests(&rt, "frontend", "tokenize"), Some(0));
    assert_eq!(requests(&rt, "backend", "generate"), None);
    generate("x".into()).await;
    tokenize("x");
    assert_eq!(requests(&rt, "prefill", "generate"), Some(1));
    assert_eq!(requests(&rt, "frontend", "tokenize"), Some(1));

    // From the environment, as a worker deployed as `decode` would be.
    let from_env = RuntimeConfig::from_lookup(|v| {
        (v == "DYN_METRICS_RENAME").then(|| "backend=decode".into())
    })
    .unwrap();
    let decode = DistributedRuntime::with_config(&from_env).unwrap();
    decode.scope(generate("y".into())).await;
    assert_eq!(requests(&decode, "decode", "generate"), Some(1));
    assert_eq!(requests(&rt, "prefill", "generate"), Some(1));

    let mut bad = RuntimeConfig::default();
    bad.renames = BTreeMap::from([("backend".to_owned(), "Back End".to_owned())]);
    assert_eq!(
        DistributedRuntime::with_config(&bad)
            .unwrap_err()
            .to_string(),
        "invalid component name \"Back End\": character ' ' at byte 4 is not allowed; namespace, component and endpoint names use letters, digits, `_` and `-`"
    );
}

/// The value of sample `name` of `backend/generate` in `rt`.
fn generate_sample(rt: &DistributedRuntime, name: &str) -> Option<f64> {
    sample(rt, name, "backend", "generate")
}

#[test]
fn a_call_ends_in_the_runtime_it_started_in_wherever_it_ends() {
    use std::future::Future;
    use std::task::{Context, Waker};
    let _serial = serial();
    let a = DistributedRuntime::new().unwrap();
    let b = DistributedRuntime::new().unwrap();
    b.set_default();
    let poll_once = |call: &mut std::pin::Pin<Box<dyn Future<Output = String> + Send>>| {
        call.as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    };
    // Started under `a` (the handler yields once), finished on another thread outside any
    // scope, where `b` is the default: `a` records the whole call.
    let mut call: std::pin::Pin<Box<dyn Future<Output = String> + Send>> =
        Box::pin(generate("x".into()));
    assert!(a.in_scope(|| poll_once(&mut call)));
    assert_eq!(
        generate_sample(&a, "dynamo_component_inflight_requests"),
        Some(1.0)
    );
    std::thread::spawn(move || while poll_once(&mut call) {})
        .join()
        .unwrap();
    for (rt, count) in [(&a, 1.0), (&b, 0.0)] {
        assert_eq!(
            generate_sample(rt, "dynamo_component_inflight_requests"),
            Some(0.0)
        );
        assert_eq!(
            generate_sample(rt, "dynamo_component_request_duration_seconds_count"),
            Some(count)
        );
    }
    // A call whose runtime is dropped before it ends records nothing more, anywhere.
    let mut call: std::pin::Pin<Box<dyn Future<Output = String> + Send>> =
        Box::pin(generate("y".into()));
    assert!(a.in_scope(|| poll_once(&mut call)));
    drop(a);
    while poll_once(&mut call) {}
    assert_eq!(
        generate_sample(&b, "dynamo_component_request_duration_seconds_count"),
        Some(0.0)
    );
    assert_eq!(requests(&b, "backend", "generate"), Some(0));
}
