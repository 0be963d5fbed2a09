//! Writers incrementing while a reader renders: exact totals, consistent histograms.

#![cfg(feature = "metrics")]

use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Renders the reader must take while every writer is still writing.
const OVERLAPPING_READS: usize = 20;

#[test]
fn totals_are_exact_and_histograms_consistent_under_scrapes() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let hits = rt.create_intcounter("hits_total", "Hits", &[]).unwrap();
    let sizes = rt
        .create_histogram("size_seconds", "Sizes", &[], Some(&[1.0, 10.0, 100.0]))
        .unwrap();
    // The writers start together with the reader, and none stops before the reader has
    // rendered `OVERLAPPING_READS` times, so those renders overlap the writes for certain.
    let start = Barrier::new(WRITERS + 1);
    let overlapping = AtomicUsize::new(0);
    let writing = AtomicUsize::new(WRITERS);
    let (mut written, mut observed, mut moving) = (0, 0, 0);
    thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (hits, sizes, start, overlapping, writing) =
                    (hits.clone(), sizes.clone(), &start, &overlapping, &writing);
                s.spawn(move || {
                    start.wait();
                    let mut i = 0u64;
                    while i < PER_WRITER || overlapping.load(Ordering::Acquire) < OVERLAPPING_READS
                    {
                        hits.inc();
                        if i.is_multiple_of(8) {
                            #[allow(clippy::cast_precision_loss)]
                            sizes.observe(((i + w as u64) % 200) as f64);
                        }
                        i += 1;
                    }
                    writing.fetch_sub(1, Ordering::AcqRel);
                    (i, i.div_ceil(8))
                })
            })
            .collect();
        let reader = s.spawn(|| {
            start.wait();
            let (mut last, mut moves) = (0, 0);
            while writing.load(Ordering::Acquire) > 0 {
                let all_writing = writing.load(Ordering::Acquire) == WRITERS;
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
                moves += usize::from(now > last);
                last = now;
                // A render begun and ended while every writer was writing.
                if all_writing && writing.load(Ordering::Acquire) == WRITERS {
                    overlapping.fetch_add(1, Ordering::AcqRel);
                }
            }
            moves
        });
        for w in writers {
            let (incs, observations) = w.join().unwrap();
            written += incs;
            observed += observations;
        }
        moving = reader.join().unwrap();
    });
    let text = rt.render();
    assert_eq!(counter(&text, "dynamo_component_hits_total"), written);
    let (_, count) = histogram(&text, "dynamo_component_size_seconds");
    assert_eq!(count, observed);
    assert!(overlapping.load(Ordering::Acquire) >= OVERLAPPING_READS);
    // The renders saw the writes land, not one value before and one after.
    assert!(moving > 1, "the counter moved in {moving} renders");
}
