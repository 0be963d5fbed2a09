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
//!   set by hand; nor can [`WORKER_ID_LABEL`], but as a variable label of a runtime-level
//!   family that describes other workers;
//! - counters end in `_total`; gauges and histograms do not, and histograms do not end in the
//!   suffixes their own series use (`_bucket`, `_sum`, `_count`).
//!
//! Names are never rewritten: a name that breaks a rule is refused, not sanitised.
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod buckets;
mod hierarchy;
mod kind;
mod limits;
mod names;

pub use buckets::{
    BucketError, DEFAULT_BUCKETS, MAX_BUCKETS, NativeParams, check_buckets, log_buckets,
};
pub use hierarchy::{
    COMPONENT_LABEL, ENDPOINT_LABEL, HIERARCHY_LABELS, Level, NAMESPACE_LABEL, WORKER_ID_LABEL,
};
pub use kind::MetricKind;
pub use limits::{DEFAULT_MAX_LABEL_LEN, DEFAULT_MAX_SERIES, DEFAULT_SERIES_BUDGET};
pub use names::{
    DEFAULT_ERROR_TYPE, DEFAULT_SUBSYSTEM, NameError, PANIC_ERROR_TYPE, PREFIX, SERIES_SUFFIXES,
    check_env_prefix, check_error_type, check_fixed_label_name, check_hierarchy_name,
    check_label_name, check_metric_name, check_metric_name_for, check_subsystem,
    check_user_label_name, full_name,
};

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
        // Each level one down carries one hierarchy label more.
        for pair in Level::ALL.windows(2) {
            assert_eq!(pair[0].below(), Some(pair[1]));
            assert_eq!(
                pair[1].labels()[..pair[0].labels().len()],
                *pair[0].labels()
            );
            assert_eq!(pair[1].labels().len(), pair[0].labels().len() + 1);
        }
        assert_eq!(Level::Endpoint.below(), None);
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
        assert_eq!(check_user_label_name(Counter, WORKER_ID_LABEL), Ok(()));
        assert_eq!(
            check_fixed_label_name(WORKER_ID_LABEL),
            Err(NameError::WorkerIdLabel)
        );
        assert_eq!(check_fixed_label_name("le"), Err(NameError::ReservedLe));
        assert_eq!(check_fixed_label_name("model"), Ok(()));
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
