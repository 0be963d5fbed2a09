//! Writers incrementing while a reader renders: exact totals, consistent histograms.

#![cfg(feature = "metrics")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use dynamo_metrics::{DistributedRuntime, MetricsRegistry};

const WRITERS: usize = 2;
const PER_WRITER: u64 = 1_000_000;

/// `(le, count)` of every bucket line of `family`, the `_count` value, in order of appearance.
fn histogram(text: &str, family: &str) -> (Vec<u64>, u64) {
    let bucket = format!("{family}_bucket{{");
    let count = format!("{family}_count ");
    let mut buckets = Vec::new();
    let mut total = None;
    for line in text.lines() {
        let value = line.rsplit(' ').next().unwrap();
        if line.starts_with(&bucket) {
            buckets.push(value.parse().unwrap());
        } else if line.starts_with(&count) {
            total = Some(value.parse().unwrap());
        }
    }
    (buckets, total.unwrap())
}

fn counter(text: &str, name: &str) -> u64 {
    let prefix = format!("{name} ");
    let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap();
    line[prefix.len()..].parse().unwrap()
}

#[test]
fn totals_are_exact_and_histograms_consistent_under_scrapes() {
    let rt = DistributedRuntime::new().unwrap();
    let hits = rt.create_intcounter("hits_total", "Hits", &[]).unwrap();
    let sizes = rt
        .create_histogram("size_seconds", "Sizes", &[], Some(&[1.0, 10.0, 100.0]))
        .unwrap();
    let done = AtomicBool::new(false);
    let mut scrapes = 0;
    thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (hits, sizes) = (hits.clone(), sizes.clone());
                s.spawn(move || {
                    for i in 0..PER_WRITER {
                        hits.inc();
                        if i.is_multiple_of(8) {
                            #[allow(clippy::cast_precision_loss)]
                            sizes.observe(((i + w as u64) % 200) as f64);
                        }
                    }
                })
            })
            .collect();
        let reader = s.spawn(|| {
            let mut n = 0;
            let mut last = 0;
            loop {
                let finished = done.load(Ordering::Relaxed);
                let text = rt.render();
                let (buckets, count) = histogram(&text, "dynamo_component_size_seconds");
                assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
                assert_eq!(
                    buckets.last(),
                    Some(&count),
                    "_count must equal the +Inf bucket"
                );
                let now = counter(&text, "dynamo_component_hits_total");
                assert!(now >= last, "counter went back from {last} to {now}");
                last = now;
                n += 1;
                if finished {
                    break n;
                }
            }
        });
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        scrapes = reader.join().unwrap();
    });
    let text = rt.render();
    assert_eq!(counter(&text, "dynamo_component_hits_total"), 2_000_000);
    let (_, count) = histogram(&text, "dynamo_component_size_seconds");
    assert_eq!(count, 2 * PER_WRITER / 8);
    assert!(scrapes > 0);
}
