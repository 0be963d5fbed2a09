//! Typed label sets: a struct whose fields are labels, each an enum with a fixed set of
//! values or a string. See [`LabelSet`] for details.

use std::borrow::Cow;

/// A label value from a fixed set: an enum deriving
/// [`LabelValue`](macro@crate::LabelValue). Its series are created up front and found by
/// index, without hashing or locking.
pub trait LabelValue: Send + Sync + 'static {
    /// Every value, in the order of [`index`](Self::index).
    const VALUES: &'static [&'static str];
    /// The position of this value in [`VALUES`](Self::VALUES).
    fn index(&self) -> usize;
}

/// One field of a label set: a [`LabelValue`] enum (bounded) or a string (looked up, with
/// a cap on the number of series per family).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a label of a label set",
    label = "not a label type",
    note = "label fields are `String`, `&'static str`, `Cow<'static, str>`, or an enum deriving `LabelValue`"
)]
pub trait LabelField {
    /// How many values the field can take; `None` for strings.
    const CARDINALITY: Option<usize>;
    /// The position of the value among all values; `None` for strings.
    fn index(&self) -> Option<usize>;
    /// The value as label text.
    fn as_label(&self) -> &str;
    /// The value at `index` (bounded fields only; strings give `""`).
    fn value_at(index: usize) -> &'static str;
}

macro_rules! string_field {
    ($($ty:ty),*) => {$(
        impl LabelField for $ty {
            const CARDINALITY: Option<usize> = None;
            fn index(&self) -> Option<usize> {
                None
            }
            fn as_label(&self) -> &str {
                self
            }
            fn value_at(_: usize) -> &'static str {
                ""
            }
        }
    )*};
}

string_field!(String, &'static str, Cow<'static, str>);

/// A set of labels: a struct deriving [`LabelSet`](macro@crate::LabelSet), whose field names
/// are the label names. A family typed with one label set accepts no other.
pub trait LabelSet: Send + Sync + 'static {
    /// The label names, in field order.
    const NAMES: &'static [&'static str];
    /// The number of combinations when every field is bounded; `None` otherwise.
    const CARDINALITY: Option<usize>;
    /// The position of this combination among all, when every field is bounded.
    fn index(&self) -> Option<usize>;
    /// The label values, in field order.
    fn values(&self) -> Vec<&str>;
    /// Runs `f` on the label values, in field order, without allocating (the derive passes
    /// an array on the stack).
    #[inline]
    fn with_values<R>(&self, f: impl FnOnce(&[&str]) -> R) -> R {
        f(&self.values())
    }
    /// The values of combination `index` (bounded sets only).
    fn values_at(index: usize) -> Vec<&'static str>;
}

/// The empty label set: for families whose series differ only by level.
impl LabelSet for () {
    const NAMES: &'static [&'static str] = &[];
    const CARDINALITY: Option<usize> = Some(1);
    fn index(&self) -> Option<usize> {
        Some(0)
    }
    fn values(&self) -> Vec<&str> {
        Vec::new()
    }
    fn values_at(_: usize) -> Vec<&'static str> {
        Vec::new()
    }
}

/// The product of the fields' cardinalities, `None` if any is unbounded (used by the derive).
#[doc(hidden)]
pub const fn cardinality(fields: &[Option<usize>]) -> Option<usize> {
    let mut product = 1usize;
    let mut i = 0;
    while i < fields.len() {
        match fields[i] {
            Some(n) => product = product.saturating_mul(n),
            None => return None,
        }
        i += 1;
    }
    Some(product)
}

/// Whether `names` contains `name` (used by the derive's compile-time checks).
#[doc(hidden)]
pub const fn contains(names: &[&str], name: &str) -> bool {
    let mut i = 0;
    while i < names.len() {
        if eq(names[i].as_bytes(), name.as_bytes()) {
            return true;
        }
        i += 1;
    }
    false
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn const_helpers() {
        assert_eq!(cardinality(&[Some(2), Some(3)]), Some(6));
        assert_eq!(cardinality(&[Some(2), None]), None);
        assert_eq!(cardinality(&[]), Some(1));
        assert!(contains(&["a", "model"], "model"));
        assert!(!contains(&["a", "model"], "mode"));
    }
}
