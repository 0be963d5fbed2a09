//! Histogram buckets: the defaults, the checks of classic bounds ([`check_buckets`]),
//! Dynamo's log-spaced bounds ([`log_buckets`]), and native histograms' parameters
//! ([`NativeParams`]).

use std::fmt;

/// The default bucket bounds of histograms created without buckets, in seconds: the
/// Prometheus client defaults, from 5 ms to 10 s.
pub const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The most bucket bounds a histogram may have.
pub const MAX_BUCKETS: usize = 1000;

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
