//! Values kept per thread with the `thread_local` crate, made safely while a thread is torn
//! down. See [`this_thread`] for details.

use thread_local::ThreadLocal;

/// This thread's value in `values`, made by `make` when it has none; `None` while the thread
/// is being torn down, once it gave its `thread_local` id back: making a value then would
/// panic inside a thread-local destructor, which aborts the process. A destructor that
/// records a metric after that finds no table or counts of its own, and records into the
/// series directly.
///
/// (It is not known when this thread's first use of `thread_local` here comes after another
/// crate's use of it was torn down; that case still panics in `thread_local`.)
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
    thread_local! {
        /// Whether this thread has taken a `thread_local` id (through `HELD`).
        static STARTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    /// Has a value for every thread that holds its id: `get` is `None` once the id is given
    /// back.
    static HELD: ThreadLocal<()> = ThreadLocal::new();
    if STARTED.get() {
        HELD.get()?;
    } else {
        HELD.get_or(|| ());
        STARTED.set(true);
    }
    Some(values.get_or(make))
}
