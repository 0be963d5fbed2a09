//! Generated registries read back through every format we serve by independent readers
//! (`dynamo_metrics_tests::read_back`): families of every kind, label values with the
//! characters each format escapes, values at the edges of `f64` and `u64`, exemplars, native
//! histograms with sparse buckets. Every value and label comes back in text, OpenMetrics,
//! protobuf and OTLP, or the series is refused with a typed error.

use std::collections::BTreeMap;

use dynamo_metrics::builtin::{FrontendMetrics, ModelLabels};
use dynamo_metrics::{
    DistributedRuntime, DynamoMetrics, Format, MetricsRegistry, RuntimeConfig, WorkerId,
};
use dynamo_metrics_tests::read_back::{self, Exemplar, Labels, ReadBack, Sample, le};
use proptest::prelude::*;

/// What a series of a generated family is given.
#[derive(Debug, Clone)]
enum Kind {
    /// `inc_by` once.
    IntCounter,
    /// `inc_by` each value (only amounts above zero count).
    Counter,
    /// `set` to the integer's bits as `i64`.
    IntGauge,
    /// `set` to each value in turn.
    Gauge,
    /// `observe` each value (NaN is not counted).
    Histogram,
}

/// One generated series: its label values, an integer, values, and an exemplar's trace id
/// for the last amount.
#[derive(Debug, Clone)]
struct SeriesPlan {
    values: Vec<String>,
    int: u64,
    floats: Vec<f64>,
    exemplar: Option<String>,
}

#[derive(Debug, Clone)]
struct FamilyPlan {
    kind: Kind,
    labels: usize,
    series: Vec<SeriesPlan>,
}

/// The classic bounds of the generated histograms: the edges around zero and the extremes,
/// with a bound below zero (even families) or without (odd ones).
const BOUNDS: [&[f64]; 2] = [
    &[-1.0, -0.0, 5e-324, 1.0, 1e300, f64::MAX],
    &[0.0, 5e-324, 1.0, 1e300, f64::MAX],
];

fn label_value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\\"),
        Just("\""),
        Just("\n"),
        Just("a"),
        Just(" "),
        Just("{"),
        Just("}"),
        Just(","),
        Just("="),
        Just("#"),
        Just("\t"),
        Just("é"),
        Just("模型"),
        Just("🚀"),
        Just("\u{FFFD}"),
        Just("\\xc3\\x28"),
        Just("%C3%28"),
        Just("\u{7f}"),
        Just("le"),
        Just("\r"),
        Just("NaN"),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|p| p.concat())
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(0.0),
        Just(5e-324),
        Just(2.2250738585072014e-308),
        Just(f64::MAX),
        Just(f64::MIN),
        Just(1.0),
        Just(0.1),
        Just(-1.0),
        any::<f64>(),
        (-1e6..1e6f64),
    ]
}

fn int() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(u64::MAX),
        Just(i64::MAX as u64),
        Just(1 << 63),
        any::<u64>()
    ]
}

fn family() -> impl Strategy<Value = FamilyPlan> {
    let kind = prop_oneof![
        Just(Kind::IntCounter),
        Just(Kind::Counter),
        Just(Kind::IntGauge),
        Just(Kind::Gauge),
        Just(Kind::Histogram),
    ];
    (kind, 0..=2usize).prop_flat_map(|(kind, labels)| {
        let series = (
            prop::collection::vec(label_value(), labels),
            int(),
            prop::collection::vec(float(), 1..5),
            prop::option::of("[0-9a-f]{32}"),
        )
            .prop_map(|(values, int, floats, exemplar)| SeriesPlan {
                values,
                int,
                floats,
                exemplar,
            });
        // Label sets once each: a repeated set is the same series.
        prop::collection::vec(series, 1..5).prop_map(move |mut series| {
            let mut seen = std::collections::BTreeSet::new();
            series.retain(|s| seen.insert(s.values.clone()));
            FamilyPlan {
                kind: kind.clone(),
                labels,
                series,
            }
        })
    })
}

/// What the formats must show of the generated families.
#[derive(Default)]
struct Expected {
    samples: Vec<Sample>,
    /// The samples OpenMetrics shows: no `_sum` and `_count` of a histogram whose sum is
    /// negative or NaN or which has a bound below zero.
    openmetrics: Vec<Sample>,
    exemplars: Vec<Exemplar>,
}

/// A runtime with the generated families (`prop0`, `prop1`, ...) and the native histogram's
/// observations, and what the formats must show of the generated ones.
fn build(plan: &[FamilyPlan], native: &[(String, Vec<f64>)]) -> (DistributedRuntime, Expected) {
    let rt =
        DistributedRuntime::with_config(&RuntimeConfig::default().with_worker_id(WorkerId::Off))
            .expect("a runtime");
    let mut expected = Expected::default();
    for (f, family) in plan.iter().enumerate() {
        let names: Vec<String> = (0..family.labels).map(|i| format!("l{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for series in &family.series {
            let values: Vec<&str> = series.values.iter().map(String::as_str).collect();
            // Empty values are not written, in any format.
            let labels: Labels = names
                .iter()
                .zip(&series.values)
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect();
            let exemplar = series.exemplar.as_ref().map(|t| [("trace_id", t.as_str())]);
            // A sample every format shows, OpenMetrics too unless `hidden`.
            let (samples, openmetrics) = (&mut expected.samples, &mut expected.openmetrics);
            let mut sample_where = |name: String, labels: &Labels, value: f64, hidden: bool| {
                let sample = Sample {
                    name,
                    labels: labels.clone(),
                    value,
                };
                if !hidden {
                    openmetrics.push(sample.clone());
                }
                samples.push(sample);
            };
            let mut keep = |family: String, value: f64| {
                if let Some(trace) = &series.exemplar {
                    expected.exemplars.push(Exemplar {
                        family,
                        labels: labels.clone(),
                        exemplar: [("trace_id".to_owned(), trace.clone())].into(),
                        value,
                    });
                }
            };
            match family.kind {
                Kind::IntCounter => {
                    let name = format!("prop{f}_total");
                    let c = rt.create_intcountervec(&name, "h", &names, &[]).unwrap();
                    let c = c.with_label_values(&values).unwrap();
                    match &exemplar {
                        Some(e) if series.int > 0 => {
                            c.inc_by_with_exemplar(series.int, e);
                            #[allow(clippy::cast_precision_loss)]
                            keep(format!("dynamo_component_{name}"), series.int as f64);
                        }
                        _ => c.inc_by(series.int),
                    }
                    #[allow(clippy::cast_precision_loss)]
                    sample_where(
                        format!("dynamo_component_{name}"),
                        &labels,
                        series.int as f64,
                        false,
                    );
                }
                Kind::Counter => {
                    let name = format!("prop{f}_total");
                    let c = rt.create_countervec(&name, "h", &names, &[]).unwrap();
                    let c = c.with_label_values(&values).unwrap();
                    let mut total = 0.0;
                    let (last, rest) = series.floats.split_last().unwrap();
                    for v in rest {
                        c.inc_by(*v);
                        total += if *v > 0.0 { *v } else { 0.0 };
                    }
                    match &exemplar {
                        Some(e) if *last > 0.0 => {
                            c.inc_by_with_exemplar(*last, e);
                            keep(format!("dynamo_component_{name}"), *last);
                        }
                        _ => c.inc_by(*last),
                    }
                    total += if *last > 0.0 { *last } else { 0.0 };
                    sample_where(format!("dynamo_component_{name}"), &labels, total, false);
                }
                Kind::IntGauge => {
                    let name = format!("prop{f}");
                    let g = rt.create_intgaugevec(&name, "h", &names, &[]).unwrap();
                    let v = series.int.cast_signed();
                    g.with_label_values(&values).unwrap().set(v);
                    #[allow(clippy::cast_precision_loss)]
                    sample_where(format!("dynamo_component_{name}"), &labels, v as f64, false);
                }
                Kind::Gauge => {
                    let name = format!("prop{f}");
                    let g = rt.create_gaugevec(&name, "h", &names, &[]).unwrap();
                    let g = g.with_label_values(&values).unwrap();
                    series.floats.iter().for_each(|v| g.set(*v));
                    sample_where(
                        format!("dynamo_component_{name}"),
                        &labels,
                        *series.floats.last().unwrap(),
                        false,
                    );
                }
                Kind::Histogram => {
                    let name = format!("prop{f}_seconds");
                    let bounds = BOUNDS[f % 2];
                    let h = rt
                        .create_histogramvec(&name, "h", &names, &[], Some(bounds))
                        .unwrap();
                    let h = h.with_label_values(&values).unwrap();
                    let (last, rest) = series.floats.split_last().unwrap();
                    rest.iter().for_each(|v| h.observe(*v));
                    match &exemplar {
                        Some(e) if !last.is_nan() => {
                            h.observe_with_exemplar(*last, e);
                            keep(format!("dynamo_component_{name}"), *last);
                        }
                        _ => h.observe(*last),
                    }
                    let counted: Vec<f64> = series
                        .floats
                        .iter()
                        .copied()
                        .filter(|v| !v.is_nan())
                        .collect();
                    let full = format!("dynamo_component_{name}");
                    for bound in bounds.iter().copied().chain([f64::INFINITY]) {
                        let mut with_le = labels.clone();
                        with_le.insert("le".into(), le(bound));
                        #[allow(clippy::cast_precision_loss)]
                        let n = counted.iter().filter(|v| **v <= bound).count() as f64;
                        sample_where(format!("{full}_bucket"), &with_le, n, false);
                    }
                    let sum: f64 = counted.iter().sum();
                    let hidden = sum.is_nan() || sum < 0.0 || bounds[0] < 0.0;
                    #[allow(clippy::cast_precision_loss)]
                    let count = counted.len() as f64;
                    sample_where(format!("{full}_count"), &labels, count, hidden);
                    sample_where(format!("{full}_sum"), &labels, sum, hidden);
                }
            }
        }
    }
    let frontend = FrontendMetrics::register(&rt).unwrap();
    for (model, values) in native {
        let labels = ModelLabels {
            model: model.clone(),
        };
        values
            .iter()
            .for_each(|v| frontend.time_to_first_token.observe(&labels, *v));
    }
    (rt, expected)
}

/// Whether two values read back are the same: equal as numbers (exact: subnormals and the
/// largest values included; `-0.0` is `0.0`, as the text formats write it), any NaN as NaN.
fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

/// The samples of the generated families (`dynamo_component_prop...`) `read` has.
fn generated(read: &ReadBack) -> Vec<&Sample> {
    read.samples
        .iter()
        .filter(|s| s.name.starts_with("dynamo_component_prop"))
        .collect()
}

fn check(
    format: &str,
    read: &ReadBack,
    want: &[Sample],
    exemplars: &[Exemplar],
    with_exemplars: bool,
) {
    let got = generated(read);
    for w in want {
        let found = got
            .iter()
            .find(|s| s.name == w.name && s.labels == w.labels);
        let found = found.unwrap_or_else(|| panic!("{format}: no {w:?} among {got:#?}"));
        assert!(
            same(found.value, w.value),
            "{format}: {w:?} read as {}",
            found.value
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{format}: samples beyond those made: {got:#?}"
    );
    if with_exemplars {
        let mut seen: Vec<&Exemplar> = read
            .exemplars
            .iter()
            .filter(|e| e.family.starts_with("dynamo_component_prop"))
            .collect();
        seen.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        for e in exemplars {
            assert!(
                seen.iter().any(|s| s.family == e.family
                    && s.labels == e.labels
                    && s.exemplar == e.exemplar
                    && same(s.value, e.value)),
                "{format}: exemplar {e:?} missing from {seen:#?}"
            );
        }
        assert_eq!(seen.len(), exemplars.len(), "{format}: {seen:#?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_format_reads_back_what_was_recorded(
        plan in prop::collection::vec(family(), 1..5),
        native in prop::collection::vec((label_value(), prop::collection::vec(prop_oneof![
            Just(0.0), Just(1e-130), Just(-3.5), Just(1e5), (1e-9..1e9f64), (-1e3..-1e-3f64)
        ], 1..12)), 0..3),
    ) {
        let mut models = std::collections::BTreeSet::new();
        let native: Vec<_> = native.into_iter().filter(|(m, _)| models.insert(m.clone())).collect();
        let (rt, want) = build(&plan, &native);
        let text = read_back::python("text", &rt.render());
        check("text", &text, &want.samples, &want.exemplars, false);
        let openmetrics = String::from_utf8(rt.encode(Format::OpenMetrics, None)).unwrap();
        let openmetrics = read_back::python("openmetrics", &openmetrics);
        check("OpenMetrics", &openmetrics, &want.openmetrics, &want.exemplars, true);
        let protobuf = read_back::protobuf(&rt.encode(Format::Protobuf, None));
        check("protobuf", &protobuf, &want.samples, &want.exemplars, true);
        let otlp = read_back::otlp(&rt.encode_otlp());
        check("OTLP", &otlp, &want.samples, &want.exemplars, true);

        // The native histogram: the same buckets in protobuf and OTLP, every observation in
        // one of them, and the classic samples the same in every scrape format.
        let ttft = "dynamo_frontend_time_to_first_token_seconds";
        for (model, values) in &native {
            let labels: Labels = if model.is_empty() { Labels::new() } else { [("model".to_owned(), model.clone())].into() };
            let key = (ttft.to_owned(), labels.clone());
            let (p, o) = (&protobuf.native[&key], &otlp.native[&key]);
            prop_assert_eq!(p, o);
            let counted: u64 = p.zero_count + p.positive.values().sum::<u64>() + p.negative.values().sum::<u64>();
            prop_assert_eq!(counted, values.len() as u64);
            let sum = otlp.samples.iter().find(|s| s.name == format!("{ttft}_sum") && s.labels == labels).unwrap();
            prop_assert!(same(sum.value, values.iter().sum()));
        }
        let classic = |read: &ReadBack| -> BTreeMap<(String, Labels), f64> {
            read.samples.iter().filter(|s| s.name.starts_with(ttft)).map(|s| ((s.name.clone(), s.labels.clone()), s.value)).collect()
        };
        prop_assert_eq!(classic(&text), classic(&protobuf));
        // In OpenMetrics without `_sum` and `_count` where the sum is negative.
        let mut in_openmetrics = classic(&protobuf);
        let negative: Vec<Labels> = in_openmetrics
            .iter()
            .filter(|((name, _), v)| name.ends_with("_sum") && (v.is_nan() || **v < 0.0))
            .map(|((_, labels), _)| labels.clone())
            .collect();
        in_openmetrics.retain(|(name, labels), _| {
            !(name.ends_with("_sum") || name.ends_with("_count")) || !negative.contains(labels)
        });
        prop_assert_eq!(classic(&openmetrics), in_openmetrics);
    }
}

/// Found by the property above: a histogram that observed a negative value, or has a bound
/// below zero, showed `_sum` in OpenMetrics, and Python's strict parser refused the whole
/// page. Now such a series shows neither `_sum` nor `_count` there (the `+Inf` bucket is the
/// count), and the text format and protobuf keep both.
#[test]
fn openmetrics_leaves_out_a_sum_that_is_negative_or_under_negative_bounds() {
    let rt =
        DistributedRuntime::with_config(&RuntimeConfig::default().with_worker_id(WorkerId::Off))
            .unwrap();
    let positive_bounds = rt
        .create_histogram("drift_seconds", "h", &[], Some(&[1.0]))
        .unwrap();
    positive_bounds.observe(-3.5);
    let negative_bounds = rt
        .create_histogram("offset_seconds", "h", &[], Some(&[-1.0, 1.0]))
        .unwrap();
    negative_bounds.observe(2.0);
    let fine = rt
        .create_histogram("fine_seconds", "h", &[], Some(&[1.0]))
        .unwrap();
    fine.observe(0.5);
    let page = String::from_utf8(rt.encode(Format::OpenMetrics, None)).unwrap();
    let read = read_back::python("openmetrics", &page);
    let names: Vec<&str> = read.samples.iter().map(|s| s.name.as_str()).collect();
    for gone in [
        "drift_seconds_sum",
        "drift_seconds_count",
        "offset_seconds_sum",
        "offset_seconds_count",
    ] {
        assert!(
            !names.contains(&format!("dynamo_component_{gone}").as_str()),
            "{page}"
        );
    }
    for kept in [
        "fine_seconds_sum",
        "fine_seconds_count",
        "drift_seconds_bucket",
    ] {
        assert!(
            names.contains(&format!("dynamo_component_{kept}").as_str()),
            "{page}"
        );
    }
    let text = read_back::python("text", &rt.render());
    let sum = text
        .samples
        .iter()
        .find(|s| s.name == "dynamo_component_drift_seconds_sum")
        .unwrap();
    assert_eq!(sum.value, -3.5);
}

/// Found by the property above: the exemplar of an observation in the `+Inf` bucket was lost
/// in protobuf, which leaves that bucket out. The bucket is now written when it has one.
#[test]
fn protobuf_keeps_the_exemplar_of_the_inf_bucket() {
    let rt =
        DistributedRuntime::with_config(&RuntimeConfig::default().with_worker_id(WorkerId::Off))
            .unwrap();
    let h = rt
        .create_histogram("tail_seconds", "h", &[], Some(&[1.0]))
        .unwrap();
    h.observe_with_exemplar(7.0, &[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]);
    let read = read_back::protobuf(&rt.encode(Format::Protobuf, None));
    let kept: Vec<&Exemplar> = read
        .exemplars
        .iter()
        .filter(|e| e.family == "dynamo_component_tail_seconds")
        .collect();
    assert_eq!(kept.len(), 1, "{:?}", read.exemplars);
    assert_eq!(kept[0].value, 7.0);
    let inf = read
        .samples
        .iter()
        .find(|s| s.name == "dynamo_component_tail_seconds_bucket" && s.labels["le"] == "+Inf")
        .unwrap();
    assert_eq!(inf.value, 1.0);
}
