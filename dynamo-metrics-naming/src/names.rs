//! Metric, label, hierarchy, subsystem and error-type names: the characters, the reserved
//! names and the suffix rules, each refusal a [`NameError`].

use std::fmt;

use crate::MetricKind;
use crate::hierarchy::{HIERARCHY_LABELS, WORKER_ID_LABEL};

/// The prefix of every metric name: `dynamo_<subsystem>_<name>`.
pub const PREFIX: &str = "dynamo";

/// The subsystem used when none is given: metrics under the runtime hierarchy.
pub const DEFAULT_SUBSYSTEM: &str = "component";

/// The suffixes of the series of a histogram family: no family may end in them, and no two
/// families may share a series name through them.
pub const SERIES_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// The `error_type` of an error whose type names none.
pub const DEFAULT_ERROR_TYPE: &str = "handler";

/// The `error_type` of a handler that panicked.
pub const PANIC_ERROR_TYPE: &str = "panic";

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
    /// `worker_id` is injected by the runtime on every series of a worker.
    WorkerIdLabel,
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
            NameError::WorkerIdLabel => f.write_str(
                "`worker_id` is injected by the runtime on every series of a worker \
                 (RuntimeConfig::worker_id) and cannot be set by hand; only a runtime-level \
                 family that describes other workers may have it as a variable label",
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

/// Checks a label whose value is fixed where it is declared (a constant label, or a label
/// of an endpoint): the rules of [`check_user_label_name`] for a histogram (an endpoint has
/// one), and not `worker_id`, which the runtime injects.
pub fn check_fixed_label_name(name: &str) -> Result<(), NameError> {
    check_user_label_name(MetricKind::Histogram, name)?;
    if name == WORKER_ID_LABEL {
        return Err(NameError::WorkerIdLabel);
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
