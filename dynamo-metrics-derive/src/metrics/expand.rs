//! Expanding a validated struct: the `DynamoMetrics` impl, one descriptor per field, and
//! compile-time checks against the field types.

use dynamo_metrics_naming::{self as naming, MetricKind};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use super::Metric;

pub(super) fn kind_tokens(kind: MetricKind) -> TokenStream {
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

pub(super) fn level_tokens(level: naming::Level) -> TokenStream {
    let l = format_ident!("{level:?}");
    quote!(::dynamo_metrics::Level::#l)
}

pub(super) fn generate(
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
        let (short, full, help) = (&m.short_name, &m.full_name, &m.help);
        let (max, max_len) = (m.max_series, m.max_label_len);
        let striped = m.striped.then(|| quote!(.__striped()));
        let native = m.native.map(|n| {
            let (factor, max_buckets) = (n.factor, n.max_buckets);
            quote!(.__native(#factor, #max_buckets))
        });
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
            .__max_label_len(#max_len)
            #striped
            #native
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
        if m.striped && m.kind != MetricKind::Histogram {
            let msg = format!(
                "`{full}` is striped, which is for integer counters and gauges (IntCounter, IntGauge and their families) and histograms: use one of those or remove `striped`"
            );
            checks.push(quote_spanned! {span=>
                ::core::assert!(
                    ::dynamo_metrics::__private::contains(&["u64", "i64"], <#ty as ::dynamo_metrics::MetricField>::VALUE_TYPE),
                    #msg
                );
            });
        }
        if m.kind == MetricKind::Histogram {
            let msg = format!(
                "the label set of histogram `{full}` has a label `le`, which is reserved for bucket bounds: rename it"
            );
            checks.push(quote_spanned! {span=>
                ::core::assert!(!::dynamo_metrics::__private::contains(<#ty as ::dynamo_metrics::MetricField>::LABELS, "le"), #msg);
            });
        }
        if level.is_some_and(|l| l != naming::Level::Runtime) {
            let msg = format!(
                "the label set of `{full}` has a label `worker_id`, which the runtime injects on every series of a worker: only a runtime-level family may name other workers by it"
            );
            checks.push(quote_spanned! {span=>
                ::core::assert!(!::dynamo_metrics::__private::contains(<#ty as ::dynamo_metrics::MetricField>::LABELS, "worker_id"), #msg);
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
