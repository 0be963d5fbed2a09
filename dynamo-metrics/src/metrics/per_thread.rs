//! Values kept per thread with the `thread_local` crate, made safely while a thread is torn
//! down. See [`this_thread`] for details.

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

/// [`this_thread`] when the thread has no value yet.
#[cold]
fn make_here<T: Send>(values: &ThreadLocal<T>, make: impl FnOnce() -> T) -> Option<&T> {
    /// Dropped with the thread's other thread-locals; made after the thread's first
    /// `thread_local` id, so dropped before the guard that gives the id back (thread-locals
    /// are dropped in the reverse order of their first use).
    struct Alive;
    impl Drop for Alive {
        fn drop(&mut self) {}
    }
    thread_local! {
        /// Whether this thread made a value here before (and so made `ALIVE`).
        static STARTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        static ALIVE: Alive = const { Alive };
    }
    if STARTED.get() {
        // Gone: the thread is being torn down, and its id may be given back already.
        ALIVE.try_with(|_| ()).ok()?;
        return Some(values.get_or(make));
    }
    let made = values.get_or(make);
    let _ = ALIVE.try_with(|_| ());
    STARTED.set(true);
    Some(made)
}
