//! Validating one field: names, help, units, buckets and labels against the rules of
//! `dynamo-metrics-naming`; no tokens are produced here.

use dynamo_metrics_naming::{self as naming, MetricKind};
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, Type, UnOp};

use crate::ctxt::Ctxt;

use super::attr::field_attrs;
use super::{FIELD_TYPES, Metric};

/// The doc comment of a field, lines joined with spaces.
pub(super) fn doc_help(field: &syn::Field) -> Option<String> {
    let lines: Vec<String> = field
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .filter(|l| !l.is_empty())
        .collect();
    (!lines.is_empty()).then(|| lines.join(" "))
}

pub(super) fn kind_of_name(name: &str) -> Option<MetricKind> {
    match name {
        "IntCounter" | "Counter" | "IntCounterFamily" | "CounterFamily" => {
            Some(MetricKind::Counter)
        }
        "IntGauge" | "Gauge" | "IntGaugeFamily" | "GaugeFamily" => Some(MetricKind::Gauge),
        "Histogram" | "HistogramFamily" => Some(MetricKind::Histogram),
        _ => None,
    }
}

/// The kind a field type records, from its last path segment.
pub(super) fn kind_of(ty: &Type) -> Option<MetricKind> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident == "LabeledFamily" {
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        return match args.args.iter().nth(1)? {
            syn::GenericArgument::Type(handle) => kind_of(handle),
            _ => None,
        };
    }
    kind_of_name(&last.ident.to_string())
}

/// The value of a number literal's digits, or an error at the literal when it is out of the
/// range of `f64`.
fn in_range(cx: &mut Ctxt, lit: &dyn quote::ToTokens, digits: &str) -> Option<f64> {
    match digits.parse::<f64>() {
        Ok(v) if v.is_finite() => Some(v),
        _ => {
            cx.error(
                lit,
                format_args!(
                    "bound `{digits}` is out of range for f64; write `f64::INFINITY` for +Inf, or leave it out (it is always added)"
                ),
            );
            None
        }
    }
}

/// Whether `path` is `f64::INFINITY`, `std::f64::INFINITY` or `core::f64::INFINITY`.
fn is_f64_infinity(path: &syn::Path) -> bool {
    let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    matches!(
        names.as_slice(),
        ["f64", "INFINITY"] | ["std" | "core", "f64", "INFINITY"]
    )
}

pub(super) fn number(cx: &mut Ctxt, expr: &Expr) -> Option<f64> {
    match expr {
        // A literal out of the range of `f64` (`1e999`) parses as infinity: refused at the
        // literal, as rustc refuses it, never taken for the `+Inf` bound.
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) => in_range(cx, f, f.base10_digits()),
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => in_range(cx, i, i.base10_digits()),
        // `f64::INFINITY` (also `std::`/`core::`): the `+Inf` bound written out, allowed last
        // as client_golang allows it.
        Expr::Path(p) if is_f64_infinity(&p.path) => Some(f64::INFINITY),
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => number(cx, &u.expr).map(|v| -v),
        Expr::Group(g) => number(cx, &g.expr),
        _ => {
            cx.error(
                expr,
                "bucket bounds must be number literals, such as `0.5` or `10`",
            );
            None
        }
    }
}

/// Evaluates `[a, b, ...]`, `exponential(start, factor, count)`, `linear(start, width,
/// count)` or `log(min, max, count)` and checks the result.
pub(super) fn buckets(cx: &mut Ctxt, expr: &Expr) -> Option<Vec<f64>> {
    let (bounds, spans): (Vec<f64>, Vec<Span>) = match expr {
        Expr::Array(arr) => {
            let mut bounds = Vec::new();
            let mut spans = Vec::new();
            for e in &arr.elems {
                bounds.push(number(cx, e)?);
                spans.push(e.span());
            }
            (bounds, spans)
        }
        Expr::Call(call) => {
            let helper = match &*call.func {
                Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
                _ => None,
            };
            let args: Vec<&Expr> = call.args.iter().collect();
            if args.len() != 3 {
                cx.error(
                    call,
                    "bucket helpers take three arguments, such as `exponential(0.001, 2, 20)`",
                );
                return None;
            }
            let a = number(cx, args[0])?;
            let b = number(cx, args[1])?;
            let n = number(cx, args[2])?;
            if n < 1.0 || n.fract() != 0.0 || n > naming::MAX_BUCKETS as f64 {
                cx.error(
                    args[2],
                    format_args!(
                        "the bucket count must be a whole number from 1 to {}",
                        naming::MAX_BUCKETS
                    ),
                );
                return None;
            }
            let n = n as usize;
            let bounds: Vec<f64> = match helper.as_deref() {
                Some("exponential") => {
                    if a <= 0.0 || b <= 1.0 {
                        cx.error(
                            call,
                            "exponential(start, factor, count) needs start > 0 and factor > 1",
                        );
                        return None;
                    }
                    (0..n).map(|i| a * b.powi(i as i32)).collect()
                }
                Some("linear") => {
                    if b <= 0.0 {
                        cx.error(args[1], "linear(start, width, count) needs width > 0");
                        return None;
                    }
                    (0..n).map(|i| a + b * i as f64).collect()
                }
                Some("log") => match naming::log_buckets(a, b, n) {
                    Some(bounds) => bounds,
                    None => {
                        cx.error(
                            call,
                            "log(min, max, count) needs 0 < min < max and 2 <= count <= 512",
                        );
                        return None;
                    }
                },
                _ => {
                    cx.error(
                        &call.func,
                        "unknown bucket helper; use exponential, linear or log",
                    );
                    return None;
                }
            };
            let spans = vec![call.span(); bounds.len()];
            (bounds, spans)
        }
        _ => {
            cx.error(expr, "expected a list of bounds such as `[0.1, 1, 10]` or a helper such as `exponential(0.001, 2, 20)`");
            return None;
        }
    };
    if bounds.is_empty() {
        cx.error(expr, "buckets must not be empty: give at least one bound");
        return None;
    }
    let errors = naming::check_buckets(&bounds);
    for e in &errors {
        let span = match *e {
            naming::BucketError::NotFinite { index, .. }
            | naming::BucketError::Duplicate { index, .. }
            | naming::BucketError::Decreasing { index, .. } => spans[index],
            naming::BucketError::Empty | naming::BucketError::TooMany(_) => expr.span(),
        };
        cx.syn(syn::Error::new(span, e));
    }
    if !errors.is_empty() {
        return None;
    }
    // A trailing +Inf is allowed, as at run time; it is always added, so it is dropped here.
    let mut bounds = bounds;
    if bounds.last() == Some(&f64::INFINITY) {
        bounds.pop();
    }
    Some(bounds)
}

pub(super) fn validate<'a>(
    cx: &mut Ctxt,
    subsystem: &str,
    prefix: Option<&str>,
    field: &'a syn::Field,
) -> Option<Metric<'a>> {
    let ident = field.ident.as_ref()?;
    let attrs = field_attrs(cx, field);
    let Some(kind) = kind_of(&field.ty) else {
        cx.error(
            &field.ty,
            format_args!("unsupported field type; metric fields are {FIELD_TYPES}"),
        );
        return None;
    };
    let base = match &attrs.name {
        Some(lit) => lit.value(),
        None => ident.to_string().trim_start_matches("r#").to_owned(),
    };
    let name_span: &dyn quote::ToTokens = match &attrs.name {
        Some(lit) => lit,
        None => ident,
    };
    let mut short = match prefix {
        Some(p) => format!("{p}_{base}"),
        None => base,
    };
    if let Some(unit) = &attrs.unit {
        let u = unit.value();
        if let Err(reason) = naming::check_label_name(&u) {
            cx.error(unit, format_args!("invalid unit `{u}`: {reason}"));
        }
        let (stem, total) = match short.strip_suffix("_total") {
            Some(stem) if kind == MetricKind::Counter => (stem.to_owned(), "_total"),
            _ => (short.clone(), ""),
        };
        if !stem.ends_with(&format!("_{u}")) {
            short = format!("{stem}_{u}{total}");
        }
    }
    let full = naming::full_name(subsystem, &short);
    if let Err(reason) = naming::check_metric_name(&short) {
        cx.error(
            name_span,
            format_args!("invalid metric name `{short}`: {reason}"),
        );
    } else if let Err(reason) = naming::check_metric_name_for(kind, &full) {
        let fix = match reason {
            naming::NameError::CounterWithoutTotal => {
                format!(
                    "; name it `{short}_total` (field name or #[metric(name = \"{short}_total\")])"
                )
            }
            _ => String::new(),
        };
        cx.error(
            name_span,
            format_args!("invalid metric name `{full}`: {reason}{fix}"),
        );
    }
    let help = match (&attrs.help, doc_help(field)) {
        (Some(lit), _) if lit.value().trim().is_empty() => {
            cx.error(lit, "help text must not be empty");
            String::new()
        }
        (Some(lit), _) => lit.value(),
        (None, Some(doc)) => doc,
        (None, None) => {
            cx.error(ident, format_args!(
                "metric `{ident}` has no help text: add a doc comment or #[metric(help = \"...\")]"
            ));
            String::new()
        }
    };
    let buckets = match &attrs.buckets {
        Some(expr) if kind != MetricKind::Histogram => {
            cx.error(
                expr,
                format_args!("buckets are for histograms; this field is a {kind}"),
            );
            None
        }
        Some(expr) => buckets(cx, expr),
        None => None,
    };
    let buckets_env = attrs.buckets_env.as_ref().map(|lit| {
        let v = lit.value();
        if kind != MetricKind::Histogram {
            cx.error(
                lit,
                format_args!("buckets_env is for histograms; this field is a {kind}"),
            );
        } else if let Err(reason) = naming::check_env_prefix(&v) {
            cx.error(lit, format_args!("invalid buckets_env `{v}`: {reason}"));
        }
        v
    });
    let mut const_labels = Vec::new();
    for (name, value) in &attrs.const_labels {
        let n = name.to_string();
        let checked = naming::check_user_label_name(kind, &n).and_then(|()| {
            match n == naming::WORKER_ID_LABEL {
                true => Err(naming::NameError::WorkerIdLabel),
                false => Ok(()),
            }
        });
        if let Err(reason) = checked {
            cx.error(name, format_args!("invalid label name `{n}`: {reason}"));
        }
        const_labels.push((n, value.value()));
    }
    let mut positive = |lit: &Option<syn::LitInt>, key: &str, default: usize| match lit {
        Some(lit) => match lit.base10_parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                cx.error(lit, format_args!("{key} must be a whole number above 0"));
                1
            }
        },
        None => default,
    };
    let max_series = positive(&attrs.max_series, "max_series", naming::DEFAULT_MAX_SERIES);
    let max_label_len = positive(
        &attrs.max_label_len,
        "max_label_len",
        naming::DEFAULT_MAX_LABEL_LEN,
    );
    let striped = attrs.striped.is_some();
    let native = attrs.native.as_ref().and_then(|native| {
        if kind != MetricKind::Histogram {
            cx.error(
                &native.path,
                format_args!("native is for histograms; this field is a {kind}"),
            );
            return None;
        }
        let mut params = naming::NativeParams::DEFAULT;
        if let Some(lit) = &native.factor {
            match lit {
                syn::Lit::Float(f) => params.factor = f.base10_parse().unwrap_or(0.0),
                syn::Lit::Int(i) => params.factor = i.base10_parse().unwrap_or(0.0),
                _ => params.factor = 0.0,
            }
        }
        if let Some(lit) = &native.max_buckets {
            params.max_buckets = lit.base10_parse().unwrap_or(0);
        }
        if params.schema().is_some() {
            return Some(params);
        }
        let message = "native(factor = F, max_buckets = N) needs a factor above 1, such as 1.1, and at least one bucket";
        match (&native.factor, &native.max_buckets) {
            (Some(f), _) if params.factor.partial_cmp(&1.0) != Some(std::cmp::Ordering::Greater) => {
                cx.error(f, message);
            }
            (_, Some(m)) => cx.error(m, message),
            _ => cx.error(&native.path, message),
        }
        None
    });
    Some(Metric {
        field,
        ident,
        kind,
        short_name: short,
        full_name: full,
        help,
        buckets,
        buckets_env,
        const_labels,
        max_series,
        max_label_len,
        striped,
        native,
    })
}
