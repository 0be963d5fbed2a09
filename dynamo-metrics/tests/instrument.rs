//! `#[instrument_endpoint]` end to end. One test: the runtime attaches instrumented
//! functions once per process, and part of what is checked is what happens before it does.

#![cfg(feature = "metrics")]

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use dynamo_metrics::{DistributedRuntime, ErrorType, instrument_endpoint};
use futures_core::Stream;

#[derive(Debug, ErrorType)]
enum GenerateError {
    InvalidPrompt,
    #[error_type(name = "engine_overloaded")]
    Overloaded {
        #[allow(dead_code)]
        queue: usize,
    },
}

#[instrument_endpoint(component = "backend", endpoint = "tokenize")]
fn tokenize(prompt: String) -> Vec<String> {
    prompt.split(' ').map(str::to_owned).collect()
}

#[instrument_endpoint(component = "backend", endpoint = "generate")]
async fn generate(prompt: String) -> Result<String, GenerateError> {
    tokio::task::yield_now().await;
    match prompt.as_str() {
        "" => Err(GenerateError::InvalidPrompt),
        "busy" => Err(GenerateError::Overloaded { queue: 9 }),
        _ => Ok(prompt.to_uppercase()),
    }
}

struct Engine {
    suffix: String,
}

impl Engine {
    #[instrument_endpoint(component = "backend", endpoint = "complete")]
    fn complete(&self, prompt: &str) -> String {
        format!("{prompt}{}", self.suffix)
    }

    #[instrument_endpoint(component = "backend", endpoint = "configure")]
    fn configure(&mut self, suffix: String) -> Result<(), std::io::Error> {
        if suffix.is_empty() {
            return Err(std::io::Error::other("empty"));
        }
        self.suffix = suffix;
        Ok(())
    }
}

#[instrument_endpoint(component = "backend", endpoint = "echo")]
fn echo<T: Clone, U>(value: T, _tag: U) -> T
where
    U: Send + std::fmt::Debug,
{
    value.clone()
}

#[instrument_endpoint(component = "backend", endpoint = "explode")]
fn explode(bytes: Vec<u8>) -> usize {
    if bytes.is_empty() {
        panic!("no bytes");
    }
    bytes.len()
}

#[instrument_endpoint(component = "backend", endpoint = "slow")]
async fn slow(_prompt: String) -> String {
    std::future::pending::<()>().await;
    String::new()
}

struct Tokens(Vec<Result<String, GenerateError>>);

impl Stream for Tokens {
    type Item = Result<String, GenerateError>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(if self.0.is_empty() {
            None
        } else {
            Some(self.0.remove(0))
        })
    }
}

#[instrument_endpoint(component = "backend", endpoint = "stream")]
async fn stream(prompt: String) -> impl Stream<Item = Result<String, GenerateError>> {
    let mut items: Vec<_> = prompt.split(' ').map(|w| Ok(w.to_owned())).collect();
    items.push(Err(GenerateError::InvalidPrompt));
    Tokens(items)
}

async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

fn value(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn labels(endpoint: &str) -> String {
    format!(
        "dynamo_namespace=\"dynamo\",dynamo_component=\"backend\",dynamo_endpoint=\"{endpoint}\""
    )
}

fn metric(name: &str, endpoint: &str) -> String {
    format!("dynamo_component_{name}{{{}}}", labels(endpoint))
}

#[tokio::test]
async fn instrumented_handlers_record_requests() {
    // Before any runtime: counted in pending cells.
    assert_eq!(tokenize("a b c".into()), ["a", "b", "c"]);

    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let text = rt.render();
    assert_eq!(value(&text, &metric("requests_total", "tokenize")), 1.0);
    assert_eq!(
        value(&text, &metric("request_bytes_total", "tokenize")),
        5.0
    );
    assert_eq!(value(&text, &metric("inflight_requests", "tokenize")), 0.0);
    // Every instrumented endpoint is at zero before its first call.
    for ep in [
        "generate",
        "complete",
        "configure",
        "echo",
        "explode",
        "slow",
        "stream",
    ] {
        assert_eq!(value(&text, &metric("requests_total", ep)), 0.0, "{ep}");
        let errors = format!(
            "dynamo_component_errors_total{{{},error_type=\"handler\"}}",
            labels(ep)
        );
        assert_eq!(value(&text, &errors), 0.0, "{ep}");
    }

    // Async, with a derived error type.
    assert_eq!(generate("hi".into()).await.unwrap(), "HI");
    assert!(generate(String::new()).await.is_err());
    assert!(generate("busy".into()).await.is_err());
    // Methods, &self and &mut self; an error type without ErrorType counts as "handler".
    let mut engine = Engine { suffix: "!".into() };
    assert_eq!(engine.complete("ok"), "ok!");
    assert!(engine.configure(String::new()).is_err());
    engine.configure("?".into()).unwrap();
    // Generic.
    assert_eq!(echo(7u32, ()), 7);
    assert_eq!(echo("abcd".to_owned(), 1), "abcd");
    // Panic.
    assert!(std::panic::catch_unwind(|| explode(Vec::new())).is_err());
    assert_eq!(explode(vec![1, 2, 3]), 3);
    // A future dropped mid-way.
    let dropped =
        tokio::time::timeout(std::time::Duration::from_millis(20), slow("x".into())).await;
    assert!(dropped.is_err());
    // A stream, read to the end, and another dropped after one item.
    let mut s = Box::pin(stream("one two".into()).await);
    let mut items = Vec::new();
    while let Some(item) = next(&mut s).await {
        items.push(item);
    }
    assert_eq!(items.len(), 3);
    let mut s = Box::pin(stream("x y".into()).await);
    assert!(next(&mut s).await.is_some());
    drop(s);

    // The catalog lists the endpoint families for every instrumented function.
    let from_generate: Vec<&str> = dynamo_metrics::catalog()
        .into_iter()
        .filter(|d| d.source == "instrument::generate")
        .map(|d| d.name)
        .collect();
    assert_eq!(
        from_generate,
        [
            "dynamo_component_cancellation_total",
            "dynamo_component_errors_total",
            "dynamo_component_inflight_requests",
            "dynamo_component_request_bytes_total",
            "dynamo_component_request_duration_seconds",
            "dynamo_component_requests_total",
            "dynamo_component_response_bytes_total",
        ]
    );

    let text = rt.render();
    let v = |name: &str, ep: &str| value(&text, &metric(name, ep));
    let errors = |ep: &str, t: &str| {
        value(
            &text,
            &format!(
                "dynamo_component_errors_total{{{},error_type=\"{t}\"}}",
                labels(ep)
            ),
        )
    };
    assert_eq!(v("requests_total", "generate"), 3.0);
    assert_eq!(v("request_bytes_total", "generate"), 6.0);
    assert_eq!(v("response_bytes_total", "generate"), 2.0);
    assert_eq!(errors("generate", "invalid_prompt"), 1.0);
    assert_eq!(errors("generate", "engine_overloaded"), 1.0);
    assert_eq!(v("request_duration_seconds_count", "generate"), 3.0);
    assert_eq!(v("requests_total", "complete"), 1.0);
    assert_eq!(v("response_bytes_total", "complete"), 3.0);
    assert_eq!(v("requests_total", "configure"), 2.0);
    assert_eq!(errors("configure", "handler"), 1.0);
    assert_eq!(v("requests_total", "echo"), 2.0);
    assert_eq!(v("requests_total", "explode"), 2.0);
    assert_eq!(errors("explode", "panic"), 1.0);
    assert_eq!(v("request_bytes_total", "explode"), 3.0);
    assert_eq!(v("cancellation_total", "explode"), 0.0);
    assert_eq!(v("requests_total", "slow"), 1.0);
    assert_eq!(v("cancellation_total", "slow"), 1.0);
    assert_eq!(v("requests_total", "stream"), 2.0);
    assert_eq!(v("response_bytes_total", "stream"), 7.0);
    assert_eq!(errors("stream", "invalid_prompt"), 1.0);
    assert_eq!(v("cancellation_total", "stream"), 1.0);
    assert_eq!(v("request_duration_seconds_count", "stream"), 2.0);
    for ep in [
        "tokenize",
        "generate",
        "complete",
        "configure",
        "echo",
        "explode",
        "slow",
        "stream",
    ] {
        assert_eq!(v("inflight_requests", ep), 0.0, "{ep}");
    }
}
