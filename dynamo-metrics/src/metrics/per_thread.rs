//! Values kept per thread with the `thread_local` crate, made safely while a thread is torn
//! down (see [`this_thread`]), and references to them forgotten before the thread gives its
//! id back (see [`until_teardown`]).
//!
//! The crate keeps state per thread in four places; two share this building block, two stay
//! apart because what they keep is not "one value per thread per object":
//! - a striped histogram's counts (`histogram.rs`) and a thread's lookup tables of string
//!   labels (`local.rs`) are one value per thread and object: both are made by
//!   [`this_thread`] (the tables are also reached through a std thread-local pointer, one
//!   load where `ThreadLocal::get` takes a call and three);
//! - a striped integer (`striped.rs`) keeps one atomic per *stripe*, at most 16, which threads
//!   share in turn: memory stays bounded by the stripes whatever the number of threads, at the
//!   price of a locked add; a value per thread would cost 128 bytes per thread and series;
//! - instrumented calls (`instrument/calls.rs`) keep one set of records per thread *and
//!   runtime*, reached from the thread's runtime binding that the call reads anyway (no
//!   second thread-local lookup on a 30 ns path), and handed back to the runtime's free list
//!   when the thread ends, so a runtime reads only the records of threads that ran under it.

use std::cell::{Cell, RefCell};

use thread_local::ThreadLocal;

/// This thread's value in `values`, made by `make` when it has none; `None` once the thread
/// is dropping its thread-locals. By then it may have given its `thread_local` id back, and
/// making a value would panic inside a thread-local destructor, which aborts the process. A
/// destructor that records a metric then finds no table or counts of its own, and records
/// into the series directly.
///
/// (When this thread's first value here comes after another crate's use of `thread_local`
/// was torn down, there is no telling; that case still panics in `thread_local`.)
#[inline]
pub(crate) fn this_thread<T: Send>(
    values: &ThreadLocal<T>,
    make: impl FnOnce() -> T,
) -> Option<&T> {
    match values.get() {
        Some(v) => Some(v),
        None => make_here(values, make),
    }
}

/// Dropped with the thread's other thread-locals. It is first used only once the thread has a
/// `thread_local` id, so it is dropped before the guard that gives the id back
/// (thread-locals are dropped in the reverse order of their first use). It then runs the
/// thread's [`until_teardown`] callbacks.
struct Alive {
    forget: RefCell<Vec<fn()>>,
}

impl Drop for Alive {
    fn drop(&mut self) {
        for forget in self.forget.take() {
            forget();
        }
    }
}

thread_local! {
    /// Whether this thread used `ALIVE` before.
    static STARTED: Cell<bool> = const { Cell::new(false) };
    static ALIVE: Alive = const {
        Alive {
            forget: RefCell::new(Vec::new()),
        }
    };
}

/// [`this_thread`] when the thread has no value yet.
#[cold]
fn make_here<T: Send>(values: &ThreadLocal<T>, make: impl FnOnce() -> T) -> Option<&T> {
    if STARTED.get() && ALIVE.try_with(|_| ()).is_err() {
        // Gone: the thread is being torn down, and its id may be given back already.
        return None;
    }
    let made = values.get_or(make);
    // First used now (after the id), if not before.
    let _ = ALIVE.try_with(|_| ());
    STARTED.set(true);
    Some(made)
}

/// Runs `forget` when this thread starts dropping its thread-locals, before it gives its
/// `thread_local` id back; `false` (and `forget` never runs) when that has begun. A thread
/// that keeps a reference to its value in a `ThreadLocal` elsewhere forgets it there: once
/// the id is given back, the next thread given it owns the value.
///
/// Call only once this thread has a value in some `ThreadLocal` (and so an id).
pub(crate) fn until_teardown(forget: fn()) -> bool {
    let kept = ALIVE
        .try_with(|alive| alive.forget.borrow_mut().push(forget))
        .is_ok();
    STARTED.set(true);
    kept
}
