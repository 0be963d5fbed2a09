//! The shipped deploy files: dashboards are valid and follow the house rules, the Kubernetes
//! manifests have what the operator needs and select what the processes really serve, and the
//! dashboards ConfigMap is current.

use std::path::{Path, PathBuf};

use dynamo_metrics_tests::yaml_documents;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dashboard(name: &str) -> Value {
    let path = root().join("deploy/metrics/grafana_dashboards").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every panel, rows' nested panels included.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// Metric names used right after `rate(` in `expr`.
fn rated(expr: &str) -> Vec<String> {
    expr.match_indices("rate(")
        .map(|(i, _)| {
            expr[i + 5..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect()
        })
        .collect()
}

#[test]
fn dashboards_are_valid_and_follow_the_rules() {
    for name in dynamo_examples::reference::DASHBOARDS {
        let d = dashboard(name);
        let mut ids = std::collections::HashSet::new();
        let mut targets = 0;
        for p in panels(&d) {
            let id = p["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: a panel without id"));
            assert!(ids.insert(id), "{name}: panel id {id} used twice");
            for t in p["targets"].as_array().into_iter().flatten() {
                targets += 1;
                assert_eq!(
                    t["datasource"]["type"], "prometheus",
                    "{name}/{}: target without datasource",
                    p["title"]
                );
                assert!(
                    t["datasource"]["uid"].is_string(),
                    "{name}/{}: datasource without uid",
                    p["title"]
                );
                let expr = t["expr"].as_str().unwrap();
                for m in rated(expr) {
                    let counter = ["_total", "_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| m.ends_with(s))
                        || m == "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION";
                    assert!(
                        counter,
                        "{name}/{}: rate() over {m}, which is not a counter",
                        p["title"]
                    );
                }
                for (i, _) in expr
                    .match_indices("_sum")
                    .chain(expr.match_indices("_count"))
                {
                    let before = &expr[..i];
                    let start = before
                        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .map_or(0, |s| s + 1);
                    assert!(
                        before[..start].ends_with("rate("),
                        "{name}/{}: a lifetime average in {expr}",
                        p["title"]
                    );
                }
                assert!(
                    !expr.contains("dynamo_endpoint=\""),
                    "{name}/{}: hard-coded endpoint in {expr}",
                    p["title"]
                );
            }
        }
        assert!(targets > 0, "{name}: no targets");
    }
    let vars: Vec<String> = dashboard("grafana-dynamo-dashboard.json")["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(vars, ["model", "namespace", "component", "endpoint"]);
}

#[test]
fn dynamo_dashboard_covers_every_builtin_family() {
    let text = std::fs::read_to_string(
        root().join("deploy/metrics/grafana_dashboards/grafana-dynamo-dashboard.json"),
    )
    .unwrap();
    let mut missing = Vec::new();
    let mut checked = 0;
    // Link the demo, whose instrumented endpoint and built-in structs fill the catalog.
    let _ = dynamo_examples::demo::default_timings();
    for d in dynamo_metrics::catalog() {
        if matches!(d.subsystem, "frontend" | "preprocessor" | "component") {
            checked += 1;
            if !text.contains(d.name) {
                missing.push(d.name);
            }
        }
    }
    assert!(
        checked >= 28,
        "only {checked} built-in families in the catalog"
    );
    for gpu in [
        "dynamo_gpu_utilization_percent",
        "dynamo_gpu_memory_used_bytes",
        "dynamo_gpu_temperature_celsius",
        "dynamo_gpu_power_usage_watts",
    ] {
        if !text.contains(gpu) {
            missing.push(gpu);
        }
    }
    assert!(missing.is_empty(), "families without a panel: {missing:?}");
}

#[test]
fn pod_monitors_select_what_the_processes_serve() {
    let monitors = yaml_documents(
        &std::fs::read_to_string(root().join("deploy/k8s/podmonitor.yaml")).unwrap(),
    );
    let demo =
        yaml_documents(&std::fs::read_to_string(root().join("deploy/k8s/demo.yaml")).unwrap());
    let pod = &demo[0]["spec"]["template"];
    let component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
        .as_str()
        .unwrap();
    let ports = pod["spec"]["containers"][0]["ports"].as_array().unwrap();
    let port = |name: &str| {
        ports
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["containerPort"].as_u64().unwrap())
    };
    // What the demo serves: the frontend's /metrics on 8080, its two workers' status servers'
    // on 8081 and 8082.
    let expected = [
        ("dynamo-frontend", "http", 8080),
        ("dynamo-worker", "system", 8081),
    ];
    assert_eq!(monitors.len(), expected.len());
    for (m, (name, port_name, number)) in monitors.iter().zip(expected) {
        assert_eq!(m["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(m["kind"], "PodMonitor");
        assert_eq!(m["metadata"]["name"], name);
        let endpoints = m["spec"]["podMetricsEndpoints"].as_array().unwrap();
        // The worker monitor scrapes every worker: the status ports after the first.
        let workers = if name == "dynamo-worker" { 2 } else { 1 };
        assert_eq!(endpoints.len(), workers, "{name}");
        for (i, endpoint) in endpoints.iter().enumerate() {
            let (port_name, number) = match i {
                0 => (port_name.to_owned(), number),
                i => (format!("{port_name}-{i}"), number + i as u64),
            };
            assert_eq!(endpoint["path"], "/metrics", "{name}");
            assert_eq!(endpoint["port"], port_name.as_str(), "{name}");
            assert_eq!(
                port(&port_name),
                Some(number),
                "{name}: the pod has no port {port_name}={number}"
            );
        }
        let selects = m["spec"]["selector"]["matchExpressions"][0]["values"]
            .as_array()
            .unwrap();
        assert!(
            selects.iter().any(|v| v == component),
            "{name} does not select the demo pod"
        );
        assert_eq!(
            m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
            "dynamo"
        );
    }
    assert_eq!(
        pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"],
        "/health"
    );
}

#[test]
fn dashboards_configmap_is_current() {
    let path = root().join("deploy/k8s/grafana-dashboards.yaml");
    let checked_in = std::fs::read_to_string(&path).unwrap();
    assert!(
        checked_in == dynamo_examples::reference::dashboards_configmap(&root()).unwrap(),
        "deploy/k8s/grafana-dashboards.yaml is stale: run `cargo run -p dynamo-examples --bin gen-dashboards-configmap`"
    );
    let cm = &yaml_documents(&checked_in)[0];
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    for name in dynamo_examples::reference::DASHBOARDS {
        let embedded: Value = serde_json::from_str(cm["data"][name].as_str().unwrap()).unwrap();
        assert_eq!(embedded, dashboard(name), "{name}");
    }
}

#[test]
fn the_collector_receives_both_protocols_and_writes_to_the_stacks_prometheus() {
    let text = std::fs::read_to_string(root().join("deploy/metrics/otel-collector.yml")).unwrap();
    let collector = &yaml_documents(&text)[0];
    let protocols = &collector["receivers"]["otlp"]["protocols"];
    assert_eq!(protocols["grpc"]["endpoint"], "0.0.0.0:4317");
    assert_eq!(protocols["http"]["endpoint"], "0.0.0.0:4318");
    let pipeline = &collector["service"]["pipelines"]["metrics"];
    for (kind, section) in [
        ("receivers", "receivers"),
        ("processors", "processors"),
        ("exporters", "exporters"),
    ] {
        for name in pipeline[kind].as_array().unwrap() {
            let name = name.as_str().unwrap();
            assert!(
                collector[section][name].is_object(),
                "{kind} {name} is not defined"
            );
        }
    }
    let write = &collector["exporters"]["prometheusremotewrite"];
    assert_eq!(write["endpoint"], "http://prometheus:9090/api/v1/write");
    assert_eq!(
        write["add_metric_suffixes"], false,
        "names arrive with their suffixes"
    );

    let compose = &yaml_documents(
        &std::fs::read_to_string(root().join("deploy/metrics/docker-compose.yml")).unwrap(),
    )[0];
    let service = &compose["services"]["otel-collector"];
    assert_eq!(
        service["ports"],
        serde_json::json!(["4317:4317", "4318:4318"])
    );
    assert_eq!(service["profiles"], serde_json::json!(["otlp"]));
    let prometheus = compose["services"]["prometheus"]["command"]
        .as_array()
        .unwrap();
    assert!(
        prometheus
            .iter()
            .any(|c| c == "--web.enable-remote-write-receiver")
    );
}
