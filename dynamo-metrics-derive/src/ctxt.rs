//! Collects every error of one macro input, so the user sees them all at once.

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;

/// The errors found so far; `check` turns them into one `syn::Error`.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    /// Records an error spanning `tokens`.
    pub(crate) fn error(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.errors
            .push(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records an error that syn produced.
    pub(crate) fn syn(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// `Ok` when nothing was recorded, or every error combined.
    pub(crate) fn check(self) -> Result<(), syn::Error> {
        let mut errors = self.errors.into_iter();
        let Some(mut first) = errors.next() else {
            return Ok(());
        };
        for e in errors {
            first.combine(e);
        }
        Err(first)
    }
}

/// The name of an attribute key, recording an error when `seen` already holds it.
pub(crate) fn key(cx: &mut Ctxt, seen: &mut Vec<String>, path: &syn::Path) -> String {
    let key = path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    if seen.contains(&key) {
        cx.error(path, format_args!("duplicate key `{key}`: give it once"));
    }
    seen.push(key.clone());
    key
}

/// The compile errors plus `stub`, so that code using the item gets no follow-on errors.
pub(crate) fn with_stub(error: &syn::Error, stub: TokenStream) -> TokenStream {
    let errors = error.to_compile_error();
    quote::quote! { #errors #stub }
}
