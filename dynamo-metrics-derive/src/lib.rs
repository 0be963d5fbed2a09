//! Procedural macros of `dynamo-metrics`; use them through its re-exports, which document
//! them. Each entry point parses, validates (collecting every error) and expands; on error it
//! emits the errors and a stub, so one mistake gives one error.

mod ctxt;
mod endpoint;
mod labels;
mod metrics;

use proc_macro::TokenStream;

/// See `dynamo_metrics::DynamoMetrics`.
#[proc_macro_derive(DynamoMetrics, attributes(metrics, metric))]
pub fn derive_dynamo_metrics(input: TokenStream) -> TokenStream {
    metrics::derive(syn::parse_macro_input!(input as syn::DeriveInput)).into()
}

/// See `dynamo_metrics::LabelSet`.
#[proc_macro_derive(LabelSet)]
pub fn derive_label_set(input: TokenStream) -> TokenStream {
    labels::derive_set(syn::parse_macro_input!(input as syn::DeriveInput)).into()
}

/// See `dynamo_metrics::LabelValue`.
#[proc_macro_derive(LabelValue, attributes(label))]
pub fn derive_label_value(input: TokenStream) -> TokenStream {
    labels::derive_value(syn::parse_macro_input!(input as syn::DeriveInput)).into()
}

/// See `dynamo_metrics::ErrorType`.
#[proc_macro_derive(ErrorType, attributes(error_type))]
pub fn derive_error_type(input: TokenStream) -> TokenStream {
    labels::derive_error_type(syn::parse_macro_input!(input as syn::DeriveInput)).into()
}

/// See `dynamo_metrics::instrument_endpoint`.
#[proc_macro_attribute]
pub fn instrument_endpoint(args: TokenStream, item: TokenStream) -> TokenStream {
    endpoint::expand(args.into(), item.into()).into()
}
