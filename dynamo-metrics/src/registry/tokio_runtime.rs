//! `dynamo_tokio_*`: the metrics of the tokio runtime a `DistributedRuntime` was made in,
//! sampled at each scrape, as Dynamo exports them. See [`sample`] for details.

use crate::exposition::snapshot::{Kind, SeriesSnapshot, Snapshot, Value};

/// A family of one series per worker thread (label `worker`), or of one series.
fn family(
    name: &str,
    help: &str,
    kind: Kind,
    values: impl IntoIterator<Item = (Option<usize>, f64)>,
) -> Snapshot {
    Snapshot {
        name: format!("dynamo_tokio_{name}"),
        help: help.to_owned(),
        kind,
        series: values
            .into_iter()
            .map(|(worker, v)| SeriesSnapshot {
                labels: worker
                    .map(|w| vec![("worker".to_owned(), w.to_string())])
                    .unwrap_or_default(),
                value: Value::Scalar(v),
                exemplars: Vec::new(),
            })
            .collect(),
    }
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^53
fn count(n: impl TryInto<u64>) -> f64 {
    n.try_into().unwrap_or(u64::MAX) as f64
}

/// The families of `handle`'s runtime now. Always: worker threads, alive tasks, the global
/// queue's depth, and per worker its busy time and park count (`_total` counters). Built with
/// `RUSTFLAGS="--cfg tokio_unstable"`, also: blocking threads (all and idle), the blocking
/// queue's depth, forced yields, and per worker its mean poll time, local queue depth, polls,
/// steals and overflows.
pub(crate) fn sample(handle: &tokio::runtime::Handle) -> Vec<Snapshot> {
    let m = handle.metrics();
    let workers = 0..m.num_workers();
    let per_worker =
        |f: &dyn Fn(usize) -> f64| workers.clone().map(|w| (Some(w), f(w))).collect::<Vec<_>>();
    #[allow(unused_mut)] // extended with `tokio_unstable`
    let mut families = vec![
        family(
            "workers",
            "Worker threads of the tokio runtime",
            Kind::Gauge,
            [(None, count(m.num_workers()))],
        ),
        family(
            "alive_tasks",
            "Tasks alive in the tokio runtime",
            Kind::Gauge,
            [(None, count(m.num_alive_tasks()))],
        ),
        family(
            "global_queue_depth",
            "Tasks waiting in the tokio runtime's global queue",
            Kind::Gauge,
            [(None, count(m.global_queue_depth()))],
        ),
        family(
            "worker_busy_seconds_total",
            "Time each tokio worker thread spent busy (its rate is Dynamo's busy ratio)",
            Kind::Counter,
            per_worker(&|w| m.worker_total_busy_duration(w).as_secs_f64()),
        ),
        family(
            "worker_park_count_total",
            "Times each tokio worker thread parked",
            Kind::Counter,
            per_worker(&|w| count(m.worker_park_count(w))),
        ),
    ];
    #[cfg(tokio_unstable)]
    families.extend([
        family(
            "blocking_threads",
            "Blocking threads of the tokio runtime",
            Kind::Gauge,
            [(None, count(m.num_blocking_threads()))],
        ),
        family(
            "blocking_idle_threads",
            "Idle blocking threads of the tokio runtime",
            Kind::Gauge,
            [(None, count(m.num_idle_blocking_threads()))],
        ),
        family(
            "blocking_queue_depth",
            "Tasks waiting for a blocking thread",
            Kind::Gauge,
            [(None, count(m.blocking_queue_depth()))],
        ),
        family(
            "budget_forced_yield_total",
            "Tasks forced to yield after their budget",
            Kind::Counter,
            [(None, count(m.budget_forced_yield_count()))],
        ),
        family(
            "worker_mean_poll_time_ns",
            "Mean poll time of each tokio worker thread, in nanoseconds",
            Kind::Gauge,
            per_worker(&|w| count(m.worker_mean_poll_time(w).as_nanos())),
        ),
        family(
            "worker_local_queue_depth",
            "Tasks in each tokio worker thread's local queue",
            Kind::Gauge,
            per_worker(&|w| count(m.worker_local_queue_depth(w))),
        ),
        family(
            "worker_poll_count_total",
            "Polls by each tokio worker thread",
            Kind::Counter,
            per_worker(&|w| count(m.worker_poll_count(w))),
        ),
        family(
            "worker_steal_count_total",
            "Tasks each tokio worker thread stole",
            Kind::Counter,
            per_worker(&|w| count(m.worker_steal_count(w))),
        ),
        family(
            "worker_overflow_count_total",
            "Times each tokio worker thread's local queue overflowed",
            Kind::Counter,
            per_worker(&|w| count(m.worker_overflow_count(w))),
        ),
    ]);
    families
}
