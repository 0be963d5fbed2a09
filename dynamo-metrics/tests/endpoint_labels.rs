//! Endpoint labels and worker identity: an instrumented function whose calls give a `model`,
//! endpoints with labels made by hand, the series of a served model at zero before its first
//! request, the cap on values from requests, and `worker_id` at every level.
//!
//! The binding of instrumented functions is process state, so the tests that call them take
//! one lock.

#![cfg(feature = "metrics")]
#![allow(clippy::await_holding_lock)]

use std::sync::Mutex;

use dynamo_metrics::{
    DistributedRuntime, EndpointMetrics, Error, MetricsRegistry, RuntimeConfig, WorkerId,
    instrument_endpoint,
};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Request {
    model: String,
    prompt: String,
}

#[instrument_endpoint(component = "backend", endpoint = "generate", labels(model = request.model))]
async fn generate(request: Request) -> String {
    tokio::task::yield_now().await;
    request.prompt
}

/// The value of `name{labels}` in `text`, `None` when there is no such line.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
}

fn runtime(id: &str) -> DistributedRuntime {
    DistributedRuntime::with_config(
        &RuntimeConfig::default().with_worker_id(WorkerId::Fixed(id.to_owned())),
    )
    .unwrap()
}

fn generate_labels(model: Option<&str>, worker: &str) -> String {
    let model = model.map(|m| format!(",model=\"{m}\"")).unwrap_or_default();
    format!(
        "dynamo_namespace=\"dynamo\",dynamo_component=\"backend\",dynamo_endpoint=\"generate\"{model},worker_id=\"{worker}\""
    )
}

#[tokio::test]
async fn calls_are_recorded_under_the_model_they_give() {
    let _serial = serial();
    let rt = runtime("w1");
    let requests = |text: &str, model| {
        sample(
            text,
            "dynamo_component_requests_total",
            &generate_labels(model, "w1"),
        )
    };
    // A served model's series exist at zero before its first request.
    assert_eq!(
        rt.prepare_endpoint_labels(&[("model", "llama")]).unwrap(),
        1
    );
    assert_eq!(
        rt.prepare_endpoint_labels(&[("model_name", "Llama")])
            .unwrap(),
        0,
        "no function gives model_name"
    );
    let text = rt.render();
    assert_eq!(requests(&text, Some("llama")), Some(0.0), "{text}");
    assert_eq!(requests(&text, Some("qwen")), None);
    let ask = |model: &str| {
        generate(Request {
            model: model.to_owned(),
            prompt: "hi".to_owned(),
        })
    };
    ask("llama").await;
    ask("llama").await;
    ask("qwen").await;
    ask("").await;
    let text = rt.render();
    assert_eq!(requests(&text, Some("llama")), Some(2.0), "{text}");
    assert_eq!(requests(&text, Some("qwen")), Some(1.0));
    // No model: the endpoint without labels.
    assert_eq!(requests(&text, None), Some(1.0));
    for model in ["llama", "qwen"] {
        let labels = generate_labels(Some(model), "w1");
        let count = sample(
            &text,
            "dynamo_component_request_duration_seconds_count",
            &labels,
        );
        assert_eq!(count, Some(if model == "llama" { 2.0 } else { 1.0 }));
        let inflight = sample(&text, "dynamo_component_inflight_requests", &labels);
        assert_eq!(inflight, Some(0.0));
        let errors = format!("{labels},error_type=\"handler\"");
        assert_eq!(
            sample(&text, "dynamo_component_errors_total", &errors),
            Some(0.0)
        );
    }
}

#[tokio::test]
async fn values_past_the_caps_are_recorded_without_labels_and_counted() {
    let _serial = serial();
    let rt = runtime("w2");
    let long = "m".repeat(dynamo_metrics::DEFAULT_MAX_LABEL_LEN + 1);
    generate(Request {
        model: long.clone(),
        prompt: String::new(),
    })
    .await;
    let text = rt.render();
    assert!(!text.contains(&long));
    let unlabelled = generate_labels(None, "w2");
    assert_eq!(
        sample(&text, "dynamo_component_requests_total", &unlabelled),
        Some(1.0)
    );
    let overflow = "worker_id=\"w2\",family=\"dynamo_component_requests_total\"";
    assert_eq!(
        sample(&text, "dynamo_metrics_series_overflow_total", overflow),
        Some(1.0),
        "{text}"
    );
    assert!(matches!(
        rt.prepare_endpoint_labels(&[("model", &long)]),
        Err(Error::EndpointLabels { .. })
    ));
}

#[test]
fn endpoints_made_by_hand_carry_their_labels() {
    let mut config = RuntimeConfig::default().with_worker_id(WorkerId::Fixed("w3".into()));
    config.endpoint_labels = vec!["model_name".into()];
    let rt = DistributedRuntime::with_config(&config).unwrap();
    let component = rt.namespace("ns").unwrap().component("worker").unwrap();
    let llama = component
        .endpoint_with_labels("generate", &[("model", "llama"), ("model_name", "Llama-3")])
        .unwrap();
    let qwen = component
        .endpoint_with_labels("generate", &[("model", "qwen")])
        .unwrap();
    // The same node for the same values; another for others.
    let again = component
        .endpoint_with_labels("generate", &[("model_name", "Llama-3"), ("model", "llama")])
        .unwrap();
    assert_eq!(again.labels(), llama.labels());
    assert_eq!(qwen.labels(), &[("model".to_owned(), "qwen".to_owned())]);
    EndpointMetrics::register(&llama).unwrap().start().finish();
    EndpointMetrics::register(&qwen).unwrap();
    let plain = component.endpoint("generate").unwrap();
    plain
        .create_intgauge("kv_blocks", "KV blocks", &[])
        .unwrap()
        .set(3);
    let text = rt.render();
    let base = "dynamo_namespace=\"ns\",dynamo_component=\"worker\",dynamo_endpoint=\"generate\"";
    let requests = |labels: &str| sample(&text, "dynamo_component_requests_total", labels);
    assert_eq!(
        requests(&format!(
            "{base},model_name=\"Llama-3\",model=\"llama\",worker_id=\"w3\""
        )),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        requests(&format!("{base},model=\"qwen\",worker_id=\"w3\"")),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            "dynamo_component_kv_blocks",
            &format!("{base},worker_id=\"w3\"")
        ),
        Some(3.0)
    );

    for (labels, why) in [
        (&[("tenant", "a")][..], "not an endpoint label"),
        (&[("model", "a"), ("model", "b")][..], "given twice"),
    ] {
        let err = component
            .endpoint_with_labels("generate", labels)
            .unwrap_err();
        assert!(
            matches!(&err, Error::EndpointLabels { reason, .. } if reason.contains(why)),
            "{err}"
        );
    }
}

#[test]
fn endpoint_label_names_follow_the_rule_table() {
    for bad in ["worker_id", "dynamo_endpoint", "le", "quantile", "9lives"] {
        let mut config = RuntimeConfig::default();
        config.endpoint_labels = vec![bad.to_owned()];
        let err = DistributedRuntime::with_config(&config).unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{bad}: {err}");
    }
    // The configured names, then those instrumented functions give (`generate`: `model`).
    let _serial = serial();
    let mut config = RuntimeConfig::default();
    config.endpoint_labels = vec!["tenant".to_owned()];
    let rt = DistributedRuntime::with_config(&config).unwrap();
    let component = rt.namespace("ns").unwrap().component("c").unwrap();
    let both = component.endpoint_with_labels("e", &[("tenant", "a"), ("model", "m")]);
    assert!(both.is_ok());
    let err = component
        .endpoint_with_labels("e", &[("model_name", "m")])
        .unwrap_err();
    assert!(
        matches!(&err, Error::EndpointLabels { reason, .. } if reason.contains("tenant, model")),
        "{err}"
    );
    let env = RuntimeConfig::from_lookup(|v| {
        (v == "DYN_METRICS_ENDPOINT_LABELS").then(|| "model, tenant".to_owned())
    })
    .unwrap();
    assert_eq!(env.endpoint_labels, ["model", "tenant"]);
    let bad = RuntimeConfig::from_lookup(|v| {
        (v == "DYN_METRICS_ENDPOINT_LABELS").then(|| "model,worker_id".to_owned())
    });
    assert!(matches!(bad, Err(Error::Env { .. })));
}

#[test]
fn every_level_carries_the_worker_id() {
    let _serial = serial();
    let rt = DistributedRuntime::new().unwrap();
    let id = rt.worker_id().unwrap().to_owned();
    assert!(u64::from_str_radix(&id, 16).is_ok(), "{id}");
    let other = DistributedRuntime::new().unwrap();
    assert_ne!(other.worker_id(), Some(id.as_str()), "each runtime its own");
    let ns = rt.namespace("ns").unwrap();
    let component = ns.component("c").unwrap();
    let endpoint = component.endpoint("e").unwrap();
    rt.create_intgauge("at_runtime", "Runtime level", &[])
        .unwrap();
    ns.create_intgauge("at_namespace", "Namespace level", &[])
        .unwrap();
    component
        .create_intgauge("at_component", "Component level", &[])
        .unwrap();
    endpoint
        .create_intgauge("at_endpoint", "Endpoint level", &[])
        .unwrap();
    let text = rt.render();
    for (name, hierarchy) in [
        ("at_runtime", ""),
        ("at_namespace", "dynamo_namespace=\"ns\","),
        (
            "at_component",
            "dynamo_namespace=\"ns\",dynamo_component=\"c\",",
        ),
        (
            "at_endpoint",
            "dynamo_namespace=\"ns\",dynamo_component=\"c\",dynamo_endpoint=\"e\",",
        ),
    ] {
        let labels = format!("{hierarchy}worker_id=\"{id}\"");
        assert_eq!(
            sample(&text, &format!("dynamo_component_{name}"), &labels),
            Some(0.0),
            "{name} in {text}"
        );
    }
    assert!(text.contains(&format!(
        "dynamo_component_uptime_seconds{{worker_id=\"{id}\"}} "
    )));
}

#[test]
fn worker_id_is_the_runtimes_alone() {
    let _serial = serial();
    let rt = runtime("w4");
    let component = rt.namespace("ns").unwrap().component("c").unwrap();
    let refused = [
        component.create_intgauge("g", "A gauge", &[("worker_id", "x")]),
        rt.create_intgauge("h", "A gauge", &[("worker_id", "x")]),
    ];
    for err in refused {
        assert!(
            matches!(&err, Err(Error::InvalidName { name, .. }) if name == "worker_id"),
            "{err:?}"
        );
    }
    assert!(
        component
            .create_intgaugevec("by_worker", "Per worker", &["worker_id"], &[])
            .is_err()
    );
    // At runtime level a family may describe other workers by their ids: the runtime's own
    // is then not added.
    let per_worker = rt
        .create_intgaugevec("worker_load", "Load of each worker", &["worker_id"], &[])
        .unwrap();
    per_worker.with_label_values(&["7"]).unwrap().set(2);
    let text = rt.render();
    assert_eq!(
        sample(&text, "dynamo_component_worker_load", "worker_id=\"7\""),
        Some(2.0),
        "{text}"
    );
    let off =
        DistributedRuntime::with_config(&RuntimeConfig::default().with_worker_id(WorkerId::Off))
            .unwrap();
    assert_eq!(off.worker_id(), None);
    assert!(!off.render().contains("worker_id"));
    for (value, want) in [
        ("abc-1", Ok(WorkerId::Fixed("abc-1".to_owned()))),
        ("off", Ok(WorkerId::Off)),
        ("a b", Err(())),
    ] {
        let got = RuntimeConfig::from_lookup(|v| (v == "DYN_WORKER_ID").then(|| value.to_owned()))
            .map(|c| c.worker_id)
            .map_err(|e| {
                assert!(matches!(
                    e,
                    Error::Env {
                        var: "DYN_WORKER_ID",
                        ..
                    }
                ))
            });
        assert_eq!(got, want, "{value}");
    }
    let bad = RuntimeConfig::default().with_worker_id(WorkerId::Fixed("a/b".to_owned()));
    assert!(DistributedRuntime::with_config(&bad).is_err());
}
