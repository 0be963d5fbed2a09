//! A striped counter whose stripes were counted on a thread pinned to one CPU (a pinned main
//! thread, a pinned harness): two threads on two CPUs then add to it. Made before anything
//! else in the process, so that it is the first striped value and the stripe count is decided
//! there.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use dynamo_metrics::{IntCounter, MetricsRegistry};

use crate::hot::{Case, two_threads_on};

const GROUP: &str =
    "one counter created on a thread pinned to CPU 0, 2 threads on CPUs 0 and 1, per thread";

/// The striped counter, created on a thread pinned to CPU 0 (where the machine lets us pin).
pub fn striped_on_a_pinned_thread() -> (dynamo_metrics::DistributedRuntime, IntCounter) {
    std::thread::spawn(|| {
        pin(0);
        let rt = crate::runtime();
        let counter = rt
            .create_intcountervec("pinned_total", "Created on a pinned thread", &[], &[])
            .expect("vec")
            .striped()
            .with_label_values(&[])
            .expect("series");
        (rt, counter)
    })
    .join()
    .expect("the pinned thread")
}

fn pin(cpu: usize) {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(core) = cores.get(cpu % cores.len().max(1)) {
        core_affinity::set_for_current(*core);
    }
}

/// An atomic alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

pub fn cases(runtime: dynamo_metrics::DistributedRuntime, striped: IntCounter) -> Vec<Case> {
    let case = |name, peers: &[&'static str], op: Box<dyn Fn() + Sync + Send>| Case {
        group: GROUP,
        name,
        peers: peers.to_vec(),
        run: Box::new(move |ops| two_threads_on(ops, &*op, &pin)),
        times: Vec::new(),
        bytes: None,
        check: None,
    };
    let shared = std::sync::Arc::new(AtomicU64::new(0));
    let own: std::sync::Arc<[Padded; 2]> = std::sync::Arc::new(Default::default());
    let next = std::sync::Arc::new(AtomicU64::new(0));
    thread_local! {
        static SLOT: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    }
    vec![
        case(
            "dynamo striped IntCounter, created on the pinned thread",
            &["a padded atomic per thread", "shared AtomicU64::fetch_add"],
            Box::new(move || {
                let _ = &runtime;
                striped.inc();
            }),
        ),
        case(
            "a padded atomic per thread",
            &[],
            Box::new(move || {
                let slot = SLOT.with(|s| {
                    if s.get() == usize::MAX {
                        s.set((next.fetch_add(1, Ordering::Relaxed) % 2) as usize);
                    }
                    s.get()
                });
                black_box(&own[slot]).0.fetch_add(1, Ordering::Relaxed);
            }),
        ),
        case(
            "shared AtomicU64::fetch_add",
            &[],
            Box::new(move || {
                shared.fetch_add(1, Ordering::Relaxed);
            }),
        ),
    ]
}
