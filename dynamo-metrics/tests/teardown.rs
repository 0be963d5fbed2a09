//! Metrics recorded by a thread-local destructor that runs after the thread gave its
//! per-thread id back: recorded, and never a panic (which would abort the process there).

#![cfg(feature = "metrics")]

use std::cell::RefCell;

use dynamo_metrics::{DistributedRuntime, Histogram, IntCounterVec, MetricsRegistry};

/// Records into both metrics when dropped.
struct Late(IntCounterVec, Histogram);

impl Drop for Late {
    fn drop(&mut self) {
        self.0.with(&["late"], |c| c.inc()).unwrap();
        self.1.observe(0.25);
    }
}

thread_local! {
    // Made before the thread's first metric, so torn down after the per-thread state.
    static LATE: RefCell<Option<Late>> = const { RefCell::new(None) };
}

#[test]
fn a_destructor_that_runs_after_the_threads_own_state_still_records() {
    let rt = DistributedRuntime::new().unwrap();
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
            // The thread's first metrics: its lookup table and its histogram counts.
            vec.with(&["early"], |c| c.inc()).unwrap();
            hist.observe(0.5);
        })
        .join()
        .unwrap();
    }
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
