//! The page buffers of the `/metrics` route, kept between scrapes.
//!
//! A page of a million series is tens of megabytes. Made in a new buffer each scrape, every
//! page of it is faulted in by the kernel again, which costs about as much as rendering it
//! (BENCHMARKS.md, the scaling table); a buffer that served a scrape serves the next one.
//! At most [`KEPT`] idle buffers are kept, each no larger than twice the page it last held.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use parking_lot::Mutex;

/// Idle buffers kept: two scrapers at once (an HA pair of Prometheus servers) find one each.
const KEPT: usize = 2;

/// Buffers no longer in use, for the next scrapes.
#[derive(Default)]
pub(crate) struct Buffers {
    idle: Mutex<Vec<Vec<u8>>>,
}

impl Buffers {
    /// An empty buffer: the largest idle one (a gzipped scrape then takes a page's buffer
    /// first and the smaller one of a compressed page second), else a new one.
    pub(crate) fn take(&self) -> Vec<u8> {
        let mut idle = self.idle.lock();
        let largest = (0..idle.len()).max_by_key(|&i| idle[i].capacity());
        largest.map(|i| idle.swap_remove(i)).unwrap_or_default()
    }

    /// Takes `buffer` back, emptied, when fewer than [`KEPT`] are idle and it is not more
    /// than twice the size of what it held (a page that shrank does not keep its old size).
    pub(crate) fn give(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() > 2 * buffer.len() + 4096 {
            return;
        }
        buffer.clear();
        let mut idle = self.idle.lock();
        if idle.len() < KEPT {
            idle.push(buffer);
        }
    }

    /// `page` as a response body that gives its buffer back here once sent (or dropped).
    pub(crate) fn body(self: &Arc<Self>, page: Vec<u8>) -> Bytes {
        Bytes::from_owner(Lent {
            page,
            home: Arc::downgrade(self),
        })
    }
}

/// A page lent to a response body.
struct Lent {
    page: Vec<u8>,
    home: Weak<Buffers>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.page
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(home) = self.home.upgrade() {
            home.give(std::mem::take(&mut self.page));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_page_gives_its_buffer_to_the_next_scrape() {
        let buffers = Arc::new(Buffers::default());
        let mut page = buffers.take();
        page.extend_from_slice(b"first page, longer than the second\n");
        let (held, capacity) = (page.as_ptr(), page.capacity());
        let body = buffers.body(page);
        assert_eq!(&body[..], b"first page, longer than the second\n");
        drop(body);
        let again = buffers.take();
        assert_eq!(again.as_ptr(), held, "the same allocation");
        assert_eq!((again.len(), again.capacity()), (0, capacity), "emptied");
        assert!(buffers.take().capacity() == 0, "one was idle");
    }

    #[test]
    fn the_largest_idle_buffer_is_taken_first() {
        let buffers = Buffers::default();
        buffers.give(Vec::with_capacity(10));
        buffers.give(Vec::with_capacity(4000));
        buffers.give(Vec::with_capacity(100)); // a third: not kept
        assert_eq!(buffers.take().capacity(), 4000);
        assert_eq!(buffers.take().capacity(), 10);
    }

    #[test]
    fn at_most_two_idle_and_none_much_larger_than_its_page() {
        let buffers = Arc::new(Buffers::default());
        for _ in 0..4 {
            buffers.give(vec![1; 100]);
        }
        assert_eq!(buffers.idle.lock().len(), KEPT);
        let buffers = Buffers::default();
        let mut oversized = Vec::with_capacity(1 << 20);
        oversized.extend_from_slice(&[1; 100]);
        buffers.give(oversized);
        assert!(
            buffers.idle.lock().is_empty(),
            "a page that shrank lets its buffer go"
        );
    }

    #[test]
    fn a_body_outliving_the_route_frees_its_buffer() {
        let buffers = Arc::new(Buffers::default());
        let body = buffers.body(vec![7; 10]);
        drop(buffers);
        assert_eq!(&body[..], &[7; 10]);
    }
}
