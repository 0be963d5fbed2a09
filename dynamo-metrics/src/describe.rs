//! The one description of a metric: [`MetricDescriptor`], built by generated code (and by
//! this crate for its own metrics), read by the catalog, family creation, conflict checks and
//! the instrumented endpoints, and [`Shape`], the one comparison of two declarations.

use std::fmt::Write as _;

use dynamo_metrics_naming::{self as naming, Level, MetricKind, NativeParams};

use crate::exposition::text;

/// A statically declared metric: what it is and where it was declared. Built by the macros
/// (and by this crate for its built-in metrics); more fields may come, so it is read, not
/// built, outside this crate.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct MetricDescriptor {
    /// The full metric name, `dynamo_<subsystem>_<short_name>`.
    pub name: &'static str,
    /// The subsystem, the middle part of the name.
    pub subsystem: &'static str,
    /// The name after the subsystem.
    pub short_name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The Rust type of the values: `u64`, `i64` or `f64`.
    pub value_type: &'static str,
    /// The HELP text.
    pub help: &'static str,
    /// The variable label names (the hierarchy labels of its level come in front).
    pub labels: &'static [&'static str],
    /// Constant labels and their values.
    pub const_labels: &'static [(&'static str, &'static str)],
    /// The level it is declared for, if the declaration names one.
    pub level: Option<Level>,
    /// Histogram bucket bounds; `None` for the defaults or other kinds.
    pub buckets: Option<&'static [f64]>,
    /// A native histogram's parameters (classic buckets are kept beside); `None` otherwise.
    pub native: Option<NativeParams>,
    /// `PREFIX` of the `PREFIX_MIN`, `PREFIX_MAX`, `PREFIX_COUNT` variables that replace the
    /// buckets with log-spaced ones, if any.
    pub buckets_env: Option<&'static str>,
    /// The most series a family with string labels holds before folding into overflow.
    pub max_series: usize,
    /// The longest value, in bytes, a variable label takes before the series folds into
    /// overflow.
    pub max_label_len: usize,
    /// Whether its integer series are striped across cache lines (`#[metric(striped)]`).
    pub striped: bool,
    /// The struct or function that declares it.
    pub source: &'static str,
    /// The file of the declaration.
    pub file: &'static str,
    /// The line of the declaration.
    pub line: u32,
    /// The column of the declaration.
    pub column: u32,
}

/// Builders for generated code. Not public API.
#[doc(hidden)]
impl MetricDescriptor {
    /// A descriptor with no labels, default buckets and cap, declared nowhere yet.
    pub const fn __new(
        subsystem: &'static str,
        short_name: &'static str,
        name: &'static str,
        kind: MetricKind,
        value_type: &'static str,
        help: &'static str,
    ) -> Self {
        MetricDescriptor {
            name,
            subsystem,
            short_name,
            kind,
            value_type,
            help,
            labels: &[],
            const_labels: &[],
            level: None,
            buckets: None,
            native: None,
            buckets_env: None,
            max_series: naming::DEFAULT_MAX_SERIES,
            max_label_len: naming::DEFAULT_MAX_LABEL_LEN,
            striped: false,
            source: "",
            file: "",
            line: 0,
            column: 0,
        }
    }

    /// With variable labels.
    pub const fn __labels(mut self, labels: &'static [&'static str]) -> Self {
        self.labels = labels;
        self
    }

    /// With constant labels.
    pub const fn __const_labels(mut self, labels: &'static [(&'static str, &'static str)]) -> Self {
        self.const_labels = labels;
        self
    }

    /// For one level.
    pub const fn __level(mut self, level: Level) -> Self {
        self.level = Some(level);
        self
    }

    /// With bucket bounds, and the prefix of the variables that may replace them.
    pub const fn __buckets(
        mut self,
        buckets: Option<&'static [f64]>,
        env: Option<&'static str>,
    ) -> Self {
        self.buckets = buckets;
        self.buckets_env = env;
        self
    }

    /// A native histogram with these parameters.
    pub const fn __native(mut self, factor: f64, max_buckets: u32) -> Self {
        self.native = Some(NativeParams {
            factor,
            max_buckets,
        });
        self
    }

    /// With a series cap.
    pub const fn __max_series(mut self, max_series: usize) -> Self {
        self.max_series = max_series;
        self
    }

    /// With a label value length limit.
    pub const fn __max_label_len(mut self, max_label_len: usize) -> Self {
        self.max_label_len = max_label_len;
        self
    }

    /// With integer series striped across cache lines.
    pub const fn __striped(mut self) -> Self {
        self.striped = true;
        self
    }

    /// Declared by `source` at `file:line:column`.
    pub const fn __declared(
        mut self,
        source: &'static str,
        file: &'static str,
        line: u32,
        column: u32,
    ) -> Self {
        self.source = source;
        self.file = file;
        self.line = line;
        self.column = column;
        self
    }
}

impl MetricDescriptor {
    /// What two declarations of this family must agree on.
    pub(crate) fn shape(&self) -> Shape<'static> {
        Shape {
            kind: self.kind,
            value_type: self.value_type,
            help: self.help,
            hierarchy: self.level.map(|l| l.labels().to_vec()),
            labels: self
                .const_labels
                .iter()
                .map(|(k, _)| *k)
                .chain(self.labels.iter().copied())
                .collect(),
            buckets: Shape::bounds(self.kind, self.buckets),
            native: self.native,
        }
    }

    /// `file:line:column`.
    pub(crate) fn location(&self) -> String {
        format!("{}:{}:{}", self.file, self.line, self.column)
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "{} (declared by {} at {})",
            self.shape(),
            self.source,
            self.location()
        )
    }
}

/// What makes two declarations of one family the same family: type, value type, help, label
/// names, buckets. Where it was declared does not count, and neither does the level of a
/// declaration that names none. The one comparison every conflict check uses.
#[derive(Debug, Clone)]
pub(crate) struct Shape<'a> {
    pub(crate) kind: MetricKind,
    pub(crate) value_type: &'a str,
    pub(crate) help: &'a str,
    /// The hierarchy label names, when the level is known.
    pub(crate) hierarchy: Option<Vec<&'a str>>,
    /// Constant then variable label names.
    pub(crate) labels: Vec<&'a str>,
    /// The bucket bounds of a histogram (the defaults when none were given); empty otherwise.
    pub(crate) buckets: &'a [f64],
    /// A native histogram's parameters.
    pub(crate) native: Option<NativeParams>,
}

impl<'a> Shape<'a> {
    /// The bounds a histogram declared with `buckets` has.
    pub(crate) fn bounds(kind: MetricKind, buckets: Option<&'a [f64]>) -> &'a [f64] {
        match kind {
            MetricKind::Histogram => buckets.unwrap_or(naming::DEFAULT_BUCKETS),
            _ => &[],
        }
    }
}

impl PartialEq for Shape<'_> {
    fn eq(&self, other: &Self) -> bool {
        let hierarchy = match (&self.hierarchy, &other.hierarchy) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        hierarchy
            && self.kind == other.kind
            && self.value_type == other.value_type
            && self.help == other.help
            && self.labels == other.labels
            && self.buckets == other.buckets
            && self.native == other.native
    }
}

impl std::fmt::Display for Shape<'_> {
    /// `counter of u64, help "...", labels [a, b]`, and `buckets [..]` for histograms.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<&str> = self
            .hierarchy
            .iter()
            .flatten()
            .chain(&self.labels)
            .copied()
            .collect();
        let mut s = format!(
            "{} of {}, help {:?}, labels [{}]",
            self.kind,
            self.value_type,
            self.help,
            labels.join(", ")
        );
        if self.kind == MetricKind::Histogram {
            let bounds: Vec<String> = self
                .buckets
                .iter()
                .map(|b| text::format_bound(*b))
                .collect();
            let _ = write!(s, ", buckets [{}]", bounds.join(", "));
        }
        if let Some(n) = self.native {
            let _ = write!(
                s,
                ", native (factor {}, max {} buckets)",
                n.factor, n.max_buckets
            );
        }
        f.write_str(&s)
    }
}

/// A descriptor submitted to `inventory` by generated code and by this crate.
#[doc(hidden)]
#[derive(Debug)]
pub struct Declared(pub &'static MetricDescriptor);

inventory::collect!(Declared);

/// A runtime-level family of this crate's own, declared where the macro is written:
/// `runtime_family!(source, subsystem, short_name, Kind, "value type", help)`, named
/// `dynamo_<subsystem>_<short_name>`. Every family the runtime makes for itself is declared
/// with it (the derive, an optional dependency, is not at hand here).
macro_rules! runtime_family {
    ($source:literal, $subsystem:literal, $short:literal, $kind:ident, $value:literal, $help:literal $(,)?) => {
        $crate::describe::MetricDescriptor::__new(
            $subsystem,
            $short,
            concat!("dynamo_", $subsystem, "_", $short),
            ::dynamo_metrics_naming::MetricKind::$kind,
            $value,
            $help,
        )
        .__level(::dynamo_metrics_naming::Level::Runtime)
        .__declared($source, file!(), line!(), column!())
    };
}
pub(crate) use runtime_family;

#[cfg(test)]
mod tests {
    use super::*;

    const fn counter(help: &'static str) -> MetricDescriptor {
        MetricDescriptor::__new(
            "c",
            "x_total",
            "dynamo_c_x_total",
            MetricKind::Counter,
            "u64",
            help,
        )
    }

    #[test]
    fn one_shape_comparison() {
        let a = counter("X");
        assert_eq!(a.shape(), counter("X").shape());
        // Where and by whom it is declared does not count.
        assert_eq!(a.shape(), a.__declared("other", "f.rs", 9, 1).shape());
        // A level is compared only when both declarations name one.
        assert_eq!(a.shape(), a.__level(Level::Endpoint).shape());
        assert_ne!(
            a.__level(Level::Component).shape(),
            a.__level(Level::Endpoint).shape()
        );
        // Help, value type and labels count.
        assert_ne!(a.shape(), counter("Y").shape());
        let mut float = a;
        float.value_type = "f64";
        assert_ne!(a.shape(), float.shape());
        assert_ne!(a.shape(), a.__labels(&["model"]).shape());
        assert_ne!(a.shape(), a.__const_labels(&[("engine", "x")]).shape());
        // Absent buckets are the default buckets.
        let h = MetricDescriptor::__new("c", "d", "dynamo_c_d", MetricKind::Histogram, "f64", "D");
        let defaults: &'static [f64] = naming::DEFAULT_BUCKETS;
        assert_eq!(h.shape(), h.__buckets(Some(defaults), None).shape());
        assert_ne!(h.shape(), h.__buckets(Some(&[1.0]), None).shape());
        assert_eq!(
            h.__level(Level::Namespace).shape().to_string(),
            "histogram of f64, help \"D\", labels [dynamo_namespace], buckets [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]"
        );
    }
}
