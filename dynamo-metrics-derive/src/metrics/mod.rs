//! `#[derive(DynamoMetrics)]`: parse the struct and its attributes ([`attr`]), validate every
//! name, label and bucket list against the rules of `dynamo-metrics-naming`, collecting all
//! errors ([`valid`]), then expand to a `DynamoMetrics` impl, compile-time checks against the
//! label sets, and one descriptor per metric ([`expand`]).

mod attr;
mod expand;
mod valid;

use dynamo_metrics_naming::{self as naming, MetricKind};
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::ctxt::{Ctxt, with_stub};
use attr::struct_attrs;
use expand::generate;
use valid::validate;

pub(super) const FIELD_TYPES: &str = "IntCounter, Counter, IntGauge, Gauge, Histogram, or a family of them \
     typed by a label set (IntCounterFamily<L>, CounterFamily<L>, IntGaugeFamily<L>, GaugeFamily<L>, \
     HistogramFamily<L>)";

/// A field after validation: everything expansion needs.
pub(super) struct Metric<'a> {
    pub(super) field: &'a syn::Field,
    pub(super) ident: &'a syn::Ident,
    pub(super) kind: MetricKind,
    pub(super) short_name: String,
    pub(super) full_name: String,
    pub(super) help: String,
    pub(super) buckets: Option<Vec<f64>>,
    pub(super) buckets_env: Option<String>,
    pub(super) const_labels: Vec<(String, String)>,
    pub(super) max_series: usize,
    pub(super) max_label_len: usize,
    /// Integer series striped across cache lines.
    pub(super) striped: bool,
    /// A native histogram's parameters.
    pub(super) native: Option<naming::NativeParams>,
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
    match try_expand(&input) {
        Ok(tokens) => tokens,
        Err(e) => with_stub(&e, stub),
    }
}

fn try_expand(input: &DeriveInput) -> syn::Result<TokenStream> {
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
