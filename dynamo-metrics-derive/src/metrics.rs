//! `#[derive(DynamoMetrics)]`: parse the struct and its attributes, validate every name,
//! label and bucket list against the rules of `dynamo-metrics-naming` (collecting all errors),
//! then expand to a `DynamoMetrics` impl, compile-time checks against the label sets, and one
//! `inventory` descriptor per metric.

use dynamo_metrics_naming::{self as naming, MetricKind};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, ExprLit, Fields, Lit, LitStr, Type, UnOp};

use crate::ctxt::{Ctxt, key, with_stub};

const FIELD_TYPES: &str = "IntCounter, Counter, IntGauge, Gauge, Histogram, or a family of them \
     typed by a label set (IntCounterFamily<L>, CounterFamily<L>, IntGaugeFamily<L>, GaugeFamily<L>, \
     HistogramFamily<L>)";

#[derive(Default)]
struct StructAttrs {
    subsystem: Option<LitStr>,
    level: Option<LitStr>,
    prefix: Option<LitStr>,
}

#[derive(Default)]
struct FieldAttrs {
    name: Option<LitStr>,
    help: Option<LitStr>,
    unit: Option<LitStr>,
    buckets: Option<Expr>,
    buckets_env: Option<LitStr>,
    const_labels: Vec<(syn::Ident, LitStr)>,
    max_series: Option<syn::LitInt>,
}

/// A field after validation: everything expansion needs.
struct Metric<'a> {
    field: &'a syn::Field,
    ident: &'a syn::Ident,
    kind: MetricKind,
    short_name: String,
    full_name: String,
    help: String,
    buckets: Option<Vec<f64>>,
    buckets_env: Option<String>,
    const_labels: Vec<(String, String)>,
    max_series: usize,
}

pub(crate) fn derive(input: DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let stub = quote! {
        impl ::dynamo_metrics::DynamoMetrics for #ident {
            fn register<R: ::dynamo_metrics::MetricsRegistry + ?::core::marker::Sized>(
                _: &R,
            ) -> ::core::result::Result<Self, ::dynamo_metrics::Error> {
                ::core::unimplemented!()
            }
        }
    };
    match expand(&input) {
        Ok(tokens) => tokens,
        Err(e) => with_stub(&e, stub),
    }
}

/// Reads `key = "value"` pairs of one attribute into `set`, reporting unknown keys and keys
/// already in `seen` (from this attribute or an earlier one on the same item) without stopping.
fn parse_pairs(
    cx: &mut Ctxt,
    seen: &mut Vec<String>,
    attr: &syn::Attribute,
    keys: &str,
    mut set: impl FnMut(&mut Ctxt, &syn::meta::ParseNestedMeta<'_>, &str) -> syn::Result<bool>,
) {
    let result = attr.parse_nested_meta(|meta| {
        let key = key(cx, seen, &meta.path);
        if !set(cx, &meta, &key)? {
            cx.error(
                &meta.path,
                format_args!("unknown key `{key}`; expected one of {keys}"),
            );
            if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<Expr>()?;
            } else if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                meta.parse_nested_meta(|inner| {
                    if inner.input.peek(syn::Token![=]) {
                        inner.value()?.parse::<Expr>()?;
                    }
                    Ok(())
                })?;
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        cx.syn(e);
    }
}

fn struct_attrs(cx: &mut Ctxt, input: &DeriveInput) -> StructAttrs {
    let mut attrs = StructAttrs::default();
    let mut seen = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("metrics")) {
        parse_pairs(
            cx,
            &mut seen,
            attr,
            "subsystem, level, prefix",
            |_, meta, key| {
                let slot = match key {
                    "subsystem" => &mut attrs.subsystem,
                    "level" => &mut attrs.level,
                    "prefix" => &mut attrs.prefix,
                    _ => return Ok(false),
                };
                *slot = Some(meta.value()?.parse()?);
                Ok(true)
            },
        );
    }
    attrs
}

fn field_attrs(cx: &mut Ctxt, field: &syn::Field) -> FieldAttrs {
    let mut attrs = FieldAttrs::default();
    let mut seen = Vec::new();
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("metric")) {
        parse_pairs(
            cx,
            &mut seen,
            attr,
            "name, help, unit, buckets, buckets_env, const_labels, max_series",
            |cx, meta, key| {
                match key {
                    "name" => attrs.name = Some(meta.value()?.parse()?),
                    "help" => attrs.help = Some(meta.value()?.parse()?),
                    "unit" => attrs.unit = Some(meta.value()?.parse()?),
                    "buckets" => attrs.buckets = Some(meta.value()?.parse()?),
                    "buckets_env" => attrs.buckets_env = Some(meta.value()?.parse()?),
                    "max_series" => attrs.max_series = Some(meta.value()?.parse()?),
                    "const_labels" => {
                        meta.parse_nested_meta(|label| {
                            let Some(name) = label.path.get_ident() else {
                                return Err(label.error("expected `label_name = \"value\"`"));
                            };
                            if attrs.const_labels.iter().any(|(n, _)| n == name) {
                                cx.error(name, format_args!("duplicate constant label `{name}`"));
                            }
                            attrs
                                .const_labels
                                .push((name.clone(), label.value()?.parse()?));
                            Ok(())
                        })?;
                    }
                    _ => return Ok(false),
                }
                Ok(true)
            },
        );
    }
    attrs
}

/// The doc comment of a field, lines joined with spaces.
fn doc_help(field: &syn::Field) -> Option<String> {
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

fn kind_of_name(name: &str) -> Option<MetricKind> {
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
fn kind_of(ty: &Type) -> Option<MetricKind> {
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

fn number(cx: &mut Ctxt, expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) => f.base10_parse().ok(),
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<i64>().ok().map(|v| v as f64),
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
fn buckets(cx: &mut Ctxt, expr: &Expr) -> Option<Vec<f64>> {
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

fn validate<'a>(
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
        if let Err(reason) = naming::check_user_label_name(kind, &n) {
            cx.error(name, format_args!("invalid label name `{n}`: {reason}"));
        }
        const_labels.push((n, value.value()));
    }
    let max_series = match &attrs.max_series {
        Some(lit) => match lit.base10_parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                cx.error(lit, "max_series must be a whole number above 0");
                1
            }
        },
        None => naming::DEFAULT_MAX_SERIES,
    };
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
    })
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => &named.named,
            Fields::Unnamed(_) | Fields::Unit => {
                return Err(syn::Error::new_spanned(
                    &input.ident,
                    "#[derive(DynamoMetrics)] needs named fields: the field names are metric names",
                ));
            }
        },
        _ => {
            return Err(syn::Error::new_spanned(
                &input.ident,
                "#[derive(DynamoMetrics)] works on structs with named fields, one metric per field",
            ));
        }
    };
    let mut cx = Ctxt::default();
    if !input.generics.params.is_empty() {
        cx.error(
            &input.generics,
            "#[derive(DynamoMetrics)] does not support generic parameters",
        );
    }
    let attrs = struct_attrs(&mut cx, input);
    let mut subsystem = attrs
        .subsystem
        .as_ref()
        .map_or_else(|| naming::DEFAULT_SUBSYSTEM.to_owned(), LitStr::value);
    if let Some(lit) = &attrs.subsystem
        && let Err(reason) = naming::check_subsystem(&subsystem)
    {
        cx.error(
            lit,
            format_args!("invalid subsystem `{subsystem}`: {reason}"),
        );
        // Check the fields as if it were valid: one mistake, one error.
        naming::DEFAULT_SUBSYSTEM.clone_into(&mut subsystem);
    }
    let mut prefix = attrs.prefix.as_ref().map(LitStr::value);
    if let (Some(lit), Some(p)) = (&attrs.prefix, &prefix)
        && let Err(reason) = naming::check_label_name(p)
    {
        cx.error(lit, format_args!("invalid prefix `{p}`: {reason}"));
        prefix = None;
    }
    let level = attrs.level.as_ref().and_then(|lit| {
        let level = naming::Level::from_name(&lit.value());
        if level.is_none() {
            let all: Vec<&str> = naming::Level::ALL.iter().map(|l| l.as_str()).collect();
            cx.error(
                lit,
                format_args!(
                    "unknown level `{}`; expected one of {}",
                    lit.value(),
                    all.join(", ")
                ),
            );
        }
        level
    });
    let metrics: Vec<Metric<'_>> = fields
        .iter()
        .filter_map(|f| validate(&mut cx, &subsystem, prefix.as_deref(), f))
        .collect();
    for (i, m) in metrics.iter().enumerate() {
        if let Some(first) = metrics[..i].iter().find(|o| o.full_name == m.full_name) {
            cx.error(
                m.ident,
                format_args!(
                    "metric `{}` is declared twice in this struct, also by field `{}`",
                    m.full_name, first.ident
                ),
            );
        }
    }
    cx.check()?;
    Ok(generate(input, &subsystem, level, &metrics))
}

fn kind_tokens(kind: MetricKind) -> TokenStream {
    let k = format_ident!(
        "{}",
        match kind {
            MetricKind::Counter => "Counter",
            MetricKind::Gauge => "Gauge",
            MetricKind::Histogram => "Histogram",
        }
    );
    quote!(::dynamo_metrics::naming::MetricKind::#k)
}

fn level_tokens(level: naming::Level) -> TokenStream {
    let l = format_ident!("{level:?}");
    quote!(::dynamo_metrics::Level::#l)
}

fn generate(
    input: &DeriveInput,
    subsystem: &str,
    level: Option<naming::Level>,
    metrics: &[Metric<'_>],
) -> TokenStream {
    let ident = &input.ident;
    let source = ident.to_string();
    let level_check = level.map(|l| {
        let l = level_tokens(l);
        quote! { ::dynamo_metrics::__private::check_level(&__scope, #l, #source)?; }
    });
    let runtime_registration = (level == Some(naming::Level::Runtime)).then(|| {
        quote! {
            ::dynamo_metrics::__private::inventory::submit! {
                ::dynamo_metrics::__private::RuntimeMetrics {
                    register: |scope| {
                        <#ident as ::dynamo_metrics::DynamoMetrics>::register(scope).map(|_| ())
                    },
                }
            }
        }
    });
    let level_call = level.map(|l| {
        let l = level_tokens(l);
        quote!(.__level(#l))
    });
    let mut inits = Vec::new();
    let mut checks = Vec::new();
    let mut descriptors = Vec::new();
    for (i, m) in metrics.iter().enumerate() {
        let (field, ty) = (m.ident, &m.field.ty);
        let span = ty.span();
        let (short, full, help, max) = (&m.short_name, &m.full_name, &m.help, m.max_series);
        let buckets = match &m.buckets {
            Some(b) => quote!(::core::option::Option::Some(&[#(#b),*])),
            None => quote!(::core::option::Option::None),
        };
        let (cl_names, cl_values): (Vec<_>, Vec<_>) = m.const_labels.iter().cloned().unzip();
        let buckets_env = match &m.buckets_env {
            Some(v) => quote!(::core::option::Option::Some(#v)),
            None => quote!(::core::option::Option::None),
        };
        let line = quote_spanned!(m.ident.span()=> ::core::line!());
        let column = quote_spanned!(m.ident.span()=> ::core::column!());
        // The one description of this field's metric: the catalog lists it, `register` creates
        // the family from it.
        let desc = format_ident!("__DYNAMO_METRIC_{i}");
        descriptors.push(quote_spanned! {span=>
            static #desc: ::dynamo_metrics::MetricDescriptor = ::dynamo_metrics::MetricDescriptor::__new(
                #subsystem,
                #short,
                #full,
                <#ty as ::dynamo_metrics::MetricField>::KIND,
                <#ty as ::dynamo_metrics::MetricField>::VALUE_TYPE,
                #help,
            )
            .__labels(<#ty as ::dynamo_metrics::MetricField>::LABELS)
            .__const_labels(&[#((#cl_names, #cl_values)),*])
            #level_call
            .__buckets(#buckets, #buckets_env)
            .__max_series(#max)
            .__declared(
                ::core::concat!(::core::module_path!(), "::", #source),
                ::core::file!(),
                #line,
                #column,
            );
            ::dynamo_metrics::__private::inventory::submit! {
                ::dynamo_metrics::__private::Declared(&#desc)
            }
        });
        inits.push(quote_spanned! {span=>
            #field: <#ty as ::dynamo_metrics::MetricField>::register(&__scope, &#desc)?
        });
        let kind = kind_tokens(m.kind);
        let kind_msg = format!("field `{field}` is not a {}", m.kind);
        checks.push(quote_spanned! {span=>
            ::core::assert!(
                ::dynamo_metrics::__private::same_kind(<#ty as ::dynamo_metrics::MetricField>::KIND, #kind),
                #kind_msg
            );
        });
        if m.kind == MetricKind::Histogram {
            let msg = format!(
                "the label set of histogram `{full}` has a label `le`, which is reserved for bucket bounds: rename it"
            );
            checks.push(quote_spanned! {span=>
                ::core::assert!(!::dynamo_metrics::__private::contains(<#ty as ::dynamo_metrics::MetricField>::LABELS, "le"), #msg);
            });
        }
        for name in &cl_names {
            let msg = format!(
                "constant label `{name}` of `{full}` is also a label of its label set: remove one of them"
            );
            checks.push(quote_spanned! {span=>
                ::core::assert!(!::dynamo_metrics::__private::contains(<#ty as ::dynamo_metrics::MetricField>::LABELS, #name), #msg);
            });
        }
    }
    quote! {
        impl ::dynamo_metrics::DynamoMetrics for #ident {
            fn register<R: ::dynamo_metrics::MetricsRegistry + ?::core::marker::Sized>(
                registry: &R,
            ) -> ::core::result::Result<Self, ::dynamo_metrics::Error> {
                #(#descriptors)*
                let __scope = ::dynamo_metrics::MetricsRegistry::with_subsystem(registry, #subsystem)?;
                #level_check
                ::core::result::Result::Ok(#ident { #(#inits,)* })
            }
        }
        const _: () = {
            #(#checks)*
        };
        #runtime_registration
    }
}
