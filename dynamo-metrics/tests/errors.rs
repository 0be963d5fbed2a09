//! Every refusal of a declaration: the error kind and the whole message.

use dynamo_metrics::naming::{MetricKind, NameError};
use dynamo_metrics::{DistributedRuntime, Endpoint, Error, MetricsRegistry, prometheus};

fn endpoint(rt: &DistributedRuntime) -> Endpoint {
    rt.namespace("ns")
        .unwrap()
        .component("c")
        .unwrap()
        .endpoint("e")
        .unwrap()
}

#[test]
fn invalid_metric_names() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let ep = endpoint(&rt);
    let err = ep
        .create_intcounter("bad-name_total", "h", &[])
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidName {
            what: "metric name",
            reason: NameError::InvalidChar {
                ch: '-',
                index: 3,
                ..
            },
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "invalid metric name \"bad-name_total\": character '-' at byte 3 is not allowed; \
         metric names match [a-zA-Z_:][a-zA-Z0-9_:]*"
    );
    let err = ep.create_gauge("", "h", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid metric name \"\": names must not be empty"
    );
    let err = ep.create_gauge("__secret", "h", &[]).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidName {
            reason: NameError::ReservedPrefix,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "invalid metric name \"__secret\": names starting with `__` are reserved for Prometheus"
    );
}

#[test]
fn suffix_rules() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let err = rt.create_intcounter("requests", "h", &[]).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidName {
            reason: NameError::CounterWithoutTotal,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "invalid metric name \"dynamo_component_requests\": counter names must end in `_total`"
    );
    let err = rt.create_intgauge("inflight_total", "h", &[]).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidName {
            reason: NameError::TotalOnNonCounter(MetricKind::Gauge),
            ..
        }
    ));
    let err = rt
        .create_histogram("wait_count", "h", &[], None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid metric name \"dynamo_component_wait_count\": histogram names must not end in \
         `_count`, which their own series use"
    );
}

#[test]
fn reserved_and_invalid_labels() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let ep = endpoint(&rt);
    let err = ep
        .create_intcounter("a_total", "h", &[("dynamo_endpoint", "x")])
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidName {
            what: "label name",
            reason: NameError::HierarchyLabel,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "invalid label name \"dynamo_endpoint\": the hierarchy labels dynamo_namespace, \
         dynamo_component and dynamo_endpoint are injected by the runtime from the level the \
         metric lives at and cannot be set by hand"
    );
    // Also on the runtime level, where no hierarchy label is injected, and as variable labels.
    let err = rt
        .create_intcountervec("b_total", "h", &["dynamo_namespace"], &[])
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidName {
            reason: NameError::HierarchyLabel,
            ..
        }
    ));
    let err = ep
        .create_histogramvec("h_seconds", "h", &["le"], &[], None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid label name \"le\": `le` is reserved for the bucket bounds of histograms"
    );
    // `le` is an ordinary label elsewhere.
    ep.create_intgaugevec("level", "h", &["le"], &[]).unwrap();
    let err = ep
        .create_gauge("g", "h", &[("quantile", "0.5")])
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidName {
            reason: NameError::ReservedQuantile,
            ..
        }
    ));
    let err = ep
        .create_gauge("g2", "h", &[("__name__", "x")])
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidName {
            reason: NameError::ReservedPrefix,
            ..
        }
    ));
    let err = ep
        .create_gaugevec("g3", "h", &["my-label"], &[])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid label name \"my-label\": character '-' at byte 2 is not allowed; label names \
         match [a-zA-Z_][a-zA-Z0-9_]*"
    );
    let err = ep.create_gaugevec("g4", "h", &[""], &[]).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidName {
            reason: NameError::Empty,
            ..
        }
    ));
}

#[test]
fn duplicate_labels() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let err = rt
        .create_intcountervec("x_total", "h", &["model"], &[("model", "m")])
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateLabel { ref label, .. } if label == "model"));
    assert_eq!(
        err.to_string(),
        "duplicate label name \"model\" in metric \"dynamo_component_x_total\": each label may appear once"
    );
    let err = rt
        .create_intgaugevec("y", "h", &["a", "a"], &[])
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateLabel { .. }));
}

#[test]
fn empty_help_and_bad_buckets() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let err = rt.create_gauge("g", "  ", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "metric \"dynamo_component_g\" has empty help text: describe what it measures"
    );
    let err = rt
        .create_histogram("h_seconds", "h", &[], Some(&[2.0, 1.0]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid buckets for \"dynamo_component_h_seconds\": bounds must be strictly increasing, \
         but 2 is followed by 1"
    );
    assert!(matches!(
        rt.create_histogram("h2_seconds", "h", &[], Some(&[])),
        Err(Error::InvalidBuckets { .. })
    ));
    assert!(matches!(
        rt.create_histogram("h3_seconds", "h", &[], Some(&[f64::NAN])),
        Err(Error::InvalidBuckets { .. })
    ));
}

#[test]
fn conflicting_redeclarations_name_both_declarations() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let ep = endpoint(&rt);
    let first = ep.create_intcounter("requests_total", "Requests handled", &[]);
    let line = line!() - 1;
    first.unwrap();
    // Another help text.
    let err = ep
        .create_intcounter("requests_total", "Other help", &[])
        .unwrap_err();
    let Error::Conflict {
        family,
        existing,
        new,
    } = &err
    else {
        panic!("expected a conflict, got {err}");
    };
    assert_eq!(family, "dynamo_component_requests_total");
    let file = file!();
    assert_eq!(
        existing,
        &format!(
            "counter of u64, help \"Requests handled\", labels [dynamo_namespace, dynamo_component, \
             dynamo_endpoint] (declared at {file}:{line}:20 in scope {{dynamo_namespace=\"ns\", \
             dynamo_component=\"c\", dynamo_endpoint=\"e\"}})"
        )
    );
    assert!(
        new.starts_with("counter of u64, help \"Other help\""),
        "{new}"
    );
    assert!(err.to_string().starts_with(
        "metric family \"dynamo_component_requests_total\" is already declared differently: existing counter"
    ));
    // Another type, another value type, other labels, other level, other buckets.
    assert!(matches!(
        ep.create_intgauge("requests_total", "Requests handled", &[]),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        ep.create_counter("requests_total", "Requests handled", &[]),
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        ep.create_intcountervec("requests_total", "Requests handled", &["model"], &[]),
        Err(Error::Conflict { .. })
    ));
    let comp = rt.namespace("ns").unwrap().component("c").unwrap();
    assert!(matches!(
        comp.create_intcounter("requests_total", "Requests handled", &[]),
        Err(Error::Conflict { .. })
    ));
    ep.create_histogram("d_seconds", "D", &[], Some(&[1.0]))
        .unwrap();
    assert!(matches!(
        ep.create_histogram("d_seconds", "D", &[], Some(&[2.0])),
        Err(Error::Conflict { .. })
    ));
    ep.create_intgauge("kind", "K", &[]).unwrap();
    assert!(matches!(
        ep.create_gauge("kind", "K", &[]),
        Err(Error::Conflict { .. })
    ));
    // A gauge whose samples would collide with a histogram's.
    let err = ep
        .create_intgauge("d_seconds_bucket", "B", &[])
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    // The original still works and renders once.
    #[cfg(feature = "metrics")]
    let text = rt.render();
    #[cfg(feature = "metrics")]
    assert_eq!(
        text.matches("# TYPE dynamo_component_requests_total counter")
            .count(),
        1
    );
}

#[cfg(feature = "metrics")] // off, families hold no series to count labels against
#[test]
fn label_count_mismatch() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let v = rt
        .create_intcountervec("v_total", "h", &["a", "b"], &[])
        .unwrap();
    let err = v.with_label_values(&["x"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "metric \"dynamo_component_v_total\" takes 2 label values (a, b), got 1"
    );
    assert!(matches!(
        v.remove_label_values(&["x", "y", "z"]),
        Err(Error::LabelCount { .. })
    ));
}

#[test]
fn hierarchy_names_and_subsystems() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let err = rt.namespace("").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid namespace name \"\": names must not be empty"
    );
    // The rule of the #[instrument_endpoint] attribute, at run time too.
    let err = rt
        .namespace("ns")
        .unwrap()
        .component("Back End")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid component name \"Back End\": character ' ' at byte 4 is not allowed; namespace, component and endpoint names use letters, digits, `_` and `-`"
    );
    assert!(rt.namespace("dynamo-prod_2").is_ok());
    let ns = rt.namespace("ns").unwrap();
    assert!(matches!(
        ns.component(""),
        Err(Error::InvalidHierarchyName {
            level: "component",
            ..
        })
    ));
    let c = ns.component("c").unwrap();
    assert!(matches!(
        c.endpoint(""),
        Err(Error::InvalidHierarchyName {
            level: "endpoint",
            ..
        })
    ));
    let err = rt.with_subsystem("front-end").unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidName {
            what: "subsystem",
            ..
        }
    ));
}

#[test]
fn foreign_collectors_that_cannot_merge() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let ep = endpoint(&rt);
    ep.create_intgauge("ours", "Ours", &[]).unwrap();
    let clash = prometheus::IntGauge::new("dynamo_component_ours", "Theirs").unwrap();
    let err = rt.register_collector(Box::new(clash)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot register collector: metric \"dynamo_component_ours\" is already a family of this runtime"
    );
    let labelled = prometheus::IntGauge::with_opts(
        prometheus::Opts::new("theirs", "T").const_label("dynamo_component", "x"),
    )
    .unwrap();
    assert!(matches!(
        rt.register_collector(Box::new(labelled)),
        Err(Error::Collector { .. })
    ));
    // And the other way round: our family refused where a foreign collector has the name.
    let theirs = prometheus::IntGauge::new("dynamo_component_taken", "Theirs").unwrap();
    rt.register_collector(Box::new(theirs)).unwrap();
    assert!(matches!(
        rt.create_intgauge("taken", "Ours", &[]),
        Err(Error::Conflict { .. })
    ));
}
