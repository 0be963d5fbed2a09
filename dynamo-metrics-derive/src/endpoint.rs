//! `#[instrument_endpoint(component = "...", endpoint = "...", labels(model = ..))]`: the
//! function is kept as written (its signature re-emitted token for token, its body moved
//! unchanged into an `async move` block or a closure) and wrapped in a request guard that
//! records the endpoint's request metrics, on the endpoint labelled with the values of
//! `labels(..)` when it has them.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, Pat, ReturnType, Type};

use crate::ctxt::{Ctxt, key, with_stub};

struct Args {
    component: Option<LitStr>,
    endpoint: Option<LitStr>,
    stream: bool,
    request: Option<syn::Ident>,
    /// `labels(model = <expr>, ..)`: endpoint labels and the expressions of their values.
    labels: Vec<(syn::Ident, syn::Expr)>,
}

fn parse_args(cx: &mut Ctxt, args: TokenStream) -> Args {
    let mut out = Args {
        component: None,
        endpoint: None,
        stream: false,
        request: None,
        labels: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    let parser = syn::meta::parser(|meta| {
        let key = key(cx, &mut seen, &meta.path);
        match key.as_str() {
            "component" => out.component = Some(meta.value()?.parse()?),
            "endpoint" => out.endpoint = Some(meta.value()?.parse()?),
            "request" => out.request = Some(meta.value()?.parse()?),
            "stream" => out.stream = true,
            "labels" => meta.parse_nested_meta(|label| {
                let Some(name) = label.path.get_ident().cloned() else {
                    return Err(label.error("expected a label name: labels(model = <expression>)"));
                };
                let value: syn::Expr = label.value()?.parse()?;
                if let Err(reason) =
                    dynamo_metrics_naming::check_fixed_label_name(&name.to_string())
                {
                    cx.error(
                        &name,
                        format_args!("invalid endpoint label `{name}`: {reason}"),
                    );
                } else if out.labels.iter().any(|(n, _)| *n == name) {
                    cx.error(
                        &name,
                        format_args!("endpoint label `{name}` is given twice"),
                    );
                }
                out.labels.push((name, value));
                Ok(())
            })?,
            _ => {
                cx.error(&meta.path, format_args!(
                    "unknown key `{key}`; expected component = \"...\", endpoint = \"...\", request = <argument>, stream, labels(<label> = <expression>, ..)"
                ));
                if meta.input.peek(syn::Token![=]) {
                    meta.value()?.parse::<syn::Expr>()?;
                }
            }
        }
        Ok(())
    });
    if let Err(e) = parser.parse2(args) {
        cx.syn(e);
    }
    out
}

/// Checks a component or endpoint name with the rule the runtime applies too.
fn check_name(cx: &mut Ctxt, what: &str, lit: &LitStr) {
    let value = lit.value();
    if let Err(reason) = dynamo_metrics_naming::check_hierarchy_name(&value) {
        cx.error(lit, format_args!("invalid {what} name {value:?}: {reason}"));
    }
}

fn returns_impl_stream(ret: &ReturnType) -> bool {
    let ReturnType::Type(_, ty) = ret else {
        return false;
    };
    let Type::ImplTrait(imp) = &**ty else {
        return false;
    };
    imp.bounds.iter().any(|b| match b {
        syn::TypeParamBound::Trait(t) => {
            t.path.segments.last().is_some_and(|s| s.ident == "Stream")
        }
        _ => false,
    })
}

fn has_impl_trait(ret: &ReturnType) -> bool {
    ret.to_token_stream()
        .into_iter()
        .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "impl"))
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let args = parse_args(&mut cx, args);
    // A trait method declaration: nothing to wrap. Say so at the attribute and keep the
    // declaration, so the trait and its impls raise no follow-on errors.
    if let Ok(method) = syn::parse2::<syn::TraitItemFn>(item.clone())
        && method.default.is_none()
    {
        let e = syn::Error::new(
            Span::call_site(),
            "#[instrument_endpoint] needs a function body; this trait method declaration has none: put the attribute on the method in each `impl` block",
        );
        return with_stub(&e, item);
    }
    let func: ItemFn = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(f)) => f,
        Ok(other) => {
            let e = syn::Error::new_spanned(
                other,
                "#[instrument_endpoint] goes on a function (free or in an impl block) that handles requests",
            );
            return with_stub(&e, TokenStream::new());
        }
        // Not an item we can read (a syntax error in the body, say): leave it to rustc.
        Err(_) => return item,
    };
    if let Some(c) = &func.sig.constness {
        cx.error(
            c,
            "#[instrument_endpoint] cannot go on a `const fn`: recording metrics is not const",
        );
    }
    for (what, lit) in [("component", &args.component), ("endpoint", &args.endpoint)] {
        match lit {
            Some(lit) => check_name(&mut cx, what, lit),
            None => cx.syn(syn::Error::new(
                Span::call_site(),
                format_args!("missing `{what} = \"...\"`: #[instrument_endpoint(component = \"...\", endpoint = \"...\")]"),
            )),
        }
    }
    let request = match &args.request {
        Some(ident) => {
            let found = func.sig.inputs.iter().any(|a| matches!(a, FnArg::Typed(t) if matches!(&*t.pat, Pat::Ident(p) if p.ident == *ident)));
            if !found {
                cx.error(
                    ident,
                    format_args!("`{ident}` is not an argument of this function"),
                );
            }
            Some(ident.clone())
        }
        None => func.sig.inputs.iter().find_map(|a| match a {
            FnArg::Typed(t) => match &*t.pat {
                Pat::Ident(p) => Some(p.ident.clone()),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        }),
    };
    if let Err(e) = cx.check() {
        return with_stub(&e, func.into_token_stream());
    }
    if !cfg!(feature = "metrics") {
        return uninstrumented(func, &args.labels);
    }
    let (component, endpoint) = match (&args.component, &args.endpoint) {
        (Some(c), Some(e)) => (c, e),
        _ => return func.into_token_stream(),
    };
    instrument(
        func,
        component,
        endpoint,
        request,
        args.stream,
        &args.labels,
    )
}

/// The function as written, its label expressions kept in a closure that never runs: they are
/// not evaluated, and the arguments only they use raise no unused-variable warning.
fn uninstrumented(mut func: ItemFn, labels: &[(syn::Ident, syn::Expr)]) -> TokenStream {
    if !labels.is_empty() {
        let values = labels.iter().map(|(_, v)| v);
        func.block.stmts.insert(
            0,
            syn::parse_quote! {
                let _ = || { #(let _ = &(#values);)* };
            },
        );
    }
    func.into_token_stream()
}

fn instrument(
    func: ItemFn,
    component: &LitStr,
    endpoint: &LitStr,
    request: Option<syn::Ident>,
    stream: bool,
    labels: &[(syn::Ident, syn::Expr)],
) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let fn_name = sig.ident.to_string();
    let line = quote_spanned!(sig.ident.span()=> ::core::line!());
    let stream = stream || returns_impl_stream(&sig.output);
    let span = block.brace_token.span.join();
    let annotation = match &sig.output {
        _ if stream || has_impl_trait(&sig.output) => quote!(),
        ReturnType::Default => quote!(: ()),
        ReturnType::Type(_, ty) => quote!(: #ty),
    };
    let run = if sig.asyncness.is_some() {
        quote_spanned!(span=> async move #block.await)
    } else {
        quote_spanned!(span=> (move || #block)())
    };
    let request_bytes = request.map(|arg| {
        quote! {
            __dynamo_guard.request_bytes({
                use ::dynamo_metrics::__private::{NoPayloadSize as _, ViaPayloadSize as _};
                (&::dynamo_metrics::__private::Probe(&#arg)).probe_size()
            });
        }
    });
    let record = |value: TokenStream, guard: TokenStream| {
        quote! {
            {
                use ::dynamo_metrics::__private::{
                    NoPayloadSize as _, NotAnError as _, ViaErrorType as _, ViaPayloadSize as _, ViaResult as _,
                };
                if let ::core::option::Option::Some(__t) =
                    (&&::dynamo_metrics::__private::Probe(#value)).probe_error()
                {
                    #guard.error(__t);
                }
                #guard.response_bytes((&::dynamo_metrics::__private::Probe(#value)).probe_size());
            }
        }
    };
    let finish = if stream {
        let per_item = record(quote!(__item), quote!(__g));
        quote! {
            ::dynamo_metrics::__private::InstrumentedStream::new(
                __dynamo_out,
                __dynamo_guard,
                |__g: &::dynamo_metrics::RequestGuard<'static>, __item| #per_item,
            )
        }
    } else {
        let recorded = record(quote!(&__dynamo_out), quote!(__dynamo_guard));
        quote! {
            #recorded
            __dynamo_guard.finish();
            __dynamo_out
        }
    };
    let label_names: Vec<String> = labels.iter().map(|(n, _)| n.to_string()).collect();
    // The values are read before the body runs (it may consume the arguments they borrow).
    let start = if labels.is_empty() {
        quote!(__DYNAMO_ENDPOINT.start())
    } else {
        let values = labels
            .iter()
            .map(|(_, v)| quote_spanned!(v.span()=> ::core::convert::AsRef::<str>::as_ref(&(#v))));
        quote!(__DYNAMO_ENDPOINT.start_labelled(&[#(#values),*]))
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            static __DYNAMO_ENDPOINT: ::dynamo_metrics::__private::StaticEndpoint =
                ::dynamo_metrics::__private::StaticEndpoint::new(
                    #component,
                    #endpoint,
                    &[#(#label_names),*],
                    ::core::concat!(::core::module_path!(), "::", #fn_name),
                    ::core::file!(),
                    #line,
                );
            ::dynamo_metrics::__private::inventory::submit! {
                ::dynamo_metrics::__private::EndpointSite(&__DYNAMO_ENDPOINT)
            }
            let __dynamo_guard = #start;
            #request_bytes
            #[allow(clippy::redundant_closure_call)]
            let __dynamo_out #annotation = #run;
            #finish
        }
    }
}
