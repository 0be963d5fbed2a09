//! Parsing `#[metrics(..)]` and `#[metric(..)]`: unknown and repeated keys are reported here.

use syn::{DeriveInput, Expr, LitStr};

use crate::ctxt::{Ctxt, key};

#[derive(Default)]
pub(super) struct StructAttrs {
    pub(super) subsystem: Option<LitStr>,
    pub(super) level: Option<LitStr>,
    pub(super) prefix: Option<LitStr>,
}

/// `#[metric(native(..))]` as written.
pub(super) struct NativeAttr {
    pub(super) path: syn::Path,
    pub(super) factor: Option<syn::Lit>,
    pub(super) max_buckets: Option<syn::LitInt>,
}

#[derive(Default)]
pub(super) struct FieldAttrs {
    pub(super) name: Option<LitStr>,
    pub(super) help: Option<LitStr>,
    pub(super) unit: Option<LitStr>,
    pub(super) buckets: Option<Expr>,
    pub(super) buckets_env: Option<LitStr>,
    pub(super) const_labels: Vec<(syn::Ident, LitStr)>,
    pub(super) max_series: Option<syn::LitInt>,
    pub(super) max_label_len: Option<syn::LitInt>,
    /// `striped`: the path, for spans.
    pub(super) striped: Option<syn::Path>,
    /// `native` or `native(factor = F, max_buckets = N)`: the path (for spans) and the
    /// parameters given.
    pub(super) native: Option<NativeAttr>,
}

/// Reads `key = "value"` pairs of one attribute into `set`, reporting unknown keys and keys
/// already in `seen` (from this attribute or an earlier one on the same item) without stopping.
pub(super) fn parse_pairs(
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

pub(super) fn struct_attrs(cx: &mut Ctxt, input: &DeriveInput) -> StructAttrs {
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

pub(super) fn field_attrs(cx: &mut Ctxt, field: &syn::Field) -> FieldAttrs {
    let mut attrs = FieldAttrs::default();
    let mut seen = Vec::new();
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("metric")) {
        parse_pairs(
            cx,
            &mut seen,
            attr,
            "name, help, unit, buckets, buckets_env, const_labels, max_series, max_label_len, native, striped",
            |cx, meta, key| {
                match key {
                    "name" => attrs.name = Some(meta.value()?.parse()?),
                    "help" => attrs.help = Some(meta.value()?.parse()?),
                    "unit" => attrs.unit = Some(meta.value()?.parse()?),
                    "buckets" => attrs.buckets = Some(meta.value()?.parse()?),
                    "buckets_env" => attrs.buckets_env = Some(meta.value()?.parse()?),
                    "max_series" => attrs.max_series = Some(meta.value()?.parse()?),
                    "max_label_len" => attrs.max_label_len = Some(meta.value()?.parse()?),
                    "striped" => attrs.striped = Some(meta.path.clone()),
                    "native" => {
                        let mut native = NativeAttr {
                            path: meta.path.clone(),
                            factor: None,
                            max_buckets: None,
                        };
                        if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                            meta.parse_nested_meta(|inner| {
                                if inner.path.is_ident("factor") {
                                    native.factor = Some(inner.value()?.parse()?);
                                } else if inner.path.is_ident("max_buckets") {
                                    native.max_buckets = Some(inner.value()?.parse()?);
                                } else {
                                    return Err(inner.error(
                                        "unknown key; #[metric(native(factor = 1.1, max_buckets = 160))] takes factor and max_buckets",
                                    ));
                                }
                                Ok(())
                            })?;
                        }
                        attrs.native = Some(native);
                    }
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
