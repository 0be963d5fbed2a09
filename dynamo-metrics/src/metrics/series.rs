//! One series in one allocation: its value cell, its family's description, the text of its
//! sample line and its label values. See [`Series`] for details.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use once_cell::race::OnceBox;
use prometheus::core::Desc;
use prometheus::proto;
use triomphe::HeaderSlice;

use super::cell::SeriesCell;
use super::meta::Meta;
use crate::exposition::snapshot::SeriesSnapshot;

/// One series: a reference-counted allocation holding its [`Head`] and, after it, one string
/// of its own text and its label values.
///
/// The string is the length of the series' own sample-line text (the part after its view's,
/// prepared at creation: see [`Prepared`](crate::exposition::prepared::Prepared)), that text,
/// then each label value after its length, every length in [`write_len`]'s ASCII digits, so
/// the whole is one `str` and each part a slice of it. The text comes first, beside the cell,
/// where a render reads it (after the values, it measured a third slower at 100,000 series);
/// a lookup that hits its thread's cache goes straight to the values, from where the cache
/// noted they are ([`values_at`](Self::values_at)). One allocation and no `String` per
/// value: a counter series with two short labels takes 118 bytes in the peer bench's memory
/// table, where a `std::sync::Arc` of the cell, `values: Box<[String]>` and a text `Box<str>`
/// took 211.
pub(crate) struct Series<C: SeriesCell>(triomphe::Arc<HeaderSlice<Head<C>, str>>);

/// What a series holds besides its string (see [`Series`]).
pub(crate) struct Head<C> {
    pub(crate) cell: C,
    pub(crate) meta: Arc<Meta>,
    /// What is made only when the series is used so, boxed when made.
    lazy: OnceBox<Lazy>,
}

/// What a series makes at its first use as a `prometheus` collector, in a protobuf scrape or
/// in an OTLP export. Each part is boxed on its own: a series scraped in protobuf does not pay
/// for a descriptor (112 bytes) it never makes.
#[derive(Default)]
pub(crate) struct Lazy {
    /// The `prometheus` descriptor of the series alone.
    desc: OnceLock<Option<Box<Desc>>>,
    /// The head of its protobuf `Metric` message, encoded (counters and gauges).
    pub(crate) protobuf: OnceLock<Box<[u8]>>,
    /// The head of its OTLP point, encoded (feature `otlp`).
    #[cfg(feature = "otlp")]
    pub(crate) otlp: OnceLock<Box<[u8]>>,
}

impl<C: SeriesCell> Clone for Series<C> {
    #[inline]
    fn clone(&self) -> Self {
        Series(self.0.clone())
    }
}

impl<C: SeriesCell> Deref for Series<C> {
    type Target = Head<C>;

    #[inline]
    fn deref(&self) -> &Head<C> {
        &self.0.header
    }
}

impl<C: SeriesCell> Series<C> {
    /// A series of `cell` in the family `meta`, its own text `own`, with label `values`.
    pub(crate) fn new<'a>(
        cell: C,
        meta: Arc<Meta>,
        own: &str,
        values: impl Iterator<Item = &'a str> + Clone,
    ) -> Self {
        let head = Head {
            cell,
            meta,
            lazy: OnceBox::new(),
        };
        with_scratch(|string| {
            write_len(string, own.len());
            string.push_str(own);
            for v in values {
                write_len(string, v.len());
                string.push_str(v);
            }
            Series(triomphe::Arc::from_header_and_str(head, string))
        })
    }

    /// The series' own part of its sample line's text (see [`SeriesText`](crate::exposition::prepared::SeriesText)).
    #[inline]
    pub(crate) fn own_text(&self) -> &str {
        split_part(&self.0.slice).0
    }

    /// Every label value, in the family's label order.
    #[inline]
    pub(crate) fn values(&self) -> Values<'_> {
        Values(split_part(&self.0.slice).1)
    }

    /// Every label value, owned.
    pub(crate) fn owned_values(&self) -> Vec<String> {
        self.values().map(str::to_owned).collect()
    }

    /// Where the label values after the first `fixed` are in the series' string, as a hint
    /// for [`has_values_at`](Self::has_values_at): the first byte, and the one after the
    /// last, as the low and the high half.
    pub(crate) fn values_at(&self, fixed: usize) -> u64 {
        let bytes = self.0.slice.as_bytes();
        let end = bytes.len();
        // After the own text.
        let mut rest = first_part(bytes).1;
        for _ in 0..fixed {
            rest = first_part(rest).1;
        }
        let start = end - rest.len();
        let half = |n: usize| u64::try_from(n).unwrap_or(u64::MAX) & 0xffff_ffff;
        half(start) | half(end) << 32
    }

    /// Whether the label values at `hint` (what [`values_at`](Self::values_at) said) are
    /// `values`: each value's length, then its bytes, compared in place (what a lookup that
    /// hits its thread's cache checks).
    #[inline(always)]
    pub(crate) fn has_values_at(&self, hint: u64, values: &[&str]) -> bool {
        #[allow(clippy::cast_possible_truncation)] // halves of a u64
        let (start, end) = ((hint & 0xffff_ffff) as usize, (hint >> 32) as usize);
        let Some(mut rest) = self.0.slice.as_bytes().get(start..end) else {
            return false;
        };
        for v in values {
            let v = v.as_bytes();
            let part = match rest.split_first() {
                // A length of one digit, as most are: compared before the bytes are split
                // off (with `first_part`, one key measured 3 to 5 ns slower).
                Some((&n, after)) if n < 64 => (usize::from(n) == v.len())
                    .then(|| after.split_at_checked(v.len()))
                    .flatten(),
                Some(_) => Some(first_part(rest)).filter(|(part, _)| part.len() == v.len()),
                None => None,
            };
            match part {
                Some((part, after)) if super::label_key::same_bytes(part, v) => rest = after,
                _ => return false,
            }
        }
        rest.is_empty()
    }

    /// Whether the first label values are `fixed`.
    pub(crate) fn starts_with(&self, fixed: &[String]) -> bool {
        let mut values = self.values();
        fixed.iter().all(|f| values.next() == Some(f.as_str()))
    }

    /// The series' label values after the first `skip`, in order against `values`.
    #[inline]
    pub(crate) fn cmp_values<'a>(
        &self,
        skip: usize,
        values: impl Iterator<Item = &'a str>,
    ) -> Ordering {
        let mut own = self.values().skip(skip);
        for v in values {
            match own.next().map(|o| o.cmp(v)) {
                Some(Ordering::Equal) => {}
                Some(unequal) => return unequal,
                None => return Ordering::Less,
            }
        }
        if own.next().is_some() {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    }

    pub(crate) fn snapshot(&self) -> SeriesSnapshot {
        SeriesSnapshot {
            labels: self
                .meta
                .labels
                .iter()
                .zip(self.values())
                .map(|(k, v)| (k.clone(), v.to_owned()))
                .collect(),
            value: self.cell.value(),
            exemplars: self.cell.exemplars(),
        }
    }

    /// What the series makes when used so, made now if not yet.
    pub(crate) fn lazy(&self) -> &Lazy {
        self.lazy.get_or_init(Box::default)
    }

    /// The `prometheus` descriptor of this series alone, every label constant.
    pub(crate) fn desc(&self) -> Vec<&Desc> {
        self.lazy()
            .desc
            .get_or_init(|| self.meta.desc(&self.owned_values()).map(Box::new))
            .iter()
            .map(|d| &**d)
            .collect()
    }

    /// The series as a `prometheus` family of one.
    pub(crate) fn collect(&self) -> Vec<proto::MetricFamily> {
        vec![self.meta.to_proto(vec![self.snapshot()])]
    }
}

/// The label values of a series, read from its string (see [`Series`]).
#[derive(Clone)]
pub(crate) struct Values<'a>(&'a str);

impl<'a> Iterator for Values<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        if self.0.is_empty() {
            return None;
        }
        let (value, rest) = split_part(self.0);
        self.0 = rest;
        Some(value)
    }
}

/// Appends `n` in ASCII digits of six bits, least significant first, each but the last with
/// the bit 64 set: every byte below 128, so the string stays valid UTF-8 and every part
/// starts on a character boundary. Under 64 (most texts and values) it is one byte.
fn write_len(out: &mut String, mut n: usize) {
    loop {
        let digit = (n & 63) as u8;
        n >>= 6;
        if n == 0 {
            out.push(char::from(digit));
            return;
        }
        out.push(char::from(digit | 64));
    }
}

/// The length at the start of `bytes` and where it ends: in line for one or two digits (under
/// 4,096: every text and value but the longest), [`read_long_len`] otherwise.
#[inline(always)]
fn read_len(bytes: &[u8]) -> (usize, usize) {
    match *bytes {
        [n, ..] if n < 64 => (usize::from(n), 1),
        [low, high, ..] if high < 64 => (usize::from(low & 63) | usize::from(high) << 6, 2),
        _ => read_long_len(bytes),
    }
}

/// The part at the start of `bytes` (its length, then its bytes) and what follows it; shorter
/// when `bytes` end first.
#[inline(always)]
fn first_part(bytes: &[u8]) -> (&[u8], &[u8]) {
    let (n, at) = read_len(bytes);
    let rest = bytes.get(at..).unwrap_or_default();
    rest.split_at(n.min(rest.len()))
}

/// A length of any number of digits at the start of `bytes`, and where it ends.
#[inline(never)]
fn read_long_len(bytes: &[u8]) -> (usize, usize) {
    let (mut n, mut shift, mut at) = (0usize, 0u32, 0usize);
    while let Some(&b) = bytes.get(at) {
        at += 1;
        n |= usize::from(b & 63).checked_shl(shift).unwrap_or(0);
        shift += 6;
        if b & 64 == 0 {
            break;
        }
    }
    (n, at)
}

/// Runs `f` with an empty `String` that this thread keeps for its next calls, so that
/// making a series allocates its own memory and no buffer on the way; a new one when the
/// thread's are in use (a call within a call) or gone (the thread ending).
pub(crate) fn with_scratch<T>(f: impl FnOnce(&mut String) -> T) -> T {
    thread_local! {
        static SPARE: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }
    let mut scratch = SPARE
        .try_with(|spare| spare.try_borrow_mut().ok()?.pop())
        .ok()
        .flatten()
        .unwrap_or_default();
    scratch.clear();
    let out = f(&mut scratch);
    // A buffer that grew for an unusually long series is not kept.
    if scratch.capacity() <= 4096 {
        let _ = SPARE.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut()
                && spare.len() < 2
            {
                spare.push(scratch);
            }
        });
    }
    out
}

/// The part at the start of `s` (its length, then its bytes) and what follows it. Never
/// panics: a string not written by [`Series::new`] reads as shorter parts.
#[inline]
fn split_part(s: &str) -> (&str, &str) {
    let (n, at) = read_len(s.as_bytes());
    let end = at.saturating_add(n).min(s.len());
    match (s.get(at..end), s.get(end..)) {
        (Some(part), Some(rest)) => (part, rest),
        _ => ("", ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::cell::IntCounterCell;

    fn meta(labels: &[&str]) -> Arc<Meta> {
        Arc::new(Meta {
            name: "t_total".into(),
            help: "T".into(),
            kind: dynamo_metrics_naming::MetricKind::Counter,
            value_type: "u64",
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            hierarchy: 0,
            native: None,
            buckets: None,
            declared_at: String::new(),
        })
    }

    #[test]
    fn scratch_buffers_are_empty_apart_when_nested_and_kept() {
        let outer = with_scratch(|a| {
            a.push_str("outer");
            with_scratch(|b| {
                assert!(b.is_empty());
                b.push_str("inner");
            });
            assert_eq!(a, "outer");
            a.as_ptr()
        });
        with_scratch(|again| {
            assert!(again.is_empty());
            assert_eq!(again.as_ptr(), outer, "the thread's buffer, kept");
        });
    }

    #[test]
    fn text_and_values_read_back_whole() {
        let long = "é".repeat(40);
        let cases: Vec<(&str, Vec<&str>)> = vec![
            ("{a=\"x\"} ", vec!["x"]),
            ("", vec![]),
            ("", vec!["", ""]),
            ("{} ", vec!["", "b", ""]),
            (&long, vec![&long, "\u{7f}", "\0", &long[..2]]),
        ];
        for (own, values) in cases {
            let labels: Vec<String> = (0..values.len()).map(|i| format!("l{i}")).collect();
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            let meta = meta(&labels);
            let s = Series::new(
                IntCounterCell::new(&meta, false),
                meta,
                own,
                values.iter().copied(),
            );
            assert_eq!(s.own_text(), own);
            assert_eq!(s.values().collect::<Vec<_>>(), values);
            assert!(s.has_values_at(s.values_at(0), &values));
            if let Some((first, rest)) = values.split_first() {
                assert!(s.has_values_at(s.values_at(1), rest));
                assert!(s.starts_with(&[(*first).to_owned()]));
                assert!(!s.has_values_at(s.values_at(1), &values));
                assert!(!s.has_values_at(s.values_at(0), rest));
                assert_eq!(s.cmp_values(1, rest.iter().copied()), Ordering::Equal);
            }
        }
    }

    #[test]
    fn lengths_of_every_size_read_back() {
        for n in [0, 1, 63, 64, 65, 4095, 4096, 262_143, 262_144, 1 << 20] {
            let mut s = String::new();
            write_len(&mut s, n);
            assert!(s.is_ascii());
            s.push_str(&"x".repeat(n));
            s.push_str("rest");
            let (part, rest) = split_part(&s);
            assert_eq!((part.len(), rest), (n, "rest"), "{n}");
            let (part, rest) = first_part(s.as_bytes());
            assert_eq!((part.len(), rest), (n, &b"rest"[..]), "{n}");
        }
        // A string cut short reads as shorter parts, without a panic.
        assert_eq!(split_part("\u{5}ab"), ("ab", ""));
        assert_eq!(split_part("\u{41}"), ("", ""));
    }
}
