//! `#[derive(LabelSet)]` on structs of labels and `#[derive(LabelValue)]` on enums of values.

use dynamo_metrics_naming::{self as naming, MetricKind};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::ctxt::{Ctxt, with_stub};

/// The label name of a field: its identifier without `r#`.
fn label_name(ident: &syn::Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

pub(crate) fn derive_set(input: DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let stub = quote! {
        impl ::dynamo_metrics::LabelSet for #ident {
            const NAMES: &'static [&'static str] = &[];
            const CARDINALITY: ::core::option::Option<usize> = ::core::option::Option::None;
            fn index(&self) -> ::core::option::Option<usize> { ::core::option::Option::None }
            fn values(&self) -> ::std::vec::Vec<&str> { ::std::vec::Vec::new() }
            fn values_at(_: usize) -> ::std::vec::Vec<&'static str> { ::std::vec::Vec::new() }
        }
    };
    match set(&input) {
        Ok(tokens) => tokens,
        Err(e) => with_stub(&e, stub),
    }
}

fn set(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut cx = Ctxt::default();
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => named.named.iter().collect::<Vec<_>>(),
            _ => {
                return Err(syn::Error::new_spanned(
                    &input.ident,
                    "#[derive(LabelSet)] needs a struct with named fields: each field name is a label name",
                ));
            }
        },
        _ => {
            return Err(syn::Error::new_spanned(
                &input.ident,
                "#[derive(LabelSet)] needs a struct with named fields: each field name is a label name",
            ));
        }
    };
    if !input.generics.params.is_empty() {
        cx.error(
            &input.generics,
            "#[derive(LabelSet)] does not support generic parameters",
        );
    }
    if fields.is_empty() {
        cx.error(
            &input.ident,
            "#[derive(LabelSet)] needs at least one field; a family without labels takes `()` as its label set (`IntCounterFamily<()>`), or use a single series such as `IntCounter`",
        );
    }
    let mut names = Vec::new();
    for f in &fields {
        let Some(ident) = &f.ident else { continue };
        let name = label_name(ident);
        // `le` is checked where the set meets a histogram; everything else here.
        if let Err(reason) = naming::check_user_label_name(MetricKind::Counter, &name) {
            cx.error(ident, format_args!("invalid label name `{name}`: {reason}"));
        }
        names.push(name);
    }
    cx.check()?;
    let ident = &input.ident;
    let tys: Vec<_> = fields.iter().map(|f| &f.ty).collect();
    let members: Vec<_> = fields.iter().filter_map(|f| f.ident.as_ref()).collect();
    let n = fields.len();
    let card = |ty: &syn::Type| {
        quote! {
            match <#ty as ::dynamo_metrics::LabelField>::CARDINALITY {
                ::core::option::Option::Some(n) => n,
                ::core::option::Option::None => 1,
            }
        }
    };
    let cards: Vec<_> = tys.iter().map(|t| card(t)).collect();
    let slots: Vec<_> = (0..n).rev().collect();
    let tys_rev: Vec<_> = tys.iter().rev().collect();
    let cards_rev: Vec<_> = tys.iter().rev().map(|t| card(t)).collect();
    let var = format_ident!("__rest");
    Ok(quote! {
        impl ::dynamo_metrics::LabelSet for #ident {
            const NAMES: &'static [&'static str] = &[#(#names),*];
            const CARDINALITY: ::core::option::Option<usize> = ::dynamo_metrics::__private::cardinality(
                &[#(<#tys as ::dynamo_metrics::LabelField>::CARDINALITY),*]
            );
            #[inline]
            fn index(&self) -> ::core::option::Option<usize> {
                let mut __index = 0usize;
                #(
                    __index = __index * (#cards)
                        + <#tys as ::dynamo_metrics::LabelField>::index(&self.#members)?;
                )*
                ::core::option::Option::Some(__index)
            }
            fn values(&self) -> ::std::vec::Vec<&str> {
                ::std::vec![#(<#tys as ::dynamo_metrics::LabelField>::as_label(&self.#members)),*]
            }
            #[inline]
            fn with_values<__R>(&self, __f: impl ::core::ops::FnOnce(&[&str]) -> __R) -> __R {
                __f(&[#(<#tys as ::dynamo_metrics::LabelField>::as_label(&self.#members)),*])
            }
            fn values_at(index: usize) -> ::std::vec::Vec<&'static str> {
                let mut __values = [""; #n];
                let mut #var = index;
                #(
                    __values[#slots] = <#tys_rev as ::dynamo_metrics::LabelField>::value_at(#var % (#cards_rev));
                    #var /= #cards_rev;
                )*
                __values.to_vec()
            }
        }
    })
}

fn snake_case(ident: &str) -> String {
    let mut out = String::new();
    for (i, ch) in ident.chars().enumerate() {
        if ch.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

pub(crate) fn derive_value(input: DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let stub = quote! {
        impl ::dynamo_metrics::LabelValue for #ident {
            const VALUES: &'static [&'static str] = &[];
            fn index(&self) -> usize { 0 }
        }
        impl ::dynamo_metrics::LabelField for #ident {
            const CARDINALITY: ::core::option::Option<usize> = ::core::option::Option::None;
            fn index(&self) -> ::core::option::Option<usize> { ::core::option::Option::None }
            fn as_label(&self) -> &str { "" }
            fn value_at(_: usize) -> &'static str { "" }
        }
    };
    match value(&input) {
        Ok(tokens) => tokens,
        Err(e) => with_stub(&e, stub),
    }
}

fn value(input: &DeriveInput) -> syn::Result<TokenStream> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(LabelValue)] needs an enum of unit variants, one per label value",
        ));
    };
    let mut cx = Ctxt::default();
    if data.variants.is_empty() {
        cx.error(
            &input.ident,
            "#[derive(LabelValue)] needs at least one variant",
        );
    }
    let mut values: Vec<(String, &syn::Ident)> = Vec::new();
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            cx.error(
                &v.fields,
                "label values are unit variants: remove the fields",
            );
        }
        let mut value = snake_case(&v.ident.to_string());
        for attr in v.attrs.iter().filter(|a| a.path().is_ident("label")) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("value") {
                    value = meta.value()?.parse::<LitStr>()?.value();
                    Ok(())
                } else {
                    Err(meta.error("unknown #[label] key; the only key is `value = \"...\"`"))
                }
            });
            if let Err(e) = parsed {
                cx.syn(e);
            }
        }
        if let Some((_, first)) = values.iter().find(|(v, _)| *v == value) {
            cx.error(
                &v.ident,
                format_args!("duplicate label value {value:?}, also the value of `{first}`"),
            );
        }
        values.push((value, &v.ident));
    }
    cx.check()?;
    let ident = &input.ident;
    let strings: Vec<_> = values.iter().map(|(v, _)| v).collect();
    let variants: Vec<_> = values.iter().map(|(_, i)| i).collect();
    let indices: Vec<usize> = (0..values.len()).collect();
    let n = values.len();
    Ok(quote! {
        impl ::dynamo_metrics::LabelValue for #ident {
            const VALUES: &'static [&'static str] = &[#(#strings),*];
            #[inline]
            fn index(&self) -> usize {
                match self { #(#ident::#variants => #indices,)* }
            }
        }
        // Not listed among the types that implement the trait when a field type does not:
        // the trait's note says that enums deriving `LabelValue` do.
        #[diagnostic::do_not_recommend]
        impl ::dynamo_metrics::LabelField for #ident {
            const CARDINALITY: ::core::option::Option<usize> = ::core::option::Option::Some(#n);
            #[inline]
            fn index(&self) -> ::core::option::Option<usize> {
                ::core::option::Option::Some(::dynamo_metrics::LabelValue::index(self))
            }
            fn as_label(&self) -> &str {
                match self { #(#ident::#variants => #strings,)* }
            }
            fn value_at(index: usize) -> &'static str {
                match <Self as ::dynamo_metrics::LabelValue>::VALUES.get(index) {
                    ::core::option::Option::Some(v) => v,
                    ::core::option::Option::None => "",
                }
            }
        }
    })
}

pub(crate) fn derive_error_type(input: DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let stub = quote! {
        impl ::dynamo_metrics::ErrorType for #ident {
            fn error_type(&self) -> &'static str { ::dynamo_metrics::DEFAULT_ERROR_TYPE }
        }
    };
    match error_type(&input) {
        Ok(tokens) => tokens,
        Err(e) => with_stub(&e, stub),
    }
}

fn error_type(input: &DeriveInput) -> syn::Result<TokenStream> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(ErrorType)] needs an enum: each variant is one error type",
        ));
    };
    let mut cx = Ctxt::default();
    let mut arms = Vec::new();
    for v in &data.variants {
        let mut value = snake_case(&v.ident.to_string());
        let mut span: Option<LitStr> = None;
        for attr in v.attrs.iter().filter(|a| a.path().is_ident("error_type")) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    let lit: LitStr = meta.value()?.parse()?;
                    value = lit.value();
                    span = Some(lit);
                    Ok(())
                } else {
                    Err(meta.error("unknown #[error_type] key; the only key is `name = \"...\"`"))
                }
            });
            if let Err(e) = parsed {
                cx.syn(e);
            }
        }
        if let Err(reason) = naming::check_error_type(&value) {
            let message = format!("invalid error type {value:?}: {reason}");
            match &span {
                Some(lit) => cx.error(lit, message),
                None => cx.error(&v.ident, message),
            }
        }
        let variant = &v.ident;
        let ident = &input.ident;
        arms.push(quote!(#ident::#variant { .. } => #value));
    }
    cx.check()?;
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::dynamo_metrics::ErrorType for #ident #ty_generics #where_clause {
            fn error_type(&self) -> &'static str {
                match *self { #(#arms,)* }
            }
        }
    })
}
