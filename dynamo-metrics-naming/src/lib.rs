//! The Prometheus name and label rules of `dynamo-metrics`, in exactly one place.
//!
//! The macros check names written as literals at compile time and the runtime checks names
//! it receives at run time; both call the functions here, so the two sides cannot drift
//! apart. Every check returns a [`NameError`] whose `Display` is the one message users see.
//!
//! The rules (see [`check_metric_name`] and [`check_label_name`] for details):
//! - metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*`;
//! - names starting with `__` are reserved for Prometheus itself;
//! - `quantile` is reserved as a label everywhere, `le` on histograms;
//! - the hierarchy labels ([`HIERARCHY_LABELS`]) are injected by the runtime and cannot be
//!   set by hand;
//! - counters end in `_total`; gauges and histograms do not, and histograms do not end in the
//!   suffixes their own series use (`_bucket`, `_sum`, `_count`).
//!
//! Names are never rewritten: a name that breaks a rule is refused, not sanitised.
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::fmt;

/// The prefix of every metric name: `dynamo_<subsystem>_<name>`.
pub const PREFIX: &str = "dynamo";

/// The subsystem used when none is given: metrics under the runtime hierarchy.
pub const DEFAULT_SUBSYSTEM: &str = "component";

/// The label naming the namespace a metric belongs to.
pub const NAMESPACE_LABEL: &str = "dynamo_namespace";
/// The label naming the component a metric belongs to.
pub const COMPONENT_LABEL: &str = "dynamo_component";
/// The label naming the endpoint a metric belongs to.
pub const ENDPOINT_LABEL: &str = "dynamo_endpoint";

/// The hierarchy labels, in the order the levels nest: injected by the runtime, never by hand.
pub const HIERARCHY_LABELS: [&str; 3] = [NAMESPACE_LABEL, COMPONENT_LABEL, ENDPOINT_LABEL];

/// The suffixes of the series of a histogram family: no family may end in them, and no two
/// families may share a series name through them.
pub const SERIES_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// The default cap on the series of a family with string labels; combinations beyond it fold
/// into the family's overflow series.
pub const DEFAULT_MAX_SERIES: usize = 1000;

/// The default bucket bounds of histograms created without buckets, in seconds: the
/// Prometheus client defaults, from 5 ms to 10 s.
pub const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The longest label value, in bytes, a family with variable labels takes unless it sets its
/// own limit; a longer one folds into the family's overflow series and is never stored.
/// Prometheus sets no limit; one is needed so that input cannot make a single series
/// arbitrarily large.
pub const DEFAULT_MAX_LABEL_LEN: usize = 256;

/// The default budget of series with variable labels across all families of one runtime.
pub const DEFAULT_SERIES_BUDGET: usize = 100_000;

/// Parameters of a native (sparse, exponential) histogram: its buckets grow by at most
/// `factor` from one to the next, and at most `max_buckets` are exposed (beyond that, neighbours
/// are merged, halving the resolution, until they fit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NativeParams {
    /// The most one bucket's upper bound may exceed the previous one's, as a ratio (> 1).
    pub factor: f64,
    /// The most buckets exposed at once.
    pub max_buckets: u32,
}

impl NativeParams {
    /// A bucket factor of 1.1 (schema 3: buckets grow by 2^(1/8), about 9 %) and at most 160
    /// buckets, as client_golang's documentation suggests.
    pub const DEFAULT: NativeParams = NativeParams {
        factor: 1.1,
        max_buckets: 160,
    };

    /// The schema these parameters give: the largest resolution, from -4 to 8, whose bucket
    /// growth `2^(2^-schema)` is at most `factor`. `None` unless `factor > 1` and
    /// `max_buckets >= 1`.
    pub fn schema(&self) -> Option<i8> {
        if !(self.factor > 1.0 && self.factor.is_finite()) || self.max_buckets == 0 {
            return None;
        }
        // growth(schema) = 2^(2^-schema) <= factor  <=>  schema >= -log2(log2(factor)).
        let wanted = (-(self.factor.log2().log2())).ceil();
        #[allow(clippy::cast_possible_truncation)]
        Some(wanted.clamp(-4.0, 8.0) as i8)
    }
}

/// The most bucket bounds a histogram may have.
pub const MAX_BUCKETS: usize = 1000;

/// The `error_type` of an error whose type names none.
pub const DEFAULT_ERROR_TYPE: &str = "handler";

/// The `error_type` of a handler that panicked.
pub const PANIC_ERROR_TYPE: &str = "panic";

/// What kind of metric a name belongs to; some rules depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A monotonically increasing value (`counter` in the text format).
    Counter,
    /// A value that goes up and down (`gauge`).
    Gauge,
    /// Observations counted into buckets (`histogram`).
    Histogram,
}

impl MetricKind {
    /// The word the text exposition format uses in `# TYPE` lines.
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a name was refused. `Display` gives the rule, without the name itself; callers that
/// hold the name print it in front (`invalid label name "le": ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// A character is not allowed where it stands.
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its byte offset in the name.
        index: usize,
        /// Whether the name is a metric name (colons allowed) or a label name.
        metric: bool,
    },
    /// The name starts with `__`, which Prometheus reserves for itself.
    ReservedPrefix,
    /// The label is one of the hierarchy labels the runtime injects.
    HierarchyLabel,
    /// `le` is the bucket bound label of histograms.
    ReservedLe,
    /// `quantile` is the label of summary quantiles.
    ReservedQuantile,
    /// A counter name must end in `_total`.
    CounterWithoutTotal,
    /// Only counters end in `_total`.
    TotalOnNonCounter(MetricKind),
    /// A histogram name ends in a suffix its own series use.
    HistogramSuffix(&'static str),
    /// A character not allowed in a namespace, component or endpoint name.
    InvalidHierarchyChar {
        /// The offending character.
        ch: char,
        /// Its byte offset in the name.
        index: usize,
    },
    /// A character not allowed in an environment variable prefix.
    InvalidEnvChar {
        /// The offending character.
        ch: char,
        /// Its byte offset in the name.
        index: usize,
    },
    /// A character not allowed in an error type.
    InvalidErrorTypeChar {
        /// The offending character.
        ch: char,
        /// Its byte offset in the name.
        index: usize,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NameError::Empty => f.write_str("names must not be empty"),
            NameError::InvalidChar { ch, index, metric } => {
                let pattern = if metric {
                    "metric names match [a-zA-Z_:][a-zA-Z0-9_:]*"
                } else {
                    "label names match [a-zA-Z_][a-zA-Z0-9_]*"
                };
                write!(f, "character {ch:?} at byte {index} is not allowed; {pattern}")
            }
            NameError::ReservedPrefix => {
                f.write_str("names starting with `__` are reserved for Prometheus")
            }
            NameError::HierarchyLabel => f.write_str(
                "the hierarchy labels dynamo_namespace, dynamo_component and dynamo_endpoint \
                 are injected by the runtime from the level the metric lives at and cannot be set by hand",
            ),
            NameError::ReservedLe => {
                f.write_str("`le` is reserved for the bucket bounds of histograms")
            }
            NameError::ReservedQuantile => {
                f.write_str("`quantile` is reserved for the quantiles of summaries")
            }
            NameError::CounterWithoutTotal => f.write_str("counter names must end in `_total`"),
            NameError::TotalOnNonCounter(kind) => {
                write!(f, "only counters end in `_total`; this is a {kind}")
            }
            NameError::HistogramSuffix(suffix) => write!(
                f,
                "histogram names must not end in `{suffix}`, which their own series use"
            ),
            NameError::InvalidHierarchyChar { ch, index } => write!(
                f,
                "character {ch:?} at byte {index} is not allowed; namespace, component and endpoint names use letters, digits, `_` and `-`"
            ),
            NameError::InvalidEnvChar { ch, index } => write!(
                f,
                "character {ch:?} at byte {index} is not allowed; variable prefixes are upper-case words of [A-Z0-9_] starting with a letter, such as \"DYN_METRICS_TTFT\""
            ),
            NameError::InvalidErrorTypeChar { ch, index } => write!(
                f,
                "character {ch:?} at byte {index} is not allowed; error types are snake_case words of [a-z0-9_]"
            ),
        }
    }
}

impl std::error::Error for NameError {}

fn check_chars(name: &str, metric: bool) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    for (index, ch) in name.char_indices() {
        let ok = ch.is_ascii_alphabetic()
            || ch == '_'
            || (metric && ch == ':')
            || (index > 0 && ch.is_ascii_digit());
        if !ok {
            return Err(NameError::InvalidChar { ch, index, metric });
        }
    }
    if name.starts_with("__") {
        return Err(NameError::ReservedPrefix);
    }
    Ok(())
}

/// Checks the characters of a metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`, not starting `__`.
pub fn check_metric_name(name: &str) -> Result<(), NameError> {
    check_chars(name, true)
}

/// Checks a full metric name against the suffix rules of its kind, after [`check_metric_name`].
pub fn check_metric_name_for(kind: MetricKind, name: &str) -> Result<(), NameError> {
    check_metric_name(name)?;
    let total = name.ends_with("_total");
    match kind {
        MetricKind::Counter if !total => Err(NameError::CounterWithoutTotal),
        MetricKind::Gauge | MetricKind::Histogram if total => {
            Err(NameError::TotalOnNonCounter(kind))
        }
        MetricKind::Histogram => match SERIES_SUFFIXES
            .into_iter()
            .find(|suffix| name.ends_with(suffix))
        {
            Some(suffix) => Err(NameError::HistogramSuffix(suffix)),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Checks a label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting `__`, not `quantile`.
pub fn check_label_name(name: &str) -> Result<(), NameError> {
    check_chars(name, false)?;
    if name == "quantile" {
        return Err(NameError::ReservedQuantile);
    }
    Ok(())
}

/// Checks a label name a user gives to a metric of `kind`: the rules of
/// [`check_label_name`], no hierarchy label, and no `le` on histograms.
pub fn check_user_label_name(kind: MetricKind, name: &str) -> Result<(), NameError> {
    check_label_name(name)?;
    if HIERARCHY_LABELS.contains(&name) {
        return Err(NameError::HierarchyLabel);
    }
    if kind == MetricKind::Histogram && name == "le" {
        return Err(NameError::ReservedLe);
    }
    Ok(())
}

/// Checks a namespace, component or endpoint name: `[A-Za-z0-9_-]+`. These become label
/// values (`dynamo_component="backend"`) and parts of routes, so they are kept to one word.
pub fn check_hierarchy_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    match name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        Some((index, ch)) => Err(NameError::InvalidHierarchyChar { ch, index }),
        None => Ok(()),
    }
}

/// Checks an error type, a value of the `error_type` label: a snake_case word of `[a-z0-9_]`.
pub fn check_error_type(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    match name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        Some((index, ch)) => Err(NameError::InvalidErrorTypeChar { ch, index }),
        None => Ok(()),
    }
}

/// Checks a subsystem, the middle part of `dynamo_<subsystem>_<name>`: a label-like word.
pub fn check_subsystem(subsystem: &str) -> Result<(), NameError> {
    check_chars(subsystem, false)
}

/// Log-spaced histogram bounds as Dynamo builds them: `0`, then `count - 1` bounds from `min`
/// to `max` evenly spaced in log scale, each rounded to two significant digits, duplicates
/// dropped. `None` unless `0 < min < max` (finite) and `2 <= count <= 512`.
pub fn log_buckets(min: f64, max: f64, count: usize) -> Option<Vec<f64>> {
    if !(min.is_finite() && max.is_finite() && min > 0.0 && min < max && (2..=512).contains(&count))
    {
        return None;
    }
    let round = |v: f64| {
        #[allow(clippy::cast_possible_truncation)]
        let scale = 10f64.powi(1 - v.log10().floor() as i32);
        (v * scale).round() / scale
    };
    let mut out = vec![0.0];
    for i in 1..count {
        #[allow(clippy::cast_precision_loss)]
        let t = i as f64 / (count - 1) as f64;
        let v = round((min.ln() + (max.ln() - min.ln()) * t).exp());
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
    Some(out)
}

/// Joins a subsystem and a short name into the full metric name `dynamo_<subsystem>_<name>`.
/// The parts are not checked here; check the result with [`check_metric_name_for`].
pub fn full_name(subsystem: &str, name: &str) -> String {
    let mut full = String::with_capacity(PREFIX.len() + subsystem.len() + name.len() + 2);
    full.push_str(PREFIX);
    full.push('_');
    full.push_str(subsystem);
    full.push('_');
    full.push_str(name);
    full
}

/// A level of the runtime hierarchy: where a metric lives and which hierarchy labels it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// The runtime itself: no hierarchy labels.
    Runtime,
    /// A namespace: `dynamo_namespace`.
    Namespace,
    /// A component: `dynamo_namespace`, `dynamo_component`.
    Component,
    /// An endpoint: all three hierarchy labels.
    Endpoint,
}

impl Level {
    /// Every level, outermost first.
    pub const ALL: [Level; 4] = [
        Level::Runtime,
        Level::Namespace,
        Level::Component,
        Level::Endpoint,
    ];

    /// The level's name in lower case, as the `level = ".."` attribute spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Runtime => "runtime",
            Level::Namespace => "namespace",
            Level::Component => "component",
            Level::Endpoint => "endpoint",
        }
    }

    /// The level named `name`, if any.
    pub fn from_name(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == name)
    }

    /// The hierarchy labels a metric at this level carries, outermost first.
    pub const fn labels(self) -> &'static [&'static str] {
        match self {
            Level::Runtime => &[],
            Level::Namespace => &[NAMESPACE_LABEL],
            Level::Component => &[NAMESPACE_LABEL, COMPONENT_LABEL],
            Level::Endpoint => &HIERARCHY_LABELS,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a list of histogram bucket bounds was refused. `index` is the position of the
/// offending bound in the list as given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BucketError {
    /// No finite bound (`+Inf` alone, or nothing).
    Empty,
    /// More than [`MAX_BUCKETS`] bounds.
    TooMany(usize),
    /// A bound that is NaN or infinite (other than a trailing `+Inf`).
    NotFinite {
        /// Its position.
        index: usize,
        /// The bound.
        bound: f64,
    },
    /// A bound equal to the one before it.
    Duplicate {
        /// Its position.
        index: usize,
        /// The bound.
        bound: f64,
    },
    /// A bound below the one before it.
    Decreasing {
        /// Its position.
        index: usize,
        /// The bound.
        bound: f64,
        /// The bound before it.
        previous: f64,
    },
}

impl fmt::Display for BucketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BucketError::Empty => f.write_str("at least one finite bucket bound is required"),
            BucketError::TooMany(n) => {
                write!(
                    f,
                    "{n} bucket bounds; a histogram has at most {MAX_BUCKETS}"
                )
            }
            BucketError::NotFinite { bound, .. } => write!(
                f,
                "bound {bound} is not a finite number; +Inf is always added"
            ),
            BucketError::Duplicate { bound, .. } => write!(f, "duplicate bucket bound {bound}"),
            BucketError::Decreasing {
                bound, previous, ..
            } => write!(
                f,
                "bounds must be strictly increasing, but {previous} is followed by {bound}"
            ),
        }
    }
}

impl std::error::Error for BucketError {}

/// Checks histogram bucket bounds: at least one, at most [`MAX_BUCKETS`], finite, strictly
/// increasing; a trailing `+Inf` is allowed (it is always added). Returns every error, in
/// order, so a macro can point at each bad bound.
pub fn check_buckets(bounds: &[f64]) -> Vec<BucketError> {
    let finite = match bounds.split_last() {
        Some((last, rest)) if *last == f64::INFINITY => rest,
        _ => bounds,
    };
    if finite.is_empty() {
        return vec![BucketError::Empty];
    }
    let mut errors = Vec::new();
    if finite.len() > MAX_BUCKETS {
        errors.push(BucketError::TooMany(finite.len()));
    }
    for (index, &bound) in finite.iter().enumerate() {
        let previous = index.checked_sub(1).map(|i| finite[i]);
        if !bound.is_finite() {
            errors.push(BucketError::NotFinite { index, bound });
        } else if let Some(previous) = previous.filter(|p| p.is_finite()) {
            if bound == previous {
                errors.push(BucketError::Duplicate { index, bound });
            } else if bound < previous {
                errors.push(BucketError::Decreasing {
                    index,
                    bound,
                    previous,
                });
            }
        }
    }
    errors
}

/// Checks the prefix of the `<PREFIX>_MIN`, `<PREFIX>_MAX`, `<PREFIX>_COUNT` variables that
/// replace a histogram's buckets: an upper-case word of `[A-Z0-9_]` starting with a letter.
pub fn check_env_prefix(prefix: &str) -> Result<(), NameError> {
    if prefix.is_empty() {
        return Err(NameError::Empty);
    }
    match prefix
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_uppercase() || (*i > 0 && (c.is_ascii_digit() || *c == '_'))))
    {
        Some((index, ch)) => Err(NameError::InvalidEnvChar { ch, index }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_table() {
        let inf = f64::INFINITY;
        let cases: &[(&[f64], &[BucketError])] = &[
            (&[0.1, 1.0, 10.0], &[]),
            (&[1.0, inf], &[]),
            (&[], &[BucketError::Empty]),
            (&[inf], &[BucketError::Empty]),
            (
                &[1.0, 1.0],
                &[BucketError::Duplicate {
                    index: 1,
                    bound: 1.0,
                }],
            ),
            (
                &[2.0, 1.0, 3.0],
                &[BucketError::Decreasing {
                    index: 1,
                    bound: 1.0,
                    previous: 2.0,
                }],
            ),
            (
                &[1.0, f64::NEG_INFINITY, 2.0],
                &[BucketError::NotFinite {
                    index: 1,
                    bound: f64::NEG_INFINITY,
                }],
            ),
        ];
        for (bounds, want) in cases {
            assert_eq!(check_buckets(bounds), *want, "{bounds:?}");
        }
        let many: Vec<f64> = (0..=MAX_BUCKETS).map(|i| i as f64).collect();
        assert_eq!(
            check_buckets(&many),
            [BucketError::TooMany(MAX_BUCKETS + 1)]
        );
        assert!(check_buckets(&many[..MAX_BUCKETS]).is_empty());
        assert!(
            check_buckets(&[f64::NAN])[0]
                .to_string()
                .contains("not a finite number")
        );
    }

    #[test]
    fn hierarchy_error_type_and_env_prefix_tables() {
        for ok in ["backend", "Back-End_2", "0", "-"] {
            assert_eq!(check_hierarchy_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_hierarchy_name(""), Err(NameError::Empty));
        assert_eq!(
            check_hierarchy_name("a/b"),
            Err(NameError::InvalidHierarchyChar { ch: '/', index: 1 })
        );
        assert_eq!(
            check_hierarchy_name("é"),
            Err(NameError::InvalidHierarchyChar { ch: 'é', index: 0 })
        );
        for ok in ["handler", "engine_overloaded", "e2"] {
            assert_eq!(check_error_type(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check_error_type("Timeout"),
            Err(NameError::InvalidErrorTypeChar { ch: 'T', index: 0 })
        );
        assert_eq!(check_error_type(DEFAULT_ERROR_TYPE), Ok(()));
        assert_eq!(check_error_type(PANIC_ERROR_TYPE), Ok(()));
        assert_eq!(check_env_prefix("DYN_METRICS_TTFT"), Ok(()));
        assert_eq!(
            check_env_prefix("dyn"),
            Err(NameError::InvalidEnvChar { ch: 'd', index: 0 })
        );
        assert_eq!(
            check_env_prefix("_X"),
            Err(NameError::InvalidEnvChar { ch: '_', index: 0 })
        );
    }

    #[test]
    fn native_schemas() {
        let schema = |factor| {
            NativeParams {
                factor,
                max_buckets: 10,
            }
            .schema()
        };
        assert_eq!(NativeParams::DEFAULT.schema(), Some(3));
        assert_eq!(schema(2.0), Some(0));
        assert_eq!(schema(4.0), Some(-1));
        assert_eq!(schema(1.0906), Some(3)); // 2^(1/8) = 1.09051 fits
        assert_eq!(schema(1.0905), Some(4)); // it does not
        assert_eq!(schema(1.09), Some(4));
        assert_eq!(schema(1.0001), Some(8));
        assert_eq!(schema(1e300), Some(-4));
        assert_eq!(schema(1.0), None);
        assert_eq!(schema(f64::NAN), None);
        assert_eq!(
            NativeParams {
                factor: 1.1,
                max_buckets: 0
            }
            .schema(),
            None
        );
    }

    #[test]
    fn levels() {
        for l in Level::ALL {
            assert_eq!(Level::from_name(l.as_str()), Some(l));
        }
        assert_eq!(Level::from_name("cluster"), None);
        assert_eq!(
            Level::Component.labels(),
            [NAMESPACE_LABEL, COMPONENT_LABEL]
        );
        assert_eq!(Level::Runtime.labels().len(), 0);
    }

    #[test]
    fn metric_name_table() {
        let cases: &[(&str, Result<(), NameError>)] = &[
            ("requests_total", Ok(())),
            ("a:b_c9", Ok(())),
            (":recorded", Ok(())),
            ("_x", Ok(())),
            ("", Err(NameError::Empty)),
            (
                "9lives",
                Err(NameError::InvalidChar {
                    ch: '9',
                    index: 0,
                    metric: true,
                }),
            ),
            (
                "foo-bar",
                Err(NameError::InvalidChar {
                    ch: '-',
                    index: 3,
                    metric: true,
                }),
            ),
            (
                "déjà",
                Err(NameError::InvalidChar {
                    ch: 'é',
                    index: 1,
                    metric: true,
                }),
            ),
            ("__internal", Err(NameError::ReservedPrefix)),
        ];
        for (name, want) in cases {
            assert_eq!(check_metric_name(name), *want, "{name:?}");
        }
    }

    #[test]
    fn label_name_table() {
        let cases: &[(&str, Result<(), NameError>)] = &[
            ("model", Ok(())),
            ("le", Ok(())),
            ("_x1", Ok(())),
            ("", Err(NameError::Empty)),
            (
                "a:b",
                Err(NameError::InvalidChar {
                    ch: ':',
                    index: 1,
                    metric: false,
                }),
            ),
            (
                "1a",
                Err(NameError::InvalidChar {
                    ch: '1',
                    index: 0,
                    metric: false,
                }),
            ),
            ("__name__", Err(NameError::ReservedPrefix)),
            ("quantile", Err(NameError::ReservedQuantile)),
        ];
        for (name, want) in cases {
            assert_eq!(check_label_name(name), *want, "{name:?}");
        }
    }

    #[test]
    fn user_label_rules_depend_on_kind() {
        use MetricKind::*;
        for label in HIERARCHY_LABELS {
            for kind in [Counter, Gauge, Histogram] {
                assert_eq!(
                    check_user_label_name(kind, label),
                    Err(NameError::HierarchyLabel)
                );
            }
        }
        assert_eq!(
            check_user_label_name(Histogram, "le"),
            Err(NameError::ReservedLe)
        );
        assert_eq!(check_user_label_name(Counter, "le"), Ok(()));
        assert_eq!(
            check_user_label_name(Gauge, "quantile"),
            Err(NameError::ReservedQuantile)
        );
    }

    #[test]
    fn suffix_table() {
        use MetricKind::*;
        let cases: &[(MetricKind, &str, Result<(), NameError>)] = &[
            (Counter, "requests_total", Ok(())),
            (Counter, "requests", Err(NameError::CounterWithoutTotal)),
            (Gauge, "inflight_requests", Ok(())),
            (
                Gauge,
                "inflight_total",
                Err(NameError::TotalOnNonCounter(Gauge)),
            ),
            (Histogram, "duration_seconds", Ok(())),
            (
                Histogram,
                "x_total",
                Err(NameError::TotalOnNonCounter(Histogram)),
            ),
            (
                Histogram,
                "x_bucket",
                Err(NameError::HistogramSuffix("_bucket")),
            ),
            (Histogram, "x_sum", Err(NameError::HistogramSuffix("_sum"))),
            (
                Histogram,
                "x_count",
                Err(NameError::HistogramSuffix("_count")),
            ),
            (
                Counter,
                "bad-name_total",
                Err(NameError::InvalidChar {
                    ch: '-',
                    index: 3,
                    metric: true,
                }),
            ),
        ];
        for (kind, name, want) in cases {
            assert_eq!(check_metric_name_for(*kind, name), *want, "{kind} {name:?}");
        }
    }

    #[test]
    fn log_buckets_match_dynamo() {
        assert_eq!(
            log_buckets(50.0, 32000.0, 10).unwrap(),
            [
                0.0, 100.0, 210.0, 430.0, 880.0, 1800.0, 3700.0, 7600.0, 16000.0, 32000.0
            ]
        );
        assert_eq!(log_buckets(1.0, 1.0, 3), None);
        assert_eq!(log_buckets(1.0, 2.0, 1), None);
    }

    #[test]
    fn messages_name_the_rule() {
        let msg = format!(
            "{}",
            NameError::InvalidChar {
                ch: '-',
                index: 3,
                metric: true
            }
        );
        assert_eq!(
            msg,
            "character '-' at byte 3 is not allowed; metric names match [a-zA-Z_:][a-zA-Z0-9_:]*"
        );
        assert_eq!(
            full_name("frontend", "requests_total"),
            "dynamo_frontend_requests_total"
        );
    }
}
