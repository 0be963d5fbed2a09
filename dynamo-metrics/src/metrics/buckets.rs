//! Classic bucket bounds: the builders ([`exponential_buckets`], [`linear_buckets`],
//! [`log_buckets`]), the bounds Dynamo's environment variables ask for, and the checks every
//! set of bounds passes.

use std::sync::Arc;

use crate::error::{Error, Result};

/// The default bucket bounds of histograms created without buckets, in seconds: the
/// Prometheus client defaults, from 5 ms to 10 s.
pub const DEFAULT_BUCKETS: &[f64] = dynamo_metrics_naming::DEFAULT_BUCKETS;

/// `count` bounds starting at `start`, each `factor` times the one before.
///
/// # Errors
/// [`Error::InvalidBuckets`] unless `count >= 1`, `start > 0` and `factor > 1` (all finite).
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Result<Vec<f64>> {
    let reason = if count < 1 {
        Some("count must be at least 1")
    } else if !(start.is_finite() && start > 0.0) {
        Some("start must be a finite number above 0")
    } else if !(factor.is_finite() && factor > 1.0) {
        Some("factor must be a finite number above 1")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(invalid("exponential_buckets", reason));
    }
    Ok(std::iter::successors(Some(start), |b| Some(b * factor))
        .take(count)
        .collect())
}

/// `count` bounds starting at `start`, each `width` above the one before.
///
/// # Errors
/// [`Error::InvalidBuckets`] unless `count >= 1`, `start` is finite and `width > 0` (finite).
pub fn linear_buckets(start: f64, width: f64, count: usize) -> Result<Vec<f64>> {
    let reason = if count < 1 {
        Some("count must be at least 1")
    } else if !start.is_finite() {
        Some("start must be finite")
    } else if !(width.is_finite() && width > 0.0) {
        Some("width must be a finite number above 0")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(invalid("linear_buckets", reason));
    }
    #[allow(clippy::cast_precision_loss)]
    Ok((0..count).map(|i| start + width * i as f64).collect())
}

/// Log-spaced buckets as Dynamo builds them: `0`, then `count - 1` bounds from `min` to
/// `max` evenly spaced in log scale, rounded to two significant digits, duplicates dropped.
///
/// # Errors
/// [`Error::InvalidBuckets`] unless `0 < min < max` (finite) and `2 <= count <= 512`.
pub fn log_buckets(min: f64, max: f64, count: usize) -> Result<Vec<f64>> {
    dynamo_metrics_naming::log_buckets(min, max, count).ok_or_else(|| Error::InvalidBuckets {
        family: "log_buckets".to_owned(),
        reason: format!(
            "need 0 < min < max and 2 <= count <= 512, got min {min}, max {max}, count {count}"
        ),
    })
}

/// The buckets `PREFIX_MIN`, `PREFIX_MAX` and `PREFIX_COUNT` ask for, if any is set.
pub(crate) fn env_buckets(
    prefix: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<Vec<f64>>> {
    let vars = ["MIN", "MAX", "COUNT"].map(|s| format!("{prefix}_{s}"));
    let values = vars.clone().map(|v| lookup(&v));
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    let bad = |i: usize, reason: &str| Error::InvalidBuckets {
        family: prefix.to_owned(),
        reason: format!(
            "{}={:?}: {reason}",
            vars[i],
            values[i].clone().unwrap_or_default()
        ),
    };
    let num = |i: usize| -> Result<f64> {
        values[i]
            .as_deref()
            .ok_or_else(|| bad(i, "set all three of _MIN, _MAX and _COUNT"))?
            .trim()
            .parse::<f64>()
            .map_err(|_| bad(i, "expected a number"))
    };
    let (min, max, count) = (num(0)?, num(1)?, num(2)?);
    if count.fract() != 0.0 || count < 2.0 {
        return Err(bad(2, "expected a whole number from 2 to 512"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    log_buckets(min, max, count as usize).map(Some)
}

fn invalid(family: &str, reason: impl Into<String>) -> Error {
    Error::InvalidBuckets {
        family: family.to_owned(),
        reason: reason.into(),
    }
}

/// Checks bucket bounds: at least one finite bound, strictly increasing. A trailing `+Inf`
/// is dropped, since every histogram has that bucket anyway.
pub(crate) fn check_buckets(family: &str, buckets: &[f64]) -> Result<Arc<[f64]>> {
    if let Some(first) = dynamo_metrics_naming::check_buckets(buckets).first() {
        return Err(invalid(family, first.to_string()));
    }
    let finite = match buckets.split_last() {
        Some((last, rest)) if *last == f64::INFINITY => rest,
        _ => buckets,
    };
    Ok(finite.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_helpers() {
        assert_eq!(
            exponential_buckets(1.0, 2.0, 4).unwrap(),
            [1.0, 2.0, 4.0, 8.0]
        );
        assert_eq!(linear_buckets(0.0, 0.5, 3).unwrap(), [0.0, 0.5, 1.0]);
        let err = exponential_buckets(0.0, 2.0, 3).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid buckets for \"exponential_buckets\": start must be a finite number above 0"
        );
        assert!(linear_buckets(0.0, 1.0, 0).is_err());
    }

    #[test]
    fn bucket_checks() {
        assert_eq!(
            &*check_buckets("h", &[1.0, 2.0, f64::INFINITY]).unwrap(),
            &[1.0, 2.0]
        );
        let msg = |b: &[f64]| check_buckets("h", b).unwrap_err().to_string();
        assert_eq!(
            msg(&[]),
            "invalid buckets for \"h\": at least one finite bucket bound is required"
        );
        assert_eq!(
            msg(&[1.0, f64::NAN]),
            "invalid buckets for \"h\": bound NaN is not a finite number; +Inf is always added"
        );
        assert_eq!(
            msg(&[1.0, 1.0]),
            "invalid buckets for \"h\": duplicate bucket bound 1"
        );
        // The rule the macros apply: at most MAX_BUCKETS bounds.
        let many: Vec<f64> = (0..=dynamo_metrics_naming::MAX_BUCKETS)
            .map(|i| i as f64)
            .collect();
        assert_eq!(
            msg(&many),
            "invalid buckets for \"h\": 1001 bucket bounds; a histogram has at most 1000"
        );
    }

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn buckets_from_the_variables_dynamo_documents() {
        assert_eq!(env_buckets("DYN_METRICS_TTFT", lookup(&[])).unwrap(), None);
        let vars = &[
            ("DYN_METRICS_TTFT_MIN", "0.001"),
            ("DYN_METRICS_TTFT_MAX", "10"),
            ("DYN_METRICS_TTFT_COUNT", "5"),
        ];
        assert_eq!(
            env_buckets("DYN_METRICS_TTFT", lookup(vars)).unwrap(),
            Some(vec![0.0, 0.01, 0.1, 1.0, 10.0])
        );
        let err =
            env_buckets("DYN_METRICS_ITL", lookup(&[("DYN_METRICS_ITL_MIN", "1")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid buckets for \"DYN_METRICS_ITL\": DYN_METRICS_ITL_MAX=\"\": set all three of _MIN, _MAX and _COUNT"
        );
        let bad = &[("P_MIN", "5"), ("P_MAX", "1"), ("P_COUNT", "4")];
        assert!(matches!(
            env_buckets("P", lookup(bad)),
            Err(Error::InvalidBuckets { .. })
        ));
    }
}
