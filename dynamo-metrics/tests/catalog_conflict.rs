//! Two declarations of one family that disagree are refused when a runtime starts, with both
//! source locations. (Its own test binary: every runtime of this program refuses to start.)

#![cfg(feature = "metrics")]
// The structs exist for their declarations only.
#![allow(dead_code, unreachable_pub)]

use dynamo_metrics::{DistributedRuntime, Error, IntCounter, IntGauge, check_catalog};

mod first {
    /// Requests, as the first module counts them.
    #[derive(dynamo_metrics::DynamoMetrics)]
    pub struct A {
        /// Requests handled
        pub handled_total: super::IntCounter,
    }
}

mod second {
    /// The same name, declared differently.
    #[derive(dynamo_metrics::DynamoMetrics)]
    pub struct B {
        /// Requests handled, differently
        #[metric(name = "handled_total")]
        pub handled: super::IntCounter,
        /// A gauge
        pub depth: super::IntGauge,
    }
}

#[test]
fn conflicting_declarations_stop_the_runtime_with_both_locations() {
    let err = check_catalog().unwrap_err();
    let Error::Conflict {
        family,
        existing,
        new,
    } = &err
    else {
        panic!("expected a conflict, got {err}");
    };
    assert_eq!(family, "dynamo_component_handled_total");
    let file = file!();
    // `file:line:column` of a field's name.
    let at = |field: &str| {
        let (i, line) = include_str!("catalog_conflict.rs")
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(&format!("pub {field}:")))
            .unwrap();
        format!("{file}:{}:{}", i + 1, line.find(field).unwrap() + 1)
    };
    let a = format!(
        "counter of u64, help \"Requests handled\", labels [] (declared by catalog_conflict::first::A at {})",
        at("handled_total")
    );
    let b = format!(
        "counter of u64, help \"Requests handled, differently\", labels [] (declared by catalog_conflict::second::B at {})",
        at("handled")
    );
    let both = [existing.as_str(), new.as_str()];
    assert!(both.contains(&a.as_str()), "{both:?}\n{a}");
    assert!(both.contains(&b.as_str()), "{both:?}\n{b}");
    assert!(matches!(
        DistributedRuntime::with_config(
            &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off)
        ),
        Err(Error::Conflict { .. })
    ));
}
