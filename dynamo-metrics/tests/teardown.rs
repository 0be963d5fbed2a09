//! Metrics recorded by a thread-local destructor that runs after the thread gave its
//! per-thread id back: recorded, and never a panic (which would abort the process there).

#![cfg(feature = "metrics")]

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use dynamo_metrics::{DistributedRuntime, Histogram, IntCounterVec, MetricsRegistry};

/// Records into both metrics when dropped, and counts the drops that found `BETWEEN` gone.
struct Late(IntCounterVec, Histogram);

/// Drops of `Late` that ran after the thread's per-thread metric state was torn down.
static AFTER_STATE: AtomicUsize = AtomicUsize::new(0);

impl Drop for Late {
    fn drop(&mut self) {
        // Thread-locals are torn down in the reverse order of their first use: `BETWEEN`, first
        // used after `LATE` and before the thread's first metric, goes after the per-thread
        // state and before `LATE`. Gone now, so is the state.
        if BETWEEN.try_with(|_| ()).is_err() {
            AFTER_STATE.fetch_add(1, Ordering::SeqCst);
        }
        self.0.with(&["late"], |c| c.inc()).unwrap();
        self.1.observe(0.25);
    }
}

/// A thread-local with a destructor, so that its teardown is ordered.
struct Marker;

impl Drop for Marker {
    fn drop(&mut self) {}
}

thread_local! {
    // Made before the thread's first metric, so torn down after the per-thread state.
    static LATE: RefCell<Option<Late>> = const { RefCell::new(None) };
    static BETWEEN: Marker = const { Marker };
}

#[test]
fn a_destructor_that_runs_after_the_threads_own_state_still_records() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let vec = rt
        .create_intcountervec("late_total", "Late", &["who"], &[])
        .unwrap();
    let hist = rt
        .create_histogramvec("late_seconds", "Late", &[], &[], None)
        .unwrap()
        .striped()
        .with_label_values(&[])
        .unwrap();
    for _ in 0..2 {
        let (vec, hist) = (vec.clone(), hist.clone());
        std::thread::spawn(move || {
            LATE.with(|l| *l.borrow_mut() = Some(Late(vec.clone(), hist.clone())));
            BETWEEN.with(|_| ());
            // The thread's first metrics: its lookup table and its histogram counts.
            vec.with(&["early"], |c| c.inc()).unwrap();
            hist.observe(0.5);
        })
        .join()
        .unwrap();
    }
    assert_eq!(
        AFTER_STATE.load(Ordering::SeqCst),
        2,
        "a destructor ran too early"
    );
    let text = rt.render();
    assert!(
        text.contains("dynamo_component_late_total{who=\"early\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("dynamo_component_late_total{who=\"late\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("dynamo_component_late_seconds_count 4"),
        "{text}"
    );
    assert!(
        text.contains("dynamo_component_late_seconds_sum 1.5"),
        "{text}"
    );
}
