//! The default bounds on cardinality: series per family, label length, series per runtime.

/// The default cap on the series of a family with string labels; combinations beyond it fold
/// into the family's overflow series.
pub const DEFAULT_MAX_SERIES: usize = 1000;

/// The longest label value, in bytes, a family with variable labels takes unless it sets its
/// own limit; a longer one folds into the family's overflow series and is never stored.
/// Prometheus sets no limit; one is needed so that input cannot make a single series
/// arbitrarily large.
pub const DEFAULT_MAX_LABEL_LEN: usize = 256;

/// The default budget of series with variable labels across all families of one runtime.
pub const DEFAULT_SERIES_BUDGET: usize = 100_000;
