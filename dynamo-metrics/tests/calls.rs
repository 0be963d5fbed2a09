//! Instrumented calls recorded per thread and read back by renders that run meanwhile:
//! every render is consistent (count equal to the `+Inf` bucket, never going down, no more
//! ended calls than started ones, none in flight below zero) and the totals are exact once the
//! threads are done, including durations not yet counted into buckets and the records of
//! threads that have ended.

#![cfg(feature = "metrics")]

use dynamo_metrics::{DistributedRuntime, instrument_endpoint};

#[instrument_endpoint(component = "calls", endpoint = "work")]
fn work(x: u64) -> u64 {
    std::hint::black_box(x + 1)
}

/// The values of `name` samples of `calls/work` in `text`, the `le` bucket when given.
fn sample(text: &str, name: &str, le: Option<&str>) -> f64 {
    let labels = "dynamo_namespace=\"dynamo\",dynamo_component=\"calls\",dynamo_endpoint=\"work\"";
    let prefix = match le {
        Some(le) => format!("{name}{{{labels},le=\"{le}\"}} "),
        None => format!("{name}{{{labels}}} "),
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {text}"))
        .parse()
        .unwrap()
}

#[test]
fn renders_meanwhile_are_consistent_and_totals_exact() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    // Few calls, below the length of a thread's pending list: all still pending.
    for i in 0..5 {
        work(i);
    }
    let text = rt.render();
    let duration = "dynamo_component_request_duration_seconds";
    assert_eq!(sample(&text, &format!("{duration}_count"), None), 5.0);
    assert_eq!(
        sample(&text, &format!("{duration}_bucket"), Some("+Inf")),
        5.0
    );
    assert_eq!(sample(&text, "dynamo_component_requests_total", None), 5.0);
    assert_eq!(
        sample(&text, "dynamo_component_inflight_requests", None),
        0.0
    );

    const THREADS: u64 = 4;
    const CALLS: u64 = 20_011; // not a multiple of the pending list's length
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    for i in 0..CALLS {
                        work(i);
                    }
                })
            })
            .collect();
        s.spawn(|| {
            let mut last = 0.0;
            let mut renders = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || renders < 3 {
                let text = rt.render();
                let count = sample(&text, &format!("{duration}_count"), None);
                let inf = sample(&text, &format!("{duration}_bucket"), Some("+Inf"));
                let requests = sample(&text, "dynamo_component_requests_total", None);
                let inflight = sample(&text, "dynamo_component_inflight_requests", None);
                assert_eq!(count, inf, "count and +Inf bucket");
                assert!(count >= last, "count went from {last} to {count}");
                assert!(inflight >= 0.0, "{inflight} in flight");
                assert!(requests >= count, "{requests} started, {count} ended");
                last = count;
                renders += 1;
            }
        });
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    // The worker threads have ended; their records stay.
    let text = rt.render();
    let total = (5 + THREADS * CALLS) as f64;
    assert_eq!(sample(&text, &format!("{duration}_count"), None), total);
    assert_eq!(
        sample(&text, "dynamo_component_requests_total", None),
        total
    );
    assert_eq!(
        sample(&text, "dynamo_component_inflight_requests", None),
        0.0
    );
    let sum = sample(&text, &format!("{duration}_sum"), None);
    assert!(sum > 0.0 && sum < total, "sum {sum}");
    // A thread started now takes over a free set of records and adds to it.
    std::thread::spawn(|| work(1)).join().unwrap();
    let text = rt.render();
    assert_eq!(
        sample(&text, "dynamo_component_requests_total", None),
        total + 1.0
    );
}
