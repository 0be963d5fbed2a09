//! Every string-labelled family is bounded, the hand-made ones too: the per-family cap, the
//! label value length limit, the runtime's series budget, the overflow series and its count,
//! and removal that gives memory back.
//!
//! Memory is counted in live heap bytes (a counting allocator): resident memory depends on
//! how the allocator keeps freed pages, which moves with everything the process did before.
//! The count is process state, so the tests of this file take one lock each.

#![cfg(feature = "metrics")]

use std::sync::Mutex;

use dynamo_metrics::{
    DEFAULT_MAX_LABEL_LEN, DEFAULT_MAX_SERIES, DistributedRuntime, MetricsRegistry, OVERFLOW,
    RuntimeConfig,
};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[global_allocator]
static HEAP: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// Bytes of heap this process holds now.
fn heap() -> usize {
    HEAP.allocated()
}

/// Sample lines of family `name` (the first token is `name{` or `name `).
fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .collect()
}

/// The render without the uptime sample, which moves between two renders.
fn render_stable(rt: &DistributedRuntime) -> String {
    rt.render()
        .lines()
        .filter(|l| !l.starts_with("dynamo_component_uptime_seconds "))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn value(line: &str) -> u64 {
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn overflow_count(text: &str, family: &str) -> u64 {
    let line = format!("dynamo_metrics_series_overflow_total{{family=\"{family}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .map_or(0, |v| v.parse().unwrap())
}

#[test]
fn a_million_values_through_a_hand_made_vec_stay_bounded() {
    let _serial = serial();
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let vec = rt
        .namespace("ns")
        .unwrap()
        .create_intcountervec("by_user_total", "Requests by user", &["user"], &[])
        .unwrap();
    let before = heap();
    let n = 1_000_000;
    for i in 0..n {
        vec.with_label_values(&[&format!("user-{i}")])
            .unwrap()
            .inc();
    }
    let grown = heap().saturating_sub(before);
    let text = rt.render();
    let lines = series(&text, "dynamo_component_by_user_total");
    assert_eq!(
        lines.len(),
        DEFAULT_MAX_SERIES + 1,
        "the cap plus one overflow series"
    );
    let overflow =
        format!("dynamo_component_by_user_total{{dynamo_namespace=\"ns\",user=\"{OVERFLOW}\"}} ");
    let folded = text
        .lines()
        .find_map(|l| l.strip_prefix(&overflow))
        .map(|v| v.parse::<u64>().unwrap())
        .unwrap();
    let expected = (n - DEFAULT_MAX_SERIES) as u64;
    assert_eq!(folded, expected);
    assert_eq!(
        overflow_count(&text, "dynamo_component_by_user_total"),
        expected
    );
    let total: u64 = lines.iter().map(|l| value(l)).sum();
    assert_eq!(total, n as u64, "every increment counted once");
    // 1,000 series of a few hundred bytes each, the overflow series and the lookup table.
    println!("live heap grew by {} KiB", grown / 1024);
    assert!(grown < 2 << 20, "grew by {grown} bytes");
}

#[test]
fn over_long_values_fold_into_overflow() {
    let _serial = serial();
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let vec = rt
        .create_intcountervec("by_model_total", "Requests by model", &["model"], &[])
        .unwrap();
    assert_eq!(DEFAULT_MAX_LABEL_LEN, 256);
    let long = "m".repeat(DEFAULT_MAX_LABEL_LEN + 1);
    let at_limit = "m".repeat(DEFAULT_MAX_LABEL_LEN);
    vec.with_label_values(&[&long]).unwrap().inc_by(2);
    vec.with_label_values(&[&at_limit]).unwrap().inc();
    let text = rt.render();
    assert!(text.contains(&format!(
        "dynamo_component_by_model_total{{model=\"{OVERFLOW}\"}} 2\n"
    )));
    assert!(text.contains(&format!(
        "dynamo_component_by_model_total{{model=\"{at_limit}\"}} 1\n"
    )));
    assert!(!text.contains(&long));
    assert_eq!(overflow_count(&text, "dynamo_component_by_model_total"), 1);
}

#[test]
fn a_family_sets_its_own_value_length() {
    let _serial = serial();
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let routes = rt
        .create_intcountervec("by_route_total", "Requests by route", &["route"], &[])
        .unwrap()
        .max_label_len(8);
    routes.with_label_values(&["/metrics"]).unwrap().inc();
    routes.with_label_values(&["/metrics/x"]).unwrap().inc();
    let prompts = rt
        .create_intcountervec("by_prompt_total", "Requests by prompt", &["p"], &[])
        .unwrap()
        .max_label_len(1000);
    let long = "p".repeat(DEFAULT_MAX_LABEL_LEN * 2);
    prompts.with_label_values(&[&long]).unwrap().inc();
    let text = rt.render();
    assert!(text.contains("dynamo_component_by_route_total{route=\"/metrics\"} 1\n"));
    assert!(text.contains(&format!(
        "dynamo_component_by_route_total{{route=\"{OVERFLOW}\"}} 1\n"
    )));
    assert!(!text.contains("/metrics/x"));
    assert!(text.contains(&format!(
        "dynamo_component_by_prompt_total{{p=\"{long}\"}} 1\n"
    )));
}

#[test]
fn the_runtime_budget_bounds_many_families_together() {
    let _serial = serial();
    let mut config = RuntimeConfig::default();
    config.max_series_total = 500;
    config.worker_id = dynamo_metrics::WorkerId::Off;
    let rt = DistributedRuntime::with_config(&config).unwrap();
    // The runtime's own series with labels (the exporter's refusal counts) come first.
    let own = rt
        .render()
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('{') && !l.contains("_bucket{"))
        .count();
    let families: Vec<_> = (0..10)
        .map(|f| {
            rt.create_intcountervec(&format!("f{f}_total"), "A family", &["v"], &[])
                .unwrap()
        })
        .collect();
    // Each family is far under its cap of 1,000; together they pass the budget.
    for vec in &families {
        for v in 0..100 {
            vec.with_label_values(&[&v.to_string()]).unwrap().inc();
        }
    }
    let text = rt.render();
    let mut created = 0;
    let mut folded = 0;
    for f in 0..10 {
        let name = format!("dynamo_component_f{f}_total");
        let lines = series(&text, &name);
        let overflow = format!("{name}{{v=\"{OVERFLOW}\"}}");
        created += lines.iter().filter(|l| !l.starts_with(&overflow)).count();
        folded += overflow_count(&text, &name);
        assert_eq!(lines.iter().map(|l| value(l)).sum::<u64>(), 100, "{name}");
    }
    // The budget counts every series with variable labels: the runtime's own, the ten
    // overflow counters (one per family, created with it), and the values.
    assert_eq!(created, 500 - own - 10);
    assert_eq!(folded, 1000 - created as u64);
    // A removed series gives its place back.
    assert!(families[0].remove_label_values(&["0"]).unwrap());
    families[9].with_label_values(&["new"]).unwrap().inc();
    assert!(
        rt.render()
            .contains("dynamo_component_f9_total{v=\"new\"} 1\n")
    );
}

#[test]
fn removed_series_give_their_memory_back() {
    let _serial = serial();
    let mut config = RuntimeConfig::default();
    config.max_series_total = 1_000_000;
    config.worker_id = dynamo_metrics::WorkerId::Off;
    let rt = DistributedRuntime::with_config(&config).unwrap();
    let vec = rt
        .create_intcountervec("sessions_total", "Sessions by id", &["session"], &[])
        .unwrap()
        .max_series(200_000);
    let empty = render_stable(&rt);
    assert!(series(&empty, "dynamo_component_sessions_total").is_empty());
    let n = 100_000;
    let ids: Vec<String> = (0..n).map(|i| format!("session-{i:06}")).collect();
    let cycle = || {
        for id in &ids {
            vec.with_label_values(&[id]).unwrap().inc();
        }
        let full = heap();
        assert_eq!(
            series(&rt.render(), "dynamo_component_sessions_total").len(),
            n
        );
        for id in &ids {
            assert!(vec.remove_label_values(&[id]).unwrap());
        }
        full
    };
    let start = heap();
    let full = cycle();
    let after_first = heap();
    // The family renders as it did before its first series.
    assert_eq!(render_stable(&rt), empty);
    // Created and removed again: the same memory, freed again.
    let full_again = cycle();
    let after_second = heap();
    assert_eq!(render_stable(&rt), empty);
    println!(
        "live heap: start {} KiB, 100,000 series {} KiB, removed {} KiB; again {} KiB, removed {} KiB",
        start >> 10,
        full >> 10,
        after_first >> 10,
        full_again >> 10,
        after_second >> 10
    );
    // 100,000 series of about 200 bytes each, and what the family needs to hold them.
    assert!(full > start + (10 << 20), "the series took memory");
    // Removed, they are freed: what stays is at most this thread's lookup table (8,192 slots
    // of 56 bytes, 448 KiB), the series it still holds until their slots are taken (at most
    // 8,192 of about 100 bytes, 800 KiB) and the family's emptied list: under 2 MiB of the
    // 10 MiB and more the series took.
    for (cycle, removed) in [(1, after_first), (2, after_second)] {
        assert!(
            removed <= start + (2 << 20),
            "after removal {cycle}, {removed} bytes where it started at {start}"
        );
    }
    assert!(
        full_again <= full + (256 << 10),
        "a second cycle needed more memory: {full} then {full_again} bytes"
    );
}

/// Lookups hit each thread's cache of series by label values; a removed series is never
/// found there again, and folds are counted on every call, cached or not.
#[test]
fn cached_lookups_follow_removal_and_count_every_fold() {
    let _serial = serial();
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let vec = rt
        .namespace("cache")
        .unwrap()
        .create_intcountervec("hits_total", "Hits", &["route"], &[])
        .unwrap()
        .max_series(2);
    for _ in 0..3 {
        vec.with(&["a"], |c| c.inc()).unwrap();
    }
    std::thread::scope(|s| {
        s.spawn(|| vec.with(&["a"], |c| c.inc_by(10)).unwrap());
    });
    assert_eq!(vec.with_label_values(&["a"]).unwrap().get(), 13);
    assert!(vec.remove_label_values(&["a"]).unwrap());
    vec.with(&["a"], |c| c.inc()).unwrap();
    let text = render_stable(&rt);
    let lines = series(&text, "dynamo_component_hits_total");
    assert_eq!(
        lines,
        [r#"dynamo_component_hits_total{dynamo_namespace="cache",route="a"} 1"#],
        "{text}"
    );
    // Two series fill the cap; every call with a third value folds and is counted.
    vec.with(&["b"], |c| c.inc()).unwrap();
    for _ in 0..5 {
        vec.with(&["c"], |c| c.inc()).unwrap();
    }
    let text = render_stable(&rt);
    assert_eq!(
        overflow_count(&text, "dynamo_component_hits_total"),
        5,
        "{text}"
    );
    assert!(vec.with(&["a", "b"], |c| c.inc()).is_err());
}
