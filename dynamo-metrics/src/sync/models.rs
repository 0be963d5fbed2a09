//! loom models of the lock-free protocols: the real cores ([`SeqBatch`], [`Epoch`],
//! [`Striped`], [`Word::add_owned`]) on loom's atomics, every interleaving of two or three
//! threads explored up to [`PREEMPTIONS`] preemptions, every value each `Relaxed` or
//! `Acquire` load may return under the C++ memory model. Where a protocol's caller does more
//! than call the core (a lookup under a lock), the model takes the caller's steps in the
//! caller's order, with loom's lock for `parking_lot`'s.
//!
//! Run: `RUSTFLAGS="--cfg dynamo_loom" cargo test -p dynamo-metrics --release --lib sync::models`
//! (`.ci/run` does). RELIABILITY.md says what each proves.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use loom::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use loom::sync::{Arc, RwLock};
use loom::thread;

use super::Word;
use super::epoch::Epoch;
use super::seq_batch::SeqBatch;
use crate::metrics::striped::Striped;

/// The most times a model's scheduler switches threads other than when one blocks or ends.
const PREEMPTIONS: usize = 3;

/// `loom::thread::spawn`, the new thread's first step a store to an atomic of its own: loom
/// 0.7 explores nothing of a thread whose first step is an atomic load (tokio-rs/loom#392),
/// and most threads here start with one.
fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> thread::JoinHandle<T> {
    thread::spawn(move || {
        AtomicBool::new(false).store(true, Relaxed);
        f()
    })
}

/// Runs `f` under every schedule loom explores, and says how many (`--nocapture` shows it).
fn model(f: impl Fn() + Send + Sync + 'static) {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTIONS);
    let counted = runs.clone();
    builder.check(move || {
        counted.fetch_add(1, Relaxed);
        f();
    });
    eprintln!("{} executions explored", runs.load(Relaxed));
}

/// A thread's instrumented calls (`CallShard`): the owner lists durations 1, 2 and 4 in a
/// list of two and counts them into its state (a count and a sum, written as `Counts` writes
/// its buckets, with `add_owned`), while a render reads the state and the list. Every read is
/// the state after the first 0, 1, 2 or 3 durations exactly, never one counted twice or
/// missed; a second read never goes back; after the owner is done, all three.
#[test]
fn a_read_is_one_moment_of_the_writers() {
    model(|| {
        let shard = Arc::new((
            SeqBatch::<AtomicU64, 2>::default(),
            AtomicU64::new(0),
            AtomicU64::new(0),
        ));
        let read = |shard: &(SeqBatch<AtomicU64, 2>, AtomicU64, AtomicU64)| {
            let (batch, count, sum) = shard;
            batch.read(|listed| {
                (
                    count.load(Relaxed) + listed.len() as u64,
                    sum.load(Relaxed) + listed.iter().sum::<u64>(),
                )
            })
        };
        let owner = {
            let shard = shard.clone();
            spawn(move || {
                let (batch, count, sum) = &*shard;
                for d in [1, 2, 4] {
                    batch.push(d, |listed| {
                        count.add_owned(listed.len() as u64, Relaxed);
                        sum.add_owned(listed.iter().map(|v| v.load(Relaxed)).sum(), Relaxed);
                    });
                }
            })
        };
        let render = {
            let shard = shard.clone();
            spawn(move || {
                let moments = [(0, 0), (1, 1), (2, 3), (3, 7)];
                let first = read(&shard);
                let second = read(&shard);
                assert!(moments.contains(&first), "{first:?}");
                assert!(moments.contains(&second), "{second:?}");
                assert!(second.0 >= first.0, "{first:?} then {second:?}");
            })
        };
        owner.join().unwrap();
        render.join().unwrap();
        assert_eq!(read(&shard), (3, 7));
    });
}

/// A striped counter and a striped gauge (`Striped`) added to by two threads while a third
/// reads: each read is a sum of some of the additions, and once both threads are done the
/// sum is exact.
#[test]
fn striped_sums_are_exact() {
    model(|| {
        let counter = Arc::new(Striped::<AtomicU64>::new(true));
        let gauge = Arc::new(Striped::<AtomicI64>::new(true));
        let adders: Vec<_> = [(1, 3), (2, -1)]
            .into_iter()
            .map(|(c, g)| {
                let (counter, gauge) = (counter.clone(), gauge.clone());
                spawn(move || {
                    counter.add(c, Relaxed, true);
                    gauge.add(g, Relaxed, true);
                })
            })
            .collect();
        let render = {
            let (counter, gauge) = (counter.clone(), gauge.clone());
            spawn(move || {
                let seen = counter.load(Relaxed);
                assert!([0, 1, 2, 3].contains(&seen), "{seen}");
                let seen = gauge.load(Relaxed);
                assert!([0, 3, -1, 2].contains(&seen), "{seen}");
            })
        };
        render.join().unwrap();
        for adder in adders {
            adder.join().unwrap();
        }
        assert_eq!(counter.load(Relaxed), 3);
        assert_eq!(gauge.load(Relaxed), 2);
    });
}

/// A thread's own histogram counts (`Counts`, `add_owned`: a load and a store, no locked
/// instruction): a reader never sees a count go back or one lost, and sees the last.
#[test]
fn an_owned_count_never_goes_back() {
    model(|| {
        let count = Arc::new(AtomicU64::new(0));
        let owner = {
            let count = count.clone();
            spawn(move || {
                for _ in 0..3 {
                    count.add_owned(1, Relaxed);
                }
            })
        };
        let render = {
            let count = count.clone();
            spawn(move || {
                let first = count.load(Relaxed);
                let second = count.load(Relaxed);
                assert!(first <= second && second <= 3, "{first} then {second}");
            })
        };
        owner.join().unwrap();
        render.join().unwrap();
        assert_eq!(count.load(Relaxed), 3);
    });
}

/// The runtime binding (`instrument/binding.rs`): runtime 1 is live; one thread drops it
/// and registers runtime 2 (under the lock, then `changed`, as `register` and `unregister`
/// do), then says so. A thread making calls (`with_current`'s steps: the epoch read first,
/// the answer looked up under the lock when the epoch differs from the one kept) never uses
/// runtime 1 once it has heard that it is gone, and never finds no runtime.
#[test]
fn a_binding_is_never_used_after_its_runtime_is_gone() {
    model(|| {
        let shared = Arc::new((RwLock::new(vec![1u64]), Epoch::<AtomicU64>::default()));
        let gone = Arc::new(AtomicBool::new(false));
        let dropper = {
            let (shared, gone) = (shared.clone(), gone.clone());
            spawn(move || {
                let (live, epoch) = &*shared;
                {
                    let mut live = live.write().unwrap();
                    live.retain(|id| *id != 1);
                    live.push(2);
                    epoch.changed();
                }
                gone.store(true, Release);
            })
        };
        let caller = spawn(move || {
            let (live, epoch) = &*shared;
            let mut kept: Option<(u64, u64)> = None;
            let mut call = || {
                let now = epoch.now();
                match kept {
                    Some((seen, runtime)) if seen == now => runtime,
                    _ => {
                        let runtime = *live.read().unwrap().first().unwrap();
                        kept = Some((now, runtime));
                        runtime
                    }
                }
            };
            call();
            let heard = gone.load(Acquire);
            let runtime = call();
            if heard {
                assert_eq!(runtime, 2);
            }
        });
        dropper.join().unwrap();
        caller.join().unwrap();
    });
}

/// A family's series and a thread's lookup table (`metrics/local.rs` with `family.rs`):
/// series "a" exists; one thread removes it (under the family's lock, then `changed`, as
/// `Family::remove` does) and says so; a thread that records into "a" twice (the generation
/// read first, the handle kept with it; a miss looks the series up, or creates it, under the
/// lock) never feeds the removed series once it has heard of the removal: its second add
/// lands in the series the family holds.
#[test]
fn a_removed_series_is_never_fed_from_a_kept_handle() {
    type Series = Arc<AtomicU64>;
    model(|| {
        let removed = Arc::new(AtomicU64::new(0));
        let family = Arc::new((
            RwLock::new(vec![("a", removed.clone())]),
            Epoch::<AtomicU64>::default(),
        ));
        let told = Arc::new(AtomicBool::new(false));
        let remover = {
            let (family, told) = (family.clone(), told.clone());
            spawn(move || {
                let (series, generation) = &*family;
                {
                    let mut series = series.write().unwrap();
                    series.retain(|(k, _)| *k != "a");
                    generation.changed();
                }
                told.store(true, Release);
            })
        };
        let recorder = {
            let (family, removed) = (family.clone(), removed.clone());
            spawn(move || {
                let (series, generation) = &*family;
                let mut kept: Option<(u64, Series)> = None;
                let mut inc = || {
                    let now = generation.now();
                    let handle = match &kept {
                        Some((seen, handle)) if *seen == now => handle.clone(),
                        _ => {
                            let found = series
                                .read()
                                .unwrap()
                                .iter()
                                .find(|(k, _)| *k == "a")
                                .map(|(_, s)| s.clone());
                            let handle = match found {
                                Some(s) => s,
                                None => {
                                    let made = Arc::new(AtomicU64::new(0));
                                    series.write().unwrap().push(("a", made.clone()));
                                    made
                                }
                            };
                            kept = Some((now, handle.clone()));
                            handle
                        }
                    };
                    handle.fetch_add(1, Relaxed);
                    handle
                };
                inc();
                let heard = told.load(Acquire);
                let second = inc();
                if heard {
                    assert!(!Arc::ptr_eq(&second, &removed), "fed the removed series");
                }
                second
            })
        };
        remover.join().unwrap();
        let last = recorder.join().unwrap();
        let (series, _) = &*family;
        let live = series.read().unwrap();
        // Both adds landed, in the removed series or in the one the family holds.
        let held: u64 = live.iter().map(|(_, s)| s.load(Relaxed)).sum();
        assert_eq!(removed.load(Relaxed) + held, 2);
        if !Arc::ptr_eq(&last, &removed) {
            assert!(live.iter().any(|(_, s)| Arc::ptr_eq(s, &last)));
        }
    });
}
